"""Peak memory of long recorded runs, in memory against streamed to disk (issue 19):
COBA (Brette et al. 2007) of N neurons at dt = 0.1 ms, recording the spikes of every E
neuron as events, and of 100 I neurons their spikes (events, 1 ms windows) and membrane
potential sampled every 1 ms (one ``Record`` per population), for each
duration, kept in memory (``bs.simulate``) or streamed to an HDF5 file chunk by chunk
(``stream=bs.io.HDF5Sink(path)``). Mode ``dense``: the spikes of every neuron as a dense
raster (``events=False``), to compare the peak with the raster's size (target: the
memory the run adds at most 1.2x the raster).

    python benchmarks/recording_memory.py                       # N = 4000: 10, 600, 3600 s
    python benchmarks/recording_memory.py --modes dense --durations 10 60
    python benchmarks/recording_memory.py --n 200 --durations 0.2 0.4   # a quick check

Run time: COBA 4000 takes about 0.05-0.1 s per simulated second recorded this way
(quiet), so the default (10 + 600 + 3600 s, twice) takes about 10-15 minutes.

Each (duration, mode) runs in a fresh subprocess, so its peak resident memory
(``ru_maxrss``) is its own; ``before_run_mib`` is the resident memory after a warm-up
run that compiled the chunk (at most 1 s), so peak - before is what the run adds.
Streamed, the peak should not grow with the duration (the in-memory recording grows
with the spikes and samples). Results:
benchmarks/results/OUT.json and a markdown table.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _harness import emit, peak_rss_mib, run_worker, save, table

DT = 0.1
MODES = ("memory", "stream", "dense")


def worker(n: int, seconds: float, mode: str, seed: int) -> dict:
    import jax

    import brainsim as bs

    net = bs.models.coba(n, key=jax.random.key(seed))
    state = jax.block_until_ready(net.init(jax.random.key(seed + 1), dt=DT))
    record = {  # (one Record per population: v is sampled from 100 I neurons)
        "E": bs.Record("spikes", events=True),
        "I": bs.Record(["spikes", "v"], indices=slice(0, 100), every=10, events=True),
    }
    if mode == "dense":
        record = {p: bs.Record("spikes", events=False) for p in ("E", "I")}
    # compile first (a run of the same chunk length), so the peak is the run's
    bs.simulate(net, state, min(seconds, 1.0) * 1000.0, DT, record=record, progress=False)
    baseline = _rss_mib()
    path = Path(tempfile.mkdtemp()) / "run.h5"
    stream = bs.io.HDF5Sink(path) if mode == "stream" else None
    start = time.perf_counter()
    _, rec = bs.simulate(
        net, state, seconds * 1000.0, DT, record=record, stream=stream, progress=False
    )
    wall = time.perf_counter() - start
    spikes = sum(len(rec.spike_events(p).steps) for p in ("E", "I"))
    raster_mib = round(seconds * 1000.0 / DT) * n / 2**20
    out = dict(
        n=n,
        seconds=seconds,
        mode=mode,
        peak_mib=peak_rss_mib(),
        before_run_mib=baseline,
        wall_s=wall,
        compile_s=rec.compile_time,
        spikes=int(spikes),
        raster_mib=raster_mib,
        added_over_raster=(peak_rss_mib() - baseline) / raster_mib,
        file_mib=path.stat().st_size / 2**20 if mode == "stream" else None,
    )
    if mode == "stream":
        path.unlink()
    return out


def _rss_mib() -> float:
    """Resident memory of this process now (MiB; Linux)."""
    return (
        int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--durations", nargs="+", type=float, default=[10.0, 600.0, 3600.0])
    p.add_argument("--modes", nargs="+", choices=MODES, default=["memory", "stream"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="recording_memory")
    args = p.parse_args()
    rows = []
    for seconds in args.durations:
        for mode in args.modes:
            worker_args = [str(args.n), str(seconds), mode, str(args.seed)]
            r = run_worker(sys.executable, __file__, worker_args, timeout=6 * 3600)
            r.update(n=args.n, seconds=seconds, mode=mode, load=os.getloadavg()[0])
            rows.append(r)
            print(r, flush=True)
    cols = [
        ("n", "N", "d"),
        ("seconds", "biological time (s)", "g"),
        ("mode", "recording", ""),
        ("peak_mib", "peak RSS (MiB)", ".0f"),
        ("before_run_mib", "before the run (MiB)", ".0f"),
        ("spikes", "spikes", "d"),
        ("file_mib", "file (MiB)", ".1f"),
        ("added_over_raster", "(peak - before) / raster", ".2f"),
        ("wall_s", "wall (s)", ".1f"),
        ("load", "load (1 min)", ".1f"),
    ]
    print(table(rows, cols))
    print(f"wrote {save(args.out, {'cpu_count': os.cpu_count(), 'rows': rows})}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        n, seconds, mode, seed = sys.argv[2:6]
        emit(worker(int(n), float(seconds), mode, int(seed)))
    else:
        main()
