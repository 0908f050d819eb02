"""The scan runner: run a network for a duration, recording what was asked for.

Roughly equivalent pure-Python semantics::

    for i in range(round(duration / dt)):
        t = t0 + i * dt
        state, spikes = net.step(state, inputs(t), t=t, dt=dt)
        every `every` steps: append the recorded variables to the recording

The steps run inside one ``jax.lax.scan`` compiled once per shape, in chunks: after
each chunk the recordings move to the host (so device memory stays bounded), the state
is checked for NaNs (which raise), and a progress bar advances.
"""

import math
import time
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_size, steps
from ._compile import loop_options
from ._network_checks import check_dt_and_delays, check_inputs
from .monitors import (
    EVENT_DENSITY_HZ,
    as_records,
    check_variables,
    event_capacity,
    from_appended,
    grow_capacity,
    is_spikes,
    join_events,
    reduce_window,
    step_sample,
)
from .network import Network, NetworkState
from .ops.compact import append_spikes

_COMPILED: dict = {}
_CHUNK_BYTES = 256 * 2**20


class Recording(Mapping):
    """``rec[pop][var]``: NumPy arrays ``(n_samples, n_recorded)``; ``rec[pop]["t"]``: the
    sample times (ms, end of each window). ``compile_time`` (s): the wall-clock time
    this call spent compiling (0 when a compiled chunk was reused); ``run_time`` (s): the
    rest of the call (checks, running, collecting the recordings)."""

    def __init__(self, data, dt, compile_time, run_time, n_steps):
        self._data = data
        self.dt = dt
        self.compile_time = compile_time
        self.run_time = run_time
        self.n_steps = n_steps

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __repr__(self):
        shapes = {p: {v: np.shape(a) for v, a in d.items()} for p, d in self._data.items()}
        return f"Recording({shapes}, dt={self.dt}, run_time={self.run_time:.3g} s)"


def _inputs_at(inputs, t):
    if inputs is None:
        return None
    return inputs(t) if callable(inputs) else inputs


def _chunk_fn(net, state, inputs, i0, *, n_blocks, block, dt, t0, records, capacities):
    """Run ``n_blocks * block`` steps from step index ``i0`` (an inner scan of ``block``
    steps inside an outer scan of ``n_blocks``; ``block`` is a multiple of every
    recording interval). Dense recordings: one output slot per sample. Event
    recordings: one flat index buffer per population threaded through the scans with
    its write offset (``ops.append_spikes``: a step writes only its own spikes) and
    the spike count of every sample as the output. When nothing but whole populations'
    spike events is recorded, the chunk is one ``Network.step_block`` call where the
    network allows it (the same results).

    Returns ``(state, outputs, {population: (buffer, end)}, finite)``."""
    records, capacities = dict(records), dict(capacities)
    per_step = {n for n in capacities if records[n].every == 1}

    def one_step(carry, i):
        state, bufs = carry
        t = t0 + i * dt
        state, _ = net.step(state, _inputs_at(inputs, t), t=t, dt=dt)
        bufs, sample, counts = dict(bufs), {}, {}
        for name, rec in records.items():
            pop = state.populations[name]
            sample[name] = {
                v: step_sample(rec, v, pop)
                for v in rec.variables
                if not (name in per_step and is_spikes(v))
            }
            if name in per_step:  # the spike vector as it is (no boolean copy)
                buf, off = bufs[name]
                buf, end = append_spikes(rec.select(pop.spike), buf, off)
                bufs[name], counts[name] = (buf, end), end - off
        return (state, bufs), (sample, counts)

    def append_sample(buf_off, sample):
        buf, end = append_spikes(sample, *buf_off)
        return (buf, end), end - buf_off[1]

    def one_block(carry, b):
        idx = i0 + b * block + jnp.arange(block)
        (state, bufs), (window, step_counts) = jax.lax.scan(one_step, carry, idx)
        bufs, out = dict(bufs), {}
        for name, rec in records.items():
            k, out[name] = rec.every, {}
            for v in rec.variables:
                if name in per_step and is_spikes(v):
                    out[name][v] = step_counts[name]
                    continue
                w = window[name][v]
                samples = jax.vmap(lambda x, v=v: reduce_window(v, x))(
                    w.reshape(block // k, k, *w.shape[1:])
                )
                if name in capacities and is_spikes(v):
                    bufs[name], samples = jax.lax.scan(append_sample, bufs[name], samples)
                out[name][v] = samples
        return (state, bufs), out

    bufs = {name: (jnp.zeros(cap, jnp.int32), jnp.int32(0)) for name, cap in capacities.items()}
    # Only spike events of whole populations (or nothing) recorded: the chunk may be one
    # native call (``Network.step_block``, the same results; ``None`` where it does not
    # apply), without a call, loop iteration and glue per step.
    events_only = all(
        name in per_step and rec.indices is None and all(map(is_spikes, rec.variables))
        for name, rec in records.items()
    )
    got = None
    if events_only:
        got = net.step_block(state, inputs, steps=n_blocks * block, dt=dt, record=bufs)
    if got is not None:
        state, res = got
        bufs = {name: (buf, end) for name, (buf, end, _) in res.items()}
        out = {
            name: {v: res[name][2].reshape(n_blocks, block) for v in rec.variables}
            for name, rec in records.items()
        }
        return state, out, bufs, _finite(state)
    # unroll=2 halves the outer loop overhead (measured ~30 % on COBA at 4000 on CPU with
    # one step per block)
    (state, bufs), out = jax.lax.scan(one_block, (state, bufs), jnp.arange(n_blocks), unroll=2)
    return state, out, bufs, _finite(state)


def _float_state(state: NetworkState):
    """``(population, variable, array)`` for the floating-point state variables."""
    return [
        (name, field, value)
        for name, pop_state in state.populations.items()
        for field, value in vars(pop_state).items()
        if eqx.is_inexact_array(value)
    ]


def _finite(state: NetworkState) -> jax.Array:
    """Whether every floating-point state variable is finite: one reduction over all of
    them (one per variable made ~14 of a COBA chunk's ~37 compiled kernels)."""
    flat = [jnp.ravel(value) for _, _, value in _float_state(state)]
    return jnp.all(jnp.isfinite(jnp.concatenate(flat))) if flat else jnp.array(True)


def _compile(dyn, stat, static):
    """The compiled chunk ``fn(dyn, i0)`` for ``(net, state, inputs)`` partitioned into
    arrays ``dyn`` and the rest ``stat``, cached by shapes; and the compile time."""
    leaves = jax.tree.leaves(dyn)
    key = (
        jax.tree.structure(dyn),
        tuple((x.shape, x.dtype) for x in leaves),
        jax.tree.structure(stat),
        tuple(jax.tree.leaves(stat)),
        static,
    )
    try:
        hit = _COMPILED.get(key)
    except TypeError:  # unhashable static leaves: do not cache
        key, hit = None, None
    if hit is not None:
        return hit, 0.0
    kwargs = dict(static)

    def run(dyn, i0):
        net, state, inputs = eqx.combine(dyn, stat)
        return _chunk_fn(net, state, inputs, i0, **kwargs)

    start = time.perf_counter()
    traced = jax.jit(run).trace(dyn, jax.ShapeDtypeStruct((), jnp.int32))
    compiled = traced.lower().compile(loop_options(traced.jaxpr.jaxpr))
    elapsed = time.perf_counter() - start
    if key is not None:
        _COMPILED[key] = compiled
    return compiled, elapsed


def _check_finite(finite: bool, state: NetworkState, t: float) -> None:
    if finite:
        return
    for name, field, value in _float_state(state):
        if not np.all(np.isfinite(np.asarray(value))):
            raise FloatingPointError(
                f"simulate: non-finite values in population {name!r} variable {field!r} "
                f"by t = {t:g} ms (check parameters and dt)"
            )


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
) -> tuple[NetworkState, Recording]:
    """Run ``net`` from ``state`` for ``duration`` ms with steps of ``dt`` ms.

    - ``record``: ``{population: ["spikes", "v", ...] or bs.Record(...)}``.
    - ``inputs``: per-step external input, a dict ``{population: current (pA) or Drive}``
      or a function ``t -> dict`` (traced; ``t`` in ms).
    - ``chunk_steps``: steps per compiled chunk (default: up to 10 000, fewer if the
      recordings of a chunk would exceed 256 MiB).
    - ``progress``: tqdm bar per chunk (default: when there is more than one chunk).

    Returns ``(final_state, recording)``.
    """
    began = time.perf_counter()
    check_dt_and_delays(net, dt)
    check_inputs(inputs, net.populations)
    n_steps = steps("duration", duration, dt)
    net.check_state(state, dt)
    records = as_records(record, net.populations)
    check_variables(records, state)
    base = math.lcm(1, *(r.every for r in records.values()))
    if n_steps % base:
        raise ValueError(
            f"duration must be a multiple of every*dt = {base * dt:g} ms "
            f"(lcm of the recording intervals), got {duration:g} ms"
        )
    shapes = {
        n: np.shape(rec.select(np.empty(np.shape(state.populations[n].spike))))
        for n, rec in records.items()
    }
    evented = {n for n, r in records.items() if r.events and any(map(is_spikes, r.variables))}
    bytes_per_step = sum(  # dense samples; events: the counts and the default buffer
        4 / rec.every * (1 + shapes[n][-1] * EVENT_DENSITY_HZ * rec.every * dt * 1e-3)
        if n in evented and is_spikes(v)
        else math.prod(shapes[n]) * 4 / rec.every
        for n, rec in records.items()
        for v in rec.variables
    )
    if chunk_steps is None:
        chunk_steps = _chunk_steps(n_steps, base, _CHUNK_BYTES / max(bytes_per_step, 1))
    check_size("chunk_steps", chunk_steps)
    chunk_steps = max(base, chunk_steps // base * base)
    block = _block(base, chunk_steps, n_steps)
    capacities = {
        n: event_capacity(records[n], shapes[n][-1], chunk_steps // records[n].every, dt)
        for n in evented
    }
    static = dict(dt=float(dt), t0=float(t0), records=tuple(records.items()), block=block)
    pieces = {name: {v: [] for v in rec.variables} for name, rec in records.items()}
    compile_time, done = 0.0, 0
    n_chunks = -(-n_steps // chunk_steps) if n_steps else 0
    show = n_chunks > 1 if progress is None else progress
    bar = _progress(n_chunks, show)
    while done < n_steps:
        this = min(chunk_steps, n_steps - done)
        static.update(n_blocks=this // block, capacities=tuple(sorted(capacities.items())))
        dyn, stat = eqx.partition((net, state, inputs), eqx.is_array)
        fn, elapsed = _compile(dyn, stat, tuple(sorted(static.items())))
        compile_time += elapsed
        new_state, out, bufs, finite = jax.block_until_ready(fn(dyn, np.int32(done)))
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
            continue
        state = new_state
        for name, rec in records.items():
            for v in rec.variables:
                x = out[name][v].reshape(-1, *out[name][v].shape[2:])
                if name in evented and is_spikes(v):
                    buf = np.asarray(bufs[name][0])[: ends[name]]
                    x = from_appended(buf, x, done // rec.every, shapes[name][-1])
                pieces[name][v].append(x)
            if name in evented:  # the next chunk's buffer: room for 25 % more spikes
                capacities[name] = max(
                    capacities[name],
                    grow_capacity(ends[name], shapes[name][-1] * (chunk_steps // rec.every)),
                )
        done += this
        _check_finite(bool(finite), state, t0 + done * dt)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    data = {}
    for name, rec in records.items():
        data[name] = {
            v: _join(name in evented and is_spikes(v), pieces[name][v], shapes[name][-1])
            for v in rec.variables
        }
        data[name]["t"] = t0 + dt * rec.every * np.arange(1, n_steps // rec.every + 1)
    run_time = time.perf_counter() - began - compile_time
    return state, Recording(data, dt, compile_time, run_time, n_steps)


def _block(base: int, chunk_steps: int, n_steps: int, target: int = 16) -> int:
    """Steps per inner scan: the largest multiple of ``base`` up to ``target`` that divides
    every chunk: the outer loop's per-iteration cost is then paid once per block (COBA
    16 000 without recording, CPU time per simulated second on a loaded machine: 0.77 s
    with one step per iteration, 0.27 s with 16)."""
    best = base
    for m in range(1, max(1, target // base) + 1):
        if chunk_steps % (base * m) == 0 and n_steps % (base * m) == 0:
            best = base * m
    return best


def _join(events: bool, pieces, n):
    """A recording from its per-chunk pieces."""
    if events:
        return join_events(pieces, n)
    return np.concatenate(pieces) if pieces else np.zeros((0,))


def _chunk_steps(n_steps: int, block: int, max_steps: float) -> int:
    """Steps per chunk: at most 10 000 and ``max_steps``, preferably a divisor of
    ``n_steps`` (equal chunks compile once; a remainder chunk compiles a second time)."""
    n_blocks = max(n_steps // block, 1)
    limit = max(1, min(n_blocks, int(min(10_000, max_steps)) // block))
    best = next(d for d in range(limit, 0, -1) if n_blocks % d == 0)
    return block * (best if best * 2 > limit else limit)


def _progress(total, show):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="chunk", desc="simulate")
