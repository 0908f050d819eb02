"""Event-driven plastic-weight updates (``bs.ops.update_rows`` / ``update_columns``)
against a dense NumPy reference: values (jit, vmap) and VJPs (against the VJP of the
O(synapses) formula written densely in jnp)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs


def _delta(w, pre, post, theta):
    """A nonlinear update using the weight and both sides' values."""
    a, b = theta
    return a * pre[0] * jnp.tanh(post) - b * w * pre[1]


def _layouts():
    csr, _ = bs.conn.FixedProb(0.2).build(jax.random.key(0), 40, 30)
    ell, _ = bs.conn.FixedOutDegree(6).build(jax.random.key(1), 40, 30)
    return {"csr": csr, "ell": ell}


def _dense_mask(layout):
    m = np.zeros((layout.n_pre, layout.n_post), bool)
    m[np.asarray(bs.ops.to_dense(layout, 1.0)) != 0] = True
    return m


def _reference(layout, w_flat, spikes, pre, post, theta, by_row):
    """Dense float64: W[i, j] += spikes[k] * delta(W[i, j], pre[i], post[j])."""
    a, b = (float(t) for t in theta)
    mask = _dense_mask(layout)
    W = _flat_to_dense(layout, np.asarray(w_flat, np.float64))
    p0, p1 = (np.asarray(p, np.float64)[:, None] for p in pre)
    q = np.asarray(post, np.float64)[None, :]
    d = a * p0 * np.tanh(q) - b * W * p1
    s = np.asarray(spikes, np.float64)
    factor = s[:, None] if by_row else s[None, :]
    return np.where(mask, W + factor * d, 0.0)


def _flat_to_dense(layout, w):
    return np.asarray(bs.ops.to_dense(layout, jnp.reshape(w, layout.weight_shape)), np.float64)


def _inputs(layout, key):
    k = jax.random.split(key, 5)
    w = jax.random.uniform(k[0], (layout.n_synapses,))
    pre = (jax.random.normal(k[1], (layout.n_pre,)), jax.random.uniform(k[2], (layout.n_pre,)))
    post = jax.random.normal(k[3], (layout.n_post,))
    return w, pre, post, k[4]


@pytest.mark.parametrize("name", ["csr", "ell"])
@pytest.mark.parametrize("by_row", [True, False])
def test_event_update_matches_dense(name, by_row):
    layout = _layouts()[name]
    idx = bs.ops.index(layout, pre_capacity=8, post_capacity=8)
    w, pre, post, key = _inputs(layout, jax.random.key(2))
    theta = (jnp.float32(0.3), jnp.float32(0.7))
    n = layout.n_pre if by_row else layout.n_post
    # densities 0.1 and 0.05 (one chunk of 8), 0.6 (more events than capacity:
    # several chunks), and a surrogate-valued vector
    p = jnp.array([0.1, 0.05, 0.6, 0.1])[:, None]
    spikes = jax.random.bernoulli(key, p, (4, n)).astype(jnp.float32)
    spikes = spikes.at[3].multiply(jax.random.uniform(jax.random.key(4), (n,)))

    def f(w, s, pre, post, theta):
        if by_row:
            return bs.ops.update_rows(layout, w, s, _delta, pre, post, theta, idx.pre_capacity)
        return bs.ops.update_columns(
            layout, idx.cols, w, s, _delta, pre, post, theta, idx.post_capacity
        )

    # float32 vs float64 for one O(1) update: 1e-5 absolute is ~100 ulp
    for s in spikes:
        got = jax.jit(f)(w, s, pre, post, theta)
        ref = _reference(layout, w, s, pre, post, theta, by_row)
        np.testing.assert_allclose(_flat_to_dense(layout, got), ref, atol=1e-5)
    batched = jax.vmap(f, (None, 0, None, None, None))(w, spikes, pre, post, theta)
    for b, s in zip(batched, spikes, strict=True):
        ref = _reference(layout, w, s, pre, post, theta, by_row)
        np.testing.assert_allclose(_flat_to_dense(layout, b), ref, atol=1e-5)

    # VJP w.r.t. weights, spikes (surrogate path), traces and parameters: the dense
    # formula in jnp over the (n_pre, n_post) matrix, mapped back to synapses.
    mask = jnp.asarray(_dense_mask(layout))
    rows, cols = np.nonzero(np.asarray(mask))
    order = _synapse_order(layout)

    def dense(w, s, pre, post, theta):
        W = jnp.zeros((layout.n_pre, layout.n_post)).at[order[0], order[1]].set(w)
        d = _delta(W, (pre[0][:, None], pre[1][:, None]), post[None, :], theta)
        factor = s[:, None] if by_row else s[None, :]
        return (W + factor * d)[order[0], order[1]]

    ct = jax.random.normal(jax.random.key(3), w.shape)
    args = (w, spikes[0], pre, post, theta)
    g = jax.jit(jax.grad(lambda *a: jnp.vdot(f(*a), ct), argnums=(0, 1, 2, 3, 4)))(*args)
    g_ref = jax.grad(lambda *a: jnp.vdot(dense(*a), ct), argnums=(0, 1, 2, 3, 4))(*args)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert len(rows) == layout.n_synapses  # no multapses: the dense map is one-to-one


def _synapse_order(layout):
    """(pre, post) of every synapse in the flat weight order, from the layout arrays."""
    if isinstance(layout, bs.conn.ELL):
        ind = np.asarray(layout.indices)
        return np.repeat(np.arange(layout.n_pre), ind.shape[1]), ind.ravel()
    ptr = np.asarray(layout.indptr)
    return np.repeat(np.arange(layout.n_pre), np.diff(ptr)), np.asarray(layout.indices)


def test_columns_index_lists_incoming_synapses():
    layout = _layouts()["csr"]
    cols = bs.ops.columns(layout)
    pre, post = _synapse_order(layout)
    ptr, cpre, off = (np.asarray(a).astype(int) for a in (cols.indptr, cols.pre, cols.offset))
    for j in range(layout.n_post):
        got = np.asarray(layout.indptr)[cpre[ptr[j] : ptr[j + 1]]] + off[ptr[j] : ptr[j + 1]]
        np.testing.assert_array_equal(got, np.nonzero(post == j)[0])
        np.testing.assert_array_equal(cpre[ptr[j] : ptr[j + 1]], pre[got])
        assert np.all(np.diff(pre[got]) > 0)  # in presynaptic order
    assert cols.max_degree == np.bincount(post, minlength=layout.n_post).max()


def test_bad_layout_and_shapes_raise():
    with pytest.raises(ValueError, match="columns: plastic weights need a stored CSR or ELL"):
        bs.ops.columns(bs.conn.Dense(3, 3))
    layout = _layouts()["ell"]
    with pytest.raises(ValueError, match=r"update_rows: weights must be flat"):
        bs.ops.update_rows(layout, jnp.zeros((40, 6)), jnp.zeros(40), _delta, (), (), (), 4)
    with pytest.raises(ValueError, match="index: pre_capacity must be an integer >= 1"):
        bs.ops.index(layout, pre_capacity=0)
