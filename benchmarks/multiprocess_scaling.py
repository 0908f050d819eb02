"""Multi-process scaling, measured and modelled: COBA as P = 1, 2, 4 processes on localhost
(one CPU device each; 4 on a 2-core machine is over-subscribed and reported as such).

Each process measures its compile time, the run time per simulated second, its peak
memory, and the cost of the spike exchange alone: an all-gather of the message one step
sends (per population ``1 + 2·slots`` int32 words, ``bs.ops.sharded_matvec``), timed
over many repetitions inside one compiled loop, at several message sizes. From these:

    t_step(P) = t_compute(1) / P + t_exchange(P),
    t_exchange(P) = n_pops · (log2(P) · alpha + (P - 1) · words(P) · 4 B / bandwidth)

(``t_compute(1)`` the measured step at P = 1; ``alpha`` (latency per stage of a
recursive-doubling all-gather) and ``bandwidth`` fitted to the measured all-gathers at
the largest P, or given with ``--latency-us`` and ``--gbytes-per-s`` for another
interconnect). The model then predicts the time per simulated second for 8–1 024
processes, strong scaling (the same network) and weak scaling (``--n`` neurons per
process).

    python benchmarks/multiprocess_scaling.py [--n 256000] [--duration 1000] \
        [--processes 1 2 4] [--stored]

Results: benchmarks/results/multiprocess_scaling.json.
"""

import argparse
import json
import math
import sys
import time

import numpy as np
from _harness import emit, peak_rss_mib, save, table
from _multiproc import launch

SIZES = (16, 256, 4096)  # message words per process timed in the exchange micro-benchmark


def slots(n_pre: int, processes: int) -> int:
    """List slots per process and population in ``sharded_matvec`` (default capacity)."""
    from brainsim.ops import default_capacity

    return min(n_pre // processes, max(16, -(-default_capacity(n_pre) // processes)))


def exchange_seconds(words: int, reps: int = 200) -> float:
    """Seconds per all-gather of ``words`` int32 per process over every process."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((jax.device_count(),), ("x",))

    def loop(x):
        step = lambda c, _: (jax.lax.all_gather(c, "x")[0] + 1, None)
        return jax.lax.scan(step, x, None, length=reps)[0]

    fn = jax.jit(jax.shard_map(loop, mesh=mesh, in_specs=P("x"), out_specs=P("x")))
    shape, sharding = (words * jax.device_count(),), NamedSharding(mesh, P("x"))
    x = jax.make_array_from_callback(shape, sharding, lambda i: np.zeros(words, np.int32))
    fn(x).block_until_ready()
    t = time.perf_counter()
    fn(x).block_until_ready()
    return (time.perf_counter() - t) / reps


def worker(a):
    import brainsim as bs

    bs.distributed.initialize(f"localhost:{a.port}", a.processes, a.pid, timeout=300)
    import jax

    t = time.perf_counter()
    net = bs.models.coba(a.n, key=jax.random.key(0), procedural=not a.stored)
    state = net.init(jax.random.key(1))
    build = time.perf_counter() - t
    # Each call compiles its chunk program: a run of one chunk and one of ten, the same
    # program; their difference is nine chunks' run time.
    chunk = round(a.duration / 10 / 0.1)
    timed = []
    for duration in (a.duration / 10, a.duration):
        t = time.perf_counter()
        _, ev = bs.simulate_sharded(net, state, duration, 0.1, events=True, chunk_steps=chunk)
        timed.append(time.perf_counter() - t)
    run = (timed[1] - timed[0]) * 10 / 9
    compile_s = timed[0] - run / 10
    exchange = {str(w): exchange_seconds(w) for w in SIZES} if a.processes > 1 else {}
    emit(
        {
            "build_s": build,
            "compile_s": compile_s,
            "run_s_per_sim_s": run / (a.duration / 1000),
            "spikes": int(sum(e.steps.size for e in ev.values())),
            "peak_rss_mib": peak_rss_mib(),
            "exchange_s": exchange,
        }
    )


def fit(exchange: dict, processes: int) -> tuple[float, float]:
    """``(alpha s, bandwidth B/s)`` of ``t = log2(P)·alpha + (P-1)·words·4/bandwidth``."""
    words = np.array([int(w) for w in exchange], float)
    t = np.array(list(exchange.values()))
    design = np.stack([np.full_like(words, math.log2(processes)), (processes - 1) * words * 4], 1)
    (alpha, inv_bw), *_ = np.linalg.lstsq(design, t, rcond=None)
    return max(alpha, 0.0), 1.0 / max(inv_bw, 1e-18)


def predict(t_compute1: float, n: int, p: int, alpha: float, bandwidth: float) -> float:
    """Seconds per simulated second (10 000 steps) of COBA ``n`` over ``p`` processes."""
    n_e, n_i = int(0.8 * n), n - int(0.8 * n)
    words = sum(1 + 2 * slots(m, p) for m in (n_e, n_i))
    exchange = 2 * math.log2(p) * alpha + (p - 1) * words * 4 / bandwidth if p > 1 else 0.0
    return t_compute1 / p + 1e4 * exchange


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--n", type=int, default=256_000)
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--stored", action="store_true")
    ap.add_argument(
        "--latency-us", type=float, help="all-gather latency per stage (default: fitted)"
    )
    ap.add_argument("--gbytes-per-s", type=float, help="interconnect bandwidth (default: fitted)")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--port")
    a = ap.parse_args()
    if a.worker:
        a.processes = a.processes[0]
        return worker(a)
    import os

    args = ["--n", str(a.n), "--duration", str(a.duration)] + (["--stored"] if a.stored else [])
    rows = []
    for p in a.processes:
        got = launch(sys.argv[0], args, p)
        errors = [g["error"] for g in got if "error" in g]
        row = {"processes": p, "oversubscribed": p > (os.cpu_count() or 1)}
        if errors:
            rows.append({**row, "error": errors[0][:200]})
        else:
            slowest = max(got, key=lambda g: g["run_s_per_sim_s"])
            rows.append({**row, **slowest, "peak_rss_mib": [g["peak_rss_mib"] for g in got]})
        print(json.dumps(rows[-1]), flush=True)
    ok = {r["processes"]: r for r in rows if "error" not in r}
    if 1 not in ok:
        return print("no P = 1 run: nothing to model")
    t1 = ok[1]["run_s_per_sim_s"]
    for r in rows:
        if "error" not in r:
            r["speedup"] = t1 / r["run_s_per_sim_s"]
    largest = max(ok)
    alpha, bandwidth = fit(ok[largest]["exchange_s"], largest) if largest > 1 else (0.0, math.inf)
    alpha = alpha if a.latency_us is None else a.latency_us * 1e-6
    bandwidth = bandwidth if a.gbytes_per_s is None else a.gbytes_per_s * 1e9
    model = {
        "alpha_s": alpha,
        "bandwidth_B_per_s": bandwidth,
        "measured_vs_model": {
            p: [ok[p]["run_s_per_sim_s"], predict(t1, a.n, p, alpha, bandwidth)] for p in ok
        },
        "strong": {p: predict(t1, a.n, p, alpha, bandwidth) for p in (8, 32, 128, 512, 1024)},
        "weak": {
            p: predict(t1 * p, a.n * p, p, alpha, bandwidth) for p in (8, 32, 128, 512, 1024)
        },
    }
    columns = [
        ("processes", "P", ""),
        ("oversubscribed", "over-subscribed", ""),
        ("run_s_per_sim_s", "s per sim. s", ".3g"),
        ("speedup", "speed-up", ".2f"),
        ("compile_s", "compile s", ".3g"),
        ("peak_rss_mib", "peak RSS MiB per process", ""),
        ("error", "error", ""),
    ]
    print(table(rows, columns))
    print(json.dumps(model, indent=1))
    name = "multiprocess_scaling" + ("_stored" if a.stored else "")
    print("saved", save(name, {"n": a.n, "duration_ms": a.duration, "rows": rows, "model": model}))


if __name__ == "__main__":
    main()
