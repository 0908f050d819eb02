"""Where the time of one collective between processes goes: P processes on localhost
(``bs.distributed.initialize``, Gloo), each one CPU device, each timing a jit'd
``lax.scan`` of ``--steps`` steps that does nothing but one small ``all_gather`` inside
``shard_map`` per step (and, for comparison, one all-gather per jit call). Per process:
wall seconds per collective (median and spread of ``--reps`` runs), CPU seconds per
collective (user and system: a waiting thread that spins shows as CPU time, one that
sleeps does not), and voluntary / involuntary context switches per collective
(``getrusage``: involuntary ones are preemptions by the scheduler).

``--pin one``: process p on core p (one core each, as ``multiprocess_scaling.py
--threads-per-process 1``); ``--pin all``: every process on every core (the default
affinity); ``--pin same``: every process on core 0 (both on one core: the worst case of
a process waiting for another that cannot run).

    python benchmarks/exchange_latency.py --processes 2 --pin one [--words 16 4096]
"""

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
from _harness import emit
from _multiproc import launch


def _usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([r.ru_utime, r.ru_stime, r.ru_nvcsw, r.ru_nivcsw], float)


def measure(words: int, steps: int, reps: int) -> dict:
    """Per collective: wall, user, system seconds and context switches of an all-gather
    of ``words`` int32 per process, in a scan of ``steps`` (``in_scan``) and one per jit
    call (``per_call``)."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((jax.device_count(),), ("x",))
    own = lambda v: jax.lax.pcast(v, "x", to="varying")
    gather = lambda c: own(jax.lax.all_gather(c, "x", to="invarying")[0] + 1)
    loop = lambda x: jax.lax.scan(lambda c, _: (gather(c), None), x, None, length=steps)[0]
    specs = dict(mesh=mesh, in_specs=P("x"), out_specs=P("x"))
    in_scan = jax.jit(jax.shard_map(loop, **specs))
    per_call = jax.jit(jax.shard_map(gather, **specs))
    x = jax.make_array_from_callback(
        (words * jax.device_count(),),
        NamedSharding(mesh, P("x")),
        lambda i: np.zeros(words, np.int32),
    )
    out = {}
    for name, fn, n in (("in_scan", in_scan, steps), ("per_call", per_call, 1)):
        fn(x).block_until_ready()
        samples = []
        for _ in range(reps):
            u, t = _usage(), time.perf_counter()
            y = x
            for _ in range(steps // n):
                y = fn(y)
            y.block_until_ready()
            wall = time.perf_counter() - t
            samples.append([wall, *(_usage() - u)])
        s = np.array(samples) / steps
        out[name] = {
            "wall_us": [float(w) * 1e6 for w in np.percentile(s[:, 0], [10, 50, 90])],
            "user_us": float(np.median(s[:, 1]) * 1e6),
            "sys_us": float(np.median(s[:, 2]) * 1e6),
            "voluntary_cs": float(np.median(s[:, 3])),
            "involuntary_cs": float(np.median(s[:, 4])),
        }
    return out


def worker(a):
    cores = sorted(os.sched_getaffinity(0))
    if a.pin == "one":
        os.sched_setaffinity(0, [cores[a.pid % len(cores)]])
    elif a.pin == "same":
        os.sched_setaffinity(0, [cores[0]])
    import brainsim as bs

    calmed = []  # the Gloo transport threads initialize lowered to nice 19
    calm = bs.distributed._calm_gloo
    bs.distributed._calm_gloo = lambda: [] if a.uncalmed else calmed.extend(calm())
    bs.distributed.initialize(f"localhost:{a.port}", a.processes, a.pid, timeout=120)
    got = {str(w): measure(w, a.steps, a.reps) for w in a.words}
    emit(
        {"calmed": calmed, "pid": a.pid, "cores": sorted(os.sched_getaffinity(0)), "by_words": got}
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--processes", type=int, nargs="+", default=[2])
    ap.add_argument("--pin", choices=("one", "all", "same"), default="one")
    ap.add_argument(
        "--uncalmed", action="store_true", help="Gloo's thread left at normal priority"
    )
    ap.add_argument("--words", type=int, nargs="+", default=[16, 4096])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--port")
    a = ap.parse_args()
    if a.worker:
        a.processes = a.processes[0]
        return worker(a)
    args = ["--pin", a.pin, "--steps", str(a.steps), "--reps", str(a.reps)]
    args += ["--words", *map(str, a.words)] + (["--uncalmed"] if a.uncalmed else [])
    for p in a.processes:
        for got in launch(sys.argv[0], args, p, timeout=900):
            print(
                json.dumps({"processes": p, "pin": a.pin, "uncalmed": a.uncalmed, **got}),
                flush=True,
            )


if __name__ == "__main__":
    main()
