"""``bs.ops.lif_update`` (``brainsim/ops/lif.py``), the fused step of a LIF population
and its exponential synaptic traces: against a float64 NumPy integration of the
equations written here (``lif_reference``), and the native kernel against the pure-JAX
path (values, float64, vmap over the state and over a parameter). The fused step against
the modules' composition over many steps: test_neurons_lif_fused.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lif_reference import (
    CASES,
    COBA_SYN,
    EPS32,
    PARAMS,
    N,
    assert_close_ulp,
    kwargs,
    native_only,
    numpy_step,
    random_state,
    uses_native,
)

from brainsim.ops import lif_update, lif_update_pure


@pytest.mark.parametrize("name,syn,exp_euler", CASES, ids=[c[0] for c in CASES])
def test_one_step_matches_float64_numpy(name, syn, exp_euler):
    k = len(syn["tau_syn"])
    v, ref, spike, g, e = random_state(jax.random.key(1), (N,), k)
    kw = kwargs(syn, exp_euler)
    out = jax.jit(lambda *a: lif_update(*a, **kw))(v, ref, spike, g, e)
    v_ref, s_ref, r_ref, g_ref = numpy_step(v, ref, g, e, **kw)
    # Neurons within 1e-3 mV of threshold may flip on float32 rounding (below), none here.
    near = np.abs(v_ref - PARAMS["v_th"]) < 1e-3
    ok = ~near
    assert near.mean() < 0.01
    np.testing.assert_array_equal(np.asarray(out[1])[ok], s_ref[ok])
    np.testing.assert_array_equal(np.asarray(out[2])[ok], r_ref[ok])
    assert s_ref.sum() > 10 and (np.asarray(ref) > 0).sum() > 10  # both branches taken
    # float32: about ten roundings of O(60 mV) quantities -> 1e-4 mV is ~13 ulp at 64 mV.
    np.testing.assert_allclose(np.asarray(out[0])[ok], v_ref[ok], rtol=0, atol=1e-4)
    for gk, gk_ref in zip(out[3], g_ref, strict=True):
        # two roundings of values <= 40: 4 ulp relative.
        np.testing.assert_allclose(gk, gk_ref, rtol=4 * EPS32, atol=1e-6)


NATIVE_CASES = {
    "scalar": (dict(), (N,)),
    "per-neuron": (
        dict(
            tau_m=jnp.linspace(10.0, 30.0, N),
            v_th=jnp.linspace(-52.0, -48.0, N),
            t_ref=jnp.linspace(0.0, 0.5, N),
            current=jnp.linspace(-20.0, 40.0, N),
        ),
        (N,),
    ),
    "batch": (dict(), (2, 3, N)),
    "batch-current": (dict(current=jnp.linspace(0.0, 30.0, 6 * N).reshape(2, 3, N)), (2, 3, N)),
}


@native_only
@pytest.mark.parametrize("case", list(NATIVE_CASES))
@pytest.mark.parametrize("name,syn,exp_euler", CASES, ids=[c[0] for c in CASES])
def test_native_equals_pure(case, name, syn, exp_euler):
    over, shape = NATIVE_CASES[case]
    k = len(syn["tau_syn"])
    args = random_state(jax.random.key(2), shape, k)
    kw = kwargs(syn, exp_euler, **over)
    fused = lambda *a: lif_update(*a, **kw)
    assert uses_native(fused, *args)
    got = jax.jit(fused)(*args)
    kw_pure = {k: x for k, x in kw.items() if k != "native"}
    want = jax.jit(lambda *a: lif_update_pure(*a, **kw_pure))(*args)
    # Same operation order; XLA may contract a multiply-add into one FMA where the
    # kernel rounds twice, and its expm1 differs from the kernel's (fast_math.h) by an ulp or so.
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert_close_ulp(a, b, ulp=4)


@native_only
def test_native_float64_and_vmap(x64):
    args = random_state(jax.random.key(3), (N,), 2, jnp.float64)
    kw = kwargs(COBA_SYN, True)
    got = jax.jit(lambda *a: lif_update(*a, **kw))(*args)
    kw_pure = {k: x for k, x in kw.items() if k != "native"}
    want = jax.jit(lambda *a: lif_update_pure(*a, **kw_pure))(*args)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.dtype == b.dtype
        assert_close_ulp(a, b, ulp=4)
    # vmap over the state (native, batched in the kernel) and over a parameter (pure).
    batch = random_state(jax.random.key(4), (3, N), 2, jnp.float64)
    f = lambda v, r, s, g, e, i: lif_update(v, r, s, g, e, **{**kw, "i_ext": i})
    for i_axis, i_ext in ((None, 150.0), (0, jnp.array([100.0, 150.0, 200.0]))):
        vm = jax.jit(jax.vmap(f, in_axes=(0, 0, 0, 0, 0, i_axis)))(*batch, i_ext)
        loop = [
            f(*jax.tree.map(lambda x, j=j: x[j], batch), i_ext if i_axis is None else i_ext[j])
            for j in range(3)
        ]
        for a, b in zip(
            jax.tree.leaves(vm),
            jax.tree.leaves(jax.tree.map(lambda *x: jnp.stack(x), *loop)),
            strict=True,
        ):
            assert_close_ulp(a, b, ulp=4)


# --- networks ----------------------------------------------------------------------------
