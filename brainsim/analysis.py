"""Spike-train statistics: pure array functions on spike rasters, no plotting.

A raster is a boolean or 0/1 array ``(n_steps, n_neurons)`` sampled every ``dt`` ms.
"""

import numpy as np


def firing_rate(spikes, dt: float):
    """Mean firing rate of each neuron (Hz): spike count / duration. ``(n,)``."""
    spikes = np.asarray(spikes)
    duration_s = spikes.shape[0] * dt * 1e-3
    return spikes.sum(axis=0) / duration_s


def population_rate(spikes, dt: float, window: float | None = None):
    """Population rate over time (Hz per neuron), ``(n_steps,)``, optionally smoothed by
    a moving average of ``window`` ms."""
    spikes = np.asarray(spikes, float)
    rate = spikes.mean(axis=1) / (dt * 1e-3)
    if window:
        k = max(1, round(window / dt))
        rate = np.convolve(rate, np.ones(k) / k, mode="same")
    return rate


def isi_cv(spikes, dt: float, min_spikes: int = 3):
    """Coefficient of variation of the inter-spike intervals of each neuron, ``(n,)``;
    NaN for neurons with fewer than ``min_spikes`` spikes."""
    spikes = np.asarray(spikes)
    steps, neurons = np.nonzero(spikes)
    order = np.lexsort((steps, neurons))
    steps, neurons = steps[order], neurons[order]
    cv = np.full(spikes.shape[1], np.nan)
    if steps.size < 2:
        return cv
    same = neurons[1:] == neurons[:-1]
    isi = (np.diff(steps) * dt)[same]
    owner = neurons[1:][same]
    count = np.bincount(owner, minlength=spikes.shape[1])
    mean = np.bincount(owner, isi, spikes.shape[1]) / np.maximum(count, 1)
    sq = np.bincount(owner, isi**2, spikes.shape[1]) / np.maximum(count, 1)
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    ok = count >= min_spikes - 1
    cv[ok] = std[ok] / mean[ok]
    return cv


def spike_times(spikes, dt: float, t0: float = 0.0):
    """``(times_ms, neuron_indices)`` of all spikes in a raster, sorted by time."""
    steps, neurons = np.nonzero(np.asarray(spikes))
    return t0 + (steps + 1) * dt, neurons
