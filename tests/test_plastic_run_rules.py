"""Triplet STDP and Vogels-Sprekeler inside the many-step native loop
(``Network.step_block`` with a ``bs.Plastic`` projection, ``ops.lif_network_run``'s
``PairRun(triplet=True)``) against their reference, the per-step path (the rule's
``step`` through ``ops.plastic_bounded``, itself checked against NEST in
test_plasticity_nest.py). The loop performs the same floating-point operations, so
spikes, plastic weights, traces and the whole state must be equal bit for bit (no
tolerance), as for pair STDP (test_plastic_run.py, whose helpers this reuses).

The loop takes constant inputs only (no Poisson source population), so the drive is the
COBA network's own asynchronous irregular activity (random initial potentials)."""

import functools

import jax
import pytest
from helpers import coba_learning
from test_plastic_run import _assert_learns_alike, _both_paths, native_only

import brainsim as bs

# Amplitudes (nS) ~5x Pfister & Gerstner's visual-cortex fit, every term non-zero, so
# 100 ms of COBA activity changes the 6 nS weights visibly through each of them.
AMPLITUDES = dict(A2_plus=5e-3, A3_plus=5e-2, A2_minus=3.5e-2, A3_minus=1e-2)


@native_only
@pytest.mark.parametrize(
    ("parts", "mu", "x64", "pairing", "n_steps", "chunk"),
    [
        (1, (0.0, 0.0), False, bs.plasticity.AllToAll(), 1200, 400),
        (1, (1.0, 0.0), True, bs.plasticity.Nearest(), 1001, 333),
        (2, (1.0, 1.0), False, bs.plasticity.AllToAll(), 1001, 333),
        (3, (0.0, 0.0), False, bs.plasticity.Nearest(), 1000, 999),
    ],
)
def test_triplet_block_equals_per_step(parts, mu, x64, pairing, n_steps, chunk, monkeypatch):
    """Triplet STDP (all-to-all and nearest-spike, hard and soft bounds, float32 and
    float64) in 1, 2 and 3 neuron ranges (2 and 3 forced: a step of 800 neurons is
    otherwise one) over calls of odd lengths: spikes, weights, traces and the whole
    final state equal the per-step path bit for bit."""
    run = bs.ops.lif_network_run
    monkeypatch.setattr(bs.ops, "lif_network_run", functools.partial(run, parts=parts))
    with jax.enable_x64(x64):
        bounds = bs.plasticity.Bounds(0.0, 12.0, *mu)
        rule = bs.plasticity.TripletSTDP(bounds=bounds, pairing=pairing, **AMPLITUDES)
        net = coba_learning(800, rule)
        state = net.init(jax.random.key(2), dt=0.1)
        run = dict(n_steps=n_steps, chunk_steps=chunk)
        both = _both_paths(net, state, monkeypatch, **run)
    _assert_learns_alike(state, both, x64=x64)


@native_only
@pytest.mark.parametrize(
    ("parts", "mu", "x64", "n_steps", "chunk"),
    [
        (1, (0.0, 0.0), False, 1200, 400),
        (2, (1.0, 1.0), True, 1001, 333),
        (3, (0.0, 0.0), False, 1001, 333),
    ],
)
def test_vogels_sprekeler_block_equals_per_step(parts, mu, x64, n_steps, chunk, monkeypatch):
    """Vogels-Sprekeler on I->E (rho0 = 5 Hz, tau = 20 ms; eta 0.5 nS against the 67 nS
    weights, so 100 ms change them visibly), hard and soft bounds, float32 and float64,
    in 1, 2 and 3 ranges over calls of odd lengths: spikes, weights, traces and the
    whole final state equal the per-step path bit for bit."""
    run = bs.ops.lif_network_run
    monkeypatch.setattr(bs.ops, "lif_network_run", functools.partial(run, parts=parts))
    with jax.enable_x64(x64):
        bounds = bs.plasticity.Bounds(0.0, 134.0, *mu)
        rule = bs.plasticity.VogelsSprekeler(eta=0.5, rho0=5.0, tau=20.0, bounds=bounds)
        net = coba_learning(800, rule, on="I->E")
        state = net.init(jax.random.key(2), dt=0.1)
        run = dict(n_steps=n_steps, chunk_steps=chunk)
        both = _both_paths(net, state, monkeypatch, **run)
    k = [p.name for p in net.projections].index("I->E")
    _assert_learns_alike(state, both, k=k)
