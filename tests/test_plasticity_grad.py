"""Differentiable plasticity: gradients of a loss with respect to a rule's amplitudes
and time constants and the initial weights, through a simulation whose plastic
synapses drive LIF neurons, against central finite differences of the smooth
relaxation (logistic spikes ``UltraSpike`` in the forward pass), float64."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

P = bs.plasticity
FREE = P.Bounds(-math.inf, math.inf, dale=False)


def _simulation(spike, n_in=16, n=8, steps=60, dt=0.5):
    layout, _ = bs.conn.FixedProb(0.5).build(jax.random.key(0), n_in, n)
    # post_capacity = n: the smooth spikes (never exactly 0) take the compacted path
    idx = bs.ops.index(layout, pre_capacity=6, post_capacity=n)
    x = jax.random.bernoulli(jax.random.key(1), 0.08, (steps, n_in)).astype(jnp.float64)
    lif = bs.neurons.LIF(n, tau_m=10.0, c_m=100.0, v_th=-55.0, spike=spike)

    def run(rule, w0):
        state = rule.init(w0, n_in, n)
        v = lif.init(None)
        v = jax.tree.map(lambda a: a.astype(jnp.float64) if a.dtype == jnp.float32 else a, v)

        def body(carry, s_in):
            plastic, neurons = carry
            current = 400.0 * bs.ops.matvec(layout, plastic.w, s_in, idx.pre_capacity)
            neurons, s_out = lif.step(neurons, bs.neurons.Drive(current=current), t=0.0, dt=dt)
            plastic = rule.step(plastic, s_in, s_out, layout=idx, dt=dt)
            return (plastic, neurons), s_out

        (plastic, _), out = jax.lax.scan(body, (state, v), x)
        return jnp.sum(plastic.w**2) + 0.1 * jnp.sum(out * jnp.arange(steps)[:, None] / steps)

    return run, layout


@pytest.mark.parametrize("kind", ["pair", "triplet"])
def test_rule_gradients_match_finite_differences(kind, x64):
    run, layout = _simulation(bs.spikes.UltraSpike(eps=2.0))
    w0 = jax.random.uniform(jax.random.key(2), (layout.n_synapses,), jnp.float64, 0.2, 1.0)

    if kind == "pair":

        def f(a_plus, a_minus, tau_plus, tau_minus, w0):
            rule = P.PairSTDP(a_plus, a_minus, tau_plus, tau_minus, FREE)
            return run(rule, w0)

        args = (0.05, 0.06, 15.0, 25.0, w0)
    else:

        def f(a3_plus, a2_minus, tau_x, tau_y, w0):
            rule = P.TripletSTDP(0.01, a3_plus, a2_minus, 0.01, 16.8, 33.7, tau_x, tau_y, FREE)
            return run(rule, w0)

        args = (0.05, 0.04, 100.0, 120.0, w0)

    g = jax.jit(jax.grad(f, argnums=tuple(range(5))))(*args)
    fj = jax.jit(f)
    assert abs(float(g[0])) > 1.0  # the amplitude matters: the check can fail
    # Central differences, step 1e-5, float64. The loss is strongly curved in the
    # amplitudes (its FD error is O(eps^2): 1e-2 relative at eps = 1e-3, 1e-4 at 1e-4,
    # 1e-6 at 1e-5, measured), round-off ~1e-16 |f| / eps ~ 1e-9: rtol 1e-5.
    eps = 1e-5
    for k in range(4):
        up, down = list(args), list(args)
        up[k], down[k] = args[k] + eps, args[k] - eps
        fd = (fj(*up) - fj(*down)) / (2 * eps)
        np.testing.assert_allclose(g[k], fd, rtol=1e-5, atol=1e-7)
    d = jax.random.normal(jax.random.key(9), w0.shape)  # a random direction for w0
    fd = (fj(*args[:4], w0 + eps * d) - fj(*args[:4], w0 - eps * d)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g[4], d), fd, rtol=1e-5, atol=1e-7)


def test_surrogate_gradients_are_finite_with_hard_spikes(x64):
    """Heaviside forward pass with a surrogate gradient: the compacted event path runs
    on exact 0/1 spikes and still gives gradients for every parameter."""
    spike = bs.spikes.Heaviside(bs.spikes.FastSigmoid(5.0))
    run, layout = _simulation(spike)
    w0 = jnp.full(layout.n_synapses, 0.8)

    def f(a_plus, tau_plus, w0):
        return run(P.PairSTDP(a_plus, 0.06, tau_plus, 25.0, FREE), w0)

    g = jax.jit(jax.grad(f, argnums=(0, 1, 2)))(0.05, 15.0, w0)
    assert all(np.all(np.isfinite(a)) for a in g)
    assert float(jnp.abs(g[0])) > 0 and float(jnp.max(jnp.abs(g[2]))) > 0
