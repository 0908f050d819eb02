"""The host-side runner: run a network for a duration, recording what was asked for.

Roughly equivalent pure-Python semantics::

    for i in range(round(duration / dt)):
        t = t0 + i * dt
        state, spikes = net.step(state, inputs(t), t=t, dt=dt)
        every `every` steps: append the recorded variables to the recording

``bs.simulate_core`` (``brainsim/core.py``) is that loop as one pure function.
``simulate`` runs the same compiled loop in chunks from the host (``brainsim/_chunks.py``):
after each chunk the recordings move to the host (so device memory stays bounded), the
state is checked for NaNs (which raise), spike-event buffers that overflowed are grown and
the chunk rerun, and a progress bar advances. Called under a JAX transformation, ``simulate`` is
``simulate_core``.
"""

import dataclasses
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import ops
from ._checks import check_size
from ._chunks import chunk_steps as default_chunk_steps
from ._chunks import run_chunks
from ._compile import loop_options
from ._sink import RecordingLayout, RecordingSink
from .core import (
    Recording,
    block_steps,
    float_state,
    plan_run,
    run_steps,
    simulate_core,
)
from .monitors import (
    EVENT_DENSITY_HZ,
    Record,
    as_events,
    event_capacity,
    from_appended,
    grow_capacity,
    is_spikes,
    join_events,
    keep_chunk,
)
from .network import Network, NetworkState

# Compiled chunks by shapes, most recently used last: a repeated run (same network
# shapes, recordings, dt) does not compile again; the oldest is dropped beyond this.
CACHE_SIZE = 8
_COMPILED: OrderedDict = OrderedDict()


def _compile(dyn, stat, static):
    """The compiled chunk ``fn(dyn, i0)`` for ``(net, state, inputs)`` partitioned into
    arrays ``dyn`` and the rest ``stat``, cached by shapes (``CACHE_SIZE`` entries); and
    the compile time."""
    leaves = jax.tree.leaves(dyn)
    key = (
        jax.tree.structure(dyn),
        tuple((x.shape, x.dtype) for x in leaves),
        jax.tree.structure(stat),
        tuple(jax.tree.leaves(stat)),
        _hashable(static),
        ops.settings().kernels,  # the path is chosen while tracing
    )
    try:
        hit = _COMPILED.get(key)
    except TypeError:  # unhashable static leaves: do not cache
        key, hit = None, None
    if hit is not None:
        _COMPILED.move_to_end(key)
        return hit, 0.0
    kwargs = dict(static)

    def run(dyn, i0, t0):
        net, state, inputs = eqx.combine(dyn, stat)
        return run_steps(net, state, inputs, i0, t0=t0, **kwargs)

    start = time.perf_counter()
    traced = jax.jit(run).trace(
        dyn, jax.ShapeDtypeStruct((), jnp.int32), jax.ShapeDtypeStruct((), _time_dtype())
    )
    compiled = traced.lower().compile(loop_options(traced.jaxpr.jaxpr))
    elapsed = time.perf_counter() - start
    if key is not None:
        _COMPILED[key] = compiled
        while len(_COMPILED) > CACHE_SIZE:
            _COMPILED.popitem(last=False)
    return compiled, elapsed


def clear_compiled() -> None:
    """Forget the compiled chunks ``simulate`` keeps (the ``CACHE_SIZE`` most recently
    used, keyed by shapes, dtypes, static arguments and ``bs.ops.settings().kernels``):
    the next run traces and compiles afresh. Needed only after changing something
    tracing reads that the key does not hold, e.g. a module-level size threshold of an
    op."""
    _COMPILED.clear()


def _time_dtype():
    """The dtype of simulated time in the stepped program (JAX's default float: the
    dtype a Python ``t0`` had when it was a constant, so the same times)."""
    return jax.dtypes.canonicalize_dtype(np.float64)


def _hashable(x):
    """``x`` (the static arguments) with its slices (``Record.indices``; unhashable before
    Python 3.12, which made every chunk compile again) as tuples."""
    if isinstance(x, slice):
        return (slice, x.start, x.stop, x.step)
    if isinstance(x, tuple):
        return tuple(map(_hashable, x))
    if isinstance(x, Record):
        return (Record, *(_hashable(getattr(x, f.name)) for f in dataclasses.fields(x)))
    return x


def _check_finite(finite: bool, state: NetworkState, t: float) -> None:
    if finite:
        return
    for name, field, value in float_state(state):
        if not np.all(np.isfinite(np.asarray(value))):
            raise FloatingPointError(
                f"simulate: non-finite values in population {name!r} variable {field!r} "
                f"by t = {t:g} ms (check parameters and dt)"
            )


def _traced(net, state, inputs, t0) -> bool:
    """Whether ``simulate`` is called under a JAX transformation: an argument (or the
    input function's value) is a tracer."""
    probe = inputs(t0) if callable(inputs) else inputs
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((net, state, probe)))


def simulate(
    net: Network,
    state: NetworkState,
    duration: float,
    dt: float = 0.1,
    *,
    record=None,
    inputs: Mapping | Callable | None = None,
    t0: float = 0.0,
    chunk_steps: int | None = None,
    progress: bool | None = None,
    stream: RecordingSink | None = None,
) -> tuple[NetworkState, Recording]:
    """Run ``net`` from ``state`` for ``duration`` ms with steps of ``dt`` ms.

    - ``state``: from ``net.init`` (any ``batch_shape``), or a stack of such states made
      by ``jax.vmap(net.init)`` (run as a batch).
    - ``record``: ``{population: ["spikes", "v", ...] or bs.Record(...)}``.
    - ``inputs``: per-step external input, a dict ``{population: current (pA) or Drive}``
      or a function ``t -> dict`` (traced; ``t`` in ms).
    - ``chunk_steps``: steps per compiled chunk (default: up to 10 000, fewer if the
      recordings of a chunk would exceed 256 MiB).
    - ``progress``: tqdm bar per chunk (default: when there is more than one chunk).
    - ``stream``: where each chunk's recordings go instead of memory (e.g.
      ``bs.io.HDF5Sink(path)``); the recording returned is then the sink's (for a
      file: read from it when used).

    Under a JAX transformation (``jax.jit``, ``jax.vmap``, ``jax.grad``: an argument is
    a tracer) this is ``simulate_core`` (no chunks, progress or event recordings).

    Returns ``(final_state, recording)``.
    """
    if _traced(net, state, inputs, t0):
        if stream is not None:
            raise ValueError("simulate: stream= cannot be used under a JAX transformation")
        return simulate_core(net, state, duration, dt, record=record, inputs=inputs, t0=t0)
    began = time.perf_counter()
    plan = plan_run(net, state, duration, dt, record, inputs)
    records, shapes, base, n_steps = plan.records, plan.shapes, plan.base, plan.n_steps
    evented = {n for n, r in records.items() if as_events(r, shapes[n], plan.stacked)}
    bytes_per_step = sum(  # dense samples; events: the counts and the default buffer
        4 / rec.every * (1 + shapes[n][-1] * EVENT_DENSITY_HZ * rec.every * dt * 1e-3)
        if n in evented and is_spikes(v)
        else math.prod(shapes[n]) * 4 / rec.every
        for n, rec in records.items()
        for v in rec.variables
    )
    if chunk_steps is None:
        chunk_steps = default_chunk_steps(n_steps, base, bytes_per_step)
    check_size("chunk_steps", chunk_steps)
    chunk_steps = max(base, chunk_steps // base * base)
    block = block_steps(base, chunk_steps, n_steps)
    capacities = {
        n: event_capacity(records[n], shapes[n][-1], chunk_steps // records[n].every, dt)
        for n in evented
    }
    static = dict(
        dt=float(dt),
        records=tuple(records.items()),
        block=block,
        stacked=plan.stacked,
        native=not plan.stacked,
        values=False,
    )
    # events: one piece per chunk; dense: one array for the run, filled chunk by chunk
    # (no list of pieces joined at the end: peak memory is the raster, not twice it)
    kept = {name: {} for name in records}
    if stream is not None:
        if not isinstance(stream, RecordingSink):
            raise TypeError(
                f"simulate: stream must be a bs.io.HDF5Sink (a RecordingSink), got {stream!r}"
            )
        stream.open(RecordingLayout(dt, t0, n_steps, records, shapes, frozenset(evented)))
    compile_time = 0.0
    start = np.asarray(t0, _time_dtype())  # traced: a run from another t0 compiles nothing

    def run_chunk(done: int, this: int) -> bool:
        nonlocal state, compile_time
        static.update(n_blocks=this // block, capacities=tuple(sorted(capacities.items())))
        dyn, stat = eqx.partition((net, state, inputs), eqx.is_array)
        fn, elapsed = _compile(dyn, stat, tuple(sorted(static.items())))
        compile_time += elapsed
        new_state, out, bufs, finite = jax.block_until_ready(fn(dyn, np.int32(done), start))
        out, finite = jax.device_get((out, finite))
        ends = {name: int(end) for name, (_, end) in bufs.items()}
        for name, end in ends.items():
            if end >= np.iinfo(np.int32).max:
                raise OverflowError(
                    f"simulate: population {name!r} has 2**31 or more spikes in one chunk; "
                    "pass a smaller chunk_steps"
                )
        grown = {
            name: grow_capacity(ends[name], shapes[name][-1] * (this // records[name].every))
            for name in evented
            if ends[name] > capacities[name]
        }
        if grown:  # more spikes than the buffer holds: run the chunk again, all kept
            capacities.update(grown)
            return False
        state = new_state
        chunk = {name: {} for name in records}
        for name, rec in records.items():
            for v in rec.variables:
                x = out[name][v].reshape(-1, *out[name][v].shape[2:])
                if name in evented and is_spikes(v):
                    buf = np.asarray(bufs[name][0])[: ends[name]]
                    x = from_appended(buf, x, done // rec.every, shapes[name][-1])
                chunk[name][v] = x
                if stream is None:
                    keep_chunk(kept[name], v, x, done // rec.every, n_steps // rec.every)
            if name in evented:  # the next chunk's buffer: room for 25 % more spikes
                capacities[name] = max(
                    capacities[name],
                    grow_capacity(ends[name], shapes[name][-1] * (chunk_steps // rec.every)),
                )
        if stream is not None:
            stream.append(done, this, chunk)
        _check_finite(bool(finite), state, t0 + (done + this) * dt)
        return True

    try:
        run_chunks(n_steps, chunk_steps, run_chunk, progress=progress)
    finally:
        streamed = stream.close() if stream is not None else None
    run_time = time.perf_counter() - began - compile_time
    if streamed is not None:
        streamed.compile_time, streamed.run_time = compile_time, run_time
        return state, streamed
    data = {
        name: {
            v: join_events(kept[name].get(v, []), shapes[name][-1])
            if name in evented and is_spikes(v)
            else kept[name].get(v, np.zeros((0,)))
            for v in rec.variables
        }
        for name, rec in records.items()
    }
    every = tuple((name, rec.every) for name, rec in records.items())
    rasters = tuple(n for n in evented if records[n].events is None)
    return state, Recording(data, dt, compile_time, run_time, n_steps, t0, every, rasters)
