"""Spike recording as events: the append operator (native kernel against its portable
scatter and NumPy) and ``simulate(..., record={pop: Record("spikes", events=True)})``
against the dense boolean raster of the same run."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

compact_mod = importlib.import_module("brainsim.ops.compact")

INT32_MAX = np.iinfo(np.int32).max


@pytest.fixture(params=["native", "portable"])
def path(request):
    """Run the test once with the native kernel and once with the portable scatter."""
    if request.param == "native" and not bs.ops._native.available():
        pytest.skip("native kernel unavailable")
    with bs.ops.configure(kernels=request.param == "native"):
        yield request.param


def _scan_appends(x, cap, offset=0):
    """Append every row of ``x (steps, n)`` in turn inside a jitted scan."""

    def body(carry, row):
        buf, end = compact_mod.append_spikes(row, *carry)
        return (buf, end), end

    init = (jnp.full(cap, -1, jnp.int32), jnp.int32(offset))
    (buf, end), ends = jax.jit(lambda x: jax.lax.scan(body, init, x))(jnp.asarray(x))
    return np.asarray(buf), int(end), np.asarray(ends)


@pytest.mark.parametrize("dtype", [bool, np.float32, np.float64])
def test_append_against_numpy(path, dtype, x64):
    """A scan of appends (rows of 0-30 spikes out of 203, with -0.0 entries that are not
    spikes) leaves in the buffer the concatenated ``np.flatnonzero`` of the rows, ends at
    their cumulative counts, leaves the slots before the offset and past the end
    untouched, and on overflow keeps the first positions that fit while the end counts
    every spike."""
    rng = np.random.default_rng(3)
    x = rng.random((12, 203)) < rng.uniform(0.0, 0.15, (12, 1))
    x[0] = False
    x = x.astype(dtype)
    if dtype is not bool:
        x[x == 0] = rng.choice([0.0, -0.0], size=int((x == 0).sum()))
        assert np.signbit(x).any()
    want = np.concatenate([np.flatnonzero(r) for r in x])
    counts = np.count_nonzero(x, axis=1)
    for cap, offset in ((want.size + 9, 5), (want.size // 2, 3)):
        buf, end, ends = _scan_appends(x, cap, offset)
        assert end == offset + want.size  # the full count, also past the capacity
        np.testing.assert_array_equal(ends, offset + np.cumsum(counts))
        kept = min(want.size, cap - offset)
        np.testing.assert_array_equal(buf[offset : offset + kept], want[:kept])
        assert np.all(buf[:offset] == -1) and np.all(buf[offset + kept :] == -1)


def test_append_saturates_at_int32_max(path):
    """An end past 2**31 - 1 saturates there (so simulate can fail loudly) instead of
    wrapping around to a small, plausible-looking offset."""
    buf, end, _ = _scan_appends(np.ones((1, 7), bool), 4, INT32_MAX - 3)
    assert end == INT32_MAX and np.all(buf == -1)


def test_native_append_equals_portable_in_place():
    """The native kernel and the portable scatter give the same buffer and end for the
    same appends (float32 spikes as the network stores them) under jit with the buffer
    donated, i.e. written in place."""
    if not bs.ops._native.available():
        pytest.skip("native kernel unavailable")
    rng = np.random.default_rng(7)
    x = jnp.asarray((rng.random(1000) < 0.05).astype(np.float32))
    buf0 = jnp.asarray(rng.integers(-5, 5, 300), jnp.int32)
    f = jax.jit(compact_mod.append_spikes, donate_argnums=1)
    got = f(x, jnp.array(buf0), jnp.int32(17))
    with bs.ops.configure(kernels=False):
        want = jax.jit(compact_mod.append_spikes)(x, buf0, jnp.int32(17))
    np.testing.assert_array_equal(got[0], want[0])
    assert int(got[1]) == int(want[1]) == 17 + int((x != 0).sum())


@pytest.fixture(params=["native", "portable"])
def sim_path(request):
    """``simulate`` recording events through the native kernel, then with every op on its
    portable pure-JAX path (``bs.ops.configure(kernels=False)``: the recording's
    scatter, and the network's own steps)."""
    if request.param == "native" and not bs.ops._native.available():
        pytest.skip("native kernel unavailable")
    with bs.ops.configure(kernels=request.param == "native"):
        yield request.param


@pytest.fixture(scope="module")
def coba():
    net = bs.models.coba(400, key=jax.random.key(0))
    state = net.init(jax.random.key(1))
    # the independent path: the boolean raster at every step, one chunk
    dense_rec = {p: bs.Record("spikes", events=False) for p in ("E", "I")}
    _, dense = bs.simulate(net, state, 30.0, 0.1, record=dense_rec)
    return net, state, {p: np.asarray(dense[p]["spikes"]) for p in ("E", "I")}


def _check(ev, raster):
    assert isinstance(ev, bs.SpikeEvents) and ev.shape == raster.shape
    steps, neurons = np.nonzero(raster)
    np.testing.assert_array_equal(ev.steps, steps)
    np.testing.assert_array_equal(ev.neurons, neurons)
    assert ev.steps.dtype == np.int64 and ev.neurons.dtype == np.int32


def test_events_equal_dense_raster(coba, sim_path):
    """Events at every step equal the dense raster of the same run exactly, (step,
    neuron) pair for pair, in one chunk and in uneven chunks (of 70 steps: the last one
    shorter), for all neurons and for an out-of-order subset; 1 ms-window events equal
    the window reduction of the raster."""
    net, state, dense = coba
    assert dense["E"].sum() > 100 and dense["I"].sum() > 20  # not vacuous
    rec = {"E": bs.Record("spikes", events=True), "I": bs.Record("spikes", events=True)}
    _, r = bs.simulate(net, state, 30.0, 0.1, record=rec)
    _check(r["E"]["spikes"], dense["E"])
    _check(r["I"]["spikes"], dense["I"])
    sel = list(range(300, 0, -7))
    rec = {
        "E": bs.Record(["v", "spikes"], indices=sel, events=True),
        "I": bs.Record("spikes", every=10, events=True),
    }
    _, r = bs.simulate(net, state, 30.0, 0.1, record=rec, chunk_steps=70)
    _check(r["E"]["spikes"], dense["E"][:, sel])
    assert r["E"]["v"].shape == (300, len(sel))
    _check(r["I"]["spikes"], dense["I"].reshape(30, 10, -1).any(axis=1))


def test_overflow_grows_the_buffer_and_reruns(coba, sim_path):
    """A buffer of 4 slots (far fewer than the spikes of every chunk: an extra 100 pA into
    both populations keeps the network firing after its synchronous onset burst) is grown
    and the chunk run again: the events still equal the raster. Without the rerun no
    chunk could hold more than 4 spikes."""
    net, state, _ = coba
    drive = {"E": 100.0, "I": 100.0}
    dense_rec = {"E": bs.Record("spikes", events=False)}
    _, dense = bs.simulate(net, state, 30.0, 0.1, record=dense_rec, inputs=drive)
    dense = np.asarray(dense["E"]["spikes"])
    rec = {"E": bs.Record("spikes", events=True, capacity=4)}
    _, r = bs.simulate(net, state, 30.0, 0.1, record=rec, chunk_steps=100, inputs=drive)
    per_chunk = dense.reshape(3, 100, -1).sum(axis=(1, 2))
    assert per_chunk.min() > 4, per_chunk  # every chunk overflows 4 slots
    _check(r["E"]["spikes"], dense)


def test_capacity_policy():
    """The default buffer has room for 50 Hz (a power of two, at least 1024 slots, at most
    every neuron in every sample); growth leaves 25 % room; an explicit capacity is kept."""
    rec = bs.Record("spikes", events=True)
    # 64 000 neurons x 10 000 steps of 0.1 ms at 50 Hz = 3.2e6 spikes -> 2**22
    assert bs.monitors.event_capacity(rec, 64_000, 10_000, 0.1) == 2**22
    assert bs.monitors.event_capacity(rec, 10, 10, 0.1) == 100  # all of them
    assert bs.monitors.event_capacity(rec, 1000, 10, 0.1) == 1024
    assert bs.monitors.event_capacity(bs.Record("spikes", capacity=5), 100, 10, 0.1) == 5
    assert bs.monitors.grow_capacity(1000, 10**6) == 2048  # 1250 -> 2048
    assert bs.monitors.grow_capacity(1000, 1500) == 1500


def test_variable_listed_twice_is_rejected(coba):
    net, state, _ = coba
    with pytest.raises(ValueError, match="lists a variable twice"):
        bs.simulate(net, state, 1.0, 0.1, record={"E": bs.Record(["spikes", "spike"])})
