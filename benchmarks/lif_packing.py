"""The per-neuron parameter packing of ``bs.ops.lif_update`` against the kernel call.

With per-neuron parameters (``tau_m``, ``c_m``, ``v_th``, ``t_ref`` drawn per neuron,
two conductance traces as in COBA), ``lif_update`` derives the kernel's parameters
(``ops.lif._derived``) and packs them into its ``(7, n)`` and ``(3, 2, n)`` operands
(``ops.lif._pack``) in every call. Three ``lax.scan`` loops of ``--steps`` steps are
compiled in one process and timed alternately, best and median of ``--reps``:

- ``kernel``: the kernel call alone (``ops.lif._packed_call``) on operands packed once,
  outside the loop;
- ``pack + kernel``: ``bs.ops.lif_update`` with the parameters recomputed in every step
  (``p + 0.0 t``: XLA cannot fold it, so the packing is not hoisted out of the loop, as
  where the parameters are traced per step);
- ``pack``: the derivation and packing alone, the packed arrays carried (so written out)
  from step to step.

Wall and process CPU time per step, compile time, and the spike count (equal for the
two loops that step the neurons: the same parameters, bit for bit).

    python benchmarks/lif_packing.py                          # N = 4 000 - 256 000
    python benchmarks/lif_packing.py --n 4000 --steps 50 --reps 2   # smoke run
"""

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import brainsim as bs
from brainsim.ops import lif as lif_ops

sys.path.insert(0, str(Path(__file__).parent))
from _harness import save, table, time_loops, timing_columns  # noqa: E402

DT = 0.1
TAU_SYN, E_REV = (5.0, 10.0), (0.0, -80.0)
MODES = ("kernel", "pack + kernel", "pack")


def _inputs(n: int):
    """Per-neuron parameters, the state and fixed Poisson event arrays (float32)."""
    k = jax.random.split(jax.random.key(0), 8)
    u = lambda kk, lo, hi: jax.random.uniform(kk, (n,), jnp.float32, lo, hi)
    params = dict(
        tau_m=u(k[0], 15.0, 25.0),
        c_m=u(k[1], 180.0, 220.0),
        v_rest=-60.0,
        v_th=u(k[2], -52.0, -48.0),
        v_reset=-60.0,
        i_ext=0.0,
        t_ref=u(k[3], 4.0, 6.0),
    )
    state = (u(k[4], -62.0, -48.0), jnp.zeros(n, jnp.int32), jnp.zeros(n, jnp.float32))
    g = (jnp.zeros(n, jnp.float32),) * 2
    events = tuple(
        (jax.random.uniform(kk, (n,)) < 0.02).astype(jnp.float32) * w
        for kk, w in zip(k[5:7], (0.6, 6.7), strict=True)
    )
    return params, state, g, events


def _packed(params, n: int, t=0.0):
    """``(params (7, n), n_ref (n,), coef (3, 2, n), mode)`` as ``lif_update`` packs them
    (each per-neuron parameter plus ``0.0 t``)."""
    p = {key: x + 0.0 * t if jnp.ndim(x) else x for key, x in params.items()}
    mode, derived, n_ref, a, e_rev, m = lif_ops._derived(
        TAU_SYN, E_REV, **p, dt=DT, exp_euler=True
    )
    fit = lambda x, t=jnp.float32: jnp.broadcast_to(jnp.asarray(x, t), (n,))
    x = dict(zip(lif_ops._PARAMS, map(fit, derived), strict=True), n_ref=fit(n_ref, jnp.int32))
    for name, xs in (("a", a), ("e_rev", e_rev), ("mean", m)):
        x.update({f"{name}{j}": fit(v) for j, v in enumerate(xs)})
    x["v"] = jnp.zeros(n, jnp.float32)
    packed, coef = lif_ops._pack(x, 2)
    return packed, x["n_ref"], coef, mode


def _loops(n: int, steps: int):
    """The three loops (module docstring), each ``f(params, state) -> (carry, spikes)``."""
    current = jnp.full((1,), 200.0, jnp.float32)

    def kernel(params, state):
        packed, n_ref, coef, mode = _packed(params, n)

        def body(carry, _):
            v, ref, s, g0, g1, events = carry
            out = lif_ops._packed_call(
                v, ref, s, current, packed, n_ref, coef, [g0, g1], list(events),
                mode=mode, conductance=(True, True),
            )  # fmt: skip
            v, s, ref, g0, g1 = out
            return (v, ref, s, g0, g1, events), s.sum()

        return jax.lax.scan(body, state, None, length=steps)

    def pack_kernel(params, state):
        def body(carry, t):
            v, ref, s, g0, g1, events = carry
            p = {key: x + 0.0 * t if jnp.ndim(x) else x for key, x in params.items()}
            v, s, ref, (g0, g1) = bs.ops.lif_update(
                v, ref, s, [g0, g1], list(events), tau_syn=TAU_SYN, e_rev=E_REV, **p,
                current=current, dt=DT, exp_euler=True, native=True,
            )  # fmt: skip
            return (v, ref, s, g0, g1, events), s.sum()

        return jax.lax.scan(body, state, jnp.arange(steps, dtype=jnp.float32))

    def pack(params, state):
        def body(carry, t):
            return _packed(params, n, t)[:3], jnp.float32(0)

        return jax.lax.scan(body, _packed(params, n)[:3], jnp.arange(steps, dtype=jnp.float32))

    return dict(zip(MODES, (kernel, pack_kernel, pack), strict=True))


def measure(n: int, steps: int, reps: int) -> list[dict]:
    if not bs.ops._native.available():  # loads the kernels
        raise SystemExit("lif_packing: the native kernels are not built")
    params, (v, ref, s), g, events = _inputs(n)
    state = (v, ref, s, *g, events)
    fns, compile_s = {}, {}
    for mode, f in _loops(n, steps).items():
        start = time.perf_counter()
        fns[mode] = jax.jit(f).lower(params, state).compile()
        compile_s[mode] = time.perf_counter() - start
        assert mode == "pack" or "brainsim_lif_update" in jax.jit(f).lower(params, state).as_text()
    times = time_loops(fns, (params, state), steps, reps)
    return [dict(n=n, mode=m, compile_s=compile_s[m], **times[m]) for m in fns]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", nargs="+", type=int, default=[4000, 16000, 64000, 256000])
    p.add_argument("--steps", type=int, default=0, help="0: by N (64M neuron-steps, 400-4000)")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--out", default="lif_packing")
    args = p.parse_args()
    rows = []
    for n in args.n:
        steps = args.steps or max(400, min(4000, 64_000_000 // n))
        rows += measure(n, steps, args.reps)
        print(table(rows[-len(MODES) :], COLUMNS), flush=True)
    print(table(rows, COLUMNS))
    print("results:", save(args.out, dict(rows=rows)))


COLUMNS = [("n", "N", ""), ("mode", "loop", ""), *timing_columns(".2f")]

if __name__ == "__main__":
    main()
