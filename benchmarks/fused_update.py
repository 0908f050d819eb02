"""The fused LIF update (``bs.ops.lif_update``) against the modules' path, brainsim only.

For each model and N, both versions of ``lax.scan`` over ``Network.step`` are compiled in
one process (the unfused one by switching ``network._fusable_lif`` off while tracing) and
timed alternately, best of ``--reps``: wall time and process CPU time per step (CPU time
is the steadier figure on a shared machine), compile time, and the spike count (equal
when the two paths give the same spike trains).

    python benchmarks/fused_update.py                       # COBA, CUBA at 4k-256k
    python benchmarks/fused_update.py --models coba --n 64000
"""

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import brainsim as bs
import brainsim.network as network

sys.path.insert(0, str(Path(__file__).parent))
from _harness import save, table  # noqa: E402

DT = 0.1


def measure(model: str, n: int, steps: int, reps: int) -> list[dict]:
    net = getattr(bs.models, model)(n, key=jax.random.key(0))
    state = jax.block_until_ready(net.init(jax.random.key(1), dt=DT))
    rule = network._fusable_lif

    def compiled(fused: bool):
        def run(st):
            def body(st, i):
                st, sp = net.step(st, None, t=i * DT, dt=DT)
                return st, sp["E"].sum() + sp["I"].sum()

            return jax.lax.scan(body, st, jnp.arange(steps))

        network._fusable_lif = rule if fused else (lambda *a: False)
        try:
            start = time.perf_counter()
            f = jax.jit(run).lower(state).compile()
            return f, time.perf_counter() - start
        finally:
            network._fusable_lif = rule

    fns = {fused: compiled(fused) for fused in (False, True)}
    wall, cpu, spikes = {f: [] for f in fns}, {f: [] for f in fns}, {}
    for _ in range(reps):
        for fused, (f, _) in fns.items():
            w, c = time.perf_counter(), time.process_time()
            out = jax.block_until_ready(f(state))
            wall[fused].append(time.perf_counter() - w)
            cpu[fused].append(time.process_time() - c)
            spikes[fused] = int(out[1].sum())
    return [
        dict(
            model=model,
            n=n,
            fused=fused,
            wall_us=min(wall[fused]) / steps * 1e6,
            cpu_us=min(cpu[fused]) / steps * 1e6,
            compile_s=fns[fused][1],
            spikes=spikes[fused],
        )
        for fused in fns
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["cuba", "coba"])
    p.add_argument("--n", nargs="+", type=int, default=[4000, 16000, 64000, 256000])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default="fused_update")
    args = p.parse_args()
    rows = []
    for model in args.models:
        for n in args.n:
            steps = max(400, min(4000, 64_000_000 // n))
            rows += measure(model, n, steps, args.reps)
            print(table(rows[-2:], COLUMNS), flush=True)
    print(table(rows, COLUMNS))
    print("results:", save(args.out, dict(rows=rows)))


COLUMNS = [
    ("model", "model", ""),
    ("n", "N", ""),
    ("fused", "fused", ""),
    ("wall_us", "wall µs/step", ".1f"),
    ("cpu_us", "CPU µs/step", ".1f"),
    ("compile_s", "compile s", ".2f"),
    ("spikes", "spikes", ""),
]

if __name__ == "__main__":
    main()
