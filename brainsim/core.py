"""The pure core of every run: ``simulate_core``, one function of (network, state,
inputs, duration, dt, what to record) that ``jax.jit``, ``jax.vmap`` and ``jax.grad``
transform, in the style of ``diffrax.diffeqsolve``; and the chunk of steps it is made
of, which ``bs.simulate`` runs from the host (``brainsim/simulate.py``).
"""

import math
import weakref
from collections.abc import Callable, Mapping
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import steps
from ._network_checks import check_dt_and_delays, check_inputs
from .monitors import (
    SpikeEvents,
    as_records,
    check_variables,
    is_spikes,
    reduce_window,
    state_value,
    step_sample,
    to_events,
)
from .network import Network, NetworkState, stacked_axes
from .ops.compact import append_spikes


@jax.tree_util.register_pytree_node_class
class Recording(Mapping):
    """``rec[pop][var]``: arrays ``(n_samples, ..., n_recorded)`` (NumPy from
    ``simulate``, JAX from ``simulate_core``); ``rec[pop]["t"]``: the sample times (ms,
    end of each window). Spikes recorded as events by default (``bs.Record(events=None)``)
    are stored as events and read as the boolean raster ``rec[pop]["spikes"]``, made when
    it is read (memory: the events', plus the raster while it is held; reading it again
    while it is held returns the same array); ``rec.spike_events(pop)`` gives the events.
    ``compile_time`` (s): the wall-clock time this call spent compiling (0 when a
    compiled chunk was reused, and in ``simulate_core``, whose caller compiles);
    ``run_time`` (s): the rest of the call (checks, running, collecting the recordings;
    0 in ``simulate_core``). A pytree (its arrays are the leaves), so it can be returned
    from ``jax.jit`` and ``jax.vmap``.

    ``rasters``: the populations whose ``SpikeEvents`` are read as rasters."""

    def __init__(self, data, dt, compile_time, run_time, n_steps, t0=0.0, every=(), rasters=()):
        self._data = data  # {population: {variable: array or SpikeEvents}}
        self.dt = dt
        self.compile_time = compile_time
        self.run_time = run_time
        self.n_steps = n_steps
        self._t0, self._every = t0, dict(every)  # every: ((population, steps), ...)
        self._rasters = tuple(rasters)
        self._held = {}  # (population, variable): weak reference to a raster made

    def __getitem__(self, key):
        k = self._every[key] if key in self._every else 1
        t = self._t0 + self.dt * k * np.arange(1, self.n_steps // k + 1)
        if key not in self._rasters:
            return {**self._data[key], "t": t}
        return _Rasters(self, key, t)

    def raster(self, population: str, variable: str = "spikes"):
        """The boolean raster ``(n_samples, n_recorded)`` of ``population``'s spikes (made
        from their events if they are stored as such, as ``rec[population][variable]``
        reads them)."""
        x = self._data[population][variable]
        if not isinstance(x, SpikeEvents):
            return x
        ref = self._held.get((population, variable))
        x = ref() if ref is not None else None
        if x is None:
            x = self._data[population][variable].dense()
            self._held[population, variable] = weakref.ref(x)
        return x

    def spike_events(self, population: str, variable: str = "spikes"):
        """The spikes of ``population`` as ``SpikeEvents`` however they were recorded
        (a dense raster is converted)."""
        x = self._data[population][variable]
        if isinstance(x, SpikeEvents):
            return x
        if np.ndim(x) != 2:
            raise ValueError(
                f"spike_events: {population}[{variable!r}] has shape {np.shape(x)}; events "
                "need (n_samples, n_neurons): select one batch element first"
            )
        return to_events(np.asarray(x), 0)

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def to_neo(self, populations=None, **kwargs):
        """This recording as a ``neo.Block``: ``bs.io.to_neo(self, populations, **kwargs)``
        (needs the ``neo`` extra)."""
        from .io import to_neo  # io builds on this module: imported when called

        return to_neo(self, populations, **kwargs)

    def tree_flatten(self):
        every = tuple(self._every.items())
        aux = (self.dt, self.compile_time, self.run_time, self.n_steps, self._t0, every)
        return (self._data,), (*aux, self._rasters)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], *aux)

    def __repr__(self):
        shapes = {p: {v: np.shape(a) for v, a in d.items()} for p, d in self._data.items()}
        return f"Recording({shapes}, dt={self.dt}, run_time={self.run_time:.3g} s)"


class _Rasters(Mapping):
    """One population of a ``Recording`` whose spike events read as rasters (made when
    read, ``Recording.raster``)."""

    def __init__(self, rec: Recording, population: str, t):
        self._rec, self._pop, self._t = rec, population, t

    def __getitem__(self, var):
        if var == "t":
            return self._t
        x = self._rec._data[self._pop][var]
        return self._rec.raster(self._pop, var) if isinstance(x, SpikeEvents) else x

    def __contains__(self, var):  # (Mapping's would read the variable: make the raster)
        return var == "t" or var in self._rec._data[self._pop]

    def __iter__(self):
        return iter((*self._rec._data[self._pop], "t"))

    def __len__(self):
        return len(self._rec._data[self._pop]) + 1

    def __repr__(self):
        return f"{{{', '.join(map(repr, self))}}} of {self._pop!r}"


def _inputs_at(inputs, t):
    if inputs is None:
        return None
    return inputs(t) if callable(inputs) else inputs


def _chunk_fn(
    net, state, inputs, i0, *, n_blocks, block, dt, t0, records, capacities, native, values
):
    """Run ``n_blocks * block`` steps from step index ``i0`` (an inner scan of ``block``
    steps inside an outer scan of ``n_blocks``; ``block`` is a multiple of every
    recording interval). Dense recordings: one output slot per sample. Event
    recordings: one flat index buffer per population threaded through the scans with
    its write offset (``ops.append_spikes``: a step writes only its own spikes) and
    the spike count of every sample as the output. When nothing but whole populations'
    spike events is recorded and ``native``, the chunk is one ``Network.step_block`` call
    where the network allows it (the same results; not differentiable or batched).

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
                v: step_sample(rec, v, state_value(net, state, name, v, t=t + dt, dt=dt), values)
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
    events_only = native and all(
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


def float_state(state: NetworkState):
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
    flat = [jnp.ravel(value) for _, _, value in float_state(state)]
    return jnp.all(jnp.isfinite(jnp.concatenate(flat))) if flat else jnp.array(True)


def run_steps(net, state, inputs, i0, *, stacked: int, **static):
    """``_chunk_fn``; for a state stacked by ``jax.vmap(net.init)`` (``stacked`` leading
    axes), vmapped over those axes, its recordings' batch axes placed after the sample
    axes (as for a state of ``batch_shape``)."""
    if not stacked:
        return _chunk_fn(net, state, inputs, i0, **static)
    fn = lambda st: _chunk_fn(net, st, inputs, i0, **static)
    for _ in range(stacked):
        fn = jax.vmap(fn)
    state, out, bufs, finite = fn(state)
    lead = tuple(range(stacked))
    out = jax.tree.map(lambda x: jnp.moveaxis(x, lead, tuple(k + 2 for k in lead)), out)
    return state, out, bufs, jnp.all(finite)


class Plan(NamedTuple):
    """A run's checked arguments: its steps, records (``{population: Record}``), the
    recorded shape of each population, the lcm ``base`` of the recording intervals and
    the stacked axes of the state (``bs.network.stacked_axes``)."""

    n_steps: int
    records: dict
    shapes: dict
    base: int
    stacked: int


def plan_run(net, state, duration, dt, record, inputs) -> Plan:
    """Check a run's arguments (before anything is compiled) and plan it."""
    check_dt_and_delays(net, dt)
    check_inputs(inputs, net.populations)
    n_steps = steps("duration", duration, dt)
    net.check_state(state, dt)
    records = as_records(record, net.populations)
    check_variables(records, state, net)
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
    return Plan(n_steps, records, shapes, base, stacked_axes(state))


def simulate_core(
    net: Network,
    state: NetworkState,
    duration: float,
    dt: float = 0.1,
    *,
    record=None,
    inputs: Mapping | Callable | None = None,
    t0: float = 0.0,
) -> tuple[NetworkState, Recording]:
    """Run ``net`` from ``state`` for ``duration`` ms with steps of ``dt`` ms as one pure
    function: ``jax.jit``, ``jax.vmap`` (over parameters, initial states, inputs, keys)
    and ``jax.grad`` transform it. ``duration``, ``dt``, ``t0`` and ``record`` are static
    (Python numbers and a ``record`` spec as for ``simulate``); the network's arrays, the
    state and the inputs may be traced.

    The same loop as ``simulate``, in one piece: the recordings stay on the device (JAX
    arrays ``(n_samples, ..., n_recorded)``), spikes are recorded dense as the
    populations' spike values (floats, differentiable through surrogate spikes; a window
    of ``every`` steps keeps its largest; ``events=True`` needs ``simulate``), and a
    non-finite final state raises through ``equinox.error_if``. With nothing recorded,
    the steps are one native call where ``Network.step_block`` applies (as in
    ``simulate``); ``jax.vmap`` and derivatives then take the same steps in JAX.

    Returns ``(final_state, recording)``."""
    plan = plan_run(net, state, duration, dt, record, inputs)
    if any(rec.events is True for rec in plan.records.values()):
        raise ValueError(
            "simulate_core: Record(events=True) needs bs.simulate (its event buffers grow "
            "on the host); record spikes densely here"
        )
    block = block_steps(plan.base, plan.n_steps, plan.n_steps)
    static = dict(
        stacked=plan.stacked,
        n_blocks=plan.n_steps // block,
        block=block,
        dt=float(dt),
        t0=float(t0),
        records=tuple(plan.records.items()),
        capacities=(),
        native=False,
        values=True,
    )
    scan = lambda args: run_steps(*args, jnp.int32(0), **static)
    if plan.records or plan.stacked:
        state, out, _, finite = scan((net, state, inputs))
    else:  # the final state only: the native block call where it applies
        block_run = lambda args: args[0].step_block(args[1], args[2], steps=plan.n_steps, dt=dt)
        state, out, _, finite = _transformable(block_run, scan, (net, state, inputs))
    message = "simulate_core: non-finite state values (check parameters and dt)"
    floats, rest = eqx.partition(state, eqx.is_inexact_array)  # (no PRNG keys)
    state = eqx.combine(eqx.error_if(floats, jnp.logical_not(finite), message), rest)
    data = {
        name: {v: x.reshape(-1, *x.shape[2:]) for v, x in out[name].items()}
        for name in plan.records
    }
    every = tuple((name, rec.every) for name, rec in plan.records.items())
    return state, Recording(data, dt, 0.0, 0.0, plan.n_steps, t0, every)


def _transformable(block_run, scan, args):
    """``scan(args)`` (``run_steps``' result), computed as ``block_run(args)`` (a native
    call over all steps: ``(state, _)``, or ``None`` where it does not apply) where no JAX
    transformation needs more; ``jax.vmap`` and derivatives take ``scan`` (the same
    steps in JAX), through ``custom_vmap`` and ``custom_jvp`` rules."""
    dyn, static = eqx.partition(args, eqx.is_array)
    pure = lambda d: scan(eqx.combine(d, static))

    @jax.custom_batching.custom_vmap
    def native(d):
        got = block_run(eqx.combine(d, static))
        if got is None:
            return pure(d)
        return got[0], {}, {}, _finite(got[0])

    @native.def_vmap
    def _(axis_size, in_batched, d):
        axes = jax.tree.map(lambda b: 0 if b else None, in_batched[0])
        out = jax.vmap(pure, in_axes=(axes,))(d)
        return out, jax.tree.map(lambda _: True, out)

    @jax.custom_jvp
    def run(d):
        return native(d)

    run.defjvp(lambda primals, tangents: jax.jvp(pure, primals, tangents))
    return run(dyn)


def block_steps(base: int, chunk_steps: int, n_steps: int, target: int = 16) -> int:
    """Steps per inner scan: the largest multiple of ``base`` up to ``target`` that divides
    every chunk: the outer loop's per-iteration cost is then paid once per block (COBA
    16 000 without recording, CPU time per simulated second on a loaded machine: 0.77 s
    with one step per iteration, 0.27 s with 16)."""
    best = base
    for m in range(1, max(1, target // base) + 1):
        if chunk_steps % (base * m) == 0 and n_steps % (base * m) == 0:
            best = base * m
    return best
