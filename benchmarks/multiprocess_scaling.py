"""Multi-process scaling, measured and modelled: COBA (``--n`` neurons) or the
Potjans–Diesmann microcircuit (``--model potjans_diesmann --scale s``, its synapses built
per process) as P = 1, 2, 4 processes on localhost (one CPU device each; 4 on a 2-core
machine is over-subscribed and reported as such).

Each process measures its build and compile times, the run time per simulated second
(and its CPU time, user and system, and context switches per step: waits and
preemptions, figures that hold on a loaded machine) and its peak memory (also at the
end of the build, before anything is compiled: the network's share without the
compiler's). Process 0 also reads, from the optimised
program XLA compiled for the run (``--xla_dump_to``), the all-gathers of a step
(``s32[P, words]``): the one spike exchange of every presynaptic population's
compacted list (``bs.ops.exchange``), and its dense fallback, taken only in a
synchronous burst. Every process times an
all-gather alone, over many repetitions inside one compiled loop, at several message
sizes. From these:

    t_step(P) = t_compute(1) / P + [log2(P) · alpha + (P - 1) · words · 4 B / bandwidth] / D

(``t_compute(1)`` the measured step at P = 1; ``alpha``, the latency and
synchronisation per stage of a recursive-doubling all-gather, and ``bandwidth`` fitted to
the measured all-gathers at the largest P, or given with ``--latency-us`` and
``--gbytes-per-s`` for another interconnect; ``words`` per exchange = 1 + D · Σ 2 · slots
over the presynaptic populations exchanged, the slots as ``bs.ops.exchange_slots`` sizes
them for P, checked against the compiled program's at the measured P; ``D``, the steps
between two exchanges, ``simulate_sharded``'s ``exchange_every``: one exchange of D
steps' lists per D steps, so the latency is paid once per D steps). The model then
predicts the time per simulated second for 8–1 024 processes, strong scaling (the same
network) and weak scaling (for COBA, ``--n`` neurons per process).

``--threads-per-process T`` pins every process to T cores of its own (process p to
cores ``p·T ... p·T + T - 1``, modulo the cores there are: over-subscribed when
``P·T`` exceeds them) before JAX starts, so XLA's CPU thread pool (sized from the
affinity mask) has T threads, and gives the native kernels T threads
(``bs.ops.configure(threads=T)``): P = 1 on one core against P = 2 on two, the fair
comparison. Without it every process may use every core.

``--uncalmed`` leaves Gloo's transport thread at the process's priority (before
``bs.distributed.initialize`` lowered it: docs, Scaling up), for comparison.

``--delay`` (ms) gives every COBA projection that axonal delay, so the exchange may wait
``delay / dt`` steps (min-delay batching, the default ``exchange_every``);
``--exchange-every 1`` forces an exchange every step for comparison.

    python benchmarks/multiprocess_scaling.py [--n 256000] [--duration 1000] \
        [--processes 1 2 4] [--stored] [--delay 1.0 [--exchange-every 1]]
    python benchmarks/multiprocess_scaling.py --model potjans_diesmann --scale 1.0 \
        --duration 100 [--threads-per-process 1]

Results: benchmarks/results/multiprocess_scaling[_stored]_{n}[_delay{ms}_every{D}]
[_threads{T}].json or multiprocess_scaling_potjans_diesmann_{scale}[_threads{T}].json.
"""

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import emit, peak_rss_mib, save, table
from _multiproc import launch

SIZES = (16, 256, 4096, 65536)  # words per process timed alone (the fit needs a size
# whose transfer outweighs the latency: up to 4 096 words the bandwidth fits were degenerate)


def words(pre: list, processes: int, every: int = 1) -> int:
    """Words per process of one spike exchange (``bs.ops.exchange``) of ``every`` steps
    over ``processes`` (``pre``: ``[n_pre, capacity]`` of each presynaptic population):
    one int32 count, then an index and a float32 value per slot of every population and
    step."""
    from brainsim.ops import exchange_slots

    return 1 + every * sum(2 * exchange_slots(n, c, processes) for n, c in pre)


def build(a):
    """The network of ``a.model`` and its state, stored synapses built per process."""
    import equinox as eqx
    import jax

    import brainsim as bs

    if a.model == "potjans_diesmann":
        net = bs.models.potjans_diesmann(
            a.scale, key=jax.random.key(0), network=bs.distributed.network
        )
    else:
        network = bs.distributed.network if a.stored else bs.Network
        net = bs.models.coba(a.n, key=jax.random.key(0), procedural=not a.stored, network=network)
        if a.delay is not None:  # every projection delayed (a static field: rebuilt)
            delayed = tuple(dataclasses.replace(p, delay=a.delay) for p in net.projections)
            net = eqx.tree_at(lambda n: n.projections, net, delayed)
    return net, net.init(jax.random.key(1))


def exchanges(net) -> list[list]:
    """``[n_pre, capacity]`` of every presynaptic population exchanged (not those whose
    every projection stays on its shard, e.g. the Potjans-Diesmann backgrounds): its
    size and the largest event capacity of its projections (``None``: the default), as
    ``simulate_sharded`` sizes its part of the exchange."""
    from brainsim._shard_network import diagonal_sources

    caps, unexchanged = {}, diagonal_sources(net.populations, net.projections)
    for p in (p for p in net.projections if p.pre not in unexchanged):
        old = caps.get(p.pre, 0)
        caps[p.pre] = None if None in (old, p.capacity) else max(old, p.capacity)
    return [[net.populations[name].size, c] for name, c in sorted(caps.items())]


def compiled_exchanges(dump: Path) -> list[int]:
    """The words per process of every all-gather of compacted lists (``s32[P, words]``)
    in the optimised sharded run program XLA dumped to ``dump``."""
    words = []
    for f in dump.glob("*cpu_after_optimizations.txt"):
        text = f.read_text()
        if "shard_map" in text:
            words += [int(w) for w in re.findall(r"= s32\[\d+,(\d+)\]\{1,0\} all-gather\(", text)]
    return sorted(words)


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


def usage() -> np.ndarray:
    """This process's ``[user s, system s, voluntary, involuntary context switches]``
    so far (every thread)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([r.ru_utime, r.ru_stime, r.ru_nvcsw, r.ru_nivcsw], float)


def pin(pid: int, threads: int) -> list[int]:
    """Restrict this process (before JAX starts) to ``threads`` cores of its own: cores
    ``pid·threads ...`` of those it may use, modulo their number. Returns them."""
    cores = sorted(os.sched_getaffinity(0))
    mine = sorted({cores[(pid * threads + i) % len(cores)] for i in range(threads)})
    os.sched_setaffinity(0, mine)
    return mine


def worker(a):
    cores = pin(a.pid, a.threads) if a.threads else sorted(os.sched_getaffinity(0))
    dump = Path(tempfile.mkdtemp()) if a.pid == 0 else None
    if dump is not None:  # read by XLA when the backend starts (in initialize)
        flags = f"--xla_dump_to={dump} --xla_dump_hlo_module_re=.*lambda.*"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}"
    import brainsim as bs

    if a.threads:
        bs.ops.configure(threads=a.threads)
    if a.uncalmed:  # for comparison: Gloo's thread left at the process's priority
        bs.distributed._calm_gloo = lambda: []
    bs.distributed.initialize(f"localhost:{a.port}", a.processes, a.pid, timeout=300)

    t = time.perf_counter()
    net, state = build(a)
    build_s = time.perf_counter() - t
    built_peak = peak_rss_mib()  # the build's peak, before anything is compiled
    # The run twice from the same state, in chunks of a tenth of it: the first compiles
    # its programs (a chunk's event buffers may grow, which compiles another), the second
    # reuses them (simulate_sharded keeps them: the same spikes, the same buffers) and
    # is timed alone.
    chunk = round(a.duration / 10 / 0.1)
    # the neurons' spikes (not the background's counts: Potjans-Diesmann's PoissonCounts
    # count something in ~80 % of channels and steps, 61 M events per 100 ms at full scale)
    sources = (bs.neurons.PoissonCounts, bs.neurons.PoissonSource)
    record = [n for n, pop in net.populations.items() if not isinstance(pop, sources)]
    timed, used = [], []
    for duration in (a.duration, a.duration):
        t, u = time.perf_counter(), usage()
        _, ev = bs.simulate_sharded(
            net,
            state,
            duration,
            0.1,
            events=True,
            chunk_steps=chunk,
            exchange_every=a.every,
            record=record,
        )
        timed.append(time.perf_counter() - t)
        used.append(usage() - u)
    run = timed[1]
    compile_s = timed[0] - run
    per_sim_s = used[1] / (a.duration / 1000)
    exchange = {str(w): exchange_seconds(w) for w in SIZES} if a.processes > 1 else {}
    emit(
        {
            "build_s": build_s,
            "build_peak_rss_mib": built_peak,
            "compile_s": compile_s,
            "run_s_per_sim_s": run / (a.duration / 1000),
            # CPU seconds (user, system) and context switches (voluntary: waits;
            # involuntary: preemptions) per simulated second: the work, whatever the load
            "cpu_user_s_per_sim_s": per_sim_s[0],
            "cpu_sys_s_per_sim_s": per_sim_s[1],
            "voluntary_cs_per_step": per_sim_s[2] / 1e4,
            "involuntary_cs_per_step": per_sim_s[3] / 1e4,
            "spikes": int(sum(e.steps.size for e in ev.values())),
            "peak_rss_mib": peak_rss_mib(),
            "exchange_s": exchange,
            "exchanges": exchanges(net),
            "exchange_every": a.every or bs.exchange_interval(net, 0.1),
            "compiled_words": None if dump is None else compiled_exchanges(dump),
            "cores": cores,
        }
    )


def fit(exchange: dict, processes: int) -> tuple[float, float]:
    """``(alpha s, bandwidth B/s)`` of ``t = log2(P)·alpha + (P-1)·words·4/bandwidth``."""
    words = np.array([int(w) for w in exchange], float)
    t = np.array(list(exchange.values()))
    design = np.stack([np.full_like(words, math.log2(processes)), (processes - 1) * words * 4], 1)
    (alpha, inv_bw), *_ = np.linalg.lstsq(design, t, rcond=None)
    return max(alpha, 0.0), 1.0 / max(inv_bw, 1e-18)


def step_exchange(pre: list, p: int, alpha: float, bandwidth: float, every: int = 1) -> float:
    """Seconds per step of the spike exchange (``pre``: ``[n_pre, capacity]`` of each
    presynaptic population) over ``p`` processes, one exchange of ``every`` steps'
    lists per ``every`` steps."""
    if p == 1:
        return 0.0
    return (math.log2(p) * alpha + (p - 1) * words(pre, p, every) * 4 / bandwidth) / every


def predict(t_compute1: float, pre: list, p: int, alpha: float, bandwidth: float, every=1):
    """Seconds per simulated second (10 000 steps) over ``p`` processes."""
    return t_compute1 / p + 1e4 * step_exchange(pre, p, alpha, bandwidth, every)


def predict_weak(t_compute1: float, pre: list, p: int, alpha: float, bandwidth: float, every=1):
    """Seconds per simulated second over ``p`` processes of a network ``p`` times larger
    (every population ``p`` times larger: the same neurons per process)."""
    return predict(t_compute1 * p, [[n * p, c] for n, c in pre], p, alpha, bandwidth, every)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--model", choices=("coba", "potjans_diesmann"), default="coba")
    ap.add_argument("--n", type=int, default=256_000, help="COBA's neurons")
    ap.add_argument("--scale", type=float, default=1.0, help="Potjans-Diesmann's scale")
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--stored", action="store_true")
    ap.add_argument("--delay", type=float, help="COBA: every projection's delay (ms)")
    ap.add_argument(
        "--exchange-every", dest="every", type=int, help="steps per exchange (default: D)"
    )
    ap.add_argument(
        "--latency-us", type=float, help="all-gather latency per stage (default: fitted)"
    )
    ap.add_argument("--gbytes-per-s", type=float, help="interconnect bandwidth (default: fitted)")
    ap.add_argument(
        "--threads-per-process",
        dest="threads",
        type=int,
        help="pin each process to this many cores of its own (default: not pinned)",
    )
    ap.add_argument(
        "--uncalmed",
        action="store_true",
        help="leave Gloo's transport thread at normal priority (bs.distributed.initialize "
        "lowers it), for comparison",
    )
    ap.add_argument("--pid", type=int)
    ap.add_argument("--port")
    a = ap.parse_args()
    if a.worker:
        a.processes = a.processes[0]
        return worker(a)
    args = ["--model", a.model, "--n", str(a.n), "--scale", str(a.scale)]
    args += ["--duration", str(a.duration)] + (["--stored"] if a.stored else [])
    args += ["--delay", str(a.delay)] if a.delay is not None else []
    args += ["--exchange-every", str(a.every)] if a.every is not None else []
    args += ["--threads-per-process", str(a.threads)] if a.threads else []
    args += ["--uncalmed"] if a.uncalmed else []
    rows = []
    for p in a.processes:
        got = launch(sys.argv[0], args, p)
        errors = [g["error"] for g in got if "error" in g]
        row = {
            "processes": p,
            "threads_per_process": a.threads,
            "oversubscribed": p * (a.threads or 1) > len(os.sched_getaffinity(0)),
        }
        if errors:
            rows.append({**row, "error": errors[0][:200]})
        else:
            slowest = max(got, key=lambda g: g["run_s_per_sim_s"])
            rss = [g["peak_rss_mib"] for g in got]  # the compiled program: process 0's
            built = [g["build_peak_rss_mib"] for g in got]
            rows.append(
                {
                    **row,
                    **slowest,
                    "peak_rss_mib": rss,
                    "build_peak_rss_mib": built,
                    "cores": [g["cores"] for g in got],  # each process's
                    "cpu_s_per_sim_s": [
                        g["cpu_user_s_per_sim_s"] + g["cpu_sys_s_per_sim_s"] for g in got
                    ],
                    "compiled_words": got[0]["compiled_words"],
                }
            )
        print(json.dumps(rows[-1]), flush=True)
    ok = {r["processes"]: r for r in rows if "error" not in r}
    if 1 not in ok:
        return print("no P = 1 run: nothing to model")
    t1, largest = ok[1]["run_s_per_sim_s"], max(ok)
    # the exchange of the largest P (at P = 1 every stored projection stays on its
    # one shard: nothing is exchanged)
    pre, every = ok[largest]["exchanges"], ok[largest]["exchange_every"]
    for r in rows:
        if "error" not in r:
            r["speedup"] = t1 / r["run_s_per_sim_s"]
            p = r["processes"]  # the exchange the model assumes at P, and the compiled one
            r["model_words"] = words(pre, p, every) if p > 1 else 0
            if p > 1 and r["model_words"] not in (r["compiled_words"] or []):
                print(f"P = {p}: the compiled exchange is not the modelled one", flush=True)
    alpha, bandwidth = fit(ok[largest]["exchange_s"], largest) if largest > 1 else (0.0, math.inf)
    alpha = alpha if a.latency_us is None else a.latency_us * 1e-6
    bandwidth = bandwidth if a.gbytes_per_s is None else a.gbytes_per_s * 1e9
    many = (8, 32, 128, 512, 1024)
    model = {
        "alpha_s": alpha,
        "bandwidth_B_per_s": bandwidth,
        "exchanges_per_step": pre,
        "exchange_every": every,
        "measured_vs_model": {
            p: [ok[p]["run_s_per_sim_s"], predict(t1, pre, p, alpha, bandwidth, every)] for p in ok
        },
        "strong": {p: predict(t1, pre, p, alpha, bandwidth, every) for p in many},
    }
    if a.model == "coba":  # the same neurons per process: every population p times larger
        model["weak"] = {p: predict_weak(t1, pre, p, alpha, bandwidth, every) for p in many}
    columns = [
        ("processes", "P", ""),
        ("threads_per_process", "threads per process", ""),
        ("oversubscribed", "over-subscribed", ""),
        ("run_s_per_sim_s", "s per sim. s", ".3g"),
        ("speedup", "speed-up", ".2f"),
        ("cpu_user_s_per_sim_s", "CPU user s per sim. s", ".3g"),
        ("cpu_sys_s_per_sim_s", "CPU system s per sim. s", ".3g"),
        ("cpu_s_per_sim_s", "CPU s per sim. s, each process", ""),
        ("voluntary_cs_per_step", "waits per step", ".2f"),
        ("involuntary_cs_per_step", "preemptions per step", ".2f"),
        ("compile_s", "compile s", ".3g"),
        ("compiled_words", "all-gathered words (compiled: list, dense)", ""),
        ("model_words", "list words (modelled)", ""),
        ("peak_rss_mib", "peak RSS MiB per process", ""),
        ("build_peak_rss_mib", "build's peak RSS MiB per process", ""),
        ("error", "error", ""),
    ]
    print(table(rows, columns))
    print(json.dumps(model, indent=1))
    name = "multiprocess_scaling" + ("_stored" if a.stored else "")
    name += f"_potjans_diesmann_{a.scale:g}" if a.model == "potjans_diesmann" else f"_{a.n}"
    name += f"_delay{a.delay:g}_every{every}" if a.delay is not None else ""
    name += f"_threads{a.threads}" if a.threads else ""
    name += "_uncalmed" if a.uncalmed else ""
    size = {"scale": a.scale} if a.model == "potjans_diesmann" else {"n": a.n}
    payload = {"model_name": a.model, **size, "duration_ms": a.duration, "delay_ms": a.delay}
    payload["threads_per_process"] = a.threads
    print("saved", save(name, {**payload, "rows": rows, "model": model}))


if __name__ == "__main__":
    main()
