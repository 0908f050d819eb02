"""``bs.train.LIFLayer``: a ``NeuronLayer`` of ``bs.neurons.LIF``/``ALIF``, checked
against its documented equations written out here in NumPy (float64), and its fast
path (the hand-written BPTT of the model's ``AffineForm``) against the scan of the
model's ``step`` it specializes, for several parameter sets."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

N_IN, N, T, B = 20, 24, 200, 3


def _poisson(key, shape, p):
    """Spike trains with rate ``p`` per step, weighted in [0.5, 1.5]."""
    k1, k2 = jax.random.split(key)
    on = jax.random.uniform(k1, shape) < p
    return jnp.where(on, jax.random.uniform(k2, shape, minval=0.5, maxval=1.5), 0.0)


def _layer(case: str, adaptive: bool = False):
    """Float64 layers that spike often. ``ring``: per-neuron time constants and
    thresholds, dense recurrence, dt 1 ms. ``fine``: dt 0.5 ms, short time constants,
    feed-forward. ``clamped``: time constants below dt (they act as dt), a sparse
    recurrence."""
    key = jax.random.key(3)
    noise = lambda k, lo, hi: jax.random.uniform(jax.random.key(k), (N,), minval=lo, maxval=hi)
    kw = dict(w_scale=4.0, rec_scale=3.0, adaptive=adaptive)
    if case == "ring":
        layer = bs.train.lif_layer(key, N_IN, N, recurrent=True, **kw)
        layer = eqx.tree_at(
            lambda m: (m.tau_mem, m.tau_syn, m.threshold),
            layer,
            (noise(1, 5.0, 30.0), noise(2, 2.0, 8.0), noise(3, 0.7, 1.3)),
        )
    elif case == "fine":
        layer = bs.train.lif_layer(key, N_IN, N, tau_mem=2.0, tau_syn=1.0, dt=0.5, **kw)
    else:
        layout, _ = bs.conn.FixedProb(0.2).build(key, N, N, recurrent=True)
        layer = bs.train.lif_layer(key, N_IN, N, recurrent=layout, tau_mem=0.5, **kw)
        layer = eqx.tree_at(lambda m: m.tau_syn, layer, noise(4, 0.3, 4.0))
    return jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, layer)


def _equations(layer, x):
    """The module docstring's recurrence in NumPy float64: spikes and membranes
    ``(B, T, N)``."""
    p = {k: np.asarray(getattr(layer, k), np.float64) for k in ("tau_mem", "tau_syn")}
    decay = lambda tau: np.exp(-layer.dt / np.maximum(tau, layer.dt))
    alpha, beta = decay(p["tau_syn"]), decay(p["tau_mem"])
    rho = decay(np.asarray(layer.tau_adapt, np.float64))
    theta, beta_a = np.asarray(layer.threshold), float(layer.beta_adapt)
    h = np.asarray(x, np.float64) @ np.asarray(layer.w, np.float64)
    w_rec = None
    if layer.w_rec is not None:
        w_rec = np.asarray(bs.ops.to_dense(layer.rec_layout, layer.w_rec), np.float64)
    i = v = a = s = np.zeros((x.shape[0], N))
    spikes, membranes = [], []
    for t in range(x.shape[1]):
        i = alpha * i + h[:, t] + (0.0 if w_rec is None else s @ w_rec)
        v = beta * v + i
        s = (v - (theta + beta_a * a) > 0).astype(np.float64)
        a = rho * a + s
        v = v * (1.0 - s)
        spikes.append(s), membranes.append(v)
    return np.stack(spikes, 1), np.stack(membranes, 1)


@pytest.mark.parametrize("adaptive", [False, True], ids=["lif", "alif"])
@pytest.mark.parametrize("case", ["ring", "fine", "clamped"])
def test_lif_layer_follows_its_equations(x64, case, adaptive):
    """Spikes of the layer (fast path where it applies) and of its reference scan equal
    those of the documented equations over 200 steps of Poisson input, and the final
    membrane (``step``) agrees to 1e-9 mV: the model's exponential Euler step rounds
    differently from $\\beta V + I$ (float64: ~1e-15 per step, grown by the recurrence)."""
    layer = _layer(case, adaptive)
    x = _poisson(jax.random.key(5), (B, T, N_IN), 0.2).astype(jnp.float64)
    s_ref, v_ref = _equations(layer, x)
    assert 0.02 < s_ref.mean() < 0.6, s_ref.mean()  # resets and recurrence matter
    s, s_scan = eqx.filter_jit(lambda m: (m(x), m.reference(x)))(layer)
    np.testing.assert_array_equal(s, s_ref)
    np.testing.assert_array_equal(s_scan, s_ref)
    h = jnp.moveaxis(x @ layer.w, 1, 0)
    step = eqx.filter_jit(lambda m, st, h: m.step(st, h))
    state = layer.init(batch_shape=(B,))
    for t in range(T):
        state, _ = step(layer, state, h[t])
    np.testing.assert_allclose(state.neuron.v, v_ref[:, -1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", ["ring", "fine", "clamped"])
def test_fast_path_equals_the_scan_it_specializes(x64, case):
    """The hand-written BPTT (``AffineForm`` of the layer's ``LIF``) against autodiff of
    the scan of ``LIF.step``, float64, 200 steps of Poisson input, from a random initial
    state: identical spikes; gradients of every field, of the input and of the initial
    state equal to 1e-10 of their largest entry (the same sums in another order:
    ~1e-14 expected)."""
    layer = _layer(case)
    assert layer.neuron_layer().neuron.affine_form(layer.dt) is not None
    k = jax.random.split(jax.random.key(11), 5)
    x = _poisson(k[0], (B, T, N_IN), 0.2).astype(jnp.float64)
    ct = jax.random.normal(k[1], (B, T, N), jnp.float64)
    state = bs.train.NeuronLayerState(
        jax.random.normal(k[2], (B, N), jnp.float64),
        bs.neurons.LIFState(
            0.5 * jax.random.normal(k[3], (B, N), jnp.float64),
            (jax.random.uniform(k[4], (B, N)) < 0.3).astype(jnp.float64),
            jnp.zeros((B, N), jnp.int32),
        ),
    )

    def grads(call):
        f = lambda m, x, st: jnp.sum(call(m, x, st) * ct)
        g_in = eqx.filter_grad(lambda xs, m: f(m, *xs))  # the int refractory counts: None
        g = eqx.filter_jit(lambda m, *xs: (eqx.filter_grad(f)(m, *xs), g_in(xs, m)))
        return g(layer, x, state)

    s = eqx.filter_jit(lambda m: m(x, state))(layer)
    np.testing.assert_array_equal(s, eqx.filter_jit(lambda m: m.reference(x, state))(layer))
    got = grads(lambda m, x, st: m(x, st))
    ref = grads(lambda m, x, st: m.reference(x, st))
    leaves = jax.tree_util.tree_leaves_with_path(ref)
    for (where, b), a in zip(leaves, jax.tree.leaves(got), strict=True):
        scale = float(jnp.max(jnp.abs(b))) or 1.0  # (zero: the unused adaptation)
        err = float(jnp.max(jnp.abs(a - b))) / scale
        assert err < 1e-10, (jax.tree_util.keystr(where), err)
