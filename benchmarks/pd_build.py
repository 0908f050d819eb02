"""Potjans & Diesmann (2014) microcircuit: time and memory of building the network
(connectivity with per-synapse weights and delays), at several scales with full
in-degrees, each in a fresh process.

    python benchmarks/pd_build.py --scales 0.1,0.25,1.0

Per scale: build time (all of ``bs.models.potjans_diesmann``), the part spent drawing
synapses (``bs.conn.blocks.draw_total_number``), the bytes kept per synapse, and the
peak resident memory the build added over the final synapse arrays (``ru_maxrss``
after the build minus the resident memory before it). Then, on one thread, the cost
per synapse of each step of a block (targets, delays, sort, weights), which says where
the drawing time goes. Writes ``benchmarks/results/pd_build.json``.

It also runs on a checkout from before ``bs.conn.blocks`` (``drawing`` and the block
costs are then left out), for a before/after comparison on the same machine.
"""

import argparse
import os
import sys
import time

try:
    from _harness import emit, peak_rss_mib, run_worker, save, table
except ImportError:  # run as a module
    from benchmarks._harness import emit, peak_rss_mib, run_worker, save, table


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def worker(scale: float) -> dict:
    import jax

    import brainsim as bs
    from brainsim.conn import builders

    bs.models.potjans_diesmann(0.005, key=jax.random.key(1))  # imports, first calls
    drawing = [0.0]
    draw = getattr(builders, "draw_total_number", None)  # None: a checkout before it

    def timed(*args, **kwargs):
        t = time.perf_counter()
        out = draw(*args, **kwargs)
        drawing[0] += time.perf_counter() - t
        return out

    if draw is not None:
        builders.draw_total_number = timed
    before = _rss_mib()
    t = time.perf_counter()
    net = bs.models.potjans_diesmann(scale, key=jax.random.key(0))
    build = time.perf_counter() - t
    peak = peak_rss_mib()
    synapses = nbytes = 0
    for proj in net.projections:
        if proj.pre.startswith("bg_"):
            continue
        synapses += proj.conn.n_synapses
        nbytes += sum(a.nbytes for a in (proj.conn.csr.indices, proj.conn.group, proj.weight))
    final = nbytes / 2**20
    return dict(
        scale=scale,
        neurons=sum(p.size for name, p in net.populations.items() if "bg_" not in name),
        synapses=synapses,
        build_s=build,
        draw_s=drawing[0] if draw is not None else None,
        bytes_per_synapse=nbytes / synapses,
        final_mib=final,
        added_peak_mib=peak - before,
        peak_over_final=(peak - before) / final,
        threads=len(os.sched_getaffinity(0)),
    )


def per_synapse_costs(repeats: int = 20) -> list[dict]:
    """ns per synapse of each step of one block of ``BLOCK`` synapses, one thread."""
    import numpy as np

    import brainsim as bs
    from brainsim.conn import blocks

    n, n_post, rows = blocks.BLOCK, 20683, 120
    rng = np.random.default_rng(0)
    counts = np.full(rows, n // rows)
    counts[: n - counts.sum()] += 1
    delay = bs.conn.NormalDelay(1.5, 0.75, 0.1)
    weights = bs.conn.NormalWeights(87.8, 8.78, keep_sign=True)
    out = np.empty(n, np.float32)
    timings = {}

    def clock(name, fn):
        t = time.perf_counter()
        for _ in range(repeats):
            fn()
        timings[name] = (time.perf_counter() - t) / repeats / n * 1e9

    clock("targets (integers)", lambda: rng.integers(0, n_post - 1, n, dtype=np.int32))
    clock("rows (repeat)", lambda: np.repeat(np.arange(rows, dtype=np.int32), counts))
    clock("delays (normal, redraw, round)", lambda: delay.sample_steps(rng, n))
    row = np.repeat(np.arange(rows, dtype=np.int32), counts)
    post = rng.integers(0, n_post - 1, n, dtype=np.int32)
    steps = delay.sample_steps(rng, n).astype(np.int32)
    clock("sort by (row, delay, target)", lambda: blocks._sort_rows(row, post, n_post, steps))
    clock("weights (normal float32, keep_sign)", lambda: weights.sample(rng, out))
    return [dict(step=k, ns_per_synapse=v) for k, v in timings.items()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="0.1,0.25,1.0")
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--scale", type=float)
    a = ap.parse_args()
    if a.worker:
        emit(worker(a.scale))
        return
    rows = []
    for scale in [float(s) for s in a.scales.split(",")]:
        row = run_worker(sys.executable, __file__, ["--scale", str(scale)])
        rows.append({"scale": scale, **row})
        print(row, flush=True)
    print(
        table(
            rows,
            [
                ("scale", "scale", "g"),
                ("neurons", "neurons", "d"),
                ("synapses", "synapses", ",d"),
                ("build_s", "build (s)", ".2f"),
                ("draw_s", "drawing (s)", ".2f"),
                ("bytes_per_synapse", "bytes/synapse", ".2f"),
                ("final_mib", "synapse arrays (MiB)", ".0f"),
                ("added_peak_mib", "peak added (MiB)", ".0f"),
                ("peak_over_final", "peak / arrays", ".2f"),
                ("threads", "threads", "d"),
            ],
        )
    )
    try:
        costs = per_synapse_costs()
    except (ImportError, AttributeError):  # a checkout before bs.conn.blocks
        costs = []
    columns = [("step", "block step (1 thread)", ""), ("ns_per_synapse", "ns/syn", ".2f")]
    print(table(costs, columns))
    print("wrote", save("pd_build", dict(scales=rows, per_synapse=costs)))


if __name__ == "__main__":
    main()
