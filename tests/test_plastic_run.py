"""Pair STDP inside the many-step native loop (``Network.step_block`` with a
``bs.Plastic`` projection, ``ops.lif_network_run``'s ``PairRun``) against its reference,
the per-step path (``Plastic.step``: ``PairSTDP.step`` through ``ops.plastic_bounded``,
itself tested against a float64 NumPy formula and NEST in test_plastic_kernel.py and
test_plasticity_network.py). The loop performs the same floating-point operations, so
spikes, plastic weights, traces and the whole state must be equal bit for bit (no
tolerance).

The loop takes constant inputs only (no Poisson source population: its spikes change
every step), so the drive here is the COBA network's own irregular activity (random
initial potentials, asynchronous irregular firing) over 1200 steps.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import native_run_calls
from helpers import plastic_coba as _plastic_coba

import brainsim as bs

native_only = pytest.mark.skipif(
    not bs.ops._native.available(), reason="native kernel unavailable"
)


def _run(net, state, inputs=None, n_steps=1200, chunk_steps=400):
    rec = {p: bs.Record("spikes", events=True) for p in net.populations}
    final, out = bs.simulate(
        net, state, n_steps * 0.1, 0.1, inputs=inputs, record=rec, chunk_steps=chunk_steps
    )
    assert out.compile_time > 0  # traced in this call (so native_run_calls saw it)
    return final, {p: (out[p]["spikes"].steps, out[p]["spikes"].neurons) for p in out}


def _both_paths(net, state, monkeypatch, **run):
    """``(block, per step)`` results; asserts every chunk of the first was one block
    call. The second passes ``inputs`` as a function of ``t`` (returning no input):
    ``Network.step_block`` does not apply, so ``simulate`` steps one at a time (and a
    new function is a new compiled program: never the block's, cached)."""
    calls = native_run_calls(monkeypatch)
    block = _run(net, state, **run)
    assert calls and all(calls)  # every chunk was one native call
    calls.clear()
    per_step = _run(net, state, inputs=lambda t: None, **run)
    assert not calls
    return block, per_step


@native_only
@pytest.mark.parametrize(
    ("mu", "x64", "rule"),
    [
        ((0.0, 0.0), False, {}),
        ((1.0, 1.0), False, {}),
        ((1.0, 0.0), True, {}),
        ((1.0, 1.0), False, {"symmetric": True, "A_minus": 0.025}),  # A_- < A_+: it learns
        ((0.0, 0.0), True, {"symmetric": True, "A_minus": 0.025}),
        ((0.0, 0.0), False, {"pairing": bs.plasticity.Nearest()}),
        (
            (1.0, 1.0),
            True,
            {"pairing": bs.plasticity.Nearest(), "symmetric": True, "A_minus": 0.025},
        ),
    ],
)
def test_block_plastic_equals_per_step(mu, x64, rule, monkeypatch):
    """Additive (hard) and multiplicative (soft) bounds, float32 and float64, either
    window (asymmetric, symmetric), all-to-all and nearest-neighbour pairing: spikes,
    weights, traces and the whole final state equal bit for bit."""
    with jax.enable_x64(x64):
        net = _plastic_coba(600, bs.plasticity.Bounds(0.0, 12.0, *mu), **rule)
        state = net.init(jax.random.key(1), dt=0.1)
        both = _both_paths(net, state, monkeypatch)
    _assert_learns_alike(state, both, x64=x64)


@native_only
@pytest.mark.parametrize(
    ("parts", "mu", "rule"),
    [
        (2, (0.0, 0.0), {}),
        (3, (1.0, 1.0), {"symmetric": True, "A_minus": 0.025, "pairing": bs.plasticity.Nearest()}),
    ],
)
def test_block_split_in_ranges_equals_per_step(parts, mu, rule, monkeypatch):
    """The native step forced into ``parts`` neuron ranges (a step of 800 neurons is
    otherwise one range): every range runs the column pass, the row pass fused with its
    events and the trace decays of its own targets and neurons only (the presynaptic
    traces double-buffered: every range's columns read the step's values); spikes,
    weights, traces and the whole state equal the per-step path bit for bit. A range
    that changed another's synapses, or stored a trace before every column had read it,
    would change the weights."""
    run = bs.ops.lif_network_run
    monkeypatch.setattr(bs.ops, "lif_network_run", functools.partial(run, parts=parts))
    net = _plastic_coba(800, bs.plasticity.Bounds(0.0, 12.0, *mu), **rule)
    state = net.init(jax.random.key(2), dt=0.1)
    (s_b, ev_b), (s_s, ev_s) = _both_paths(net, state, monkeypatch, n_steps=1000)
    w0 = np.asarray(state.components[0][0][0].w)
    w_b = np.asarray(s_b.components[0][0][0].w)
    assert len(ev_b["E"][0]) > 300 and (w_b != w0).mean() > 0.2  # it spikes and learns
    _assert_equal(s_b, ev_b, s_s, ev_s)


def _assert_learns_alike(state, both, *, x64=None, k=0):
    """``both`` (``_both_paths``): the network spikes, projection ``k``'s weights (of
    float64 or float32 as ``x64`` says, unless ``None``) change visibly, and the two
    paths are equal bit for bit."""
    (s_b, ev_b), (s_s, ev_s) = both
    w0 = np.asarray(state.components[k][0][0].w)
    w_b = np.asarray(s_b.components[k][0][0].w)
    if x64 is not None:
        assert w_b.dtype == (np.float64 if x64 else np.float32)
    assert len(ev_b["E"][0]) > 300  # the network spikes
    assert np.abs(w_b - w0).max() > 0.1 and (w_b != w0).mean() > 0.2  # and learns
    _assert_equal(s_b, ev_b, s_s, ev_s)


def _assert_equal(s_b, ev_b, s_s, ev_s):
    """Spikes, plastic weights and every leaf of the final state equal bit for bit."""
    w_b, w_s = (np.asarray(next(c for c in s.components if c)[0][0].w) for s in (s_b, s_s))
    for p in ev_b:
        for a, b in zip(ev_b[p], ev_s[p], strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(w_b, w_s)
    la, lb = jax.tree.leaves(s_b), jax.tree.leaves(s_s)
    assert jax.tree.structure(s_b) == jax.tree.structure(s_s)
    for a, b in zip(la, lb, strict=True):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _fast_post_network(bounds, **rule):
    """Pair STDP from 64 regular neurons of 20-60 Hz (constant currents 104-200 pA,
    random initial potentials) onto 32 neurons driven at ~370 Hz (1000 pA, 1 ms
    refractory): many postsynaptic spikes (column passes) between two spikes of a
    presynaptic neuron, each weight potentiated many times between its depressions."""
    lif = lambda n, current, t_ref: bs.neurons.LIF(
        n,
        tau_m=20.0,
        c_m=200.0,
        v_rest=-60.0,
        v_th=-50.0,
        v_reset=-60.0,
        t_ref=t_ref,
        i_ext=current,
        v_init=bs.initializers.Normal(-55.0, 5.0),
        integrator=bs.integrators.Euler(),
    )
    rule = {"A_plus": 0.05, "A_minus": 0.0525, "tau_plus": 20.0, "tau_minus": 20.0, **rule}
    stdp = bs.plasticity.PairSTDP(bounds=bounds, **rule)
    proj = bs.Projection(
        "A",
        "B",
        bs.conn.FixedProb(0.5),
        weight=1.0,
        synapse=bs.synapses.Exponential(5.0),
        output=bs.synapses.Conductance(0.0),
        components=(bs.Plastic(stdp),),
    )
    pops = {"A": lif(64, jnp.linspace(104.0, 200.0, 64), 2.0), "B": lif(32, 1000.0, 1.0)}
    return bs.Network(pops, [proj], key=jax.random.key(0))


@native_only
@pytest.mark.parametrize(
    ("mu", "rule"),
    [
        ((0.0, 0.0), {}),
        ((1.0, 1.0), {}),
        ((1.0, 0.0), {"symmetric": True, "A_minus": 0.025, "pairing": bs.plasticity.Nearest()}),
    ],
)
def test_fast_postsynaptic_neurons_across_chunks_equal_per_step(mu, rule, monkeypatch):
    """Postsynaptic neurons much faster than their inputs (``_fast_post_network``), over
    2000 steps in chunks of 700 (two call boundaries, not at a multiple of anything):
    hard and soft bounds, either window and pairing; spikes, weights, traces and the
    whole state equal the per-step path bit for bit."""
    net = _fast_post_network(bs.plasticity.Bounds(0.0, 2.0, *mu), **rule)
    state = net.init(jax.random.key(1), dt=0.1)
    (s_b, ev_b), (s_s, ev_s) = _both_paths(net, state, monkeypatch, n_steps=2000, chunk_steps=700)
    n_a, n_b = (len(ev_b[p][0]) for p in ("A", "B"))
    assert n_b > 32 * 60 and 64 * 3 < n_a < n_b / 3  # post ~370 Hz, pre 20-60 Hz
    w0 = np.asarray(state.components[0][0][0].w)
    w_b = np.asarray(s_b.components[0][0][0].w)
    assert np.abs(w_b - w0).max() > 0.1 and (w_b != w0).mean() > 0.9  # it learns
    _assert_equal(s_b, ev_b, s_s, ev_s)


@native_only
@pytest.mark.parametrize(("parts", "mu"), [(1, (0.0, 0.0)), (3, (1.0, 1.0))])
def test_odd_chunks_and_other_source_equal_per_step(parts, mu, monkeypatch):
    """``_fast_post_network`` (a plastic projection from one population onto another)
    over 1001 steps in chunks of 333 (calls of an odd number of steps: the double-buffered
    presynaptic traces end a call in the spare buffer and are copied into the results),
    in one range (hard bounds) and forced into 3 (soft bounds; another network, so not
    the first case's cached program): spikes, weights, traces and the whole state equal
    the per-step path bit for bit."""
    run = bs.ops.lif_network_run
    monkeypatch.setattr(bs.ops, "lif_network_run", functools.partial(run, parts=parts))
    net = _fast_post_network(bs.plasticity.Bounds(0.0, 2.0, *mu))
    state = net.init(jax.random.key(1), dt=0.1)
    (s_b, ev_b), (s_s, ev_s) = _both_paths(net, state, monkeypatch, n_steps=1001, chunk_steps=333)
    w0 = np.asarray(state.components[0][0][0].w)
    w_b = np.asarray(s_b.components[0][0][0].w)
    assert len(ev_b["A"][0]) > 64 and (w_b != w0).mean() > 0.5  # it spikes and learns
    _assert_equal(s_b, ev_b, s_s, ev_s)


@native_only
def test_block_falls_back_for_rules_it_does_not_run():
    """Soft-bound exponents other than 0 and 1: ``step_block`` is ``None`` (``simulate``
    steps one at a time, the reference)."""
    bounds = bs.plasticity.Bounds(0.0, 12.0)
    cases = [
        _plastic_coba(200, bs.plasticity.Bounds(0.0, 12.0, 0.5, 0.5)),
        _plastic_coba(200, bs.plasticity.Bounds(0.0, 12.0, 1.0, 0.5)),
    ]
    for net in cases:
        state = net.init(jax.random.key(1), dt=0.1)
        assert net.step_block(state, steps=4, dt=0.1) is None
    net = _plastic_coba(200, bounds)
    state = net.init(jax.random.key(1), dt=0.1)
    assert net.step_block(state, steps=4, dt=0.1) is not None
