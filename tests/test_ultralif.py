"""UltraLIF at rest and in a trained layer: the no-input equilibrium (derived in
docs/concepts/ultralif.md), the rest-normalising bias, gradients of the smooth layer, and
learning over many steps."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

import brainsim as bs


@pytest.mark.parametrize("eps", [1.0, 0.3, 0.1])
@pytest.mark.parametrize("i", [0.0, -2.0, 1.5])
def test_spike_free_equilibrium_is_the_closed_form(x64, eps, i):
    """From V = 0, a constant input I and no spikes (threshold far away) drive V to
    I - eps log(1 - tau0^(1/eps)), written here in NumPy from the derivation. In
    x = e^(V/eps) the error shrinks by lambda = tau0^(1/eps) <= 0.9 per step, so after 400
    steps it is below 1e-15 relative: 1e-12 is float64 round-off over the run."""
    tau_m, n_steps = 10.0, 400
    model = bs.spikes.UltraLIF(1, tau_m=tau_m, theta=1e6, spike=bs.spikes.UltraSpike(eps))
    step = lambda st, inp: model.step(st, inp, dt=1.0)
    state, _ = jax.lax.scan(step, model.init(), jnp.full((n_steps, 1), i))
    ref = i - eps * np.log(1.0 - (1.0 - 1.0 / tau_m) ** (1.0 / eps))
    np.testing.assert_allclose(float(state.v[0]), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(float(model.equilibrium(i, dt=1.0)), ref, rtol=1e-12)


def test_paper_defaults_rest_above_threshold():
    """The diagnosis of issue 16: at eps = 1 and tau_m = 20 ms the no-input fixed point is
    log(tau_m/dt) = 3.0 > theta = 1, so a neuron with no input spikes on every step."""
    model = bs.spikes.UltraLIF(1, tau_m=20.0, theta=1.0)
    np.testing.assert_allclose(float(model.equilibrium(0.0)), np.log(20.0), rtol=1e-6)
    _, s = jax.lax.scan(lambda st, inp: model.step(st, inp), model.init(), jnp.zeros((200, 1)))
    assert float(jnp.mean(s[100:])) > 0.4


@pytest.mark.parametrize("eps", [1.0, 0.3, 0.1])
def test_ultrasnn_is_silent_without_input(eps):
    """With the rest-normalising bias, zero input leaves every hidden neuron at V = rest = 0
    (checked over 100 steps), so its soft spike is sigma(-theta/eps); without the bias
    (``rest=None``, the paper's bare projection) it rests at the positive offset above."""
    model = bs.train.UltraSNN(4, 16, 3, eps=eps, theta=1.0)
    _, (spikes,) = model(jnp.zeros((100, 4)))
    np.testing.assert_allclose(spikes, jax.nn.sigmoid(-1.0 / eps), rtol=1e-4)
    bare = bs.train.UltraSNN(4, 16, 3, eps=eps, theta=1.0, rest=None)
    _, (spikes,) = bare(jnp.zeros((100, 4)))
    offset = float(bare.layers[0].neuron.equilibrium(0.0)[0])
    assert offset > 0 and np.all(spikes[-1] > jax.nn.sigmoid(-1.0 / eps) * 1.01)


def test_ultralif_layer_gradients_finite_differences(x64):
    """Gradients of a readout-free UltraLIF layer (current and its integral, bias, eps,
    theta, tau_m) against central finite differences of the same smooth function; Poisson-like
    random spikes over 12 steps so resets and the synaptic trace both act."""
    key = jax.random.key(3)
    x = jax.random.bernoulli(key, 0.3, (2, 12, 5)).astype(jnp.float64)
    model = bs.train.UltraSNN(5, 4, 2, eps=0.5, theta=1.0, tau_syn=3.0, tau_psp=4.0, key=key)
    layer = model.layers[0]
    params = (
        layer.w * 6.0,
        layer.b,
        layer.neuron.spike.eps,
        layer.neuron.theta,
        layer.neuron.tau_m,
        layer.tau_syn,
        layer.tau_psp,
    )

    def loss(w, b, eps, theta, tau_m, tau_syn, tau_psp):
        neuron = bs.spikes.UltraLIF(4, tau_m=tau_m, theta=theta, spike=bs.spikes.UltraSpike(eps))
        s = bs.train.UltraLIFLayer(w, b, tau_syn, neuron, tau_psp)(x)
        return jnp.sum(s * jnp.arange(1.0, 13.0)[None, :, None])

    check_grads(jax.jit(loss), params, order=1, modes=["rev"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("tau_psp", [None, 7.0, 3.0])
def test_membrane_input_is_the_difference_of_exponentials_psp(x64, tau_psp):
    """``UltraLIFLayer.potential`` against the closed-form kernel, written in NumPy: one
    spike at step k gives P_t = w K_(t-k) with K_d = (b^(d+1) - a^(d+1)) / (b - a) for two
    filters a = e^(-1/tau_syn), b = e^(-1/tau_psp) (the sum of a^m b^(d-m)), and a^d with
    the current alone. Poisson-like input over 60 steps; float64 round-off only."""
    rng = np.random.default_rng(1)
    x = (rng.random((2, 60, 3)) < 0.2).astype(np.float64)
    w = rng.normal(size=(3, 4))
    tau_syn = 5.0
    syn, psp = np.full(4, tau_syn), None if tau_psp is None else np.full(4, tau_psp)
    layer = bs.train.UltraLIFLayer(jnp.asarray(w), jnp.zeros(4), syn, bs.spikes.UltraLIF(4), psp)
    a, d = np.exp(-1.0 / tau_syn), np.arange(60)
    if tau_psp is None:
        kernel = a**d
    else:
        b = np.exp(-1.0 / tau_psp)
        kernel = (b ** (d + 1) - a ** (d + 1)) / (b - a)
    h = x @ w
    ref = np.stack([[kernel[: t + 1][::-1] @ h[n, : t + 1] for t in range(60)] for n in range(2)])
    got = np.asarray(layer.potential(jnp.asarray(x)))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_ultrasnn_learns_yinyang_time_code():
    """Yin-Yang (Kriener et al. 2022) as single-spike times over 10 steps: the class is in
    the spike times, so the layer must integrate across steps. 500 training points, 16
    hidden, 10 epochs of Adam 1e-2. Measured on seed 0: 0.870 with the defaults (current
    integrated into the membrane input); 0.537 with session 9's defaults (the current
    alone: ``tau_psp=None, theta=1, w_scale=8``); 0.323, chance, for the formulation
    before issue 16 (``eps=1, rest=None, tau_syn=None, w_scale=1``). Bound 0.75: chance +
    15 sd of a binomial over the 300 test points, 6 sd (binomial at 0.87) below the
    measurement, and failed by both earlier formulations."""
    xtr, ytr = bs.datasets.yinyang(42, 500)
    xte, yte = bs.datasets.yinyang(40, 300)
    enc = lambda x: bs.datasets.spike_raster(x, 10)
    key = jax.random.key(0)
    model, _, _ = bs.train.fit(
        bs.train.UltraSNN(4, 16, 3, key=key),
        enc(xtr),
        ytr,
        loss_fn=bs.train.losses.ce_max_membrane,
        optimizer=optax.adam(1e-2),
        epochs=10,
        key=key,
        progress=False,
    )
    _, acc = bs.train.evaluate(model, bs.train.losses.ce_max_membrane, enc(xte), yte)
    assert acc >= 0.75, acc


def test_ultrasnn_learns_randman_timing():
    """Randman (Zenke & Vogels 2021): 5 classes told apart only by the relative timing of
    20 single spikes over 50 steps; 300 training samples, 32 hidden, 40 epochs of the
    default optimiser (5e-3, 20 warm-up steps, cosine decay). Measured on seed 0: 0.87
    with the defaults; 0.69 with session 9's (the current alone: ``tau_psp=None,
    theta=1, w_scale=8``); the LIF layer 0.78. Bound 0.75: chance (0.2) + 14 sd of a
    binomial over the 100 test samples, 3.6 sd (binomial at 0.87) below the measurement,
    and failed by session 9's formulation."""
    t, y = bs.datasets.randman(0, n_classes=5, n_units=20, n_samples=80)
    x, n = bs.datasets.spike_raster(t, 50), 300
    key = jax.random.key(0)
    model, _, _ = bs.train.fit(
        bs.train.UltraSNN(20, 32, 5, key=key),
        x[:n],
        y[:n],
        loss_fn=bs.train.losses.ce_max_membrane,
        optimizer=bs.train.default_optimizer(5e-3, warmup_steps=20, decay_steps=200),
        epochs=40,
        key=key,
        progress=False,
    )
    _, acc = bs.train.evaluate(model, bs.train.losses.ce_max_membrane, x[n:], y[n:])
    assert acc >= 0.75, acc
