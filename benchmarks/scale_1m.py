"""COBA with 1 000 000 neurons and 80 000 000 synapses on one machine, 1 s of biological
time at dt = 0.1 ms, with procedural connectivity (no synapse stored), or with
``--stored`` connectivity (``FixedProb`` CSR layouts, 4 bytes per synapse).

    python benchmarks/scale_1m.py [--n 1000000] [--duration 1000] [--stored]

Reports build time (network + state), compile time, run time, the E/I rates (from the
spikes of the first 2 000 neurons of each population, counted per 1 ms window: exact,
since the 5 ms refractory period allows at most one spike per window) and the peak
resident memory of the process. Results: benchmarks/results/scale_1m.json
(``scale_1m_stored.json`` with ``--stored``).
"""

import argparse
import os
import platform
import sys
import time

import jax
import numpy as np
from _harness import peak_rss_mib, save

import brainsim as bs

DT, SAMPLE = 0.1, 2000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--note", default="", help="e.g. whether other jobs shared the machine")
    ap.add_argument("--stored", action="store_true", help="stored, not procedural, synapses")
    args = ap.parse_args()
    n = args.n
    rss0 = peak_rss_mib()
    start = time.perf_counter()
    net = bs.models.coba(n, key=jax.random.key(0), procedural=not args.stored)
    state = jax.block_until_ready(net.init(jax.random.key(1), dt=DT))
    build = time.perf_counter() - start
    rec = {p: bs.Record(["spikes"], indices=slice(0, SAMPLE), every=10) for p in ("E", "I")}
    _, out = bs.simulate(net, state, args.duration, DT, record=rec, progress=False)
    rates = {
        p: float(np.asarray(out[p]["spikes"]).sum(0).mean() / (args.duration * 1e-3))
        for p in ("E", "I")
    }
    result = dict(
        n=n,
        connectivity="stored" if args.stored else "procedural",
        synapses=sum(p.conn.n_synapses for p in net.projections),
        duration_ms=args.duration,
        dt_ms=DT,
        build_s=build,
        compile_s=out.compile_time,
        run_s=out.run_time,
        realtime_factor=out.run_time / (args.duration * 1e-3),
        rate_E_hz=rates["E"],
        rate_I_hz=rates["I"],
        peak_rss_mib=peak_rss_mib(),
        rss_at_start_mib=rss0,
        native=bool(bs.ops._native.available()),
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        jax=jax.__version__,
        python=sys.version.split()[0],
        note=args.note,
    )
    for k, v in result.items():
        print(f"{k:>18}: {v:.4g}" if isinstance(v, float) else f"{k:>18}: {v}")
    save("scale_1m_stored" if args.stored else "scale_1m", result)


if __name__ == "__main__":
    main()
