"""Pair STDP in the many-step native loop (``bs.ops.lif_network_run`` with a
``PairRun``, reached through ``bs.simulate``'s ``Network.step_block``) against the
pure-JAX path (``bs.ops.configure(kernels=False)``): ``bs.Plastic.step`` through
``plastic_bounded``'s reference and the network step's reference composition, one step
at a time. ``test_plastic_run.py`` compares the loop with the per-step path on the
kernels; this closes the chain to the reference that runs on GPUs.

The network is COBA (N = 600) with pair STDP on E->E, from random initial potentials and
Poisson initial spikes (each neuron spiking with probability 0.1 in the state the run
starts from), then its own asynchronous irregular activity: the loop takes no external
spike source (a Poisson population's spikes change every step, so a network with one
steps one call at a time). 1 000 steps, float32 and float64, additive and
multiplicative bounds (in float64 one of each side). The plastic kernel performs the
reference's floating-point operations, so the spikes, the learned weights, the traces,
the conductances and every integer state must be equal bit for bit; the recurrent
network amplifies any difference into different spikes, so exact equality is a sharp
test. The membrane potentials may differ by a few ulp: the fused LIF step and XLA's
differ by at most 4 ulp in one step (XLA contracts some multiply-adds into FMAs, its
``expm1`` is not the kernel's; ``test_kernel_values.py``'s ``lif_update`` bound), and a
carried difference is damped by the leak and erased by every reset (1 ulp after 1 000
steps here)."""

import equinox as eqx
import jax
import numpy as np
import pytest
from helpers import native_run_calls, plastic_coba
from lif_reference import assert_close_ulp

import brainsim as bs

pytestmark = pytest.mark.skipif(
    not bs.ops._native.available(), reason="native kernels unavailable (not built)"
)


def _plastic_coba(bounds, **rule):
    net = plastic_coba(600, bounds, **rule)
    state = net.init(jax.random.key(1), dt=0.1)
    # Poisson initial spikes: every neuron has spiked in the last step with p = 0.1.
    keys = jax.random.split(jax.random.key(2), len(state.populations))
    pops = {
        name: eqx.tree_at(
            lambda s: s.spike,
            s,
            (jax.random.uniform(k, s.spike.shape) < 0.1).astype(s.spike.dtype),
        )
        for (name, s), k in zip(state.populations.items(), keys, strict=True)
    }
    return net, eqx.tree_at(lambda s: s.populations, state, pops)


def _simulate(monkeypatch, net, state, kernels):
    """The final state and the spike events of 1 000 steps (chunks of 250 steps); with
    ``kernels``, asserts every chunk was one native ``lif_network_run`` call, else
    none."""
    calls = native_run_calls(monkeypatch)
    rec = {p: bs.Record("spikes", events=True) for p in ("E", "I")}
    with bs.ops.configure(kernels=kernels):
        final, out = bs.simulate(net, state, 100.0, 0.1, record=rec, chunk_steps=250)
    assert out.compile_time > 0  # traced in this call (so native_run_calls saw it)
    assert calls and all(calls) if kernels else not any(calls)
    events = {p: (out[p]["spikes"].steps, out[p]["spikes"].neurons) for p in out}
    return final, events


@pytest.mark.parametrize(
    ("mu", "x64", "rule"),
    [
        ((0.0, 0.0), False, {}),
        ((1.0, 1.0), False, {}),
        ((1.0, 0.0), True, {}),
        # the symmetric window (A_- < A_+, so that it learns) and nearest-neighbour pairing
        ((1.0, 1.0), False, {"symmetric": True, "A_minus": 0.025}),
        ((0.0, 0.0), True, {"pairing": bs.plasticity.Nearest()}),
    ],
    ids=["additive-f32", "soft-f32", "mixed-f64", "symmetric-soft-f32", "nearest-f64"],
)
def test_native_loop_equals_pure_jax(mu, x64, rule, monkeypatch):
    with jax.enable_x64(x64):
        net, state = _plastic_coba(bs.plasticity.Bounds(0.0, 12.0, *mu), **rule)
        native, ev_native = _simulate(monkeypatch, net, state, kernels=True)
        pure, ev_pure = _simulate(monkeypatch, net, state, kernels=False)
    w0 = np.asarray(state.components[0][0][0].w)
    w = np.asarray(native.components[0][0][0].w)
    assert w.dtype == (np.float64 if x64 else np.float32)
    assert len(ev_native["E"][0]) > 300  # the network spikes
    assert np.abs(w - w0).max() > 0.1 and (w != w0).mean() > 0.2  # and learns
    for p in ev_native:
        for a, b in zip(ev_native[p], ev_pure[p], strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert jax.tree.structure(native) == jax.tree.structure(pure)
    leaves = jax.tree_util.tree_flatten_with_path(native)[0]
    for (path, a), b in zip(leaves, jax.tree.leaves(pure), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype
        if jax.tree_util.keystr(path).endswith(".v"):  # membrane potentials (docstring)
            assert_close_ulp(a, b, ulp=4)
        else:
            np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
