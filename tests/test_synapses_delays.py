import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

DT = 0.1


def _probe(projections, sources, n_post=1, steps=120):
    """Step a network of spike sources onto silent LIF neurons by hand; return the
    synaptic variable of every projection per step, ``(steps, n_proj, n_post)``, and the
    membrane potential ``(steps, n_post)``."""
    target = bs.neurons.LIF(n_post, tau_m=20.0, c_m=200.0, v_rest=-70.0, v_th=1e3)
    net = bs.Network({**sources, "post": target}, projections, key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=DT)

    def body(state, i):
        state, _ = net.step(state, None, t=i * DT, dt=DT)
        return state, (jnp.stack([s.g for s in state.synapses]), state.populations["post"].v)

    _, (g, v) = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)
    return np.asarray(g), np.asarray(v)


def test_exponential_kernel_and_psp():
    """One spike at t_s through Exponential(tau_s) with current output: the synaptic
    current is w exp(-(t - t_s - dt)/tau_s) from the arrival step t_s + dt (minimum delay)
    on, 0 before (exact up to float32 rounding of the decay, 1e-5). The membrane follows
    the analytic PSP of an exponential current into a LIF:
        V - E_L = w tau_s tau_m / (C (tau_m - tau_s)) (e^{-u/tau_m} - e^{-u/tau_s}),
    u = t - t_arrival. Exponential Euler holds the current constant over each step, a lag
    of at most one step, so the error is bounded by dt * max|dV/dt|."""
    w, tau_s, tau_m, c = 100.0, 5.0, 20.0, 200.0
    src = bs.neurons.SpikeTimes(1, times=[1.0], indices=[0])
    proj = bs.Projection(
        "src",
        "post",
        bs.conn.AllToAll(),
        weight=w,
        synapse=bs.synapses.Exponential(tau_s),
        output=bs.synapses.Current(),
    )
    g, v = _probe([proj], {"src": src}, steps=400)
    t = np.arange(400) * DT  # step i integrates [t_i, t_i + dt]
    arrival = 1.0 + DT
    u = t - arrival
    expect_g = np.where(u >= -1e-9, w * np.exp(-np.maximum(u, 0) / tau_s), 0.0)
    np.testing.assert_allclose(g[:, 0, 0], expect_g, rtol=1e-5, atol=1e-6)
    u_end = t + DT - arrival  # V is recorded at the end of each step
    psp = (
        w
        * tau_s
        * tau_m
        / (c * (tau_m - tau_s))
        * (np.exp(-u_end / tau_m) - np.exp(-u_end / tau_s))
    )
    expect_v = -70.0 + np.where(u_end > 0, psp, 0.0)
    max_slope = w / c  # |dV/dt| <= I_max / C
    assert np.max(np.abs(v[:, 0] - expect_v)) <= DT * max_slope


@pytest.mark.parametrize("delay", [None, 0.1, 0.5, 2.3])
def test_delay_arrival_step(delay):
    """A spike emitted in step k arrives in step k + delay/dt (minimum one step), as in
    NEST; Delta kinetics make the arrival step visible as the only nonzero g."""
    src = bs.neurons.SpikeTimes(1, times=[0.5], indices=[0])  # emitted in step 5
    proj = bs.Projection(
        "src",
        "post",
        bs.conn.OneToOne(),
        weight=1.0,
        synapse=bs.synapses.Delta(),
        output=bs.synapses.VoltageJump(),
        delay=delay,
    )
    g, v = _probe([proj], {"src": src}, steps=60)
    d = 1 if delay is None else round(delay / DT)
    assert np.nonzero(g[:, 0, 0])[0].tolist() == [5 + d]
    # The voltage jump of 1 mV shows in the same step.
    assert v[5 + d, 0] - v[4 + d, 0] == pytest.approx(1.0, abs=1e-4)


def test_delay_matches_dense_reference():
    """Random spikes through a delayed FixedProb projection equal the dense product of the
    spikes emitted delay/dt steps earlier (NumPy reference)."""
    n_pre, n_post, d = 30, 20, 4
    rng = np.random.default_rng(0)
    times, idx = np.nonzero(rng.random((50, n_pre)) < 0.1)
    src = bs.neurons.SpikeTimes(n_pre, times=times * DT, indices=idx)
    proj = bs.Projection(
        "src",
        "post",
        bs.conn.FixedProb(0.3),
        weight=1.0,
        synapse=bs.synapses.Delta(),
        output=bs.synapses.Current(),
        delay=d * DT,
    )
    g, _ = _probe([proj], {"src": src}, n_post=n_post, steps=60)
    net = bs.Network({"src": src, "post": bs.neurons.LIF(n_post)}, [proj], key=jax.random.key(0))
    w = np.asarray(bs.ops.to_dense(net.projections[0].conn, 1.0))
    raster = np.zeros((60, n_pre))
    raster[times, idx] = 1.0
    expect = np.zeros((60, n_post))
    expect[d:] = raster[:-d] @ w
    np.testing.assert_allclose(g[:, 0], expect, atol=1e-5)


@pytest.mark.parametrize("delay, match", [(0.25, "multiple of dt"), (0.0, "delay must be >=")])
def test_bad_delay_raises(delay, match):
    proj = bs.Projection("a", "a", bs.conn.OneToOne(), delay=delay)
    net = bs.Network({"a": bs.neurons.LIF(3)}, [proj])
    with pytest.raises(ValueError, match=match):
        net.init(jax.random.key(0), dt=0.1)


def test_bad_synapse_raises():
    with pytest.raises(ValueError, match="Exponential.tau"):
        bs.synapses.Exponential(-5.0)
