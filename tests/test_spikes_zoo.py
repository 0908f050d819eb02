"""Surrogate zoo and ultradiscretized spikes (Miñoza 2026, arXiv 2602.11206)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.special import erf as sp_erf

import brainsim as bs

X = jnp.linspace(-2.0, 2.0, 401)


def _n(x, mu, s):
    return np.exp(-0.5 * ((x - mu) / s) ** 2) / (s * np.sqrt(2 * np.pi))


# (surrogate, documented pseudo-derivative written independently, primitive or None)
CASES = [
    (bs.spikes.Triangle(2.0), lambda x: 2.0 * np.clip(1 - 2.0 * np.abs(x), 0, None), None),
    (
        bs.spikes.Gaussian(0.3),
        lambda x: _n(x, 0, 0.3),
        lambda x: 0.5 * (1 + sp_erf(x / (0.3 * np.sqrt(2)))),
    ),
    (
        bs.spikes.MultiGaussian(0.5, 0.15, 6.0),
        lambda x: 1.15 * _n(x, 0, 0.5) - 0.15 * _n(x, 3.0, 3.0) - 0.15 * _n(x, -3.0, 3.0),
        None,
    ),
    (bs.spikes.StraightThrough(0.7), lambda x: np.full_like(x, 0.7), lambda x: 0.7 * x),
    (
        bs.spikes.Exponential(4.0),
        lambda x: 2.0 * np.exp(-4.0 * np.abs(x)),
        lambda x: np.where(x < 0, 0.5 * np.exp(4.0 * x), 1 - 0.5 * np.exp(-4.0 * x)),
    ),
    (
        bs.spikes.Erf(3.0),
        lambda x: 3.0 / np.sqrt(np.pi) * np.exp(-9.0 * x**2),
        lambda x: 0.5 * (1 + sp_erf(3.0 * x)),
    ),
    (bs.spikes.SLAYER(0.8, 5.0), lambda x: 0.8 * np.exp(-5.0 * np.abs(x)), None),
]


@pytest.mark.parametrize("surrogate, formula, primitive", CASES, ids=lambda c: type(c).__name__)
def test_surrogate_forward_heaviside_backward_formula(surrogate, formula, primitive):
    spike = bs.spikes.Heaviside(surrogate)
    np.testing.assert_array_equal(spike(X), (np.asarray(X) > 0).astype(np.float32))
    grad = jax.vmap(jax.grad(spike))(X)
    x = np.asarray(X, np.float64)
    # float32 evaluation of O(1) expressions: 1e-5 relative, 1e-6 absolute.
    np.testing.assert_allclose(grad, formula(x), rtol=1e-5, atol=1e-6)
    if primitive is not None:
        # Central differences (h = 1e-6, float64) of a smooth primitive: truncation error
        # far below 1e-4; skip the |x| kink at 0.
        h = 1e-6
        fd = (primitive(x + h) - primitive(x - h)) / (2 * h)
        away = np.abs(x) > 1e-3
        np.testing.assert_allclose(np.asarray(grad)[away], fd[away], rtol=1e-4, atol=1e-5)


def test_multigaussian_integrates_to_one():
    """Analytic area: centre 1 + h, each side lobe -h, total 1 - h (trapezoid, wide grid)."""
    x = np.linspace(-60, 60, 200001)
    g = np.asarray(bs.spikes.MultiGaussian().grad(jnp.asarray(x, jnp.float32)))
    assert abs(np.trapezoid(g, x) - (1.0 - 0.15)) < 1e-4


@pytest.mark.parametrize("cls", [bs.spikes.Triangle, bs.spikes.Gaussian, bs.spikes.Erf])
def test_bad_hyperparameter_raises(cls):
    with pytest.raises(ValueError, match=cls.__name__):
        cls(-1.0)


# --- ultradiscretized spikes -------------------------------------------------------------


def _run(model, inputs, v0):
    def body(state, i):
        state, s = model.step(state, i, t=0.0, dt=1.0)
        return state, state.v

    return jax.lax.scan(body, bs.spikes.UltraLIFState(v0, jnp.zeros_like(v0)), inputs)[1]


@pytest.mark.parametrize("eps", [1.0, 0.1, 0.01, 0.001])
def test_ultralif_converges_to_maxplus(x64, eps):
    """|V_eps(t) - V_maxplus(t)| <= t eps log 2 (REFERENCES §3); threshold far away so no
    spike (the bound is for the reset-free recursion). Max-plus reference in NumPy."""
    T, n = 50, 64
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-3.0, 3.0, (T, n))
    v0 = rng.uniform(-1.0, 1.0, n)
    spike = bs.spikes.UltraSpike(eps, eps_min=1e-4)
    model = bs.spikes.UltraLIF(n, tau_m=4.0, theta=1e6, spike=spike)
    v = np.asarray(_run(model, jnp.asarray(inputs), jnp.asarray(v0)))
    ref, vm = np.empty((T, n)), v0.copy()
    for t in range(T):
        vm = np.maximum(vm + np.log(1 - 1.0 / 4.0), inputs[t])
        ref[t] = vm
    err = np.abs(v - ref).max(axis=1)
    bound = np.arange(1, T + 1) * eps * np.log(2)
    assert np.all(err <= bound * (1 + 1e-9) + 1e-12)
    # and LSE >= max, so the error is one-sided and nonzero at finite eps (not trivial)
    assert np.all(v >= ref - 1e-12) and err[-1] > 0


def test_ultradlif_converges_to_maxplus(x64):
    T, n, eps = 30, 16, 0.01
    rng = np.random.default_rng(1)
    inputs = rng.uniform(-1.0, 0.0, (T, n))
    v0 = rng.uniform(-1.0, 1.0, n)
    model = bs.spikes.UltraDLIF(n, theta=1e6, spike=bs.spikes.UltraSpike(eps, eps_min=1e-4))
    v = np.asarray(_run(model, jnp.asarray(inputs), jnp.asarray(v0)))
    vm, err = v0.copy(), []
    for t in range(T):
        pad = np.concatenate([[-np.inf], vm, [-np.inf]])
        vm = np.maximum(np.maximum(pad[:-2], pad[1:-1]), pad[2:]) + inputs[t]
        err.append(np.abs(v[t] - vm).max())
    assert np.all(np.array(err) <= np.arange(1, T + 1) * eps * np.log(3) + 1e-12)


def test_ultralif_spike_reset_and_hard_switch():
    """Far above threshold s = sigma(big) = 1 exactly in float32, V resets; hard spikes are
    exactly 0/1 with the logistic gradient."""
    spike = bs.spikes.UltraSpike(0.5)
    model = bs.spikes.UltraLIF(3, theta=1.0, v_reset=-2.0, spike=spike)
    i = np.array([50.0, -50.0, 1.2])
    state, s = model.step(model.init(), jnp.asarray(i, jnp.float32), t=0.0, dt=1.0)
    # independent: V~ = 0.5 log(exp((-2 + log(1 - 1/20))/0.5) + exp(I/0.5))
    vt = 0.5 * np.logaddexp((-2 + np.log(1 - 1 / 20)) / 0.5, i / 0.5)
    s_ref = 1 / (1 + np.exp(-(vt - 1.0) / 0.5))
    np.testing.assert_allclose(s, s_ref, rtol=1e-5)
    np.testing.assert_allclose(state.v, vt * (1 - s_ref) - 2.0 * s_ref, rtol=1e-5, atol=1e-5)
    assert s[0] == 1.0 and state.v[0] == -2.0  # sigma(98) is 1 in float32: full reset
    hard = spike.with_hard()
    np.testing.assert_array_equal(hard(jnp.array([-0.1, 0.1])), [0.0, 1.0])
    x = 0.3
    g = jax.grad(hard)(x)
    sig = 1 / (1 + math.exp(-x / 0.5))
    np.testing.assert_allclose(g, sig * (1 - sig) / 0.5, rtol=1e-6)
    assert g <= 1 / (4 * 0.5)  # 0 < ds/dV <= 1/(4 eps)


def test_ultralif_gradients_finite_differences(x64):
    """Gradients w.r.t. inputs, eps, threshold and tau_m match finite differences."""
    T, n = 6, 4
    inputs = jax.random.normal(jax.random.key(0), (T, n)) + 0.8

    def loss(inp, eps, theta, tau_m):
        model = bs.spikes.UltraLIF(
            n, tau_m=tau_m, theta=theta, v_reset=-0.5, spike=bs.spikes.UltraSpike(eps)
        )

        def body(state, i):
            return model.step(state, i, t=0.0, dt=1.0)

        _, s = jax.lax.scan(body, model.init(), inp)
        return jnp.sum(s * jnp.arange(1, T + 1)[:, None])

    args = (inputs, jnp.asarray(0.7), jnp.asarray(1.0), jnp.asarray(5.0))
    # order-2 FD in float64: default eps=1e-6 steps, tolerance 1e-4 relative
    check_grads(jax.jit(loss), args, order=1, modes=["rev"], atol=1e-4, rtol=1e-4)


def test_ultradlif_gradients_finite_differences(x64):
    inputs = jax.random.normal(jax.random.key(1), (5, 6))

    def loss(inp, eps):
        model = bs.spikes.UltraDLIF(6, theta=0.5, spike=bs.spikes.UltraSpike(eps))
        _, s = jax.lax.scan(lambda st, i: model.step(st, i), model.init(), inp)
        return jnp.sum(s**2)

    check_grads(
        jax.jit(loss), (inputs, jnp.asarray(1.3)), order=1, modes=["rev"], atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("eps", [0.0, -1.0])
def test_nonpositive_eps_raises(eps):
    with pytest.raises(ValueError, match="UltraSpike.eps must be > 0"):
        bs.spikes.UltraSpike(eps)


def test_eps_outside_range_raises():
    with pytest.raises(ValueError, match=r"\[0.1, 20\]"):
        bs.spikes.UltraSpike(0.05)
    with pytest.raises(ValueError, match="UltraDLIF.neighbours"):
        bs.spikes.UltraDLIF(4, neighbours=jnp.zeros((3, 3), jnp.int32))


def test_eps_clamped_in_dynamics_and_learnable():
    """A learnt eps pushed past the bound acts as the bound; eps is a gradient leaf."""
    sp = bs.spikes.UltraSpike(1.0)
    low = jax.tree.map(lambda e: e * 0 + 1e-3, sp)  # as an optimiser might leave it
    np.testing.assert_allclose(low.temperature, 0.1)
    g = jax.grad(lambda s: s(jnp.asarray(0.4)))(sp)
    assert float(g.eps) != 0.0
