"""Record Brian2 2.11 runs of Song, Miller & Abbott (2000), once (see PROVENANCE.md).

    /work/peers-venv/bin/python tests/references/record_song.py

N = 1000 Poisson inputs (15 Hz) onto one conductance-based LIF, additive pair STDP
with hard bounds [0, gmax], A_minus/A_plus = 1.05, tau_plus = tau_minus = 20 ms (the
parameters of the paper as Brian2's documentation example uses them: tau_m = 10 ms,
E_L = -74 mV, V_th = -54 mV, V_reset = -60 mV, E_e = 0 mV, tau_e = 5 ms,
gmax = 0.01 in units of the leak conductance). Brian2's ``Synapses`` with the rule as
event-driven synaptic equations; runtime (Cython) target, dt = 0.1 ms. Configurations
(``CONFIGS``): ``small`` (A_plus = 0.05 gmax, 20 s; what the test runs) over seeds
0-3, ``full`` (A_plus = 0.01 gmax, 100 s; what the benchmark runs) seed 0. Writes
``song_brian2.json``: per run the final weights' histogram (20 bins over [0, gmax]),
the fractions below 0.1 gmax and above 0.9 gmax, the output rate over the last 10 s.
"""

import json
import time
from pathlib import Path

import brian2 as b2
import numpy as np

CONFIGS = {"small": (0.05, 20.0, [0, 1, 2, 3]), "full": (0.01, 100.0, [0])}
N, RATE, GMAX = 1000, 15.0, 0.01


def run(a_rel, duration, seed):
    b2.start_scope()
    b2.seed(seed)
    b2.defaultclock.dt = 0.1 * b2.ms
    ms, mV = b2.ms, b2.mV
    ns = dict(
        taum=10 * ms,
        taue=5 * ms,
        tau=20 * ms,
        El=-74 * mV,
        vt=-54 * mV,
        vr=-60 * mV,
        Ee=0 * mV,
        a_plus=a_rel * GMAX,
        a_minus=1.05 * a_rel * GMAX,
        GMAX=GMAX,
    )
    neuron = b2.NeuronGroup(
        1,
        "dv/dt = (ge * (Ee - v) + El - v) / taum : volt\ndge/dt = -ge / taue : 1",
        threshold="v > vt",
        reset="v = vr",
        method="euler",
    )
    neuron.v = ns["vr"]
    inputs = b2.PoissonGroup(N, rates=RATE * b2.Hz)
    syn = b2.Synapses(
        inputs,
        neuron,
        """w : 1
           dxpre/dt = -xpre / tau : 1 (event-driven)
           dypost/dt = -ypost / tau : 1 (event-driven)""",
        on_pre="""ge += w
                  w = clip(w - a_minus * ypost, 0, GMAX)
                  xpre += 1""",
        on_post="""w = clip(w + a_plus * xpre, 0, GMAX)
                   ypost += 1""",
    )
    syn.connect()
    syn.w = "rand() * GMAX"
    spikes = b2.SpikeMonitor(neuron)
    t0 = time.perf_counter()
    b2.run(duration * b2.second, namespace=ns)
    wall = time.perf_counter() - t0
    w = np.asarray(syn.w[:])
    t = np.asarray(spikes.t / b2.ms)
    return dict(
        seed=seed,
        hist=np.histogram(w, bins=20, range=(0, GMAX))[0].tolist(),
        frac_low=float(np.mean(w < 0.1 * GMAX)),
        frac_high=float(np.mean(w > 0.9 * GMAX)),
        rate_last_10s=float(np.sum(t > (duration - 10.0) * 1e3) / 10.0),
        wall_s=wall,
    )


def main():
    out = dict(brian2_version=b2.__version__, n_inputs=N, rate=RATE, gmax=GMAX, configs={})
    for name, (a_rel, duration, seeds) in CONFIGS.items():
        runs = [run(a_rel, duration, s) for s in seeds]
        out["configs"][name] = dict(a_plus_rel=a_rel, duration_s=duration, runs=runs)
        for r in runs:
            print(name, r["seed"], r["frac_low"], r["frac_high"], r["rate_last_10s"], r["wall_s"])
    path = Path(__file__).with_name("song_brian2.json")
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
