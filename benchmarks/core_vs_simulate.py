"""The pure core under ``jax.jit`` against ``bs.simulate``, brainsim only.

For each model and N, one process runs ``duration`` ms of the network four ways, each
compiled once (first call, not timed) and then timed alternately, best of ``--reps``:
``simulate`` with no recording (the chunk is one native block call where it applies),
``simulate`` recording both populations' spike rasters, and ``jax.jit`` of
``bs.simulate_core`` without and with the same recording (one ``lax.scan`` of
``Network.step``; JAX transforms it, so it never takes the block call). Wall time and
process CPU time per step, and the spike count (equal: the same steps).

    python benchmarks/core_vs_simulate.py --models coba cuba --n 4000 16000
    python benchmarks/core_vs_simulate.py --models coba --n 1000 --duration 20 --reps 1
"""

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

import brainsim as bs

sys.path.insert(0, str(Path(__file__).parent))
from _harness import save, table  # noqa: E402

DT = 0.1
RECORD = {"E": ["spikes"], "I": ["spikes"]}


def _count(rec) -> int:
    return int(sum(np.asarray(rec[p]["spikes"] != 0).sum() for p in rec))


def measure(model: str, n: int, duration: float, reps: int) -> list[dict]:
    net = getattr(bs.models, model)(n, key=jax.random.key(0))
    state = jax.block_until_ready(net.init(jax.random.key(1), dt=DT))
    core = {
        name: jax.jit(lambda s, r=r: bs.simulate_core(net, s, duration, DT, record=r))
        for name, r in (("none", None), ("spikes", RECORD))
    }
    runs = {
        "simulate": lambda: bs.simulate(net, state, duration, DT, progress=False),
        "simulate, spikes": lambda: bs.simulate(
            net, state, duration, DT, record=RECORD, progress=False
        ),
        "jit(core)": lambda: core["none"](state),
        "jit(core), spikes": lambda: core["spikes"](state),
    }
    wall, cpu, spikes = {k: [] for k in runs}, {k: [] for k in runs}, {}
    for f in runs.values():  # compile
        jax.block_until_ready(f()[0])
    for _ in range(reps):
        for name, f in runs.items():
            w, c = time.perf_counter(), time.process_time()
            final, rec = jax.block_until_ready(f())
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
            spikes[name] = _count(rec) if len(rec) else None
    steps = round(duration / DT)
    return [
        dict(
            model=model,
            n=n,
            runner=name,
            wall_us=min(wall[name]) / steps * 1e6,
            wall_med_us=float(np.median(wall[name])) / steps * 1e6,
            cpu_us=min(cpu[name]) / steps * 1e6,
            spikes=spikes[name],
        )
        for name in runs
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["coba", "cuba"])
    p.add_argument("--n", nargs="+", type=int, default=[4000, 16000])
    p.add_argument("--duration", type=float, default=1000.0, help="ms per run")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default="core_vs_simulate")
    args = p.parse_args()
    rows = []
    for model in args.models:
        for n in args.n:
            rows += measure(model, n, args.duration, args.reps)
            print(table(rows[-4:], COLUMNS), flush=True)
    print(table(rows, COLUMNS))
    print("results:", save(args.out, dict(rows=rows, duration_ms=args.duration)))


COLUMNS = [
    ("model", "model", ""),
    ("n", "N", ""),
    ("runner", "runner", ""),
    ("wall_us", "wall µs/step", ".1f"),
    ("wall_med_us", "median", ".1f"),
    ("cpu_us", "CPU µs/step", ".1f"),
    ("spikes", "spikes", ""),
]

if __name__ == "__main__":
    main()
