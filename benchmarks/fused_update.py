"""The fused LIF step against the modules' path, brainsim only.

For each model and N, three versions of ``lax.scan`` over ``Network.step`` are compiled
in one process and timed alternately, best of ``--reps``: ``modules`` (the neuron and
synapse modules, ``LIF.fuse`` switched off while tracing), ``separate`` (the event call,
then ``bs.ops.lif_update`` per population: the fused step's ``step_network`` off)
and ``one call`` (``bs.ops.lif_network_update``: the whole step in one native call).
Wall time and process CPU time per step (CPU time is the steadier figure on a shared
machine), compile time, and the spike count (equal when the paths give the same spike
trains).

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
from brainsim.neurons._lif_fused import LIFFused

sys.path.insert(0, str(Path(__file__).parent))
from _harness import save, table, time_loops, timing_columns  # noqa: E402

DT = 0.1


def measure(model: str, n: int, steps: int, reps: int) -> list[dict]:
    net = getattr(bs.models, model)(n, key=jax.random.key(0))
    state = jax.block_until_ready(net.init(jax.random.key(1), dt=DT))
    rules = bs.neurons.LIF.fuse, LIFFused.step_network
    off = lambda *a, **k: None

    def compiled(mode: str):
        def run(st):
            def body(st, i):
                st, sp = net.step(st, None, t=i * DT, dt=DT)
                return st, sp["E"].sum() + sp["I"].sum()

            return jax.lax.scan(body, st, jnp.arange(steps))

        bs.neurons.LIF.fuse = off if mode == "modules" else rules[0]
        LIFFused.step_network = off if mode == "separate" else rules[1]
        try:
            start = time.perf_counter()
            f = jax.jit(run).lower(state).compile()
            return f, time.perf_counter() - start
        finally:
            bs.neurons.LIF.fuse, LIFFused.step_network = rules

    fns = {mode: compiled(mode) for mode in MODES}
    times = time_loops({m: f for m, (f, _) in fns.items()}, (state,), steps, reps)
    return [dict(model=model, n=n, mode=m, compile_s=fns[m][1], **times[m]) for m in MODES]


MODES = ("modules", "separate", "one call")


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
            print(table(rows[-len(MODES) :], COLUMNS), flush=True)
    print(table(rows, COLUMNS))
    print("results:", save(args.out, dict(rows=rows)))


COLUMNS = [("model", "model", ""), ("n", "N", ""), ("mode", "step", ""), *timing_columns(".1f")]

if __name__ == "__main__":
    main()
