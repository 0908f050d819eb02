"""Record Brian2 2.11's COBAHH on a small network that brainsim's test rebuilds exactly
(see PROVENANCE.md).

    /work/peers-venv/bin/python tests/references/record_cobahh_shared.py

The network and the initial states are drawn with NumPy (``network``, ``initial_state``;
``tests/test_models_cobahh.py`` has the same two functions), so brainsim and Brian2 run
the same synapses from the same state. The model is ``benchmarks.peers.brian2_runner``'s
COBAHH (Brian2's ``examples/COBAHH.py``: exponential Euler, threshold ``v > -20 mV``,
refractory 3 ms), N = 1000 (800 E, 200 I), every ordered pair without autapses connected
with p = 0.08 (in-degree 80 as at N = 4000), dt = 0.1 ms, 1000 ms. Initial state k:
V ~ N(−65, 5) mV, g_e ~ N(40, 15) nS, g_i ~ N(200, 120) nS (Brian2's example), gates 0.

Writes ``cobahh_brian2_shared.json``: for initial states k = 0 … 9 the E and I rates over
[0, 1000) ms; for k = 0 also every spike (neuron, step) in the first 100 ms.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT))

N, NE, P, SEED, DT, T, T_RASTER, N_INIT = 1000, 800, 0.08, 2026, 0.1, 1000.0, 100.0, 10


def network(seed=SEED):
    """(pre, post) of every synapse: each ordered pair i != j with probability P."""
    adj = np.random.default_rng(seed).random((N, N)) < P
    np.fill_diagonal(adj, False)
    return np.nonzero(adj)


def initial_state(k):
    """(v mV, g_e nS, g_i nS) of initial state ``k``, each of shape (N,)."""
    rng = np.random.default_rng([SEED, k])
    return (
        -65.0 + 5.0 * rng.standard_normal(N),
        40.0 + 15.0 * rng.standard_normal(N),
        (200.0 + 120.0 * rng.standard_normal(N)),
    )


def run(pre, post, k):
    import brian2 as b2
    from brian2 import ms, mV, nS, siemens, ufarad, umetre

    from benchmarks.peers.brian2_runner import COBAHH_EQS

    b2.start_scope()
    b2.defaultclock.dt = DT * ms
    area = 20000 * umetre**2
    ns = dict(
        Cm=1 * ufarad * b2.cm**-2 * area,
        gl=5e-5 * siemens * b2.cm**-2 * area,
        El=-60 * mV,
        EK=-90 * mV,
        ENa=50 * mV,
        g_na=100 * b2.msiemens * b2.cm**-2 * area,
        g_kd=30 * b2.msiemens * b2.cm**-2 * area,
        VT=-63 * mV,
        taue=5 * ms,
        taui=10 * ms,
        Ee=0 * mV,
        Ei=-80 * mV,
        we=6 * nS,
        wi=67 * nS,
    )
    g = b2.NeuronGroup(
        N,
        COBAHH_EQS,
        threshold="v > -20*mV",
        refractory=3 * ms,
        method="exponential_euler",
        namespace=ns,
    )
    exc = pre < NE
    se = b2.Synapses(g, g, on_pre="ge_post += we", namespace=ns)
    se.connect(i=pre[exc], j=post[exc])
    si = b2.Synapses(g, g, on_pre="gi_post += wi", namespace=ns)
    si.connect(i=pre[~exc], j=post[~exc])
    v0, ge0, gi0 = initial_state(k)
    g.v, g.ge, g.gi = v0 * mV, ge0 * nS, gi0 * nS
    mon = b2.SpikeMonitor(g)
    b2.run(T * ms)
    i, steps = np.asarray(mon.i), np.round(np.asarray(mon.t / ms) / DT).astype(int)
    return i, steps, b2.__version__


def main():
    pre, post = network()
    out = {"n": N, "p": P, "seed": SEED, "dt": DT, "duration_ms": T, "runs": []}
    for k in range(N_INIT):
        t0 = time.perf_counter()
        i, steps, version = run(pre, post, k)
        r = {
            "init": k,
            "rate_E_hz": float((i < NE).sum() / NE / (T * 1e-3)),
            "rate_I_hz": float((i >= NE).sum() / (N - NE) / (T * 1e-3)),
            "wall_s": time.perf_counter() - t0,
        }
        if k == 0:
            keep = steps < round(T_RASTER / DT)
            out["raster_init0"] = {"neuron": i[keep].tolist(), "step": steps[keep].tolist()}
        out["runs"].append(r)
        print(r, flush=True)
    out["brian2_version"] = version
    for key in ("rate_E_hz", "rate_I_hz"):
        vals = [r[key] for r in out["runs"]]
        out[f"{key}_mean"], out[f"{key}_sd"] = float(np.mean(vals)), float(np.std(vals, ddof=1))
    (Path(__file__).parent / "cobahh_brian2_shared.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
