"""Differentiable biophysics: gradient descent through a whole event-driven simulation of
a conductance-based E/I network (``bs.Network.step`` in ``lax.scan``) fits the
excitatory weight so the E population reaches a target rate.

Two routes:

- **smooth relaxation** (verified): spikes are the logistic
  $s = \\sigma((V - V_{th})/\\varepsilon)$ (``bs.spikes.UltraSpike``, soft forward pass),
  the reset $V \\leftarrow V + (V_{reset} - V)\\,s$ is smooth and there is no refractory
  period, so the E rate $r(w) = \\frac{1}{T N_E}\\sum_{t,i} s_{it}/\\Delta t$ is a smooth
  function of the weight. Its autodiff gradient is compared with central finite
  differences in float64, and plain gradient descent (no Adam, no clipping) fits $w_E$.
  $\\varepsilon = 1$ mV: each threshold crossing multiplies the BPTT product by up to
  $1 + |V_{reset} - V_{th}|/(4\\varepsilon) = 3.5$, which the network's contraction
  absorbs; at $\\varepsilon = 0.1$ mV (nearly hard spikes) the gradient explodes
  (measured $-7.6\\cdot10^{103}$ Hz/nS against a finite difference of $-6\\cdot10^4$ over
  200 ms), while at 1 mV it matches finite differences to $10^{-8}$ even over 1 s.
- **surrogate gradient** with hard spikes: the rate is piecewise constant in $w$ (finite
  differences are 0 or jumps: $-69$ Hz/nS at $h = 10^{-2}$, $+375$ at $10^{-3}$), so the
  surrogate gradient (16 Hz/nS here) is not the derivative of anything that can be
  checked; Adam still steers the hard network to the target rate.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import brainsim as bs
from brainsim.models._ei import ei_network

DT, STEPS = 0.5, 400  # 200 ms


def _coba(spike, t_ref: float, steps: int):
    """``rate_e(w_e)`` (Hz) of an 80 E / 20 I conductance-based LIF network (in-degree 20,
    E/I weights w_e/6.7 nS, 220 pA drive) simulated for ``steps`` steps of ``DT`` ms."""

    def neuron(n):
        return bs.neurons.LIF(
            n,
            tau_m=20.0,
            v_rest=-60.0,
            v_th=-50.0,
            v_reset=-60.0,
            t_ref=t_ref,
            v_init=bs.initializers.Uniform(-60.0, -50.0),
            spike=spike,
        )

    exc = dict(
        weight=1.0, synapse=bs.synapses.Exponential(5.0), output=bs.synapses.Conductance(0.0)
    )
    inh = dict(
        weight=6.7, synapse=bs.synapses.Exponential(10.0), output=bs.synapses.Conductance(-80.0)
    )
    net0 = ei_network(100, key=jax.random.key(0), neuron=neuron, exc=exc, inh=inh, in_degree=20)
    state0 = net0.init(jax.random.key(1), dt=DT)

    def rate_e(w_e):
        net = eqx.tree_at(
            lambda n: [p.weight for p in n.projections if p.pre == "E"], net0, [w_e, w_e]
        )
        drive = jnp.asarray(220.0, w_e.dtype)
        # the initial voltages are drawn in float32: carry the state in w's precision
        floating = lambda a: jnp.issubdtype(a.dtype, jnp.floating)
        state = jax.tree.map(lambda a: a.astype(w_e.dtype) if floating(a) else a, state0)

        def body(s, t):
            s, spk = net.step(s, {"E": drive, "I": drive}, t=t, dt=DT)
            return s, jnp.mean(spk["E"])

        _, r = jax.lax.scan(body, state, jnp.arange(steps) * DT)
        return jnp.mean(r) / (DT * 1e-3)  # Hz

    return rate_e


SMOOTH_STEPS = 200  # 100 ms: a few seconds in float64


@functools.cache
def _smooth():
    """The smooth relaxation (float64; build and call under ``jax.enable_x64``)."""
    rate = _coba(bs.spikes.UltraSpike(1.0), 0.0, SMOOTH_STEPS)
    return jax.jit(rate), jax.jit(jax.value_and_grad(rate))


def test_smooth_coba_gradient_matches_finite_differences(x64):
    rate, rate_and_grad = _smooth()
    h = 1e-5
    for w in (0.8, 1.5):
        w = jnp.float64(w)
        r, g = rate_and_grad(w)
        fd = (rate(w + h) - rate(w - h)) / (2 * h)
        # Central differences err by h^2 |r'''|/6 + ~1e-16 |r| / h (~1e-9 Hz/nS): measured
        # relative differences 1e-10 (w = 0.8, dr/dw = 50.7 Hz/nS) and 7e-8 (w = 1.5, where
        # the network turns to a high-rate state and dr/dw = 295 Hz/nS; h = 1e-4 gives
        # 7e-6 there: truncation). 1e-6 leaves >10x.
        assert r.dtype == jnp.float64 and 10.0 < float(r) < 200.0
        assert abs(float(g) - float(fd)) <= 1e-6 * abs(float(fd)), (float(g), float(fd))
        assert float(g) > 1.0  # more excitation, higher E rate (tens of Hz per nS)


def test_smooth_coba_fits_target_rate_by_gradient_descent(x64):
    rate, _ = _smooth()
    w_true = 1.2  # 79 Hz; the start, 0.8 nS, gives 57 Hz
    target = float(rate(jnp.float64(w_true)))  # reachable by construction

    def loss(w):
        return ((rate(w) - target) / target) ** 2

    vg = jax.jit(jax.value_and_grad(loss))
    w, lr = jnp.float64(0.8), 0.5
    l0, g0 = vg(w)
    assert float(g0) < 0  # below the target: the gradient says raise the weight
    for _ in range(30):
        _, g = vg(w)
        w = w - lr * g  # plain gradient descent on the verified gradient
    final = float(rate(w))
    # r(w) is smooth and monotone on [0.8, 1.2] nS (dr/dw = 49-64 Hz/nS, so the loss
    # curvature 2 (r'/r*)^2 is 0.75-1.3 and each step of 0.5 shrinks the error by a
    # factor 0.35-0.65): 30 steps reach |r - r*|/r* < 1e-4 and |w - 1.2| < 1e-3 (measured:
    # loss 0.075 -> 6e-6 in 5 steps, 1e-10 in 10; final w = 1.2 - 1e-14, rate error 1e-14).
    # A failure means a wrong or exploding gradient.
    assert float(l0) > 0.01
    assert abs(final - target) / target < 1e-4, (final, target)
    assert abs(float(w) - w_true) < 1e-3, float(w)


def test_surrogate_fit_excitatory_weight_to_target_rate():
    rate_e = _coba(bs.spikes.Heaviside(bs.spikes.Sigmoid(0.03)), 2.0, STEPS)
    target = float(jax.jit(rate_e)(jnp.float32(1.5)))  # reachable by construction
    loss = lambda w: ((rate_e(w) - target) / target) ** 2
    vg = jax.jit(jax.value_and_grad(loss))
    opt = optax.adam(optax.cosine_decay_schedule(0.05, 60))
    w = jnp.float32(0.8)
    state = opt.init(w)
    l0, g0 = vg(w)
    assert np.isfinite(float(g0)) and g0 < 0  # more excitation -> higher rate
    best = float(l0)
    for _ in range(60):
        loss_w, g = vg(w)
        best = min(best, float(loss_w))
        updates, state = opt.update(g, state)
        w = optax.apply_updates(w, updates)
    # Start ~36 % below the target; the rate of one 200-ms trial of 80 E neurons is a
    # chaotic, piecewise-constant function of w (jumps of a few Hz; measured: 51.8 Hz at
    # w = 1.5 nS, 60.4 Hz at 1.5006), so the last iterate's rate is a chaotic sample:
    # the fit must have reached the target within 10 % at some iterate (measured 4 %).
    # The weight itself is not identifiable (r(w) is not monotonic over 1.3-1.9 nS for
    # this trial), so only the rate is compared.
    assert float(l0) > 0.25**2
    assert best**0.5 < 0.10, best**0.5
