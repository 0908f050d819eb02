"""The same PyNN COBA script (Brette et al. 2007: 80 % excitatory, 20 % inhibitory
IF_cond_exp, connection probability 0.02, 4 nS / 51 nS conductances, driven by a 0.2 nA
bias current) run with ``pyNN.nest`` or ``brainsim.pynn``; prints one JSON line with
the build time (creating the network), the first run's time (for brainsim including
translation and compilation) and the time of a second run of the same duration,
continuing the first (the steady-state simulation speed).

    python benchmarks/pynn_coba.py brainsim.pynn --n 4000 --duration 1000
    python benchmarks/pynn_coba.py pyNN.nest --n 16000 --duration 1000

(``pyNN.nest`` needs an environment with NEST 3 and PyNN 0.13.)
"""

import argparse
import importlib
import json
import time

import numpy as np


def main(backend: str, n: int, duration: float, dt: float, seed: int):
    sim = importlib.import_module(backend)
    t0 = time.perf_counter()
    sim.setup(timestep=dt)
    cell = sim.IF_cond_exp(
        cm=0.2,
        tau_m=20.0,
        tau_refrac=5.0,
        v_rest=-60.0,
        v_reset=-60.0,
        v_thresh=-50.0,
        e_rev_E=0.0,
        e_rev_I=-80.0,
        tau_syn_E=5.0,
        tau_syn_I=10.0,
        i_offset=0.2,
    )
    n_e = n * 4 // 5
    exc = sim.Population(n_e, cell, label="E")
    inh = sim.Population(n - n_e, cell, label="I")
    rng = np.random.default_rng(seed)
    for pop in (exc, inh):
        pop.initialize(v=rng.normal(-55.0, 5.0, pop.size))
        pop.record("spikes")
    conn = sim.FixedProbabilityConnector(0.02, allow_self_connections=False)
    for pre, w, receptor in ((exc, 0.004, "excitatory"), (inh, 0.051, "inhibitory")):
        for post in (exc, inh):
            sim.Projection(
                pre, post, conn, sim.StaticSynapse(weight=w, delay=dt), receptor_type=receptor
            )
    t1 = time.perf_counter()
    sim.run(duration)
    t2 = time.perf_counter()
    sim.run(duration)
    t3 = time.perf_counter()
    n_spikes = sum(sum(len(s) for s in p.get_data().segments[-1].spiketrains) for p in (exc, inh))
    sim.end()
    print(
        json.dumps(
            {
                "backend": backend,
                "n": n,
                "duration_ms": duration,
                "dt_ms": dt,
                "build_s": t1 - t0,
                "first_run_s": t2 - t1,
                "run_s": t3 - t2,
                "rate_hz": n_spikes / n / (2 * duration * 1e-3),
            }
        )
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("backend", choices=["brainsim.pynn", "pyNN.nest"])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    main(a.backend, a.n, a.duration, a.dt, a.seed)
