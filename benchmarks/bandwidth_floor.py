"""How far a COBA step is from this machine's memory-bandwidth floor.

A step must read and write every neuron's state once (V, spike, refractory counter and
the two conductances: 20 B read + 20 B written per neuron, float32/int32), read the spike
vector once more to find the active neurons (4 B), and per synaptic event read the
target index (4 B) and update the target's conductance (read + write 8 B, a random
access). So, per step, bytes >= 44 N + 12 · (events per step), with events per step
= N · rate · dt · in-degree. The floor divides that by the bandwidth that a streaming
XLA loop reaches on this machine for arrays of that size (measured here: a fused
``y = a x + y`` over arrays of the state's size, in a ``lax.scan`` like the simulator's).

It compares the floor with brainsim's measured time per step, taken from
``benchmarks/results/coba.json`` (written by ``benchmarks/coba.py``), and counts the
loop's XLA operations per step (each a pass over its arrays, plus a fixed cost).

    python benchmarks/bandwidth_floor.py
"""

import json
import re
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _harness import RESULTS, save, table  # noqa: E402

DT_S, IN_DEGREE, STEPS = 1e-4, 80, 2000


def streaming_bandwidth(n_floats: int) -> float:
    """Bytes/s of a fused ``y <- 1.0001 x + y`` (read 8 B, write 4 B per element),
    repeated in a scan so that the arrays stay where a simulation step keeps them."""
    x = jnp.ones(n_floats, jnp.float32)

    def body(y, _):
        return 1.0001 * x + y, None

    run = jax.jit(lambda y: jax.lax.scan(body, y, None, length=STEPS)[0])
    y = jax.block_until_ready(run(jnp.zeros_like(x)))
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        y = jax.block_until_ready(run(y))
        best = min(best, time.perf_counter() - t0)
    return 12 * n_floats * STEPS / best


def loop_ops(n: int) -> int:
    """XLA operations (fusions, custom calls, copies) in one COBA step's loop body."""
    import brainsim as bs

    net = bs.models.coba(n, key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=0.1)

    def run(net, state):
        def body(s, i):
            return net.step(s, None, t=i * 0.1, dt=0.1)[0], None

        return jax.lax.scan(body, state, jnp.arange(10))[0]

    text = jax.jit(run).lower(net, state).compile().as_text()
    name = re.search(r"while\(.*body=(%[\w.]+)", text).group(1)
    body = text[text.index(f"\n{name} ") :]
    body = body[: body.index("\n}")]
    return sum(body.count(k) for k in (" fusion(", " custom-call(", " copy("))


def main() -> None:
    race = json.loads((RESULTS / "coba.json").read_text())
    rows = []
    for r in race["rows"]:
        if r.get("simulator") != "brainsim" or r.get("model") != "coba" or "run_s" not in r:
            continue
        n = r["n"]
        rate = (0.8 * r["rate_E_hz"] + 0.2 * r["rate_I_hz"]) if "rate_E_hz" in r else 21.0
        events = n * rate * DT_S * IN_DEGREE
        bytes_step = 44 * n + 12 * events
        bw = streaming_bandwidth(5 * n)  # the five state arrays' worth of floats
        step_us = r["run_s"] / 1e4 * 1e6
        floor_us = bytes_step / bw * 1e6
        rows.append(
            dict(
                n=n,
                mib_state=20 * n / 2**20,
                kib_step=bytes_step / 1024,
                gbs=bw / 1e9,
                floor_us=floor_us,
                step_us=step_us,
                ratio=step_us / floor_us,
                ops=loop_ops(n),
            )
        )
        print(rows[-1], flush=True)
    columns = [
        ("n", "N", "d"),
        ("mib_state", "state MiB", ".2f"),
        ("kib_step", "KiB moved per step (floor)", ".0f"),
        ("gbs", "streaming GB/s at that size", ".1f"),
        ("floor_us", "floor µs/step", ".1f"),
        ("step_us", "brainsim µs/step", ".1f"),
        ("ratio", "÷ floor", ".1f"),
        ("ops", "XLA ops per step", "d"),
    ]
    print(table(rows, columns))
    save("bandwidth_floor", {"rows": rows, "source": "results/coba.json"})


if __name__ == "__main__":
    main()
