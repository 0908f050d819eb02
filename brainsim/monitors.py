"""What to record during a simulation, declared up front (like diffrax's ``SaveAt``).

``record={"E": ["spikes", "v"], "I": Record(["spikes"], indices=slice(0, 100), every=10)}``

A variable is a field of the population's state (``"v"``, ``"spike"``...; ``"spikes"`` is
an alias of ``"spike"``), or a field of the synaptic state of a projection onto the
population: ``"synapses[k].g"`` (``bs.synaptic(k, "g")``) is the synaptic variable
``g`` of projection ``k`` (its position in the network's projections), shape
``(..., n_post)``. ``every`` records one sample per ``every`` steps: the last value of the
window, except spikes, which record whether the neuron spiked in the window.
By default ``bs.simulate`` records spikes as events (memory ∝ number of spikes, like
NEST's spike recorder or Brian2's SpikeMonitor) rather than as a dense ``(n_samples, n)``
raster on the device: during a chunk every sample appends the indices of its spiking
neurons to one flat device buffer (``bs.ops.append_spikes``, writing only those spikes)
and outputs its spike count; the host rebuilds the sample of each spike from the counts.
A chunk with more spikes than the buffer holds is run again with a larger buffer, so
nothing is lost. ``rec[pop]["spikes"]`` is still the boolean raster, made from the events
when it is read (``Recording.spike_events`` gives the events themselves);
``events=True`` returns ``SpikeEvents`` there instead, ``events=False`` records the dense
raster on the device (as ``bs.simulate_core`` and JAX transformations always do: spikes
as differentiable values).
"""

import math
import re
from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._checks import check_size

_ALIASES = {"spikes": "spike"}
_SYNAPTIC = re.compile(r"synapses\[(\d+)\]\.(\w+)")


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
        out[np.asarray(self.steps), np.asarray(self.neurons)] = True
        return out


class Record(eqx.Module):
    """Record ``variables`` of one population for neurons ``indices`` (``None``: all;
    a slice or an integer array), one sample every ``every`` steps.

    ``events``: how spikes are recorded by ``bs.simulate``. ``None`` (default): as
    events (memory ∝ spikes), read as the dense raster ``rec[pop]["spikes"]`` (made when
    read) or as ``rec.spike_events(pop)``; dense on the device where events cannot be
    (a batched state, ``bs.simulate_core``, under ``jax.jit``/``vmap``/``grad``).
    ``True``: as events, returned as ``SpikeEvents``. ``False``: a dense raster on the
    device (one bit of memory per neuron and sample, as a byte; what training through
    recorded spikes needs). ``capacity``:
    the initial number of spikes the event buffer of one chunk holds (default
    ``event_capacity``: room for a mean rate of 50 Hz; when a chunk has more spikes it is
    run again with room for 25 % more spikes than it had, and later chunks keep that room)."""

    variables: tuple[str, ...] = eqx.field(static=True)
    indices: slice | tuple[int, ...] | None = eqx.field(default=None, static=True)
    every: int = eqx.field(default=1, static=True)
    events: bool | None = eqx.field(default=None, static=True)
    capacity: int | None = eqx.field(default=None, static=True)

    def __init__(self, variables, indices=None, every=1, events=None, capacity=None):
        self.variables = (variables,) if isinstance(variables, str) else tuple(variables)
        if indices is not None and not isinstance(indices, slice):
            indices = tuple(int(i) for i in np.asarray(indices).ravel())
        self.indices = indices
        check_size("Record.every", every)
        self.every = every
        if events not in (None, True, False):
            raise ValueError(f"Record.events must be None, True or False, got {events!r}")
        self.events = None if events is None else bool(events)
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


def as_events(rec: Record, spike_shape: tuple, stacked: int) -> bool:
    """Whether ``bs.simulate`` records the spikes of ``rec`` as events: when asked
    (``events=True``), or by default (``None``) where the population is unbatched and
    the state not stacked; never when ``rec`` records no spikes."""
    if not any(map(is_spikes, rec.variables)) or rec.events is False:
        return False
    return rec.events or (len(spike_shape) == 1 and not stacked)


def field_name(variable: str) -> str:
    return _ALIASES.get(variable, variable)


def synaptic(projection: int, field: str = "g") -> str:
    """The record variable of ``field`` of projection ``projection``'s synaptic state
    (``"synapses[k].g"``), recorded with the projection's postsynaptic population.

    Its sample at time ``T`` (the end of a step) is the value at ``T`` before the arrivals
    of the next step (the kinetics advanced over the step without arrivals: the same
    instant as the population's ``v``). E.g. ``g`` of ``Exponential`` or ``Alpha``
    (nS for a ``Conductance`` output, pA for ``Current``). A projection that shares
    another's trace (``Network.trace_of[k] != k``) has none: its input is in that one's."""
    return f"synapses[{int(projection)}].{field}"


def parse_synaptic(variable: str) -> tuple[int, str] | None:
    """``(projection, field)`` of a ``synaptic`` variable, ``None`` for a population's."""
    m = _SYNAPTIC.fullmatch(variable)
    return None if m is None else (int(m.group(1)), m.group(2))


def state_value(net, state, name: str, variable: str, *, t, dt):
    """The value of ``variable`` of population ``name`` at the end of the step that ends
    at ``t`` (ms), from the network state after that step: a population's field as it
    is, a projection's synaptic field advanced over one more step without arrivals
    (see ``synaptic``)."""
    syn = parse_synaptic(variable)
    if syn is None:
        return getattr(state.populations[name], field_name(variable))
    k, field = syn
    x = state.synapses[k]
    no_arrivals = jnp.zeros_like(getattr(x, field))
    advanced, _ = net.projections[k].synapse.step(x, no_arrivals, t=t, dt=dt)
    return getattr(advanced, field)


def _check_synaptic(net, state, name: str, variable: str) -> bool:
    """Whether ``variable`` is a synaptic one (raising if it names no field of a
    projection onto ``name``)."""
    syn = parse_synaptic(variable)
    if syn is None:
        return False
    k, field = syn
    n = len(net.projections)
    post = getattr(net.projections[k], "post", None) if k < n else None
    x = state.synapses[k] if k < n else None
    if post != name or x is None or not hasattr(x, field):
        onto = [
            synaptic(j, f)
            for j, p in enumerate(net.projections)
            if getattr(p, "post", None) == name and state.synapses[j] is not None
            for f in vars(state.synapses[j])
            if not f.startswith("_")
        ]
        raise ValueError(
            f"record: population {name!r} has no synaptic variable {variable!r} (a field "
            f"of a projection onto it); available: {onto}"
        )
    return True


def check_variables(records: dict[str, Record], state, net) -> None:
    for name, rec in records.items():
        pop_state = state.populations[name]
        fields = [field_name(v) for v in rec.variables]
        if len(set(fields)) < len(fields):
            raise ValueError(
                f"record: population {name!r} lists a variable twice: {rec.variables}"
            )
        for var in rec.variables:
            if _check_synaptic(net, state, name, var):
                continue
            if not hasattr(pop_state, field_name(var)):
                fields = [f for f in vars(pop_state) if not f.startswith("_")]
                raise ValueError(
                    f"record: population {name!r} has no variable {var!r}; available: {fields}"
                )
        if rec.events is True and np.ndim(pop_state.spike) > 1:
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


def step_sample(rec: Record, variable: str, value, values: bool = False):
    """The sample of ``variable`` (``value``: from ``state_value``) after one step:
    spikes as booleans (a quarter of the float32 traffic: at 256 000 neurons, writing and
    re-reading float windows took half of CUBA's run time), other variables as they are;
    ``values``: spikes as the population's spike values too (differentiable through
    surrogate spikes)."""
    x = rec.select(value)
    return x != 0 if is_spikes(variable) and not values else x


def reduce_window(variable: str, window):
    """One sample from a window ``(every, ..., n)`` of per-step values: the last value,
    for spikes the largest (booleans: whether the neuron spiked)."""
    if field_name(variable) == "spike":
        return jnp.max(window, axis=0)
    return window[-1]


def is_spikes(variable: str) -> bool:
    return field_name(variable) == "spike"


EVENT_DENSITY_HZ = 50.0  # mean rate the default event buffer has room for


def _pow2(x: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(x, 1))))


def event_capacity(rec: Record, n: int, n_samples: int, dt: float) -> int:
    """Slots of a chunk's event buffer for ``n_samples`` samples of ``n`` neurons:
    ``rec.capacity``, or room for a mean rate of ``EVENT_DENSITY_HZ`` (a power of two, at
    least 1024); never more than ``n * n_samples`` (every neuron in every sample)."""
    if rec.capacity is None:
        p = min(1.0, EVENT_DENSITY_HZ * rec.every * dt * 1e-3)
        cap = max(1024, _pow2(n * n_samples * p))
    else:
        cap = rec.capacity
    return max(1, min(cap, n * n_samples))


def grow_capacity(spikes: int, most: int) -> int:
    """A buffer for ``spikes`` spikes with 25 % room: the next power of two above
    ``1.25 * spikes`` (powers of two: few distinct shapes, so few recompilations), at
    most ``most``."""
    return max(1, min(_pow2(1.25 * spikes), most))


def from_appended(neurons, counts, offset: int, n: int) -> SpikeEvents:
    """``SpikeEvents`` of one chunk's event buffer: ``neurons`` the appended indices (the
    used part of the buffer), ``counts (n_samples,)`` the spikes of each sample, the first
    sample being ``offset``."""
    counts = np.asarray(counts).reshape(-1)
    if counts.sum() != len(neurons):
        raise RuntimeError(
            f"event buffer holds {len(neurons)} spikes but the samples count {counts.sum()}"
        )
    steps = np.repeat(np.arange(offset, offset + counts.size, dtype=np.int64), counts)
    return SpikeEvents(steps, np.asarray(neurons, np.int32), (counts.size, n))


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


def keep_chunk(kept: dict, variable: str, x, first: int, n_samples: int) -> None:
    """Keep one chunk's recording ``x`` of ``variable`` (samples ``first ...``) in
    ``kept``: ``SpikeEvents`` appended to a list, dense samples written into one array
    of the run's ``n_samples`` (made at the first chunk)."""
    if isinstance(x, SpikeEvents):
        kept.setdefault(variable, []).append(x)
        return
    if variable not in kept:
        kept[variable] = np.empty((n_samples, *x.shape[1:]), x.dtype)
    kept[variable][first : first + len(x)] = x


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


def merge_events(parts: list[SpikeEvents]) -> SpikeEvents:
    """One population's ``SpikeEvents`` from those of every process of a multi-process
    run (each: that process's own neurons, global indices, the same ``shape``): all
    spikes, sorted by step and, within a step, by neuron (as a single-process run
    records them)."""
    if not parts:
        raise ValueError("merge_events needs at least one SpikeEvents, got none")
    shapes = {tuple(p.shape) for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"merge_events: the parts have different shapes {sorted(shapes)}")
    steps = np.concatenate([np.asarray(p.steps, np.int64) for p in parts])
    neurons = np.concatenate([np.asarray(p.neurons, np.int32) for p in parts])
    order = np.lexsort((neurons, steps))
    return SpikeEvents(steps[order], neurons[order], shapes.pop())


def merge_blocks(bufs, ends, counts, offset: int, local: int, size: int) -> SpikeEvents:
    """One chunk's ``SpikeEvents`` (of a population of ``size`` neurons) from the event
    buffers this process holds: ``bufs``, ``ends`` and ``counts`` the ``local_blocks`` of
    the devices' buffers (local indices), their ends and the spike counts ``(n_steps,
    n_shards)``. Global indices (device ``d`` holds neurons ``[d local, (d + 1) local)``),
    sorted by step and, within a step, by neuron (a stable sort of the devices' lists
    taken in device order)."""
    parts = [
        from_appended(buf[: end[0]] + d * local, count, offset, size)
        for (_, buf), (d, end), (_, count) in zip(bufs, ends, counts, strict=True)
    ]
    steps = np.concatenate([p.steps for p in parts])
    order = np.argsort(steps, kind="stable")
    neurons = np.concatenate([p.neurons for p in parts])
    return SpikeEvents(steps[order], neurons[order], (counts[0][1].shape[0], size))
