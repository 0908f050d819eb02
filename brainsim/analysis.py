"""Spike-train statistics: pure array functions on spike rasters, no plotting.

A raster is a boolean or 0/1 array ``(n_steps, n_neurons)`` sampled every ``dt`` ms, or
the same spikes as ``bs.SpikeEvents`` (``bs.Record(..., events=True)``).
"""

import numpy as np

from ._checks import check_positive
from .monitors import SpikeEvents, to_events


def _events(spikes) -> SpikeEvents:
    if isinstance(spikes, SpikeEvents):  # (arrays, or bs.io.StoredArray: read here)
        return SpikeEvents(np.asarray(spikes.steps), np.asarray(spikes.neurons), spikes.shape)
    return to_events(np.asarray(spikes), 0)


def firing_rate(spikes, dt: float):
    """Mean firing rate of each neuron (Hz): spike count / duration. ``(n,)``."""
    check_positive("firing_rate.dt", dt, "ms")
    ev = _events(spikes)
    n_steps, n = ev.shape
    return np.bincount(ev.neurons, minlength=n) / (n_steps * dt * 1e-3)


def population_rate(spikes, dt: float, window: float | None = None):
    """Population rate over time (Hz per neuron), ``(n_steps,)``, optionally smoothed by
    a centred moving average of ``window`` ms (> 0). Near the ends the average is over
    the steps of the window that lie inside the recording (no zero padding, so a
    constant rate stays constant up to the edges)."""
    check_positive("population_rate.dt", dt, "ms")
    ev = _events(spikes)
    n_steps, n = ev.shape
    rate = np.bincount(ev.steps, minlength=n_steps) / max(n, 1) / (dt * 1e-3)
    if window is not None:
        check_positive("population_rate.window", window, "ms")
        box = np.ones(max(1, round(window / dt)))
        inside = np.convolve(np.ones(n_steps), box, mode="same")
        rate = np.convolve(rate, box, mode="same") / inside
    return rate


def isi_cv(spikes, dt: float, min_spikes: int = 3):
    """Coefficient of variation of the inter-spike intervals of each neuron, ``(n,)``;
    NaN for neurons with fewer than ``min_spikes`` spikes."""
    check_positive("isi_cv.dt", dt, "ms")
    ev = _events(spikes)
    n = ev.shape[1]
    order = np.lexsort((ev.steps, ev.neurons))
    steps, neurons = ev.steps[order], ev.neurons[order]
    cv = np.full(n, np.nan)
    if steps.size < 2:
        return cv
    same = neurons[1:] == neurons[:-1]
    isi = (np.diff(steps) * dt)[same]
    owner = neurons[1:][same]
    count = np.bincount(owner, minlength=n)
    mean = np.bincount(owner, isi, n) / np.maximum(count, 1)
    sq = np.bincount(owner, isi**2, n) / np.maximum(count, 1)
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    ok = count >= min_spikes - 1
    cv[ok] = std[ok] / mean[ok]
    return cv


def spike_times(spikes, dt: float, t0: float = 0.0):
    """``(times_ms, neuron_indices)`` of all spikes, sorted by time."""
    check_positive("spike_times.dt", dt, "ms")
    ev = _events(spikes)
    return t0 + (ev.steps + 1) * dt, ev.neurons
