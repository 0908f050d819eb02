"""µs per step of the procedural ("just-in-time") event op against the stored CSR op.

    python benchmarks/procedural_op.py

One n × n projection, out-degree 80 (procedural) vs FixedProb(80 / n) (CSR, mean
out-degree 80), firing fraction 0.002 per step (20 Hz at dt = 0.1 ms). Each step of a
``lax.scan`` builds a spike vector from a pre-drawn pool of active indices and does
``g = 0.9 g + W·s``; the same scan without the product is subtracted. Native (C++ FFI)
and pure-JAX (portable, compacted) paths. Results: benchmarks/results/procedural_op.json.
The machine is shared (2 cores, other jobs running): timings are noisy.
"""

import platform
import sys
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
from _harness import save, table

import brainsim as bs

STEPS, POOL, RATE, K = 2000, 16, 0.002, 80


def per_step_us(step, n, reps=3):
    rng = np.random.default_rng(0)
    n_act = max(1, round(RATE * n))
    pool = jnp.asarray(np.stack([rng.choice(n, n_act, replace=False) for _ in range(POOL)]))

    def body(g, t):
        s = jnp.zeros(n, jnp.float32).at[pool[t % POOL]].set(1.0)
        return step(g, s), None

    run = jax.jit(lambda g: jax.lax.scan(body, g, jnp.arange(STEPS))[0])
    g0 = jnp.zeros(n, jnp.float32)
    jax.block_until_ready(run(g0))
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(run(g0))
        best = min(best, time.perf_counter() - t0)
    return best / STEPS * 1e6


def main():
    rows = []
    for n in (4000, 64000):
        key = jax.random.key(0)
        layouts = {
            "csr": bs.conn.FixedProb(K / n).build(key, n, n)[0],
            "procedural": bs.conn.ProceduralFixedOutDegree(K).build(key, n, n)[0],
        }
        base = per_step_us(lambda g, s: 0.9 * g + s, n)
        for path in ("native", "pure"):
            patch = mock.patch.object(bs.ops._native, "available", lambda: path == "native")
            with patch:
                for name, lay in layouts.items():
                    us = per_step_us(lambda g, s, lay=lay: 0.9 * g + bs.ops.matvec(lay, 6.0, s), n)
                    rows.append(
                        dict(n=n, layout=name, path=path, us_step=us - base, baseline_us=base)
                    )
                    print(rows[-1], flush=True)
    print(
        table(
            rows,
            [
                ("n", "N", ""),
                ("layout", "layout", ""),
                ("path", "path", ""),
                ("us_step", "µs/step (net)", ".1f"),
                ("baseline_us", "scan baseline µs", ".1f"),
            ],
        )
    )
    save(
        "procedural_op",
        dict(machine=platform.processor() or platform.machine(), python=sys.version, rows=rows),
    )


if __name__ == "__main__":
    main()
