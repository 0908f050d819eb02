"""Spikes recorded by default (``bs.Record(events=None)``): stored as events and read as
the dense boolean raster, against the raster recorded densely on the device
(``events=False``, the independent path: one boolean per neuron and step, no buffers);
under a JAX transformation the default is the dense spike values; and the host memory
of a dense recording is the raster's."""

import gc
import tracemalloc

import jax
import numpy as np
import pytest

import brainsim as bs

DRIVE = {"E": 100.0, "I": 100.0}  # pA: keeps the network firing after its onset burst


@pytest.fixture(scope="module")
def coba():
    net = bs.models.coba(400, key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=0.1)
    dense = {p: bs.Record("spikes", events=False) for p in ("E", "I")}
    _, rec = bs.simulate(net, state, 30.0, 0.1, record=dense, inputs=DRIVE)
    return net, state, {p: np.asarray(rec[p]["spikes"]) for p in ("E", "I")}


def test_default_reads_as_the_dense_raster(coba):
    """The default recording over uneven chunks (70 steps) from a 4-slot buffer (the
    first chunk overflows it, so it is grown and the chunk run again) reads as exactly the
    dense raster, as boolean arrays; ``spike_events`` gives its (step, neuron) pairs; a
    1 ms window reads as the window reduction of the raster. While a raster read is
    held, reading again returns it (no second copy)."""
    net, state, dense = coba
    assert dense["E"].sum() > 100 and dense["I"].sum() > 20  # not vacuous
    record = {"E": bs.Record("spikes", capacity=4), "I": bs.Record(["spikes", "v"], every=10)}
    _, rec = bs.simulate(
        net, state, 30.0, 0.1, record=record, chunk_steps=70, inputs=DRIVE, progress=False
    )
    assert dense["E"][:70].sum() > 4  # the first chunk overflowed the 4 slots
    raster = rec["E"]["spikes"]
    assert isinstance(raster, np.ndarray) and raster.dtype == bool
    np.testing.assert_array_equal(raster, dense["E"])
    assert rec["E"]["spikes"] is raster
    ev = rec.spike_events("E")
    assert isinstance(ev, bs.SpikeEvents) and ev.shape == dense["E"].shape
    steps, neurons = np.nonzero(dense["E"])
    np.testing.assert_array_equal(ev.steps, steps)
    np.testing.assert_array_equal(ev.neurons, neurons)
    windows = dense["I"].reshape(30, 10, -1).any(axis=1)
    np.testing.assert_array_equal(rec["I"]["spikes"], windows)
    assert rec["I"]["v"].shape == (30, 80) and sorted(rec["I"]) == ["spikes", "t", "v"]


def test_default_streamed_reads_as_the_raster(coba, tmp_path):
    """Streamed to a file, the default recording (from a 4-slot buffer: grown and the
    first chunk run again before it is written) reads back as the same raster."""
    pytest.importorskip("h5py")
    net, state, dense = coba
    path = tmp_path / "run.h5"
    _, rec = bs.simulate(
        net,
        state,
        30.0,
        0.1,
        record={"E": bs.Record("spikes", capacity=4)},
        chunk_steps=100,
        inputs=DRIVE,
        progress=False,
        stream=bs.io.HDF5Sink(path),
    )
    np.testing.assert_array_equal(rec["E"]["spikes"], dense["E"])
    np.testing.assert_array_equal(bs.io.read_recording(path)["E"]["spikes"], dense["E"])


def test_default_under_jit_is_the_dense_spike_values(coba):
    """Under ``jax.jit`` (``simulate_core``) the default records the spike values densely
    (what gradients need, tested in test_core.py): nonzero exactly where the raster is."""
    net, state, dense = coba
    record = {"E": ["spikes"]}
    run = jax.jit(lambda s: bs.simulate(net, s, 30.0, 0.1, record=record, inputs=DRIVE)[1])
    spikes = np.asarray(run(state)["E"]["spikes"])
    assert spikes.dtype != bool
    np.testing.assert_array_equal(spikes != 0, dense["E"])


def _peak_bytes(fn) -> int:
    """Peak bytes that Python and NumPy allocate while ``fn`` runs (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_dense_recording_memory_is_the_raster():
    """A dense recording (``events=False``) of 2 000 Poisson sources over 4 000 steps in
    40 chunks peaks at most 1.2x its raster (8 MB) on the host: each chunk is written
    into the run's one array (joining a list of chunks at the end peaked at 2x). The
    default (events, 20 Hz) holds far less until the raster is read."""
    net = bs.Network({"P": bs.neurons.PoissonSource(2000, rate=20.0)}, [])
    state = net.init(jax.random.key(0), dt=0.1)
    kw = dict(chunk_steps=100, progress=False)
    dense_rec = {"P": bs.Record("spikes", events=False)}
    for record in (dense_rec, {"P": ["spikes"]}):  # compile both first
        bs.simulate(net, state, 400.0, 0.1, record=record, **kw)
    raster_bytes = 4000 * 2000
    peak = _peak_bytes(lambda: bs.simulate(net, state, 400.0, 0.1, record=dense_rec, **kw))
    print(f"dense recording peak / raster = {peak / raster_bytes:.3f}")
    assert peak <= 1.2 * raster_bytes, peak / raster_bytes
    got = {}
    peak = _peak_bytes(
        lambda: got.update(
            rec=bs.simulate(net, state, 400.0, 0.1, record={"P": ["spikes"]}, **kw)[1]
        )
    )
    print(f"default (events) peak / raster = {peak / raster_bytes:.3f}")
    assert peak <= 0.2 * raster_bytes, peak / raster_bytes
    assert got["rec"]["P"]["spikes"].sum() > 10_000  # 2000 x 0.4 s x 20 Hz = 16 000
