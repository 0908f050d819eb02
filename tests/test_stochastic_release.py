"""``bs.StochasticRelease``: each synapse transmits each spike with probability p,
against the binomial distribution of the releases; deterministic per seed."""

import jax
import numpy as np
import pytest

import brainsim as bs

DT, TAU, N_SPIKES = 0.1, 0.5, 1000
P = np.array([0.0, 0.3, 0.7, 1.0])


def _releases(seed: int, p=P):
    """``(N_SPIKES, 4)`` booleans: whether each synapse transmitted each spike."""
    times = np.arange(N_SPIKES) * 2.0  # one spike every 2 ms
    src = bs.neurons.SpikeTimes(1, times, np.zeros(N_SPIKES, int))
    proj = bs.Projection(
        "s",
        "p",
        bs.conn.FromEdges(np.zeros(4, int), np.arange(4), np.ones(4)),
        weight=None,
        synapse=bs.synapses.Exponential(TAU),
        components=(bs.StochasticRelease(p),),
    )
    net = bs.Network({"s": src, "p": bs.neurons.LIF(4)}, [proj], key=jax.random.key(seed))
    state = net.init(jax.random.key(seed + 100), dt=DT)
    var = bs.synaptic(0)
    _, rec = bs.simulate(net, state, N_SPIKES * 2.0, DT, record={"p": [var]})
    g = rec["p"][var]  # before the arrivals at each sample; arrivals 0.1 ms after a spike
    arrived = g[1:] * np.exp(DT / TAU) - g[:-1]  # the weight arriving at each sample
    return np.round(arrived[np.arange(N_SPIKES) * 20]).astype(bool)  # (the spikes' steps)


def test_releases_are_binomial_and_independent():
    r = _releases(0)
    n = r.sum(0)
    assert n[0] == 0 and n[3] == N_SPIKES
    for k in (1, 2):  # binomial(N, p): within 4 standard deviations
        assert abs(n[k] - N_SPIKES * P[k]) < 4 * np.sqrt(N_SPIKES * P[k] * (1 - P[k]))
    both = np.sum(r[:, 1] & r[:, 2])  # independent synapses: binomial(N, p1 p2)
    q = P[1] * P[2]
    assert abs(both - N_SPIKES * q) < 4 * np.sqrt(N_SPIKES * q * (1 - q))


def test_releases_are_deterministic_per_seed():
    a, b, c = _releases(1), _releases(1), _releases(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[:, 1], c[:, 1])


def test_bad_release_probability_is_named():
    with pytest.raises(ValueError, match=r"StochasticRelease.p must be a probability in \[0, 1\]"):
        bs.StochasticRelease(1.5)
    with pytest.raises(ValueError, match="StochasticRelease.p must be a scalar or have"):
        _releases(0, p=np.full(3, 0.5))
