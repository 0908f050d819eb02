"""Recording a projection's synaptic state with its postsynaptic population
(``bs.synaptic``), against the analytic conductance of a known spike train."""

import jax
import numpy as np
import pytest

import brainsim as bs

DT = 0.1
DELAY = 0.5  # ms: a spike at s arrives at s + DELAY


def _inputs(seed=0, n_pre=6, rate=80.0, duration=60.0):
    """Poisson spike trains on the grid (times, indices) and random weights (n_pre, 3)."""
    rng = np.random.default_rng(seed)
    steps = np.nonzero(rng.random((int(duration / DT), n_pre)) < rate * DT * 1e-3)
    times, idx = np.round(steps[0] * DT, 9), steps[1]
    return times, idx, rng.uniform(0.5, 2.0, (n_pre, 3))


def _network(times, idx, w, kinetics):
    src = bs.neurons.SpikeTimes(w.shape[0], times, idx)
    post = bs.neurons.LIF(w.shape[1])
    proj = bs.Projection(
        "s",
        "p",
        bs.conn.FromDense(w),
        weight=None,
        synapse=kinetics,
        output=bs.synapses.Conductance(0.0),
        delay=DELAY,
    )
    return bs.Network({"s": src, "p": post}, [proj], key=jax.random.key(0))


def _analytic(times, idx, w, t, response):
    """``g (len(t), n_post)``: the sum of ``w * response(T - a)`` over arrivals a < T."""
    x = t[:, None] - (times + DELAY)[None, :]  # (samples, spikes)
    r = np.where(x > 1e-9, response(np.clip(x, 0, None)), 0.0)
    return r @ w[idx]


@pytest.mark.parametrize(
    "kinetics, response",
    [
        (bs.synapses.Exponential(2.0), lambda x: np.exp(-x / 2.0)),
        (bs.synapses.Alpha(1.5), lambda x: x / 1.5 * np.exp(1 - x / 1.5)),
    ],
)
def test_synaptic_variable_is_the_analytic_conductance(kinetics, response):
    times, idx, w = _inputs()
    net = _network(times, idx, w, kinetics)
    state = net.init(jax.random.key(1), dt=DT)
    var = bs.synaptic(0, "g")
    _, rec = bs.simulate(net, state, 60.0, DT, record={"p": ["v", var]})
    ref = _analytic(times, idx, w, rec["p"]["t"], response)
    assert ref.max() > 3.0  # overlapping responses
    # float32 state: each step rounds to ~1e-7 relative; 600 steps of exact decay
    np.testing.assert_allclose(rec["p"][var], ref, atol=1e-4 * ref.max())


def test_synaptic_recording_every_indices_and_simulate_core():
    times, idx, w = _inputs(seed=1)
    net = _network(times, idx, w, bs.synapses.Exponential(3.0))
    state = net.init(jax.random.key(1), dt=DT)
    var = bs.synaptic(0)
    spec = bs.Record([var], indices=[2, 0], every=5)
    _, rec = bs.simulate(net, state, 50.0, DT, record={"p": spec})
    _, core = bs.simulate_core(net, state, 50.0, DT, record={"p": spec})
    ref = _analytic(times, idx, w, rec["p"]["t"], lambda x: np.exp(-x / 3.0))[:, [2, 0]]
    np.testing.assert_allclose(rec["p"][var], ref, atol=1e-4 * ref.max())
    # simulate steps the LIF fused with its synapses (native kernel where built),
    # simulate_core in JAX: the same values to float32 rounding
    np.testing.assert_allclose(np.asarray(core["p"][var]), rec["p"][var], rtol=1e-6, atol=1e-6)


def test_synaptic_variable_must_name_a_projection_onto_the_population():
    times, idx, w = _inputs()
    net = _network(times, idx, w, bs.synapses.Exponential(2.0))
    state = net.init(jax.random.key(1), dt=DT)
    for bad in ("synapses[1].g", "synapses[0].h"):
        with pytest.raises(ValueError, match=r"no synaptic variable .*synapses\[0\]\.g"):
            bs.simulate(net, state, 1.0, DT, record={"p": [bad]})
    with pytest.raises(ValueError, match="no synaptic variable"):
        bs.simulate(net, state, 1.0, DT, record={"s": ["synapses[0].g"]})
