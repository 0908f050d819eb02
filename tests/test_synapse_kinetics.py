"""Synaptic kinetics against their analytic single-spike responses and, for the
receptor models, against SciPy's solve_ivp of the published ODEs (float64, tight
tolerances), so the references share no code with brainsim."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp

import brainsim as bs

DT = 0.1


def _run(kinetics, events, dt=DT, value=None):
    """Drive ``kinetics`` with ``events (steps, n)``; return per step ``(steps, n)`` what
    ``step`` returns (the step's mean) or, with ``value``, ``value(state)``."""
    state = kinetics.init(None, events.shape[1:], dt=dt)

    def body(s, e):
        s, g = kinetics.step(s, e, t=0.0, dt=dt)
        return s, g if value is None else value(s)

    return np.asarray(jax.lax.scan(body, state, jnp.asarray(events, state_dtype(state)))[1])


def state_dtype(state):
    return jax.tree.leaves(state)[0].dtype


def _single(n_steps, w=1.0):
    ev = np.zeros((n_steps, 1))
    ev[0, 0] = w
    return ev


def _step_means(g, t, dt=DT):
    """Mean of the analytic response ``g`` over each step ``[t, t + dt]`` (SciPy quad)."""
    return np.array([quad(g, a, a + dt, epsabs=1e-13, epsrel=1e-12)[0] / dt for a in t])


def _dual_value(s):
    return s.decay - s.rise


def test_dual_exponential_analytic_and_peak():
    """g(n dt) = w A (e^{-t/τd} - e^{-t/τr}) after an arrival at step 0 (the state), and
    what ``step`` returns is its mean over each step (quad of the analytic curve). Exact
    decays, so the only error is float32 rounding (1e-5 of w). The normalisation is
    checked independently: on a fine grid (dt = 1 µs, float64 to avoid accumulating
    float32 rounding over 5000 steps) the maximum equals w to 1e-6 (the grid misses the
    true peak by < 1 µs, where the curve is flat to second order: error ~ g''·dt² ~
    1e-6·w)."""
    w, tr, td = 3.0, 1.0, 5.0
    t = np.arange(300) * DT
    t_pk = td * tr / (td - tr) * math.log(td / tr)
    a = 1 / (math.exp(-t_pk / td) - math.exp(-t_pk / tr))
    curve = lambda t: w * a * (np.exp(-t / td) - np.exp(-t / tr))
    kin = bs.synapses.DualExponential(tr, td)
    np.testing.assert_allclose(
        _run(kin, _single(300, w), value=_dual_value)[:, 0], curve(t), atol=1e-5 * w
    )
    np.testing.assert_allclose(
        _run(kin, _single(300, w))[:, 0], _step_means(curve, t), atol=1e-5 * w
    )
    with jax.enable_x64(True):
        fine = _run(kin, _single(5000, w), dt=0.001, value=_dual_value)
    assert abs(fine.max() - w) < 1e-6 * w


def test_alpha_analytic():
    """g(t) = w (t/τ) e^{1 - t/τ} (the state; peak w at τ), and its mean over each step
    (what ``step`` returns; quad of the analytic curve): exact recursion, float32
    rounding only."""
    w, tau = 2.0, 2.0
    t = np.arange(300) * DT
    curve = lambda t: w * t / tau * np.exp(1 - t / tau)
    kin = bs.synapses.Alpha(tau)
    g = _run(kin, _single(300, w), value=lambda s: s.g)[:, 0]
    np.testing.assert_allclose(g, curve(t), atol=1e-5 * w)
    assert abs(g[round(tau / DT)] - w) < 1e-5 * w
    np.testing.assert_allclose(
        _run(kin, _single(300, w))[:, 0], _step_means(curve, t), atol=1e-5 * w
    )


def test_exponential_analytic():
    """g(t) = w e^{-t/τ} (the state) and its mean over each step (what ``step`` returns;
    quad of the analytic curve), for τ per neuron; float32 rounding only."""
    w, tau = 2.0, np.array([0.3, 5.0])
    t = np.arange(200) * DT
    kin = bs.synapses.Exponential(jnp.asarray(tau))
    ev = np.zeros((200, 2))
    ev[0] = w
    g = _run(kin, ev, value=lambda s: s.g)
    means = _run(kin, ev)
    for j in range(2):
        curve = lambda t, j=j: w * np.exp(-t / tau[j])
        np.testing.assert_allclose(g[:, j], curve(t), atol=1e-5 * w)
        np.testing.assert_allclose(means[:, j], _step_means(curve, t), atol=1e-5 * w)


def _two_state_ivp(alpha, beta, t_max, t_pulse, onsets, t_end):
    """r(t) of the Destexhe two-state ODE with a boxcar transmitter, solve_ivp, float64,
    integrated piecewise so the pulse edges are honoured exactly."""
    edges = sorted({0.0, t_end, *onsets, *(o + t_pulse for o in onsets)})
    r, ts = 0.0, []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        on = any(o <= a < o + t_pulse - 1e-12 for o in onsets)
        T = t_max if on else 0.0
        sol = solve_ivp(
            lambda t, y, T=T: alpha * T * (1 - y) - beta * y,
            (a, b),
            [r],
            rtol=1e-11,
            atol=1e-13,
            dense_output=True,
        )
        r = sol.y[0, -1]
        ts.append((a, b, sol.sol))
    return lambda t: np.array(
        [next(f(x)[0] for a, b, f in ts if a <= x <= b) for x in np.atleast_1d(t)]
    )


@pytest.mark.parametrize(
    "factory, alpha, beta",
    [
        (bs.synapses.AMPA, 1.1, 0.19),
        (bs.synapses.GABAA, 5.0, 0.18),
        (bs.synapses.NMDA, 0.072, 0.0066),
    ],
)
def test_two_state_receptor_vs_ode(factory, alpha, beta):
    """Single release of weight w: g = w r(t) with r from the published two-state ODE
    (Destexhe et al. 1994 rates; 1 mM, 1 ms pulse) solved by solve_ivp. Then two
    releases through two different synapses 0.5 ms apart (overlapping pulses): the
    superposition w1 r(t) + w2 r(t - 0.5). The model is exact per step, so the
    tolerance is float32 rounding: 1e-5 of the peak."""
    n = 400
    t = np.arange(n) * DT
    w = 4.0
    g = _run(factory(), _single(n, w))[:, 0]
    r = _two_state_ivp(alpha, beta, 1.0, 1.0, [0.0], t[-1])
    np.testing.assert_allclose(g, w * r(t), atol=1e-5 * w)
    ev = _single(n, 1.0)
    ev[5, 0] = 2.0
    g2 = _run(factory(), ev)[:, 0]
    r2 = _two_state_ivp(alpha, beta, 1.0, 1.0, [0.5], t[-1])
    np.testing.assert_allclose(g2, r(t) + 2.0 * r2(t), atol=1e-5 * 3)


def test_gaba_b_burst_vs_ode():
    """A burst of 4 releases at 100 Hz through GABA_B: r, s of the Destexhe cascade by
    solve_ivp (float64, boxcar transmitter 0.5 mM x 0.3 ms per release) and
    g = s^4/(s^4 + Kd). The model integrates r and s exactly for a constant transmitter
    per step, so only float32 rounding remains (relative 1e-4 of the peak, since g is
    a 4th power of s)."""
    k1, k2, k3, k4, kd = 0.09, 0.0012, 0.18, 0.034, 100.0
    n, w = 3000, 20.0  # a large release so that g is far from 0
    onsets = [0.0, 10.0, 20.0, 30.0]
    ev = np.zeros((n, 1))
    for o in onsets:
        ev[round(o / DT), 0] = w
    g = _run(bs.synapses.GABAB(), ev)[:, 0]

    def rhs(t, y):
        on = any(o <= t < o + 0.3 for o in onsets)
        T = 0.5 * w if on else 0.0
        return [k1 * T * (1 - y[0]) - k2 * y[0], k3 * y[0] - k4 * y[1]]

    t = np.arange(n) * DT
    edges = sorted({0.0, t[-1], *onsets, *(o + 0.3 for o in onsets)})
    y, s_ref = [0.0, 0.0], np.zeros(n)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        sol = solve_ivp(rhs, (a, b), y, rtol=1e-11, atol=1e-13, dense_output=True, max_step=0.05)
        y = sol.y[:, -1]
        sel = (t >= a) & (t <= b)
        s_ref[sel] = sol.sol(t[sel])[1]
    g_ref = s_ref**4 / (s_ref**4 + kd)
    assert g_ref.max() > 0.05  # the burst activates the receptor substantially
    np.testing.assert_allclose(g, g_ref, atol=1e-4 * g_ref.max())


def test_mg_block_values():
    """B(V) = 1/(1 + [Mg]/3.57 e^{-0.062 V}) (Jahr & Stevens 1990), hand-evaluated:
    at -60 mV, 1 mM: 1/(1 + e^{3.72}/3.57) = 0.07963; at 0 mV: 1/(1 + 1/3.57) = 0.78118."""
    out = bs.synapses.MgBlock(e_rev=0.0, mg=1.0)
    d = out(jnp.array([2.0, 2.0]), jnp.array([-60.0, 0.0]))
    np.testing.assert_allclose(d.conductance, [2 * 0.079630, 2 * 0.781182], rtol=1e-4)
    np.testing.assert_allclose(d.reversal, 0.0)
    d0 = bs.synapses.MgBlock(e_rev=0.0, mg=0.0)(jnp.array([2.0]), jnp.array([-60.0]))
    np.testing.assert_allclose(d0.conductance, [2.0])


def test_nmda_in_network_is_scaled_by_the_block():
    """Wiring of the Mg block in a network: the same NMDA input with ``MgBlock`` and with
    a plain ``Conductance`` (same reversal). The PSP is tiny (V stays within 0.05 mV of
    -70 mV, where B changes by < 0.2 %), so the depolarisations differ by the factor
    B(-70 mV) = 1/(1 + e^{4.34}/3.57) = 0.04447, to 1 % (float64: the PSP is too small
    for float32 V)."""

    def depolarisation(output):
        src = bs.neurons.SpikeTimes(1, times=[0.0], indices=[0])
        post = bs.neurons.LIF(1, tau_m=20.0, c_m=200.0, v_rest=-70.0, v_th=1e3)
        proj = bs.Projection(
            "src",
            "post",
            bs.conn.AllToAll(),
            weight=0.05,
            synapse=bs.synapses.NMDA(),
            output=output,
        )
        net = bs.Network({"src": src, "post": post}, [proj], key=jax.random.key(0))
        state = net.init(jax.random.key(1), dt=DT)
        for i in range(100):
            state, _ = net.step(state, None, t=i * DT, dt=DT)
        return float(state.populations["post"].v[0]) + 70.0

    with jax.enable_x64(True):
        blocked = depolarisation(bs.synapses.MgBlock(0.0, mg=1.0))
        free = depolarisation(bs.synapses.Conductance(0.0))
    assert 0 < free < 0.05
    np.testing.assert_allclose(blocked / free, 1 / (1 + np.exp(4.34) / 3.57), rtol=1e-2)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: bs.synapses.DualExponential(5.0, 1.0), "tau_rise"),
        (lambda: bs.synapses.DualExponential(-1.0, 1.0), "tau_rise"),
        (lambda: bs.synapses.Alpha(0.0), "Alpha.tau"),
        (lambda: bs.synapses.TwoStateReceptor(-1.0, 0.1), "alpha"),
        (lambda: bs.synapses.GABAB(k4=0.0), "k4"),
        (lambda: bs.synapses.MgBlock(mg=-1.0), "mg"),
        (lambda: bs.synapses.AMPA(t_pulse=0.15).init(None, (2,), dt=0.1), "t_pulse"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()
