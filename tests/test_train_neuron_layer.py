"""``bs.train.NeuronLayer``: a layer of any ``bs.neurons`` model. The ``AffineForm`` path
(``lif_scan``) against the scan of the model's ``step``; the LIF model against the
independent ``LIFLayer``; AdEx and Izhikevich gradients against central finite
differences of the smooth relaxation; every model as a layer."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs


def _poisson(key, shape, p=0.05, dtype=jnp.float32):
    return (jax.random.uniform(key, shape) < p).astype(dtype)


def _detached(scale):
    return bs.spikes.Heaviside(bs.spikes.FastSigmoid(scale), detach_reset=True)


@pytest.mark.parametrize("integrator", [bs.integrators.ExpEuler(), bs.integrators.Euler()])
def test_lif_affine_path_matches_step_scan(x64, integrator):
    """The ``lif_scan`` path equals the scan of ``LIF.step`` (float64, recurrent, 300
    steps of Poisson input, per-neuron time constants, a bias current and a reset below
    rest so the form's bias term is exercised): the same spikes, and gradients of every
    trained leaf within 1e-6 of the largest entry. Not 1e-12: the hand-written backward
    rebuilds $J_{t-1} = \\tilde u_{t-1} - \\beta u_{t-2}$ (mV) and the ``tau_syn``
    gradient sums $J - c$, cancelling the bias $c$ (measured 3e-7)."""
    n = 30
    nrn = bs.neurons.LIF(
        n,
        tau_m=jnp.linspace(8.0, 30.0, n),
        v_th=jnp.full((n,), -50.0),
        v_reset=-65.0,
        i_ext=50.0,
        spike=_detached(2.5),
        integrator=integrator,
    )
    assert nrn.affine_form(1.0) is not None
    layer = bs.train.neuron_layer(
        jax.random.key(0), 20, nrn, scale=3000.0, recurrent=True, rec_scale=0.3
    )
    x = _poisson(jax.random.key(1), (3, 300, 20), dtype=jnp.float64)
    fast, ref = layer(x), layer.reference(x)
    assert 0.02 < float(fast.mean()) < 0.5  # spiking, not saturated
    np.testing.assert_array_equal(fast, ref)
    ct = jax.random.normal(jax.random.key(2), fast.shape, jnp.float64)
    grad = lambda f: eqx.filter_grad(lambda m: jnp.sum(f(m, x) * ct))(layer)
    g_fast = grad(lambda m, x: m(x))
    g_ref = grad(lambda m, x: m.reference(x))
    leaves = jax.tree.leaves(g_ref)
    assert len(leaves) == 5  # w, tau_m, v_th, tau_syn, w_rec
    for a, b in zip(jax.tree.leaves(g_fast), leaves, strict=True):
        assert float(jnp.max(jnp.abs(b))) > 0
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * float(jnp.max(jnp.abs(b))))


def test_lif_form_only_where_exact():
    """No ``AffineForm`` for a reset with gradient, a refractory period, or an adaptive
    integrator (the layer then scans ``step``)."""
    lif = lambda **kw: bs.neurons.LIF(4, **{"spike": _detached(1.0), **kw})
    assert lif().affine_form(1.0) is not None
    assert lif(spike=bs.spikes.Heaviside()).affine_form(1.0) is None
    assert lif(t_ref=2.0).affine_form(1.0) is None
    assert lif(integrator=bs.integrators.DormandPrince()).affine_form(1.0) is None


def test_lif_neuron_layer_equals_lif_layer(x64):
    """``LIFLayer`` (its own dimensionless recurrence, a separate implementation) and a
    ``NeuronLayer`` of ``LIF`` (tau_m 10 ms, 10 mV to threshold) with the same weights
    in units of 10 mV (``scale = 10 mV / gain``) and the surrogate per 10 mV (``Scaled``)
    give the same spikes and the same weight gradients (float64, 200 steps, recurrent;
    1e-9: the two recurrences round differently)."""
    f64 = lambda m: jax.tree.map(
        lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, m
    )
    ref = f64(bs.train.lif_layer(jax.random.key(3), 20, 64, recurrent=True, rec_scale=0.3))
    spike = bs.spikes.Heaviside(bs.spikes.Scaled(bs.spikes.FastSigmoid(25.0), 10.0), True)
    nrn = bs.neurons.LIF(64, tau_m=10.0, spike=spike)
    k = float(nrn.affine_form(1.0).gain[0])  # mV / pA
    layer = bs.train.NeuronLayer(ref.w, nrn, 5.0, ref.w_rec, ref.rec_layout, scale=10.0 / k)
    x = _poisson(jax.random.key(4), (4, 200, 20), p=0.1, dtype=jnp.float64)
    s = ref(x)
    assert 0.01 < float(s.mean()) < 0.5
    np.testing.assert_array_equal(layer(x), s)
    ct = jax.random.normal(jax.random.key(5), s.shape, jnp.float64)
    g_ref = eqx.filter_grad(lambda m: jnp.sum(m(x) * ct))(ref)
    g = eqx.filter_grad(lambda m: jnp.sum(m(x) * ct))(layer)
    for a, b in ((g.w, g_ref.w), (g.w_rec, g_ref.w_rec)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * float(jnp.max(jnp.abs(b))))


class SigmoidSpike(bs.spikes.AbstractSpike):
    """The smooth relaxation of ``H(x)``: ``sigmoid(x / width)`` (x in mV)."""

    width: float = 1.0

    def __call__(self, x):
        return jax.nn.sigmoid(x / self.width)


def _adex(n):
    p = lambda v: jnp.full((n,), v, jnp.float64)
    return bs.neurons.AdEx(
        n,
        a=p(4.0),
        b=p(80.5),
        tau_w=p(144.0),
        v_peak=-40.0,
        spike=SigmoidSpike(4.0),
        integrator=bs.integrators.ExpEuler(),
    )


def _izhikevich(n):
    p = lambda v: jnp.full((n,), v, jnp.float64)
    return bs.neurons.Izhikevich(n, a=p(0.02), d=p(8.0), spike=SigmoidSpike(10.0))


@pytest.mark.parametrize(("make", "scale", "dt"), [(_adex, 8000.0, 1.0), (_izhikevich, 40.0, 0.5)])
def test_gradient_matches_finite_differences(x64, make, scale, dt):
    """AdEx (ExpEuler) and Izhikevich (Euler) recurrent layers with sigmoid spikes (the
    smooth relaxation: the run is smooth in the weights and the model's parameters): the
    autodiff directional derivative along a random direction of every trained leaf
    equals the fourth-order central difference (step 1e-5 relative, float64). The
    relaxation's quadratic/exponential upstroke amplifies perturbations (second-order
    differences at 1e-5 are off by 5e-4 relative for Izhikevich), so the stencil is
    fourth order and the run short; bound 1e-6."""
    layer = bs.train.neuron_layer(
        jax.random.key(5), 10, make(8), scale=scale, recurrent=True, rec_scale=0.5, dt=dt
    )
    layer = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, layer)
    x = _poisson(jax.random.key(6), (2, 40, 10), p=0.1, dtype=jnp.float64)
    ct = jax.random.normal(jax.random.key(7), (2, 40, 8), jnp.float64)
    params, static = eqx.partition(layer, eqx.is_inexact_array)
    loss = jax.jit(lambda p: jnp.sum(eqx.combine(p, static).reference(x) * ct))
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(8), len(leaves))
    direction = treedef.unflatten(
        [
            jax.random.normal(k, a.shape, a.dtype) * jnp.abs(a)
            for k, a in zip(keys, leaves, strict=True)
        ]
    )
    grad = jax.grad(loss)(params)
    derivative = sum(
        jnp.sum(g * d)
        for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True)
    )
    at = lambda s: float(loss(jax.tree.map(lambda a, d: a + s * d, params, direction)))
    e = 1e-5
    fd = (8 * (at(e) - at(-e)) - (at(2 * e) - at(-2 * e))) / (12 * e)
    spikes = eqx.combine(params, static).reference(x)
    assert 0.01 < float(spikes.mean()) < 0.6  # the relaxation is spiking
    assert abs(float(derivative)) > 1e-3
    np.testing.assert_allclose(float(derivative), fd, rtol=1e-6)


MODELS = {
    "LIF": (lambda n: bs.neurons.LIF(n, spike=_detached(2.5)), 3000.0, 1.0),
    "ALIF": (lambda n: bs.neurons.ALIF(n, spike=_detached(2.5)), 3000.0, 1.0),
    # v_peak = V_T + 5 Delta_T: at the default 0 mV an ExpEuler step of 1 ms overflows
    # on the upstroke (capped in the forward pass, NaN in the backward pass)
    "AdEx": (
        lambda n: bs.neurons.AdEx(n, v_peak=-40.0, integrator=bs.integrators.ExpEuler()),
        8000.0,
        1.0,
    ),
    "Izhikevich": (lambda n: bs.neurons.Izhikevich(n), 40.0, 1.0),
    "QIF": (lambda n: bs.neurons.QIF(n), 3000.0, 1.0),
    "HH": (lambda n: bs.neurons.HH(n, integrator=bs.integrators.ExpEuler()), 3000.0, 0.05),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_as_a_layer(name):
    """Each model as a recurrent layer: its own state class, spikes of shape (B, T, n),
    and a finite, nonzero surrogate gradient for the input weights."""
    make, w_scale, dt = MODELS[name]
    layer = bs.train.neuron_layer(
        jax.random.key(9), 10, make(16), scale=w_scale, recurrent=True, dt=dt
    )
    state = layer.init(batch_shape=(3,))
    assert type(state.neuron) is type(layer.neuron.init(jax.random.key(0)))
    x = _poisson(jax.random.key(10), (3, 40, 10), p=0.2)
    s = layer(x)
    assert s.shape == (3, 40, 16)
    ct = jnp.broadcast_to(jnp.linspace(-1.0, 1.0, 16), s.shape)
    g = eqx.filter_grad(lambda m: jnp.sum(m(x) * ct))(layer)
    assert bool(jnp.all(jnp.isfinite(g.w)))


def test_bad_arguments_raise_before_compiling():
    nrn = bs.neurons.LIF(4)
    with pytest.raises(ValueError, match="neuron.size"):
        bs.train.NeuronLayer(jnp.zeros((3, 5)), nrn)
    with pytest.raises(ValueError, match="tau_syn"):
        bs.train.NeuronLayer(jnp.zeros((3, 4)), nrn, -1.0)
