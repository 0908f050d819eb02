"""The same spikes whichever path runs: COBA and CUBA (``bs.models``) simulated with the
native CPU kernels and with the pure-JAX path (``bs.ops.configure(kernels=...)``), with
one thread and with every thread, and on both sides of the ops' size thresholds, give
identical spike trains.

The networks are recurrent and chaotic: one spike that differs (an ulp in a membrane
potential near threshold) changes the rest of the run, so exact equality over 100-200 ms
(1 000-2 000 steps, thousands of spikes) is a sharp test of bitwise-equal arithmetic,
not a tolerance."""

import importlib

import jax
import numpy as np
import pytest
from helpers import native_run_calls

import brainsim as bs

lif_mod = importlib.import_module("brainsim.ops.lif")

native_only = pytest.mark.skipif(
    not bs.ops._native.available(), reason="native kernels unavailable (not built)"
)


def _network(model, n, procedural=False):
    net = getattr(bs.models, model)(n, key=jax.random.key(0), procedural=procedural)
    return net, net.init(jax.random.key(1), dt=0.1)


def _spikes(net, state, duration, **settings):
    """``{pop: (steps, size) bool}`` spikes of ``net`` simulated from ``state`` for
    ``duration`` ms (dt = 0.1 ms) under ``bs.ops.configure(**settings)``."""
    # NATIVE_MIN_SIZE (patched below) is read while tracing: compile each run afresh
    bs.clear_compiled()
    with bs.ops.configure(**settings):
        record = {p: ["spikes"] for p in ("E", "I")}
        _, rec = bs.simulate(net, state, duration, 0.1, record=record)
    return {p: np.asarray(rec[p]["spikes"]) != 0 for p in ("E", "I")}


def _assert_same(a, b, min_spikes):
    for pop in ("E", "I"):
        assert a[pop].shape == b[pop].shape
        first = np.flatnonzero((a[pop] != b[pop]).any(axis=1))
        assert first.size == 0, f"{pop}: spike trains differ from step {first[0]} on"
    assert sum(int(a[p].sum()) for p in ("E", "I")) >= min_spikes  # the runs spiked


@native_only
@pytest.mark.parametrize(("model", "min_spikes"), [("coba", 5000), ("cuba", 1500)])
def test_native_and_pure_give_identical_spikes(model, min_spikes):
    """N = 4 000, 100 ms (1 000 steps), float32: the whole-network kernel against the
    pure-JAX step."""
    net, state = _network(model, 4000)
    native = _spikes(net, state, 100.0, kernels=True)
    pure = _spikes(net, state, 100.0, kernels=False)
    _assert_same(native, pure, min_spikes)


@native_only
def test_lif_update_size_threshold_does_not_change_spikes(monkeypatch):
    """``ops.lif_update`` runs natively for populations of at least ``NATIVE_MIN_SIZE``
    neurons (the step of networks the whole-network kernel does not take: here
    procedural connectivity). With the threshold at the E population's size (800 of
    1 000) E steps natively and I in pure JAX; one above, both in pure JAX; with the
    kernels off, everything in pure JAX: the same spikes (100 ms)."""
    net, state = _network("coba", 1000, procedural=True)
    pure = _spikes(net, state, 100.0, kernels=False)
    for threshold in (800, 801):
        monkeypatch.setattr(lif_mod, "NATIVE_MIN_SIZE", threshold)
        _assert_same(_spikes(net, state, 100.0), pure, min_spikes=1000)


@native_only
def test_one_thread_and_every_thread_give_identical_spikes():
    """At 2^17 neurons (``kParallelNeurons``/``kParallelTargets`` in the C++) the
    network step and its event propagation are split over XLA's threads: 20 ms (200
    steps) with one thread and with every thread give the same spikes. (The pure-JAX
    path at this size takes ~25 s on two cores; it is compared at 4 000 above.)"""
    net, state = _network("coba", 1 << 17)
    record = {p: ["spikes"] for p in ("E", "I")}
    runs = []
    for threads in (1, None):
        with bs.ops.configure(threads=threads):  # read by every call: no recompilation
            _, rec = bs.simulate(net, state, 20.0, 0.1, record=record)
        runs.append({p: np.asarray(rec[p]["spikes"]) != 0 for p in ("E", "I")})
    _assert_same(*runs, min_spikes=20_000)


def _izhikevich(n, per_neuron):
    """The race's Izhikevich (2003) network (``benchmarks/_nonlif_models.py``: RS E and
    FS I, voltage jumps 0.5 / -2 mV, in-degree 80, 5 mV/ms bias); ``per_neuron`` gives
    every neuron its own a and b (the 2003 paper's heterogeneity), the kernel's other
    branch."""
    rng = np.random.default_rng(0)
    ne = int(0.8 * n)

    def pop(size, a, b, d):
        if per_neuron:
            a, b = a * rng.uniform(0.9, 1.1, size), b * rng.uniform(0.95, 1.05, size)
        return bs.neurons.Izhikevich(
            size, a, b, -65.0, d, i_ext=5.0, v_init=bs.initializers.Normal(-65.0, 5.0)
        )

    conn = bs.conn.FixedProb(80.0 / n, allow_self=False)
    jump = lambda w: dict(weight=w, synapse=bs.synapses.Delta(), output=bs.synapses.VoltageJump())
    net = bs.Network(
        {"E": pop(ne, 0.02, 0.2, 8.0), "I": pop(n - ne, 0.1, 0.2, 2.0)},
        [
            bs.Projection(pre, post, conn, **jump(0.5 if pre == "E" else -2.0))
            for pre in ("E", "I")
            for post in ("E", "I")
        ],
        key=jax.random.key(0),
    )
    return net, net.init(jax.random.key(1), dt=0.1)


@native_only
@pytest.mark.parametrize("per_neuron", [False, True])
def test_izhikevich_network_native_and_pure_give_identical_spikes(per_neuron, monkeypatch):
    """N = 4 000, 100 ms, float32: the whole-run Izhikevich network kernel
    (``bs.ops.izhikevich_network_run``, the step of ``bs.ops.izhikevich_update``'s kernel)
    against XLA's program of ``Izhikevich.step`` (it rounds with the multiply-adds XLA's
    CPU backend contracts; before that, the trains split within 30 ms)."""
    net, state = _izhikevich(4000, per_neuron)
    calls = native_run_calls(monkeypatch, "izhikevich_network_run")
    native = _spikes(net, state, 100.0, kernels=True)
    assert calls and all(calls)  # the whole run in native calls
    pure = _spikes(net, state, 100.0, kernels=False)
    _assert_same(native, pure, 5000)


@native_only
@pytest.mark.parametrize("model", ["coba", "cuba"])
def test_native_and_pure_give_identical_spikes_float64(model):
    """As ``test_native_and_pure_give_identical_spikes`` in float64 (``jax.enable_x64``;
    N = 4 000, 100 ms)."""
    with jax.enable_x64(True):
        net, state = _network(model, 4000)
        assert all(x.dtype != np.float32 for x in jax.tree.leaves(state)), "not float64"
        native = _spikes(net, state, 100.0, kernels=True)
        pure = _spikes(net, state, 100.0, kernels=False)
    _assert_same(native, pure, min_spikes=1500)


def test_switching_kernels_off_compiles_the_pure_path():
    """A program compiled with the kernels is not reused once they are switched off (the
    path is chosen while tracing): the second call compiles again, and its spikes are
    the same."""
    net, state = _network("coba", 400)
    record = {"E": ["spikes"]}
    _, native = bs.simulate(net, state, 20.0, 0.1, record=record)
    _, again = bs.simulate(net, state, 20.0, 0.1, record=record)
    assert again.compile_time == 0.0  # the cache is hit while nothing changed
    with bs.ops.configure(kernels=False):
        _, pure = bs.simulate(net, state, 20.0, 0.1, record=record)
    assert pure.compile_time > 0.0
    np.testing.assert_array_equal(pure["E"]["spikes"], native["E"]["spikes"])
