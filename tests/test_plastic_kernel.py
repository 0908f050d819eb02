"""``bs.ops.plastic_bounded``: the native CPU kernel of the bounded, factored plastic
update against its pure-JAX reference (bit for bit, over many steps of a Poisson-driven
plastic network), and the reference against a dense float64 NumPy formula (values,
VJP, vmap)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim.ops import _native

native_only = pytest.mark.skipif(not _native.available(), reason="no native kernels")


def _layout(name):
    if name == "csr":
        return bs.conn.FixedProb(0.2).build(jax.random.key(0), 40, 30)[0]
    return bs.conn.FixedOutDegree(6).build(jax.random.key(1), 40, 30)[0]


def _inputs(layout, key, density, surrogate=False, dtype=jnp.float32):
    k = jax.random.split(key, 8)
    w = jax.random.uniform(k[0], (layout.n_synapses,), dtype, 0.1, 0.9)
    pre = jax.random.bernoulli(k[1], density, (layout.n_pre,)).astype(dtype)
    post = jax.random.bernoulli(k[2], density, (layout.n_post,)).astype(dtype)
    if surrogate:
        pre = pre * jax.random.uniform(k[7], pre.shape, dtype)
        post = post * jax.random.uniform(k[7], post.shape, dtype)
    normal = lambda i, n: 0.3 * jax.random.normal(k[i], (n,), dtype)
    on_post = (normal(3, layout.n_pre), normal(4, layout.n_post))
    on_pre = (normal(5, layout.n_post), normal(6, layout.n_pre))
    return w, pre, post, on_post, on_pre


def _dense(layout, w, pre, post, on_post, on_pre, lo, hi, mu):
    """Float64 NumPy: columns of spiking post neurons, then rows of spiking pre ones."""
    f = lambda x: np.asarray(x, np.float64)
    ptr, ind = (np.asarray(a) for a in bs.ops.event._csr_arrays(layout))
    i = np.repeat(np.arange(layout.n_pre), np.diff(ptr))
    j = ind

    def change(w, raw):
        u = (w - lo) / (hi - lo)
        raw = raw * np.where(raw > 0, (1 - u) ** mu[0], u ** mu[1])
        return np.clip(w + raw, lo, hi) - w

    w = f(w)
    w = w + f(post)[j] * change(w, f(on_post[0])[i] * f(on_post[1])[j])
    return w + f(pre)[i] * change(w, f(on_pre[1])[i] * f(on_pre[0])[j])


def _update(idx, mu):
    return lambda w, pre, post, on_post, on_pre: bs.ops.plastic_bounded(
        idx, w, pre, post, on_post, on_pre, 0.1, 0.9, *mu
    )


@pytest.mark.parametrize(("name", "mu"), [("csr", (0.0, 0.0)), ("ell", (1.0, 1.0))])
def test_reference_matches_dense_values_vjp_vmap(name, mu):
    layout = _layout(name)
    idx = bs.ops.index(layout, pre_capacity=4, post_capacity=4)
    f = _update(idx, mu)
    jitted = jax.jit(f)
    # densities 0.1 (one chunk of 4 events), 0.5 (several chunks), surrogate values
    cases = [(0.1, False), (0.5, False), (0.3, True)]
    for c, (density, surrogate) in enumerate(cases):
        args = _inputs(layout, jax.random.key(c), density, surrogate)
        # float32 vs float64 for one O(1) update: 1e-6 absolute is ~10 ulp
        np.testing.assert_allclose(jitted(*args), _dense(layout, *args, 0.1, 0.9, mu), atol=1e-6)
    batch = [_inputs(layout, jax.random.key(10 + b), 0.3) for b in range(2)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *batch)
    got = jax.jit(jax.vmap(f))(*stacked)
    for b, args in enumerate(batch):
        np.testing.assert_allclose(got[b], _dense(layout, *args, 0.1, 0.9, mu), atol=1e-6)

    # VJP w.r.t. weights, spikes and factors against the same formula in jnp (float32:
    # differences ~1e-6 of O(1) cotangents)
    def dense_jnp(w, pre, post, on_post, on_pre):
        ptr, ind = bs.ops.event._csr_arrays(layout)
        i = jnp.repeat(jnp.arange(layout.n_pre), jnp.diff(ptr), total_repeat_length=w.shape[0])
        ch = lambda w, r: bs.ops.bounded_change(w, r, 0.1, 0.9, *mu)
        w = w + post[ind] * ch(w, on_post[0][i] * on_post[1][ind])
        return w + pre[i] * ch(w, on_pre[1][i] * on_pre[0][ind])

    args = _inputs(layout, jax.random.key(7), 0.4, surrogate=True)
    ct = jax.random.normal(jax.random.key(8), args[0].shape)
    loss = lambda g: lambda *a: jnp.vdot(g(*a), ct)
    got = jax.jit(jax.grad(loss(f), argnums=(0, 1, 2, 3, 4)))(*args)
    ref = jax.jit(jax.grad(loss(dense_jnp), argnums=(0, 1, 2, 3, 4)))(*args)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@native_only
@pytest.mark.parametrize(
    ("name", "dtype", "mu"),
    [
        ("csr", "float32", (0.0, 0.0)),
        ("ell", "float64", (0.0, 0.0)),
        ("csr", "float32", (1.0, 1.0)),
        ("ell", "float32", (1.0, 0.0)),
        ("csr", "float64", (0.0, 1.0)),
    ],
)
def test_kernel_equals_reference_bit_for_bit(name, dtype, mu):
    """Additive and multiplicative (soft-bound) weight dependence on either side."""
    layout = _layout(name)
    idx = bs.ops.index(layout, pre_capacity=4, post_capacity=4)
    kernel, reference = jax.jit(_update(idx, mu)), jax.jit(_update(idx, mu))
    with jax.enable_x64(dtype == "float64"):
        for c, (density, surrogate) in enumerate([(0.1, False), (0.6, False), (0.3, True)]):
            args = _inputs(layout, jax.random.key(c), density, surrogate, jnp.dtype(dtype))
            got = kernel(*args)
            with bs.ops.configure(kernels=False):
                ref = reference(*args)
            assert not np.array_equal(got, args[0])  # something was updated
            np.testing.assert_array_equal(got, ref)
    active = bs.ops._kernel.KERNELS["plastic_bounded"].active(
        layout, idx.cols, *args, (0.1, 0.9), mu=mu, caps=(4, 4)
    )
    assert set(active) == {"cpu"}


def _poisson_plastic_net(rule):
    """200 Poisson inputs (20 Hz) onto 100 LIF neurons (plastic CSR) with recurrent
    plastic E->E (ELL, out-degree 10), conductance synapses."""
    lif = bs.neurons.LIF(100, v_init=bs.initializers.Uniform(-60.0, -50.0), i_ext=150.0)
    exc = dict(synapse=bs.synapses.Exponential(5.0), output=bs.synapses.Conductance(0.0))
    plastic = (bs.Plastic(rule),)
    return bs.Network(
        {"in": bs.neurons.PoissonSource(200, rate=20.0), "E": lif},
        [
            bs.Projection(
                "in", "E", bs.conn.FixedProb(0.2), weight=3.0, components=plastic, **exc
            ),
            bs.Projection(
                "E", "E", bs.conn.FixedOutDegree(10), weight=2.0, components=plastic, **exc
            ),
        ],
        key=jax.random.key(0),
    )


@native_only
def test_poisson_network_same_spikes_and_weights_whichever_path():
    """3000 steps: the kernel and the reference (kernels off) give the same spikes and
    the same plastic weights, bit for bit."""
    rule = bs.plasticity.PairSTDP(0.2, 0.21, 20.0, 20.0, bs.plasticity.Bounds(0.0, 6.0))
    net = _poisson_plastic_net(rule)
    state = net.init(jax.random.key(1), dt=0.1)
    step = jax.jit(lambda s: net.step(s, t=0.0, dt=0.1)).lower(state).as_text()
    assert step.count("brainsim_plastic_bounded") == 2  # both projections take the kernel
    out = {}
    for kernels in (True, False):
        with bs.ops.configure(kernels=kernels):
            st, rec = bs.simulate(net, state, 300.0, 0.1, record={"E": ["spikes"]})
        weights = [np.asarray(c[0][0].w) for c in st.components]
        out[kernels] = weights, np.asarray(rec["E"]["spikes"])
    (w_k, s_k), (w_r, s_r) = out[True], out[False]
    assert s_k.sum() > 300  # the network spikes (~10 Hz)
    np.testing.assert_array_equal(s_k, s_r)
    for k, r, w0 in zip(w_k, w_r, (3.0, 2.0), strict=True):
        assert np.abs(k - w0).max() > 0.5  # the weights learned
        np.testing.assert_array_equal(k, r)


def test_column_index_bytes_per_synapse():
    """3 bytes per synapse (uint16 pre + uint8 offset) while they fit, int32 beyond."""
    small = bs.ops.columns(_layout("csr"))
    assert (small.pre.dtype, small.offset.dtype) == (jnp.uint16, jnp.uint8)
    many = bs.ops.columns(bs.conn.ELL(65537, 1, jnp.zeros((65537, 1), jnp.int32)))
    assert (many.pre.dtype, many.offset.dtype) == (jnp.int32, jnp.uint8)
    wide = bs.ops.columns(bs.conn.ELL(2, 300, jnp.tile(jnp.arange(300), (2, 1))))
    assert (wide.pre.dtype, wide.offset.dtype) == (jnp.uint16, jnp.uint16)
    np.testing.assert_array_equal(wide.offset[:4], [0, 0, 1, 1])  # column 0: rows 0, 1


def test_bad_shapes_raise():
    layout = _layout("ell")
    idx = bs.ops.index(layout)
    w, pre, post, on_post, on_pre = _inputs(layout, jax.random.key(0), 0.1)
    with pytest.raises(ValueError, match=r"plastic_bounded: w must be flat, shape \(240,\)"):
        bs.ops.plastic_bounded(idx, w[:5], pre, post, on_post, on_pre, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"plastic_bounded: a_pre must have shape \(30,\)"):
        bs.ops.plastic_bounded(idx, w, pre, post, on_post, (pre, pre), 0.0, 1.0)
