"""The work of a sharded step that is not divided by the shards, without any
collective between processes: one process on one core runs ``simulate_sharded`` over
``D`` forced CPU devices (``--xla_force_host_platform_device_count``; the devices then
step one after another on that core), for D = 1, 2, 4 (and D = 0: ``bs.simulate``, for
comparison). Its CPU time per simulated
second is the total work of the D shards: if a fraction ``u`` of the one-device step is
not divided (each shard does it whole), the D shards cost ``(1 + (D - 1) u)`` times the
one-device step; ``u`` is reported (from D = 2). CPU time, not wall time: the figure
holds on a loaded machine.

    python benchmarks/sharded_work.py [--n 32000] [--stored] [--duration 200]
    python benchmarks/sharded_work.py --model potjans_diesmann --scale 0.1
"""

import argparse
import os
import sys
import time

import numpy as np
from _harness import emit, run_worker


def worker(a):
    os.sched_setaffinity(0, [sorted(os.sched_getaffinity(0))[0]])
    flags = f"--xla_force_host_platform_device_count={max(a.devices, 1)}"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}"
    import resource

    import jax

    import brainsim as bs

    bs.ops.configure(threads=1)
    key = jax.random.key(0)
    if a.model == "potjans_diesmann":
        net = bs.models.potjans_diesmann(a.scale, key=key)
    else:
        net = bs.models.coba(a.n, key=key, procedural=not a.stored)
    state = net.init(jax.random.key(1))

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    chunk = round(a.duration / 10 / 0.1)
    # the neurons' spikes (a Poisson background of counts records ~10x their events)
    sources = bs.neurons.PoissonSource | bs.neurons.PoissonCounts
    names = [p for p, pop in net.populations.items() if not isinstance(pop, sources)]
    if a.devices:
        run = lambda d: bs.simulate_sharded(
            net, state, d, 0.1, events=True, chunk_steps=chunk, record=names
        )
    else:  # bs.simulate, for comparison
        record = {p: bs.Record("spikes", events=True) for p in names}
        run = lambda d: bs.simulate(net, state, d, 0.1, record=record, chunk_steps=chunk)
    wall, used = [], []
    for duration in (a.duration / 10, a.duration, a.duration):  # compiles, then runs
        t, c = time.perf_counter(), cpu()
        run(duration)
        wall.append(time.perf_counter() - t)
        used.append(cpu() - c)
    per = lambda x: x[-1] / (a.duration / 1000)
    emit({"devices": a.devices, "cpu_s_per_sim_s": per(used), "wall_s_per_sim_s": per(wall)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--model", choices=("coba", "potjans_diesmann"), default="coba")
    ap.add_argument("--n", type=int, default=32_000)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--stored", action="store_true")
    ap.add_argument("--duration", type=float, default=200.0)
    ap.add_argument("--devices", type=int, nargs="+", default=[0, 1, 2, 4])
    a = ap.parse_args()
    if a.worker:
        a.devices = a.devices[0]
        return worker(a)
    args = ["--model", a.model, "--n", str(a.n), "--scale", str(a.scale)]
    args += ["--duration", str(a.duration)] + (["--stored"] if a.stored else [])
    rows = [
        run_worker(sys.executable, sys.argv[0], [*args, "--devices", str(d)]) for d in a.devices
    ]
    one = next(r["cpu_s_per_sim_s"] for r in rows if r.get("devices") == 1)
    for r in rows:
        if "error" not in r and r["devices"] != 1:
            ratio = r["cpu_s_per_sim_s"] / one
            r["work_ratio"] = ratio
            if r["devices"] > 1:
                r["undivided_fraction"] = (ratio - 1) / (r["devices"] - 1)
        print({k: np.round(v, 3) if isinstance(v, float) else v for k, v in r.items()})


if __name__ == "__main__":
    main()
