"""Potjans & Diesmann (2014) microcircuit: per-population rates vs the published ones,
build / compile / run times.

    python benchmarks/potjans_diesmann.py --scale 1.0 --k-scale 1.0 --duration 1000

Prints a table (brainsim rate vs the full-scale rates of NEST's microcircuit example,
``full_mean_rates``, cf. Potjans & Diesmann 2014 Fig. 6) and writes
``benchmarks/results/potjans_diesmann_<scale>.json``. The first ``--transient`` ms
are excluded from the rates. Timings on a shared machine are noisy.
"""

import argparse
import time

import jax
import numpy as np

import brainsim as bs
from brainsim.models.potjans_diesmann import FULL_MEAN_RATES, N_FULL, POPULATIONS

try:
    from _harness import save, table
except ImportError:  # run as a module
    from benchmarks._harness import save, table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--k-scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--transient", type=float, default=100.0)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--rel-std-delay", type=float, default=0.5)
    ap.add_argument("--dc", action="store_true", help="DC instead of Poisson background")
    a = ap.parse_args()

    t = time.perf_counter()
    net = bs.models.potjans_diesmann(
        a.scale,
        key=jax.random.key(0),
        k_scale=a.k_scale,
        poisson=not a.dc,
        rel_std_delay=a.rel_std_delay,
        dt=a.dt,
    )
    build = time.perf_counter() - t
    n_syn = sum(p.conn.n_synapses for p in net.projections if not p.pre.startswith("bg_"))
    state = net.init(jax.random.key(1), dt=a.dt)
    _, rec = bs.simulate(
        net, state, duration=a.duration, dt=a.dt, record={p: ["spikes"] for p in POPULATIONS}
    )
    skip = round(a.transient / a.dt)
    rows = []
    for p, ref, n in zip(POPULATIONS, FULL_MEAN_RATES, N_FULL, strict=True):
        s = rec[p]["spikes"][skip:]
        rows.append(
            dict(
                population=p,
                neurons=int(s.shape[1]),
                rate=float(s.mean() / (a.dt * 1e-3)),
                published=float(ref),
                full_size=int(n),
            )
        )
    print(
        table(
            rows,
            [
                ("population", "population", ""),
                ("neurons", "neurons", "d"),
                ("rate", "brainsim (Hz)", ".3f"),
                ("published", "published (Hz)", ".3f"),
            ],
        )
    )
    timing = dict(
        build_s=build,
        compile_s=rec.compile_time,
        run_s=rec.run_time,
        realtime_factor=rec.run_time / (a.duration * 1e-3),
        synapses=int(n_syn),
        backend=jax.default_backend(),
    )
    print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in timing.items()})
    out = save(f"potjans_diesmann_{a.scale:g}", dict(args=vars(a), rates=rows, **timing))
    print(
        "wrote",
        out,
        "mean |rel err|",
        np.mean([abs(r["rate"] / r["published"] - 1) for r in rows]),
    )


if __name__ == "__main__":
    main()
