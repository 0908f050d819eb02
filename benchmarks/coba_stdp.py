"""COBA with pair STDP on every E→E synapse vs the same network without plasticity
(issue 17 target: run time <= 1.5x the static network).

``bs.models.coba(n)`` (Brette et al. 2007); the E→E projection gets
``bs.Plastic(PairSTDP(A_plus=0.01, A_minus=0.0105, tau 20 ms, Bounds(0, 12 nS)))`` (the
static weight is 6 nS). 1 s of biological time at dt = 0.1 ms, each configuration in a
fresh subprocess; run time is the fastest of three runs, compilation excluded (reported
separately); the memory of the plastic state is reported per synapse.

    python benchmarks/coba_stdp.py                 # n = 4000, 16000, 64000
    python benchmarks/coba_stdp.py --n 4000        # one size
    python benchmarks/coba_stdp.py --quick         # n = 1000, 100 ms: checks the script

Results: benchmarks/results/coba_stdp.json. The peers' plastic runners (Brian2 synaptic
equations, NEST ``stdp_synapse``) are not written yet.
"""

import argparse
import sys

from _harness import emit, run_worker, save, table

DT = 0.1


def worker(n: int, plastic: bool, duration: float) -> dict:
    import equinox as eqx
    import jax
    import numpy as np

    import brainsim as bs

    net = bs.models.coba(n, key=jax.random.key(0))
    extra_bytes = 0
    if plastic:
        rule = bs.plasticity.PairSTDP(0.01, 0.0105, 20.0, 20.0, bs.plasticity.Bounds(0.0, 12.0))
        comp = (bs.Plastic(rule),)
        projs = [
            eqx.tree_at(lambda p: p.components, p, comp) if p.name == "E->E" else p
            for p in net.projections
        ]
        net = bs.Network(net.populations, projs, key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=DT)
    if plastic:  # the plastic state and the column index (the layout is shared, not counted)
        cols = net.projections[0].components[0].index.cols
        extra_bytes = sum(x.nbytes for x in jax.tree.leaves((state.components, cols)))
    out, rec = bs.simulate(net, state, duration, DT, record={"E": ["spikes"]})
    runs = [
        bs.simulate(net, state, duration, DT, record={"E": ["spikes"]})[1].run_time
        for _ in range(3)
    ]
    n_syn = net.projections[0].conn.n_synapses
    return dict(
        n=n,
        plastic=plastic,
        run_s=float(np.min(runs)),
        compile_s=rec.compile_time,
        rate_E_hz=float(np.asarray(rec["E"]["spikes"]).mean() / (DT * 1e-3)),
        ee_synapses=int(n_syn),
        plastic_bytes_per_ee_synapse=extra_bytes / n_syn if plastic else 0.0,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=3)
    parser.add_argument("--n", type=int, nargs="*", default=[4000, 16000, 64000])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.worker:
        n, plastic, duration = args.worker
        emit(worker(int(n), plastic == "1", float(duration)))
        return
    sizes, duration = ([1000], 100.0) if args.quick else (args.n, 1000.0)
    rows = []
    for n in sizes:
        for plastic in (False, True):
            r = run_worker(sys.executable, __file__, [str(n), str(int(plastic)), str(duration)])
            rows.append({"n": n, "plastic": plastic, **r})
        static, learning = rows[-2].get("run_s"), rows[-1].get("run_s")
        if static and learning:
            rows[-1]["ratio"] = learning / static
    columns = [
        ("n", "N", ""),
        ("plastic", "STDP E→E", ""),
        ("run_s", "run (s)", ".3f"),
        ("compile_s", "compile (s)", ".2f"),
        ("rate_E_hz", "E rate (Hz)", ".1f"),
        ("ratio", "× static", ".2f"),
        ("plastic_bytes_per_ee_synapse", "plastic B/syn", ".1f"),
    ]
    print(table(rows, columns))
    if not args.quick:
        save("coba_stdp", dict(duration_ms=duration, dt=DT, rows=rows))


if __name__ == "__main__":
    main()
