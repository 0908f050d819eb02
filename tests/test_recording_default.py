"""Spikes recorded by default (``bs.Record(events=None)``): stored as events and read as
the dense boolean raster, against the raster recorded densely on the device
(``events=False``, the independent path: one boolean per neuron and step, no buffers);
under a JAX transformation the default is the dense spike values; and the memory a
dense recording adds is the raster's."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import brainsim as bs

ROOT = Path(__file__).resolve().parents[1]

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


MEMORY_SCRIPT = textwrap.dedent(
    """
    import gc, json, os, sys, threading, time
    import jax
    import brainsim as bs

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def peak_growth(fn):
        gc.collect()
        base, peak, done = rss(), [0], threading.Event()

        def poll():
            while not done.is_set():
                peak[0] = max(peak[0], rss())
                time.sleep(2e-4)

        thread = threading.Thread(target=poll)
        thread.start()
        try:
            out = fn()
        finally:
            done.set()
            thread.join()
        return max(peak[0], rss()) - base, out

    n, steps, chunk = 3000, 40000, 800
    net = bs.Network({"P": bs.neurons.PoissonSource(n, rate=20.0)}, [])
    state = net.init(jax.random.key(0), dt=0.1)
    run = lambda record, k: bs.simulate(net, state, k * 0.1, 0.1, record=record,
                                        chunk_steps=chunk, progress=False)[1]
    records = {"dense": {"P": bs.Record("spikes", events=False)}, "default": {"P": ["spikes"]}}
    for record in records.values():  # compile: one chunk, far smaller than the raster
        run(record, chunk)
    out = {}
    for name, record in records.items():
        added, rec = peak_growth(lambda: run(record, steps))
        out[name] = added / (n * steps)
        out[name + "_spikes"] = int(rec["P"]["spikes"].sum())
        del rec
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_dense_recording_memory_is_the_raster():
    """A dense recording (``events=False``) of 3 000 Poisson sources over 40 000 steps in
    50 chunks adds at most 1.2x its raster (120 MB) to the resident memory (polled every
    0.2 ms, in a fresh process that has run one chunk only, so no memory freed by an
    earlier run is reused): each chunk is written into the run's one array. Measured:
    1.11x (the rest: allocator arenas of the chunks, bounded by a few chunks); a list of
    chunks joined at the end (the previous code) added 2.05x. RSS rather than
    tracemalloc: the chunks that jax.device_get hands over live in XLA's allocator,
    which tracemalloc does not see. The default (events, 20 Hz) adds far less while the
    raster is not read (measured 0.03x)."""
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"resident memory added / raster: {out}")
    assert out["dense_spikes"] > 200_000, out  # 3000 x 4 s x 20 Hz = 240 000
    assert out["dense"] <= 1.2, out
    assert out["default"] <= 0.2 and out["default_spikes"] == out["dense_spikes"], out
