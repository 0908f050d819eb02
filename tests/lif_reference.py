"""Shared oracles of the LIF op tests: the LIF / exponential-synapse step in float64
NumPy, random states, and ulp comparisons."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brainsim.ops import _native

N = 600
EPS32 = float(np.finfo(np.float32).eps)
native_only = pytest.mark.skipif(not _native.available(), reason="no native kernels")


def numpy_step(
    v,
    ref,
    g,
    e,
    *,
    tau_syn,
    e_rev,
    tau_m,
    c_m,
    v_rest,
    v_th,
    v_reset,
    i_ext,
    t_ref,
    current,
    dt,
    exp_euler,
    native=None,
):
    """The equations, in float64 and in NumPy's own order (not the kernel's)."""
    f = lambda x: np.asarray(x, np.float64)
    v, g, e = f(v), [f(x) for x in g], [f(x) for x in e]
    g = [gk * np.exp(-dt / tau) + ek for gk, ek, tau in zip(g, e, tau_syn, strict=True)]
    # each trace's mean over the step: (1/dt) int_0^dt g e^{-s/tau} ds
    gm = [
        gk * f(tau) / dt * (1 - np.exp(-dt / f(tau))) for gk, tau in zip(g, tau_syn, strict=True)
    ]
    i_syn = sum((gk if er is None else gk * (er - v)) for gk, er in zip(gm, e_rev, strict=True))
    g_tot = sum((gk for gk, er in zip(gm, e_rev, strict=True) if er is not None), 0.0)
    g_l = f(c_m) / f(tau_m)
    dvdt = (g_l * (f(v_rest) - v) + f(i_ext) + f(current) + i_syn) / f(c_m)
    if exp_euler:  # exact over the step for a linear ODE: (e^{a dt} - 1) / a
        a = -(g_l + g_tot) / f(c_m)
        v_new = v + np.expm1(a * dt) / a * dvdt
    else:
        v_new = v + dt * dvdt
    free = np.asarray(ref) == 0
    v_new = np.where(free, v_new, f(v_reset) + 0 * v)
    spike = free & (v_new > f(v_th))
    v_new = np.where(spike, f(v_reset) + 0 * v, v_new)
    n_ref = np.round(f(t_ref) / dt).astype(np.int64) + 0 * np.asarray(ref)
    ref = np.where(spike, n_ref, np.maximum(np.asarray(ref) - 1, 0))
    return v_new, spike.astype(np.float64), ref, g


def random_state(key, shape, k=2, dtype=jnp.float32):
    ks = jax.random.split(key, 6)
    v = jax.random.uniform(ks[0], shape, dtype, -66.0, -44.0)
    ref = jax.random.randint(ks[1], shape, 0, 4) * (jax.random.uniform(ks[2], shape) < 0.3)
    g = [
        jax.random.uniform(jax.random.fold_in(ks[3], j), shape, dtype, 0.0, 30.0) for j in range(k)
    ]
    e = [
        jnp.where(jax.random.uniform(jax.random.fold_in(ks[4], j), shape) < 0.1, 8.0, 0.0).astype(
            dtype
        )
        for j in range(k)
    ]
    return v, ref.astype(jnp.int32), jnp.zeros(shape, dtype), g, e


PARAMS = dict(
    tau_m=20.0, c_m=200.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0, i_ext=150.0, t_ref=0.3, dt=0.1
)
COBA_SYN = dict(tau_syn=(5.0, 10.0), e_rev=(0.0, -80.0))
CUBA_SYN = dict(tau_syn=(5.0, 10.0), e_rev=(None, None))
MIXED_SYN = dict(tau_syn=(5.0, 10.0, 2.0), e_rev=(0.0, None, -70.0))


def kwargs(syn, exp_euler, **over):
    # native=True: the kernel even below ops.lif.NATIVE_MIN_SIZE (where it is not faster).
    return {**PARAMS, **syn, "current": 12.0, "exp_euler": exp_euler, "native": True, **over}


CASES = [
    ("coba-euler", COBA_SYN, False),
    ("coba-expeuler", COBA_SYN, True),
    ("cuba-expeuler", CUBA_SYN, True),
    ("cuba-euler", CUBA_SYN, False),
    ("mixed-expeuler", MIXED_SYN, True),
]


def uses_native(f, *args):
    return "brainsim_lif_update" in jax.jit(f).lower(*args).as_text()


def assert_close_ulp(a, b, ulp=4):
    """Equal to ``ulp`` units in the last place of the larger magnitude."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind != "f":
        np.testing.assert_array_equal(a, b)
        return
    eps = np.finfo(a.dtype).eps
    tol = ulp * eps * np.maximum(np.abs(a), np.abs(b)) + np.finfo(a.dtype).tiny
    assert np.all(np.abs(a - b) <= tol), float(np.max(np.abs(a - b) / (tol / ulp)))
