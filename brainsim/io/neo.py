"""Recordings as Neo objects (``neo.Block``), for Elephant, NWB, PyNN-style analysis.

Needs the ``neo`` and ``quantities`` packages (``pip install 'brainsim[neo]'``).
"""

import numpy as np

from .._optional import require
from ..monitors import is_spikes

# Units of the state variables whose unit is the same in every brainsim model; others
# are written dimensionless unless ``units`` names them.
UNITS = {"v": "mV", "theta": "mV", "w": "pA"}


def _period(t, n_steps: int, dt: float) -> float:
    """The sampling period (ms) of sample times ``t`` (the end of each window)."""
    if len(t) >= 2:
        return float(t[1] - t[0])
    return float(dt * n_steps)  # one sample: its window is the whole run


def to_neo(recording, populations=None, *, units=None, name: str = "brainsim"):
    """A ``neo.Block`` with one ``Segment`` holding the recording of ``populations``
    (default: all), and one ``neo.Group`` per population gathering its objects.

    - Spikes (``"spikes"``/``"spike"``, dense or ``SpikeEvents``): one ``SpikeTrain`` per
      recorded neuron, in ms, made from the events (``Recording.spike_events``: no dense
      raster is made for an event recording). A spike recorded in sample ``k`` is at
      ``t[k]``, the end of its window (``bs.analysis.spike_times``); ``t_start`` is the
      start of the first window, ``t_stop`` the end of the last.
    - Any other variable: one ``AnalogSignal`` ``(n_samples, n_recorded)`` named after
      it, ``t_start = t[0]`` (the first sample), ``sampling_period`` the recording
      interval, in the unit of ``units[var]`` (a ``quantities`` unit string), else
      ``UNITS`` (``v``, ``theta`` mV; ``w`` pA), else dimensionless.

    Every object is annotated with its ``population``; a spike train also with
    ``index``, the neuron's position among the recorded ones.
    """
    neo = require("neo", "neo")
    pq = require("quantities", "neo")
    pops = _populations(recording, populations)
    units = {**UNITS, **_units(pq, units)}
    missing = [p for p in pops if p not in recording]
    if missing:
        raise ValueError(
            f"to_neo: populations {missing} are not in the recording {list(recording)}"
        )
    block = neo.Block(name=name)
    seg = neo.Segment(name=name)
    block.segments.append(seg)
    for pop in pops:
        data = recording[pop]
        t = np.asarray(data["t"], np.float64)
        period = _period(t, recording.n_steps, recording.dt)
        group = neo.Group(name=pop)
        for var in data:  # (not .items(): reading spikes recorded as events makes a raster)
            if var == "t":
                continue
            if is_spikes(var):  # as events, however they were recorded
                trains = _spiketrains(neo, pq, pop, recording.spike_events(pop, var), t, period)
                seg.spiketrains.extend(trains)
                group.spiketrains.extend(trains)
                continue
            x = data[var]
            if np.ndim(x) != 2:
                raise ValueError(
                    f"to_neo: {pop}[{var!r}] has shape {np.shape(x)}; Neo takes "
                    "(n_samples, n_neurons): select one batch element first"
                )
            signal = neo.AnalogSignal(
                np.asarray(x),
                units=units.get(var, "dimensionless"),
                t_start=t[0] * pq.ms,
                sampling_period=period * pq.ms,
                name=var,
                population=pop,
            )
            seg.analogsignals.append(signal)
            group.analogsignals.append(signal)
        block.groups.append(group)
    block.check_relationships()
    return block


def _populations(recording, populations) -> list:
    """The population names asked for: all (``None``), one name, or an iterable of names."""
    if populations is None:
        return list(recording)
    if isinstance(populations, str):
        return [populations]
    iterable = hasattr(populations, "__iter__") and not hasattr(populations, "items")
    pops = list(populations) if iterable else None  # (a dict would pass its keys)
    if pops is None or not all(isinstance(p, str) for p in pops):
        raise TypeError(
            "to_neo: populations must be None, a population name or a list of names, got "
            f"{populations!r}"
        )
    return pops


def _units(pq, units) -> dict:
    """``units`` checked: a mapping of variable names to ``quantities`` unit strings."""
    if units is None:
        return {}
    if not hasattr(units, "items"):
        raise TypeError(f"to_neo: units must be a dict {{variable: unit}}, got {units!r}")
    for var, unit in units.items():
        try:
            pq.Quantity(1.0, unit)
        except (LookupError, TypeError, ValueError):
            raise ValueError(
                f"to_neo: units[{var!r}] must be a unit such as 'mV' or 'pA', got {unit!r}"
            ) from None
    return dict(units)


def _spiketrains(neo, pq, pop, events, t, period):
    """One ``SpikeTrain`` per recorded neuron from ``events`` (``SpikeEvents``)."""
    steps, neurons, n = np.asarray(events.steps), np.asarray(events.neurons), events.shape[1]
    order = np.lexsort((steps, neurons))
    steps, neurons = steps[order], neurons[order]
    bounds = np.searchsorted(neurons, np.arange(n + 1))
    t_start, t_stop = (t[0] - period if len(t) else 0.0), (t[-1] if len(t) else 0.0)
    return [
        neo.SpikeTrain(
            t[steps[bounds[j] : bounds[j + 1]]] * pq.ms,
            t_start=t_start * pq.ms,
            t_stop=t_stop * pq.ms,
            population=pop,
            index=j,
        )
        for j in range(n)
    ]
