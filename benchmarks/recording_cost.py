"""What recording spikes costs: COBA (Brette et al. 2007), 1 s of biological time at
dt = 0.1 ms, with no recording, with 1 ms-window boolean rasters (``Record("spikes",
every=10)``) and with spike events at every step (``Record("spikes", events=True)``).

    python benchmarks/recording_cost.py                    # N = 16k, 64k, 256k
    python benchmarks/recording_cost.py --n 16000 --repeats 5 --out recording_cost_16k

Each N runs in a fresh subprocess. Each mode runs once to compile (the run also fills
the event capacity), then the modes run back to back, ``--repeats`` times, so a change
of load on a shared machine hits every mode alike. The run time is ``Recording.run_time``
(the chunk runs, the transfer to the host and the host-side conversion; not compile);
the process CPU time of each call (all threads) is kept too, as it varies less than the
wall-clock time when other processes load the machine.
Results: benchmarks/results/OUT.json with every repeat, the medians, the fastest runs
(the least disturbed on a loaded machine) and the ratios of events to no recording and
to windows, and the load average before and after.
"""

import argparse
import os
import sys
import time

from _harness import emit, peak_rss_mib, run_worker, save, table

DURATION, DT = 1000.0, 0.1
MODES = ("none", "windows", "events")


def worker(n: int, repeats: int, seed: int) -> dict:
    import jax
    import numpy as np

    import brainsim as bs

    net = bs.models.coba(n, key=jax.random.key(seed))
    state = jax.block_until_ready(net.init(jax.random.key(seed + 1), dt=DT))
    records = {
        "none": None,
        "windows": {p: bs.Record("spikes", every=10) for p in ("E", "I")},
        "events": {p: bs.Record("spikes", events=True) for p in ("E", "I")},
    }
    compile_s, first_s, spikes = {}, {}, {}
    for mode in MODES:
        _, rec = bs.simulate(net, state, DURATION, DT, record=records[mode])
        compile_s[mode], first_s[mode] = rec.compile_time, rec.run_time
        if mode == "windows":
            spikes[mode] = int(sum(np.asarray(rec[p]["spikes"]).sum() for p in rec))
        if mode == "events":
            spikes[mode] = int(sum(rec[p]["spikes"].steps.size for p in rec))
    runs, cpu = {m: [] for m in MODES}, {m: [] for m in MODES}
    for _ in range(repeats):
        for mode in MODES:
            c0 = time.process_time()
            rec = bs.simulate(net, state, DURATION, DT, record=records[mode])[1]
            cpu[mode].append(time.process_time() - c0)
            runs[mode].append(rec.run_time)
    med = {m: float(np.median(r)) for m, r in runs.items()}
    cpu_med = {m: float(np.median(r)) for m, r in cpu.items()}
    low = {m: float(np.min(r)) for m, r in runs.items()}  # the least disturbed run
    return dict(
        n=n,
        repeats=repeats,
        compile_s=compile_s,
        first_run_s=first_s,
        runs_s=runs,
        median_s=med,
        min_s=low,
        events_over_none_min=low["events"] / low["none"],
        events_over_windows_min=low["events"] / low["windows"],
        cpu_s=cpu,
        cpu_median_s=cpu_med,
        events_over_none_cpu=cpu_med["events"] / cpu_med["none"],
        events_over_windows_cpu=cpu_med["events"] / cpu_med["windows"],
        events_over_none=med["events"] / med["none"],
        events_over_windows=med["events"] / med["windows"],
        windows_over_none=med["windows"] / med["none"],
        spikes=spikes,
        native=bool(bs.ops._native.available()),
        peak_mib=peak_rss_mib(),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", nargs="+", type=int, default=[16000, 64000, 256000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="recording_cost")
    p.add_argument("--note", default="", help="a remark stored with the results")
    args = p.parse_args()
    rows = []
    for n in args.n:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        r = run_worker(sys.executable, __file__, [str(n), str(args.repeats), str(args.seed)], 3600)
        r.update(n=n, load_before=load_before, load_after=os.getloadavg()[0])
        r["wall_s"] = time.perf_counter() - start
        for m in MODES:
            r[f"{m}_s"] = r.get("median_s", {}).get(m)
        rows.append(r)
        print(r, flush=True)
    cols = [
        ("n", "N", "d"),
        ("none_s", "no recording (s)", ".3f"),
        ("windows_s", "1 ms windows (s)", ".3f"),
        ("events_s", "events (s)", ".3f"),
        ("events_over_none", "events / none", ".3f"),
        ("events_over_windows", "events / windows", ".3f"),
        ("events_over_none_min", "events / none (fastest runs)", ".3f"),
        ("events_over_windows_min", "events / windows (fastest runs)", ".3f"),
        ("events_over_none_cpu", "events / none (CPU time)", ".3f"),
        ("events_over_windows_cpu", "events / windows (CPU time)", ".3f"),
        ("load_before", "load (1 min) before", ".1f"),
        ("load_after", "after", ".1f"),
    ]
    print(table(rows, cols))
    path = save(args.out, {"note": args.note, "cpu_count": os.cpu_count(), "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        n, repeats, seed = map(int, sys.argv[2:5])
        emit(worker(n, repeats, seed))
    else:
        main()
