"""``bs.plot`` and ``bs.io.to_neo`` read a recording's spikes as events: for spikes
recorded as events (the default), no dense raster is made (the call's peak memory stays
far below the raster's size), and what they draw or write are exactly the events."""

import tracemalloc

import numpy as np
import pytest

import brainsim as bs

N_SAMPLES, N, DT = 50_000, 2_000, 0.1
RASTER_BYTES = N_SAMPLES * N  # the boolean raster these events read as: 100 MB
# Peak bound: measured 4 MB (raster plot), 4 MB (rate plot), 9 MB (to_neo: 2 000
# SpikeTrains) reading the events, 104-109 MB when the raster was made; a quarter of the
# raster separates the two with room for other matplotlib/neo versions.
BOUND = RASTER_BYTES / 4


@pytest.fixture(scope="module")
def events():
    """~5 000 distinct spikes, sorted by time, of 2 000 neurons over 50 000 samples."""
    flat = np.unique(np.random.default_rng(0).integers(0, RASTER_BYTES, 5_000))
    steps, neurons = np.divmod(flat, N)
    return bs.SpikeEvents(steps, neurons.astype(np.int32), (N_SAMPLES, N))


def _recording(events):
    """A recording as ``bs.simulate`` returns one with default (event) spike recording:
    ``rec["E"]["spikes"]`` would read as the 100 MB raster."""
    return bs.Recording({"E": {"spikes": events}}, DT, 0.0, 0.0, N_SAMPLES, rasters=("E",))


def _peak_bytes(call):
    """``(result, peak bytes allocated during call)``; NumPy reports its buffers to
    tracemalloc."""
    tracemalloc.start()
    try:
        out = call()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_raster_plot_reads_events(events):
    plt = pytest.importorskip("matplotlib.pyplot")  # (imported before measuring)
    plt.switch_backend("Agg")
    rec = _recording(events)
    fig, peak = _peak_bytes(lambda: bs.plot.raster(rec, max_neurons=300))
    # A raster would be 100 MB; the events and the figure take a few MB.
    assert peak < BOUND, peak
    drawn = fig.axes[0].collections[0].get_offsets()
    shown = events.neurons < 300
    # spike in sample k is drawn at the end of its window, (k + 1) * dt
    np.testing.assert_allclose(drawn[:, 0], (events.steps[shown] + 1) * DT, rtol=1e-12)
    np.testing.assert_array_equal(drawn[:, 1], events.neurons[shown])
    fig, peak = _peak_bytes(lambda: bs.plot.rate(rec, window=None))
    assert peak < BOUND, peak
    rate = fig.axes[0].lines[0].get_ydata()  # Hz per neuron in each 0.1 ms sample
    count = np.bincount(events.steps, minlength=N_SAMPLES)
    np.testing.assert_allclose(rate * N * DT * 1e-3, count, rtol=1e-12, atol=1e-9)


def test_to_neo_reads_events(events):
    pytest.importorskip("neo")
    rec = _recording(events)
    block, peak = _peak_bytes(lambda: bs.io.to_neo(rec))
    assert peak < BOUND, peak
    trains = block.segments[0].spiketrains
    assert len(trains) == N and sum(len(s) for s in trains) == len(events.steps)
    for j in (0, 1, 777, N - 1):
        want = (events.steps[events.neurons == j] + 1) * DT
        np.testing.assert_allclose(trains[j].magnitude, want, rtol=1e-12)
