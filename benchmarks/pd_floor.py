"""How far a Potjans–Diesmann step (per-synapse delays) is from the memory-bandwidth floor.

Per step of dt = 0.1 ms at scale ``s`` (full in-degrees), with the rates ``nu`` of each
source population (``benchmarks/results/pd_race.json``'s brainsim rates, else the
published full-scale ones), the synaptic events are ``E = sum_ts S_ts nu_s dt`` (``S``
the synapse counts). Any delivery must, per event, stream the synapse's target, weight
and delay (4 + 4 + 1 B) and read-modify-write its arrival slot in a ring (4 + 4 B); per
neuron, read and clear what arrives now (4 + 4 B), read and write its state (V,
refractory counter, spike, one current: all eight projections onto a population share
their kinetics, 16 + 16 B) and its Poisson count (4 B), and scan the spike vector once
(4 B). So, per step,

    floor bytes = 17 E + 48 N.

The ``layout`` column is the same count for brainsim's present layout, one ring and
two traces per population (its recurrent projections share one ring and one trace,
``Network.trace_of``; the Poisson projection keeps its own trace): per target neuron
one ring slot read and cleared and 2 traces read and written, V, refractory counter and
spike (24 B), the Poisson count (4 + 4 B), and each projection out of a population
scans its spike vector (4 B per projection per source neuron). The floor divides bytes by
the bandwidth a streaming XLA loop reaches over arrays of the state's size here
(``bandwidth_floor.streaming_bandwidth``); latency (a random ring write that misses the
cache waits ~100 ns) and the Poisson draws' arithmetic (one uniform and ~λ + 1 CDF terms
per neuron and step, λ = 1.3–2.3) are not in it. ``calls``, ``fusions``, ``loops``: the native
calls, XLA fusions and while loops in the compiled program of a scan of steps (scale
0.02: the program is the same at every scale; the scan is one of the loops).

    python benchmarks/pd_floor.py --scales 0.1,0.25,1.0 --race pd_race --out pd_floor

(``--race``: the ``pd_race.py`` results file whose brainsim run times give the
measured column; ``--out``: this script's results file.)
"""

import argparse
import importlib
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _harness import RESULTS, save, table  # noqa: E402
from bandwidth_floor import streaming_bandwidth  # noqa: E402

DT_MS = 0.1


def step_ops() -> dict:
    """Native calls, fusions and loops in the compiled program of a scan of PD steps."""
    import brainsim as bs

    net = bs.models.potjans_diesmann(0.02, key=jax.random.key(0), dt=DT_MS)
    state = net.init(jax.random.key(1), dt=DT_MS)

    def run(net, state):
        def body(s, i):
            return net.step(s, None, t=i * DT_MS, dt=DT_MS)[0], None

        return jax.lax.scan(body, state, jnp.arange(10))[0]

    text = jax.jit(run).lower(net, state).compile().as_text()
    return {k: text.count(f" {k}(") for k in ("custom-call", "fusion", "while")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="0.1,0.25,1.0")
    ap.add_argument("--race", default="pd_race", help="pd_race.py results file (no .json)")
    ap.add_argument("--out", default="pd_floor", help="results file name (no .json)")
    a = ap.parse_args()
    pd = importlib.import_module("brainsim.models.potjans_diesmann")
    race = RESULTS / f"{a.race}.json"
    measured = {}
    if race.exists():
        for r in json.loads(race.read_text())["rows"]:
            if r.get("simulator") == "brainsim" and "run_per_s" in r:
                measured[r["scale"]] = r
    ops = step_ops()
    rows = []
    for scale in [float(s) for s in a.scales.split(",")]:
        sizes = np.maximum(1, (pd.N_FULL * scale).astype(int))
        syn = np.round(pd.in_degrees() * sizes[:, None])
        r = measured.get(scale)
        nu = np.asarray(r["rates"]) if r else pd.FULL_MEAN_RATES
        events = float((syn * nu[None, :] * DT_MS * 1e-3).sum())
        n = int(sizes.sum())
        floor_b = 17 * events + 48 * n
        n_out = (syn > 0).sum(axis=0)  # target populations per source
        layout_b = 17 * events + float((sizes * (56 + 4 * n_out)).sum())
        bw = streaming_bandwidth(12 * n)  # about the state and ring slots of a step
        row = dict(
            scale=scale,
            neurons=n,
            synapses=int(syn.sum()),
            events=events,
            floor_kib=floor_b / 1024,
            layout_kib=layout_b / 1024,
            gbs=bw / 1e9,
            floor_us=floor_b / bw * 1e6,
            layout_us=layout_b / bw * 1e6,
            calls=ops["custom-call"],
            fusions=ops["fusion"],
            loops=ops["while"],
        )
        if r:
            row["step_us"] = r["run_per_s"] / (1e3 / DT_MS) * 1e6
            row["ratio"] = row["step_us"] / row["floor_us"]
        rows.append(row)
        print(row, flush=True)
    columns = [
        ("scale", "scale", "g"),
        ("neurons", "N", ",d"),
        ("events", "events per step", ",.0f"),
        ("floor_kib", "floor KiB per step", ".0f"),
        ("layout_kib", "layout KiB per step", ".0f"),
        ("gbs", "streaming GB/s", ".1f"),
        ("floor_us", "floor µs/step", ".1f"),
        ("layout_us", "layout µs/step", ".1f"),
        ("step_us", "brainsim µs/step", ".1f"),
        ("ratio", "÷ floor", ".1f"),
        ("calls", "native calls", "d"),
        ("fusions", "XLA fusions", "d"),
        ("loops", "loops", "d"),
    ]
    print(table(rows, columns))
    save(a.out, {"rows": rows, "source": f"results/{a.race}.json"})


if __name__ == "__main__":
    main()
