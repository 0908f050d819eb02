"""Raster, rate and trace plots (matplotlib, imported on first use). Each returns the
``Figure``."""

import numpy as np

from . import analysis


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def raster(rec, populations=None, max_neurons: int = 500, ax=None, rate_window: float = 5.0):
    """Spike raster of ``rec`` (a ``Recording`` with ``"spikes"``, dense or events), one
    colour per population, with the population rate (of all recorded neurons) below. At
    most ``max_neurons`` per population are drawn. Spikes are read as events
    (``rec.spike_events``): no dense raster is made for an event recording."""
    plt = _pyplot()
    names = [p for p in (populations or list(rec)) if "spikes" in rec[p]]
    if ax is None:
        fig, (ax, ax_rate) = plt.subplots(
            2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
    else:
        fig, ax_rate = ax.figure, None
    offset = 0
    for name in names:
        spikes = rec.spike_events(name)
        shown = min(max_neurons, spikes.shape[1])
        dt = rec[name]["t"][1] - rec[name]["t"][0] if len(rec[name]["t"]) > 1 else rec.dt
        t, i = analysis.spike_times(spikes, dt, rec[name]["t"][0] - dt)
        ax.scatter(t[i < shown], i[i < shown] + offset, s=1, marker="|", label=name)
        offset += shown
        if ax_rate is not None:
            ax_rate.plot(
                rec[name]["t"],
                analysis.population_rate(spikes, dt, rate_window),
                lw=0.8,
                label=name,
            )
    ax.set_ylabel("neuron")
    ax.legend(loc="upper right", markerscale=8)
    if ax_rate is not None:
        ax_rate.set_ylabel("rate (Hz)")
        ax_rate.set_xlabel("time (ms)")
    else:
        ax.set_xlabel("time (ms)")
    fig.tight_layout()
    return fig


def rate(rec, populations=None, window: float = 5.0, ax=None):
    """Population firing rate (Hz) over time, smoothed over ``window`` ms (from the spike
    events, ``rec.spike_events``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3)) if ax is None else (ax.figure, ax)
    for name in populations or list(rec):
        if "spikes" in rec[name]:
            t = rec[name]["t"]
            dt = t[1] - t[0] if len(t) > 1 else rec.dt
            rate = analysis.population_rate(rec.spike_events(name), dt, window)
            ax.plot(t, rate, label=name)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    ax.legend()
    return fig


def traces(rec, population: str, variable: str = "v", neurons=(0, 1, 2), ax=None):
    """Traces of ``variable`` for a few recorded ``neurons`` of one population."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3)) if ax is None else (ax.figure, ax)
    values = np.asarray(rec[population][variable])
    for n in neurons:
        ax.plot(rec[population]["t"], values[:, n], lw=0.8, label=f"{population}[{n}]")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(variable)
    ax.legend()
    return fig
