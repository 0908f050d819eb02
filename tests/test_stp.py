"""Tsodyks–Markram short-term plasticity: event-by-event recursion written here in
float64 and the closed-form steady state of a regular train (Tsodyks, Pawelzik &
Markram 1998; the formula is written out in the test, not taken from the model)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

DT = 0.1


def _amplitudes(stp, period, n_spikes):
    """Transmitted efficacy of each spike of a regular train through a network
    projection (OneToOne, Delta synapse): the arrival step's g."""
    times = np.arange(n_spikes) * period + 1.0
    src = bs.neurons.SpikeTimes(1, times=times, indices=np.zeros(n_spikes, int))
    post = bs.neurons.LIF(1, v_th=1e3)
    proj = bs.Projection(
        "src",
        "post",
        bs.conn.OneToOne(),
        weight=1.0,
        synapse=bs.synapses.Delta(),
        output=bs.synapses.VoltageJump(),
        stp=stp,
    )
    net = bs.Network({"src": src, "post": post}, [proj], key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=DT)
    steps = round((times[-1] + 2.0) / DT)

    def body(s, i):
        s, _ = net.step(s, None, t=i * DT, dt=DT)
        return s, s.synapses[0].g[0]

    g = np.asarray(jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)[1])
    arrivals = np.round(times / DT).astype(int) + 1
    assert np.count_nonzero(g) == n_spikes  # nothing outside the arrival steps
    return g[arrivals]


def _recursion(U, tau_f, tau_d, period, n):
    """Event-by-event TM model: u decays to 0, x recovers to 1 between spikes;
    at a spike u += U(1-u), release u x, x -= u x."""
    u, x, out = 0.0, 1.0, []
    for k in range(n):
        if k:
            u *= math.exp(-period / tau_f) if tau_f > 0 else 0.0
            x = 1 - (1 - x) * math.exp(-period / tau_d)
        u += U * (1 - u)
        out.append(u * x)
        x -= u * x
    return np.array(out)


def _steady(U, tau_f, tau_d, T):
    ef = math.exp(-T / tau_f) if tau_f > 0 else 0.0
    ed = math.exp(-T / tau_d)
    u = U / (1 - (1 - U) * ef)
    return u * (1 - ed) / (1 - (1 - u) * ed)


@pytest.mark.parametrize(
    "U, tau_f, tau_d",
    [(0.5, 0.0, 100.0), (0.1, 200.0, 50.0), (0.2, 500.0, 200.0)],
    ids=["depressing", "facilitating", "mixed"],
)
def test_tm_train_matches_recursion_and_steady_state(U, tau_f, tau_d):
    """A 50 Hz train of 120 spikes. Every amplitude equals the float64 event recursion
    (float32 per-step decays accumulate ~200 roundings between spikes: 1e-5 relative),
    and the last equals the closed-form steady state: the distance to it contracts by
    (1-U)e^{-T/τf} <= 0.9·0.96 per spike, < 1e-2^... i.e. < 1e-6 after 120 spikes, so
    the float32 tolerance 1e-4 is what remains."""
    period, n = 20.0, 120
    amp = _amplitudes(bs.synapses.TsodyksMarkram(U, tau_f, tau_d), period, n)
    np.testing.assert_allclose(amp, _recursion(U, tau_f, tau_d, period, n), rtol=1e-4)
    steady = _steady(U, tau_f, tau_d, period)
    assert abs(amp[-1] - steady) < 1e-4 * steady
    assert abs(amp[0] - U) < 1e-6  # first spike: efficacy U


def test_tm_in_event_path_scales_weights(getkey):
    """Through a sparse FixedProb projection the STP-scaled spikes are real-valued
    events: the postsynaptic input equals W^T (s u x) computed from the dense matrix."""
    n_pre, n_post = 30, 20
    src = bs.neurons.SpikeTimes(
        n_pre, times=[1.0] * n_pre + [3.0] * 10, indices=[*range(n_pre), *range(10)]
    )
    post = bs.neurons.LIF(n_post, v_th=1e3)
    stp = bs.synapses.TsodyksMarkram(0.3, 0.0, 50.0)
    proj = bs.Projection(
        "src",
        "post",
        bs.conn.FixedProb(0.3),
        weight=1.0,
        synapse=bs.synapses.Delta(),
        output=bs.synapses.VoltageJump(),
        stp=stp,
    )
    net = bs.Network({"src": src, "post": post}, [proj], key=getkey())
    state = net.init(getkey(), dt=DT)
    gs = []
    for i in range(40):
        state, _ = net.step(state, None, t=i * DT, dt=DT)
        gs.append(np.asarray(state.synapses[0].g))
    w = np.asarray(bs.ops.to_dense(net.projections[0].conn, 1.0))
    first = np.ones(n_pre) * 0.3
    np.testing.assert_allclose(gs[11], first @ w, rtol=1e-5)
    x = 1 - (1 - 0.7) * math.exp(-2.0 / 50.0)
    second = np.zeros(n_pre)
    second[:10] = 0.3 * x
    np.testing.assert_allclose(gs[31], second @ w, rtol=1e-5)


@pytest.mark.parametrize(
    "kw, match",
    [({"U": 0.0}, "U"), ({"U": 1.5}, "U"), ({"tau_d": 0.0}, "tau_d"), ({"tau_f": -1.0}, "tau_f")],
)
def test_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        bs.synapses.TsodyksMarkram(**kw)
