import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import check_event_vs_dense, dense_reference

import brainsim as bs

N_PRE, N_POST = 60, 45


def _layouts():
    key = jax.random.key(3)
    return {
        "csr": bs.conn.FixedProb(0.15).build(key, N_PRE, N_POST)[0],
        "csr-indegree": bs.conn.FixedInDegree(7).build(key, N_PRE, N_POST)[0],
        "ell": bs.conn.FixedOutDegree(9).build(key, N_PRE, N_POST)[0],
        "dense": bs.conn.AllToAll().build(key, N_PRE, N_POST)[0],
        "dense-masked": bs.conn.AllToAll(allow_self=False).build(key, N_PRE, N_PRE, True)[0],
    }


LAYOUTS = _layouts()


@pytest.fixture(params=["native", "pure"])
def path(request, monkeypatch):
    """Run with the native CPU kernel (when it could be built) and with the portable
    pure-JAX path that GPUs and TPUs use."""
    if request.param == "pure":
        monkeypatch.setattr(bs.ops._native, "available", lambda: False)
    elif not bs.ops._native.available():
        pytest.skip("native kernel unavailable (no C++ compiler?)")
    return request.param


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("homogeneous", [True, False])
def test_event_matches_dense(name, homogeneous, getkey, path):
    layout = LAYOUTS[name]
    spikes = (jax.random.uniform(getkey(), (layout.n_pre,)) < 0.1).astype(jnp.float32)
    spikes = spikes * jax.random.uniform(getkey(), (layout.n_pre,), minval=0.5, maxval=1.5)
    weight = jnp.float32(0.7) if homogeneous else jax.random.normal(getkey(), layout.weight_shape)
    check_event_vs_dense(layout, weight, spikes, capacity=12)


@pytest.mark.parametrize("name", ["csr", "ell"])
def test_burst_beyond_capacity_is_exact(name, getkey, path):
    """More active presynaptic neurons than event slots: the all-synapse pass is taken
    and nothing is lost (values and VJPs still equal the dense product)."""
    layout = LAYOUTS[name]
    spikes = jnp.ones(layout.n_pre)  # every neuron spikes
    weight = jax.random.normal(getkey(), layout.weight_shape)
    check_event_vs_dense(layout, weight, spikes, capacity=4)


def test_from_dense_and_edges_roundtrip(getkey):
    w = np.array(jax.random.normal(getkey(), (8, 6)))
    w[np.abs(w) < 0.7] = 0.0
    layout, weight = bs.conn.FromDense(w).build(None, 8, 6)
    np.testing.assert_array_equal(bs.ops.to_dense(layout, weight), w.astype(np.float32))
    pre, post = np.nonzero(w)
    layout2, weight2 = bs.conn.FromEdges(pre[::-1], post[::-1], w[pre, post][::-1]).build(
        None, 8, 6
    )
    np.testing.assert_array_equal(bs.ops.to_dense(layout2, weight2), w.astype(np.float32))


def _many_case(getkey):
    """Three projections from two sources (the first source feeds two of them, as
    E->E and E->I do), CSR and ELL, homogeneous and per-synapse weights."""
    a, b = LAYOUTS["csr"], LAYOUTS["ell"]
    c = bs.conn.FixedProb(0.2).build(jax.random.key(9), N_POST, N_PRE)[0]
    s1 = (jax.random.uniform(getkey(), (N_PRE,)) < 0.2).astype(jnp.float32)
    s2 = (jax.random.uniform(getkey(), (N_POST,)) < 0.2).astype(jnp.float32) * 1.5
    weights = (jnp.float32(0.7), jax.random.normal(getkey(), b.weight_shape), jnp.float32(-2.0))
    return (a, b, c), weights, (s1, s2)


def _many(layouts, weights, s1, s2):
    return bs.ops.matvec_many(layouts, weights, [s1, s1, s2], [12, 12, None])


def test_matvec_many_matches_dense(getkey, path):
    """The fused call: values, batched spikes (vmap) and VJPs (weights and both spike
    sources, the shared one summing two projections' cotangents) against the dense
    products assembled independently in NumPy."""
    layouts, weights, (s1, s2) = _many_case(getkey)
    srcs = (s1, s1, s2)
    outs = jax.jit(lambda w, a, b: _many(layouts, w, a, b))(weights, s1, s2)
    dense = [dense_reference(lay, w, s) for lay, w, s in zip(layouts, weights, srcs, strict=True)]
    for out, (expect, _) in zip(outs, dense, strict=True):
        np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5)  # as check_event_vs_dense

    batch1 = jnp.stack([s1, jnp.roll(s1, 5)])
    outs_b = jax.vmap(lambda a: _many(layouts, weights, a, s2))(batch1)
    for k, lay in enumerate(layouts):
        for i in range(2):
            src = (batch1[i], batch1[i], s2)[k]
            expect = dense_reference(lay, weights[k], src)[0]
            np.testing.assert_allclose(outs_b[k][i], expect, rtol=1e-5, atol=1e-5)

    cts = [jax.random.normal(getkey(), o.shape) for o in outs]

    def loss(w, a, b):
        return sum(jnp.vdot(o, c) for o, c in zip(_many(layouts, w, a, b), cts, strict=True))

    d_w, d_s1, d_s2 = jax.grad(loss, argnums=(0, 1, 2))(weights, s1, s2)
    ct = [np.asarray(c, np.float64) for c in cts]
    expect_s1 = dense[0][1] @ ct[0] + dense[1][1] @ ct[1]
    np.testing.assert_allclose(d_s1, expect_s1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d_s2, dense[2][1] @ ct[2], rtol=1e-5, atol=1e-5)
    # scalar weight w: W = w A, so d loss / dw = s A ct; per synapse (i, j): s_i ct_j
    np.testing.assert_allclose(d_w[0], np.asarray(s1) @ (dense[0][1] / 0.7) @ ct[0], rtol=1e-5)
    b = layouts[1]
    expect_wb = np.asarray(s1)[:, None] * ct[1][np.asarray(b.indices)]
    np.testing.assert_allclose(d_w[1], expect_wb.reshape(b.weight_shape), rtol=1e-5, atol=1e-6)


def test_matvec_many_batched_weights(getkey, path):
    """vmap over the weights (an ensemble of networks): each member equals its own
    dense product (the fused kernel's batching rule falls back to per-projection calls)."""
    layouts, weights, (s1, s2) = _many_case(getkey)
    w1 = jnp.stack([weights[1], -weights[1]])
    outs = jax.vmap(lambda w: _many(layouts, (weights[0], w, weights[2]), s1, s2))(w1)
    for i in range(2):
        expect = dense_reference(layouts[1], w1[i], s1)[0]
        np.testing.assert_allclose(outs[1][i], expect, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            outs[2][i], dense_reference(layouts[2], weights[2], s2)[0], rtol=1e-5, atol=1e-5
        )


def test_matvec_many_split_over_threads(getkey, path):
    """From 2^17 targets the native kernel splits the targets over XLA's threads (on a
    machine with >= 2 cores): each target must still get every event, in the order of
    one thread, so the result equals the unsplit single-projection kernel bit for bit
    and the float64 sum over the edges (NumPy, independent) to float32 rounding."""
    n_pre, n_post = 500, 140_000
    layouts = [
        bs.conn.FixedProb(3000 / n_post).build(jax.random.key(k), n_pre, n_post)[0] for k in (1, 2)
    ]
    weights = (jnp.float32(0.7), jax.random.normal(getkey(), layouts[1].weight_shape))
    # ~6 events per target, so that a target lost at a split boundary shows
    s = (jax.random.uniform(getkey(), (n_pre,)) < 0.6).astype(jnp.float32)
    fused = bs.ops.matvec_many(layouts, weights, [s, s], [None, None])
    for lay, w, out in zip(layouts, weights, fused, strict=True):
        single = bs.ops.matvec(lay, w, s)
        np.testing.assert_array_equal(out, single)
        indptr, indices = np.asarray(lay.indptr), np.asarray(lay.indices)
        pre = np.repeat(np.arange(n_pre), np.diff(indptr))
        vals = np.broadcast_to(np.asarray(w, np.float64), indices.shape) * np.asarray(s)[pre]
        expect = np.zeros(n_post)
        np.add.at(expect, indices, vals)
        # float32 sums of ~6 terms of size ~1: rounding ~1e-6 absolute
        np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("native", [True, False])
def test_compact_against_numpy(native, monkeypatch):
    """``ops.compact`` (native kernel and portable ``jnp.nonzero`` path) against
    ``np.flatnonzero`` per row: ascending positions, the full count when a
    row overflows the capacity (its first ``capacity`` positions kept), float and bool
    input, leading batch axes and vmap."""
    if not native:
        monkeypatch.setattr(bs.ops._native, "available", lambda: False)
    elif not bs.ops._native.available():
        pytest.skip("native kernel unavailable")
    rng = np.random.default_rng(5)
    x = rng.random((3, 4, 203)) < rng.uniform(0.0, 0.15, (3, 4, 1))  # rows of 0-30 spikes
    x[0, 0] = False
    x[1, 2, :] = True  # overflows any capacity below 203
    cap = 20
    for arr in (x, x.astype(np.float32) * 0.5):
        idx, count = bs.ops.compact(arr, cap)
        for r in np.ndindex(x.shape[:-1]):
            want = np.flatnonzero(x[r])
            assert count[r] == want.size
            kept = want[:cap]
            np.testing.assert_array_equal(idx[r][: kept.size], kept)
    idx_v, count_v = jax.vmap(lambda a: bs.ops.compact(a, cap))(jnp.asarray(x))
    idx, count = bs.ops.compact(x, cap)
    np.testing.assert_array_equal(count_v, count)
    used = np.arange(cap) < np.asarray(count)[..., None]
    np.testing.assert_array_equal(np.asarray(idx_v)[used], np.asarray(idx)[used])
