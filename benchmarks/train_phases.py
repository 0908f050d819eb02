"""Per-phase breakdown of one training step of ``train_throughput.py``'s model (700
inputs -> H recurrent LIF -> 20 leaky readout, T = 100, batch 64, "event" variant).

Each phase is jitted alone on the arrays the real step produces (same spikes, same
cotangents) and timed: median and minimum wall time and the median CPU time of the
process (all threads; on a shared machine CPU time is the steadier figure, wall time
what a quiet race sees). Also the full step, and as the floor of the reverse scan's
dense ``g Wᵀ`` (``2 T B H²`` flops) one XLA dot of that size.

    python benchmarks/train_phases.py [--hidden 256 1024] [--repeats 7]
"""

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _harness import save, table  # noqa: E402

B, T, N_IN, N_OUT, DENSITY = 64, 100, 700, 20, 0.05


def _time(f, args, repeats):
    import jax

    jax.block_until_ready(f(*args))
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        jax.block_until_ready(f(*args))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "wall_ms": float(np.median(wall)) * 1e3,
        "wall_min_ms": min(wall) * 1e3,
        "cpu_ms": float(np.median(cpu)) * 1e3,
    }


def phases(hidden: int, repeats: int) -> list[dict]:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    import brainsim as bs
    from brainsim import ops
    from brainsim.train import _bptt

    rng = np.random.default_rng(0)
    x = jnp.asarray((rng.random((B, T, N_IN)) < DENSITY).astype(np.float32))
    y = jnp.asarray(rng.integers(0, N_OUT, B).astype(np.int32))
    model = bs.train.RecurrentSNN(
        N_IN, hidden, N_OUT, key=jax.random.key(0), recurrent=True, event_input=True
    )
    lay, ro = model.layers[0], model.readout
    alpha, beta, _, theta = lay._coefficients(lay.dt)
    w_rec = ops.to_dense(lay.rec_layout, lay.w_rec).astype(jnp.float32)
    z = jnp.zeros((B, hidden), jnp.float32)
    surrogate = lay.spike.surrogate

    def loss_of_spikes(readout, s):
        return bs.train.losses.cross_entropy(jnp.max(readout.time_major(s), 0), y)

    jit = jax.jit
    h = jit(lambda x, w: ops.rows_matmul(x, w, swap=True))(x, lay.w)
    s, vt = jit(lambda h, w: _bptt._forward(w, alpha, beta, theta, h, z, z, z))(h, w_rec)
    sg = jit(lambda vt: surrogate.grad(vt - theta))(vt)
    ct = jit(jax.grad(loss_of_spikes, argnums=1))(ro, s)
    g_h = jit(lambda *a: _bptt._reverse(w_rec, alpha, beta, theta, *a, z, z)[0])(ct, sg, vt)
    opt = optax.adam(1e-3)
    params = eqx.filter(model, eqx.is_inexact_array)
    opt_state = opt.init(params)

    def fwd(h, w):
        return _bptt._forward(w, alpha, beta, theta, h, z, z, z)

    def rev(ct, sg, vt):
        return _bptt._reverse(w_rec, alpha, beta, theta, ct, sg, vt, z, z)

    def adam(g, st, p):
        return optax.apply_updates(p, opt.update(g, st, p)[0])

    cases = [
        ("input projection x W_in (event)", partial(ops.rows_matmul, swap=True), (x, lay.w)),
        ("LIF forward scan (native)", fwd, (h, w_rec)),
        ("surrogate derivative", lambda vt: surrogate.grad(vt - theta), (vt,)),
        ("readout forward + backward", jax.grad(loss_of_spikes, argnums=(0, 1)), (ro, s)),
        ("LIF reverse scan incl. dense g W^T", rev, (ct, sg, vt)),
        ("dW_rec = sum s_{t-1}^T g_t (event)", partial(ops.rows.rows_outer_lagged, z), (s, g_h)),
        ("dW_in = x^T g (event)", partial(ops.rows_outer, swap=True), (x, g_h)),
        ("dW_in = x^T g (dense XLA)", partial(jnp.einsum, "btk,tbn->kn"), (x, g_h)),
        ("Adam update", adam, (params, opt_state, params)),
        ("floor: one dot of g W^T's size", lambda a, w: a.reshape(-1, hidden) @ w, (g_h, w_rec)),
    ]
    rows = []
    for name, f, args in cases:
        rows.append({"hidden": hidden, "phase": name, **_time(jit(f), args, repeats)})
        print(f"  {name}: {rows[-1]['wall_ms']:.1f} ms", flush=True)

    step = bs.train.make_step(bs.train.losses.ce_max_membrane, opt)
    state = {"m": model, "s": opt_state}

    def one():
        state["m"], state["s"], loss, _ = step(state["m"], state["s"], x, y)
        return loss

    for _ in range(3):
        jax.block_until_ready(one())
    rows.append({"hidden": hidden, "phase": "FULL STEP", **_time(one, (), repeats)})
    rows[-1]["samples_per_s"] = B / rows[-1]["wall_ms"] * 1e3
    rows[-1]["hidden_spike_density"] = float(jnp.mean(s))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    rows = []
    for h in a.hidden:
        rows += phases(h, a.repeats)
    cols = [
        ("hidden", "hidden", ""),
        ("phase", "phase", ""),
        ("wall_ms", "wall ms (median)", ".1f"),
        ("wall_min_ms", "wall ms (min)", ".1f"),
        ("cpu_ms", "CPU ms (median)", ".1f"),
    ]
    print(table(rows, cols))
    print(save("train_phases", {"batch": B, "T": T, "rows": rows}))


if __name__ == "__main__":
    main()
