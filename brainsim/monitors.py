"""What to record during a simulation, declared up front (like diffrax's ``SaveAt``).

``record={"E": ["spikes", "v"], "I": Record(["spikes"], indices=slice(0, 100), every=10)}``

A variable is a field of the population's state (``"v"``, ``"spike"``...; ``"spikes"`` is
an alias of ``"spike"``). ``every`` records one sample per ``every`` steps: the last value
of the window, except spikes, which record whether the neuron spiked in the window.
With ``events=True`` spikes are kept as ``SpikeEvents`` (memory ∝ number of spikes, like
NEST's spike recorder) instead of a dense ``(n_samples, n)`` raster: each sample is
compacted on the device into ``capacity`` index slots (``bs.ops.compact``); a chunk with
a sample of more spikes is run again with a larger capacity, so nothing is lost.
"""

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from . import ops
from ._checks import check_size

_ALIASES = {"spikes": "spike"}


class SpikeEvents(NamedTuple):
    """The spikes of the recorded neurons as events, sorted by time: spike ``k`` is
    neuron ``neurons[k]`` (position among the recorded neurons) in sample ``steps[k]``
    (0-based, so at time ``rec[pop]["t"][steps[k]]``). ``shape`` is the
    ``(n_samples, n_neurons)`` of the equivalent dense raster."""

    steps: np.ndarray  # (n_spikes,) int64
    neurons: np.ndarray  # (n_spikes,) int32
    shape: tuple[int, int]

    def dense(self) -> np.ndarray:
        """The boolean raster ``(n_samples, n_neurons)``."""
        out = np.zeros(self.shape, bool)
        out[self.steps, self.neurons] = True
        return out


class Record(eqx.Module):
    """Record ``variables`` of one population for neurons ``indices`` (``None``: all;
    a slice or an integer array), one sample every ``every`` steps. ``events=True``:
    spikes are returned as ``SpikeEvents`` rather than a dense raster; ``capacity``:
    the initial number of spikes per sample the device buffer holds (default: 1/32 of
    the recorded neurons, at least 64; grown automatically when a sample has more)."""

    variables: tuple[str, ...] = eqx.field(static=True)
    indices: slice | tuple[int, ...] | None = eqx.field(default=None, static=True)
    every: int = eqx.field(default=1, static=True)
    events: bool = eqx.field(default=False, static=True)
    capacity: int | None = eqx.field(default=None, static=True)

    def __init__(self, variables, indices=None, every=1, events=False, capacity=None):
        self.variables = (variables,) if isinstance(variables, str) else tuple(variables)
        if indices is not None and not isinstance(indices, slice):
            indices = tuple(int(i) for i in np.asarray(indices).ravel())
        self.indices = indices
        check_size("Record.every", every)
        self.every = every
        self.events = bool(events)
        if capacity is not None:
            check_size("Record.capacity", capacity)
        self.capacity = capacity

    def select(self, x):
        """The recorded neurons of ``x (..., n)``."""
        if self.indices is None:
            return x
        if isinstance(self.indices, slice):
            return x[..., self.indices]
        return x[..., jnp.asarray(self.indices, jnp.int32)]


def as_records(record, populations) -> dict[str, Record]:
    """Normalise a ``record=`` argument, checking population and variable names."""
    out = {}
    for name, spec in (record or {}).items():
        if name not in populations:
            raise ValueError(f"record: unknown population {name!r}; known: {sorted(populations)}")
        spec = spec if isinstance(spec, Record) else Record(spec)
        out[name] = spec
    return out


def field_name(variable: str) -> str:
    return _ALIASES.get(variable, variable)


def check_variables(records: dict[str, Record], state) -> None:
    for name, rec in records.items():
        pop_state = state.populations[name]
        for var in rec.variables:
            if not hasattr(pop_state, field_name(var)):
                fields = [f for f in vars(pop_state) if not f.startswith("_")]
                raise ValueError(
                    f"record: population {name!r} has no variable {var!r}; available: {fields}"
                )
        if rec.events and np.ndim(pop_state.spike) > 1:
            raise ValueError(
                f"record: events=True needs an unbatched population, but {name!r} has "
                f"state shape {np.shape(pop_state.spike)}"
            )
        size = np.shape(pop_state.spike)[-1]
        if (
            isinstance(rec.indices, tuple)
            and rec.indices
            and (min(rec.indices) < 0 or max(rec.indices) >= size)
        ):
            raise ValueError(f"record: indices for {name!r} must be in [0, {size - 1}]")


def step_sample(rec: Record, variable: str, pop_state):
    """The value of ``variable`` recorded after one step: spikes as booleans (a quarter
    of the float32 traffic: at 256 000 neurons, writing and re-reading float windows
    took half of CUBA's run time), other variables as they are."""
    x = rec.select(getattr(pop_state, field_name(variable)))
    return x != 0 if is_spikes(variable) else x


def reduce_window(variable: str, window):
    """One sample from a window ``(every, ..., n)`` of per-step values."""
    if field_name(variable) == "spike":
        return jnp.any(window != 0, axis=0)
    return window[-1]


def is_spikes(variable: str) -> bool:
    return field_name(variable) == "spike"


def with_capacity(rec: Record, n: int, at_least: int = 0) -> Record:
    """``rec`` with an event capacity for ``n`` recorded neurons: its own (or the
    default) raised to the next power of two >= ``at_least``, at most ``n``."""
    cap = rec.capacity or max(64, n // 32)
    while cap < at_least:
        cap *= 2
    return Record(rec.variables, rec.indices, rec.every, rec.events, max(1, min(cap, n)))


def device_sample(rec: Record, variable: str, samples):
    """What the device keeps of ``samples (n_samples, n)``: the samples, or for event
    spikes their compacted ``(indices (n_samples, capacity), count (n_samples,))``."""
    if rec.events and is_spikes(variable):
        return ops.compact(samples, rec.capacity)
    return samples


def from_compacted(indices, count, offset: int, n: int) -> SpikeEvents:
    """``SpikeEvents`` of compacted samples (``device_sample``) starting at sample
    ``offset``; every ``count`` must be <= the capacity."""
    kept = np.arange(indices.shape[-1]) < count[:, None]
    steps = np.nonzero(kept)[0]
    return SpikeEvents(steps + offset, indices[kept], (len(count), n))


def to_events(raster, offset: int) -> SpikeEvents:
    """``SpikeEvents`` of a dense ``(n_samples, n)`` raster whose first sample is
    ``offset``. The raster is scanned 8 entries at a time (as uint64 words), several
    times faster than ``np.nonzero`` at the sparsity of spikes."""
    flat = np.ascontiguousarray(raster, bool).reshape(-1)
    m = flat.size // 8 * 8
    words = np.flatnonzero(flat[:m].view(np.uint64))
    candidates = (words[:, None] * 8 + np.arange(8)).ravel()
    hits = np.concatenate([candidates[flat[candidates]], m + np.flatnonzero(flat[m:])])
    steps, neurons = np.divmod(hits, max(raster.shape[1], 1))
    return SpikeEvents(steps + offset, neurons.astype(np.int32), raster.shape)


def join_events(pieces: list[SpikeEvents], n: int) -> SpikeEvents:
    """One ``SpikeEvents`` from consecutive pieces (each ``to_events`` of one chunk)."""
    n_samples = sum(p.shape[0] for p in pieces)
    if not pieces:
        return SpikeEvents(np.zeros(0, np.int64), np.zeros(0, np.int32), (0, n))
    return SpikeEvents(
        np.concatenate([p.steps for p in pieces]),
        np.concatenate([p.neurons for p in pieces]),
        (n_samples, n),
    )
