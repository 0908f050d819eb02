"""Where a Potjans–Diesmann step goes: the compiled step's operations timed by JAX's
profiler, grouped by the part of ``Network.step`` that emitted them.

A scan of ``--steps`` PD steps (per-synapse delays, Poisson background) is compiled,
run once to pass the initial transient, then run again under ``jax.profiler``. Each
operation the XLA CPU runtime executes (a fusion, a native call, a copy) is one trace
event; its HLO instruction's stack frames (``stack_frame_id`` in the compiled text) name
the Python function under ``Network.step`` that emitted it (``PoissonCounts
.step_together``: the Poisson draw; ``propagate_rings``: the native ring call;
``LIFFused.step``: the neuron update; ``matvec_many``: projections without per-synapse
delays, here the one-to-one Poisson input). Loops count once, by their body's
operations; ``(runtime)`` is the rest of the step's wall time (the executor's dispatch
of each operation, the profiler's own overhead). The profiler adds a few µs to every
operation, so the split matters more than the total; the total without the profiler is
printed first.

    python benchmarks/pd_profile.py --scale 0.1 --steps 1000 --out pd_profile

Writes ``benchmarks/results/<--out>.json``. Run on a quiet machine: the split of a
loaded machine's step is mostly scheduling.
"""

import argparse
import collections
import gzip
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
from _harness import save, table  # noqa: E402

DT_MS = 0.1
_WRAPPER = re.compile(r"__call__|<locals>|<listcomp>|<genexpr>")  # not a part's name


def emitters(hlo: str) -> dict:
    """HLO instruction name -> the function under ``Network.*`` that emitted it."""
    section = lambda name: re.search(rf"^{name}\n(.*?)(?:\n\n|\n[A-Z]|\Z)", hlo, re.S | re.M)  # noqa: E731
    functions = dict(re.findall(r'^(\d+) "(.*)"$', section("FunctionNames").group(1), re.M))
    locations = dict(
        re.findall(
            r"^(\d+) \{file_name_id=\d+ function_name_id=(\d+)",
            section("FileLocations").group(1),
            re.M,
        )
    )
    frames = {
        k: (functions[locations[loc]], int(parent) - 1)  # parent ids are 1-based (0: none)
        for k, loc, parent in re.findall(
            r"^(\d+) \{file_location_id=(\d+) parent_frame_id=(\d+)",
            section("StackFrames").group(1),
            re.M,
        )
    }

    def part(frame: int) -> str:
        chain = []
        while frame > 0 and str(frame) in frames:
            name, frame = frames[str(frame)]
            chain.append(name)
        chain.reverse()  # root first
        inside = [i for i, f in enumerate(chain) if f.startswith("Network.")]
        if not inside:
            return "(outside Network.step)"
        below = [f for f in chain[inside[-1] + 1 :] if not _WRAPPER.search(f)]
        return below[0] if below else chain[inside[-1]]

    return {
        name: part(int(frame))
        for name, frame in re.findall(r"^\s+(?:ROOT )?%(\S+) = .*stack_frame_id=(\d+)", hlo, re.M)
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--out", default="pd_profile", help="results file name (no .json)")
    a = ap.parse_args()
    import brainsim as bs

    net = bs.models.potjans_diesmann(a.scale, key=jax.random.key(0), dt=DT_MS)
    state = net.init(jax.random.key(1), dt=DT_MS)

    def run(net, state):
        def body(s, i):
            return net.step(s, None, t=i * DT_MS, dt=DT_MS)[0], None

        return jax.lax.scan(body, state, jnp.arange(a.steps))[0]

    compiled = jax.jit(run).lower(net, state).compile()
    part_of = emitters(compiled.as_text())
    state = jax.block_until_ready(compiled(net, state))  # past the transient
    t0 = time.perf_counter()
    state = jax.block_until_ready(compiled(net, state))
    step_us = (time.perf_counter() - t0) / a.steps * 1e6
    with tempfile.TemporaryDirectory() as d:
        jax.profiler.start_trace(d, create_perfetto_trace=True)
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(net, state))
        traced_us = (time.perf_counter() - t0) / a.steps * 1e6
        jax.profiler.stop_trace()
        trace = json.load(gzip.open(next(Path(d).rglob("*.trace.json.gz"))))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    spent = collections.Counter()
    for e in events:
        name = e.get("name", "").removeprefix("end: ")
        if (
            e.get("ph") == "X"
            and name in part_of
            and not name.startswith(("while", "conditional"))
        ):
            spent[part_of[name]] += e["dur"] / a.steps
    spent["(runtime)"] = max(traced_us - sum(spent.values()), 0.0)
    rows = [dict(part=p, us=us, share=us / traced_us) for p, us in spent.most_common()]
    print(f"scale {a.scale}: {step_us:.1f} µs per step ({traced_us:.1f} µs profiled)")
    print(
        table(
            rows,
            [
                ("part", "part of Network.step", "s"),
                ("us", "µs/step", ".1f"),
                ("share", "share", ".0%"),
            ],
        )
    )
    save(
        a.out,
        dict(scale=a.scale, steps=a.steps, step_us=step_us, profiled_us=traced_us, rows=rows),
    )


if __name__ == "__main__":
    main()
