"""Populations and projections composed into one ``Network`` with one pure ``step``.

The network only composes: it knows no concrete neuron, synapse, integrator or spike
function. A population whose model offers a fused step with its incoming synapses
(``AbstractNeuron.fuse``, e.g. ``LIF`` with exponential synapses) steps through it.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from . import ops
from ._network_checks import check_dt_and_delays, check_inputs
from ._network_rings import (
    merge_events,
    per_synapse_delays,
    propagate_rings,
    ring_depth,
    ring_owners,
    shared_traces,
)
from ._random import fold_in, split
from .delays import delay_step, delay_steps, init_delay, init_ring
from .gap_junction import GapJunction
from .neurons import AbstractNeuron, Drive, FusedInput
from .projection import Projection, build, step_components


class NetworkState(eqx.Module):
    """State of a ``Network``: one state per population, and per projection its synaptic
    kinetics', delay buffer's, short-term plasticity's and components' states."""

    populations: dict  # name -> neuron state
    synapses: tuple  # per projection: its kinetics' state (None for gap junctions and
    # for projections whose input arrives in another's trace: Network's shared traces)
    delays: tuple  # per projection: DelayState, RingState or None (none kept, or its
    # input in another's ring: Network's shared traces)
    stp: tuple = ()  # per projection: STPState or None
    components: tuple = ()  # per projection: a tuple of its components' states


class Network(eqx.Module):
    """Named populations and the projections between them.

    ``Network(populations, projections, key=key)`` builds every projection's
    connectivity (deterministically from ``key``). ``init(key, dt=)`` gives the state;
    ``step(state, inputs, t=, dt=)`` advances it one step and returns the spikes of every
    population. In a step, spikes emitted in the previous step (or ``delay`` earlier)
    reach the synapses, synaptic variables update, then neurons integrate and spike.
    Projections with per-synapse delays onto one population with equal linear kinetics
    and output share one synaptic state and one delay ring (the first one's), which
    their summed input enters (``shared_traces``: as NEST keeps one ring and one
    current per receptor type).
    """

    populations: dict[str, AbstractNeuron]
    projections: tuple[Projection, ...]
    trace_of: tuple[int, ...] = eqx.field(static=True)  # shared_traces(projections)

    def __init__(self, populations, projections=(), *, key=None):
        populations = dict(populations)
        for name, pop in populations.items():
            if not isinstance(pop, AbstractNeuron):
                raise ValueError(f"population {name!r} must be a neuron model, got {pop!r}")
        built = []
        for k, proj in enumerate(projections):
            for side in ("pre", "post"):
                name = getattr(proj, side)
                if name not in populations:
                    raise ValueError(
                        f"Projection {proj.name}: unknown {side} population "
                        f"{name!r}; known: {sorted(populations)}"
                    )
            sub = None if key is None else fold_in(key, k)
            built.append(build(proj, sub, populations[proj.pre].size, populations[proj.post].size))
        self.populations = populations
        self.projections = tuple(built)
        self.trace_of = shared_traces(self.projections)  # decided once, on concrete values

    def init(self, key, *, dt: float = 0.1, batch_shape: tuple[int, ...] = ()) -> NetworkState:
        """Initial state; ``dt`` (ms) sizes the delay buffers and must match ``step``'s."""
        check_dt_and_delays(self, dt, batch_shape)
        keys = split(key, len(self.populations))  # on the host: no threefry compiled
        # The projections' components draw from their own key (none drawn without them).
        parts = [getattr(p, "components", ()) for p in self.projections]
        sub = fold_in(key, len(self.populations)) if any(parts) else None
        if isinstance(key, jax.core.Tracer):  # inside the caller's jit/vmap: traced there
            return self._init(keys, sub, float(dt), tuple(batch_shape))
        # One compiled program instead of dozens of eagerly compiled small ops; bad delays
        # raise while it is traced, before anything is compiled.
        return _init(self, keys, sub, float(dt), tuple(batch_shape))

    def _init(self, keys, key, dt, batch_shape) -> NetworkState:
        # Keys by sorted name: a dict passed through a transformation comes back sorted,
        # so insertion order would give another state under jit than eagerly.
        names = sorted(self.populations)
        got = {
            n: self.populations[n].init(k, batch_shape) for k, n in zip(keys, names, strict=True)
        }
        pops = {name: got[name] for name in self.populations}
        syn, delays, stp, parts = [], [], [], []
        owners = ring_owners(self.projections, self.trace_of)
        for k, proj in enumerate(self.projections):
            n_pre, n_post = self.populations[proj.pre].size, self.populations[proj.post].size
            if isinstance(proj, GapJunction):
                syn.append(None), delays.append(None), stp.append(None), parts.append(())
                continue
            parts.append(
                tuple(
                    c.init(fold_in(fold_in(key, k), j), proj, batch_shape, dt=dt)
                    for j, c in enumerate(proj.components)
                )
            )
            own = self.trace_of[k] == k
            syn.append(proj.synapse.init(None, (*batch_shape, n_post), dt=dt) if own else None)
            stp.append(None if proj.stp is None else proj.stp.init(None, (*batch_shape, n_pre)))
            if per_synapse_delays(proj.conn) and owners[k] != k:
                delays.append(None)
            elif per_synapse_delays(proj.conn):
                depth = ring_depth(self.projections, owners, k, dt)
                delays.append(init_ring(depth, batch_shape, n_post))
            else:
                delays.append(init_delay(delay_steps(proj.delay, dt), (*batch_shape, n_pre)))
        return NetworkState(pops, tuple(syn), tuple(delays), tuple(stp), tuple(parts))

    def check_state(self, state: NetworkState, dt: float) -> None:
        """Raise ``ValueError`` if ``state`` was initialised for another ``dt``. A state
        made by ``jax.vmap(net.init)`` (every leaf with leading batch axes, the delay
        cursors too) is checked as the states it stacks."""
        owners = ring_owners(self.projections, self.trace_of)
        for k, (proj, d) in enumerate(zip(self.projections, state.delays, strict=True)):
            if isinstance(proj, GapJunction) or d is None:
                continue
            if per_synapse_delays(proj.conn):
                if d.buffer.shape[-2] == ring_depth(self.projections, owners, k, dt):
                    continue
            elif d.buffer.shape[d.cursor.ndim] == delay_steps(proj.delay, dt) - 1:
                continue
            raise ValueError(
                f"dt={dt:g} ms does not match the dt the state was initialised "
                f"with (projection {proj.name}); call net.init(key, dt={dt:g})"
            )

    def step(self, state: NetworkState, inputs=None, *, t, dt, presynaptic=None):
        """One step. ``inputs``: ``None`` or a dict from population name to an external
        current (pA, scalar or ``(..., n)``) or a ``Drive``. Returns ``(state, spikes)``
        with ``spikes`` a dict of ``(..., n)`` arrays. ``presynaptic``: the spikes each
        population sends its projections this step, ``{name: spikes}`` (default: its
        state's ``spike``; a sharded run passes those of every shard, gathered once).

        Populations whose model ``fuse``s its step with its incoming synapses step
        through that (``AbstractNeuron.fuse``), the whole network in one call where the
        first population's fused step offers it (``AbstractFused.step_network``); the
        others compose the modules' ``step``s. A projection's components
        (``AbstractProjectionComponent``) step first and may change its weight."""
        drives = self._drives(state, inputs)
        n = len(self.projections)
        syn, delays, stp, events = [None] * n, [None] * n, [None] * n, [None] * n
        parts, projs = list(state.components or [()] * n), list(self.projections)
        arriving = {}  # projection index -> spikes reaching its synapses now
        rings = {}  # projection index -> (layout, weight, spikes) sent into its delay ring
        for k, proj in enumerate(self.projections):
            if isinstance(proj, GapJunction):
                continue
            spikes = (
                state.populations[proj.pre].spike if presynaptic is None else presynaptic[proj.pre]
            )
            if proj.components:  # may change the spikes sent and the weight used
                post = state.populations[proj.post].spike
                parts[k], spikes, weight = step_components(
                    proj, state.components[k], spikes, post, t=t, dt=dt
                )
                projs[k] = eqx.tree_at(lambda p: p.weight, proj, weight)
            if proj.stp is not None:
                stp[k], spikes = proj.stp.step(state.stp[k], spikes, t=t, dt=dt)
            if per_synapse_delays(proj.conn):
                rings[k] = (projs[k].conn, projs[k].weight, spikes)
            else:
                delays[k], arriving[k] = delay_step(state.delays[k], spikes)
        owners = ring_owners(self.projections, self.trace_of)
        propagate_rings(projs, state.delays, rings, dt, delays, events, owners)
        merge_events(self.trace_of, events)
        changed = any(getattr(p, "components", ()) for p in self.projections)
        net = eqx.tree_at(lambda x: x.projections, self, tuple(projs)) if changed else self
        rest = tuple(delays), tuple(stp), tuple(parts)
        fused = net._fusions(drives)
        if n and len(fused) == len(net.populations) and len(arriving) == n:
            got = net._step_network(fused, state, drives, arriving, t=t, dt=dt)
            if got is not None:
                pops, syn = got
                spikes = {name: pops[name].spike for name in net.populations}
                return NetworkState(pops, syn, *rest), spikes
        # All projections at once: one fused event-driven call per step where possible.
        ks = list(arriving)
        got = ops.matvec_many(
            [net.projections[k].conn for k in ks],
            [net.projections[k].weight for k in ks],
            [arriving[k] for k in ks],
            [net.projections[k].capacity for k in ks],
        )
        for k, e in zip(ks, got, strict=True):
            events[k] = e
        for k, proj in enumerate(net.projections):
            if isinstance(proj, GapJunction) or proj.post in fused or self.trace_of[k] != k:
                continue
            syn[k], g = proj.synapse.step(state.synapses[k], events[k], t=t, dt=dt)
            v_post = getattr(state.populations[proj.post], "v", None)
            drives[proj.post] = drives[proj.post] + proj.output(g, v_post)
        pops, spikes = {}, {}
        together = net._step_together(state, drives, fused, t=t, dt=dt)
        for name, pop in net.populations.items():
            if name in together:
                pops[name], spikes[name] = together[name]
                continue
            if name not in fused:
                pops[name], spikes[name] = pop.step(
                    state.populations[name], drives[name], t=t, dt=dt
                )
                continue
            ks = net._incoming(name)
            pops[name], got, spikes[name] = fused[name].step(
                state.populations[name],
                tuple(state.synapses[k] for k in ks),
                tuple(events[k] for k in ks),
                drives[name],
                t=t,
                dt=dt,
            )
            for k, s in zip(ks, got, strict=True):
                syn[k] = s
        return NetworkState(pops, tuple(syn), *rest), spikes

    def step_block(self, state: NetworkState, inputs=None, *, steps: int, dt, record=None):
        """``steps`` calls of ``step`` as one call (``AbstractFused.run_network``) where
        the populations' fused steps offer it and it is exactly equivalent: every
        projection's spikes arrive after one step (no STP, no gap junction), its
        components (at most one) offer a ``run_form`` (e.g. ``bs.Plastic`` with pair
        STDP), the state is not stacked by ``jax.vmap`` and ``inputs`` is constant
        (``None`` or a dict, not a function of ``t``). ``record``: ``{population:
        (buffer, offset)}``, event buffers to which the spikes of every step are
        appended as ``ops.append_spikes`` appends them. Returns ``(state, {population:
        (buffer, end, counts (steps,))})``, bit for bit what the steps and appends give,
        or ``None`` where the call does not apply (the caller then steps one at a time).
        Not differentiable, not batched by ``jax.vmap``."""
        if callable(inputs):
            return None
        drives = self._drives(state, inputs)
        arriving, forms = {}, {}
        for k, proj in enumerate(self.projections):
            if isinstance(proj, GapJunction) or proj.stp is not None:
                return None
            if proj.components:
                if len(proj.components) > 1:
                    return None
                forms[k] = proj.components[0].run_form(state.components[k][0], dt=dt)
                if forms[k] is None:
                    return None
            d = state.delays[k]
            if per_synapse_delays(proj.conn) or d.cursor.ndim or d.buffer.shape[0]:
                return None
            arriving[k] = state.populations[proj.pre].spike
        fused = self._fusions(drives)
        if not self.projections or len(fused) != len(self.populations):
            return None
        names = list(self.populations)
        parts = tuple((fused[n], state.populations[n], drives[n]) for n in names)
        record = {names.index(name): got for name, got in (record or {}).items()}
        inputs = [
            x._replace(plastic=forms.get(k))
            for k, x in enumerate(self._fused_inputs(state, arriving))
        ]
        got = parts[0][0].run_network(parts, tuple(inputs), dt=dt, steps=steps, record=record)
        if got is None:
            return None
        pops, syn, recorded, learned = got
        pops = dict(zip(names, pops, strict=True))
        components = list(state.components)
        for k in forms:
            c = self.projections[k].components[0]
            components[k] = (c.from_run(state.components[k][0], learned[k]),)
        new = NetworkState(pops, syn, state.delays, state.stp, tuple(components))
        return new, {names[i]: x for i, x in recorded.items()}

    def _drives(self, state, inputs) -> dict:
        """Every population's external ``Drive`` plus its gap junctions' drives."""
        inputs = {} if inputs is None else inputs
        check_inputs(inputs, self.populations)  # on the host, while tracing
        drives = {name: _as_drive(inputs.get(name)) for name in self.populations}
        for proj in self.projections:
            if isinstance(proj, GapJunction):
                drives[proj.post] = drives[proj.post] + proj.drive(state.populations[proj.pre].v)
        return drives

    def _step_together(self, state, drives, fused, *, t, dt) -> dict:
        """``{name: (state, spikes)}`` for the populations (not fused) of one model that
        step as one computation (``AbstractNeuron.step_together``)."""
        groups = {}
        for name, pop in self.populations.items():
            if name not in fused:
                groups.setdefault(type(pop), []).append(name)
        out = {}
        for names in groups.values():
            if len(names) < 2:
                continue
            got = self.populations[names[0]].step_together(
                tuple(self.populations[n] for n in names),
                tuple(state.populations[n] for n in names),
                tuple(drives[n] for n in names),
                t=t,
                dt=dt,
            )
            if got is not None:
                out.update(zip(names, got, strict=True))
        return out

    def _incoming(self, name: str) -> list[int]:
        """Indices of the synaptic (not gap-junction) projections onto ``name`` that
        keep a synaptic state (not those sharing another's trace)."""
        return [
            k
            for k, proj in enumerate(self.projections)
            if proj.post == name and not isinstance(proj, GapJunction) and self.trace_of[k] == k
        ]

    def _fusions(self, drives: dict) -> dict:
        """``{population: AbstractFused}`` for the populations whose model fuses its step
        with its incoming synapses (``AbstractNeuron.fuse``)."""
        out = {}
        for name, pop in self.populations.items():
            incoming = tuple(
                (self.projections[k].synapse, self.projections[k].output)
                for k in self._incoming(name)
            )
            fused = pop.fuse(incoming, drives[name])
            if fused is not None:
                out[name] = fused
        return out

    def _fused_inputs(self, state, arriving: dict) -> tuple:
        names = list(self.populations)
        return tuple(
            FusedInput(
                proj.conn,
                proj.weight,
                arriving[k],
                names.index(proj.post),
                state.synapses[k],
                proj.capacity,
            )
            for k, proj in enumerate(self.projections)
        )

    def _step_network(self, fused, state, drives, arriving, *, t, dt):
        """The whole step through the first population's ``step_network``: ``(population
        states, synapse states)`` or ``None``."""
        names = list(self.populations)
        parts = tuple((fused[n], state.populations[n], drives[n]) for n in names)
        got = parts[0][0].step_network(parts, self._fused_inputs(state, arriving), t=t, dt=dt)
        if got is None:
            return None
        pops, syn = got
        return dict(zip(names, pops, strict=True)), tuple(syn)


# One compiled program for the initial state, with the compiler's default options, as
# in a caller's jit: a state computed from its draws (e.g. gates at their steady state)
# then has the same bits eagerly and under the caller's transformations (compiled fast,
# without LLVM optimisation, Traub-Miles' gates differed from the jitted ones by 1 ulp).
@eqx.filter_jit
def _init(net: Network, keys, key, dt: float, batch_shape) -> NetworkState:
    return net._init(keys, key, dt, batch_shape)


def _as_drive(x) -> Drive:
    if x is None:
        return Drive()
    if isinstance(x, Drive):
        return x
    return Drive(current=jnp.asarray(x))


def stacked_axes(state: NetworkState) -> int:
    """The number of leading axes along which ``state`` stacks states of ``init`` (as
    ``jax.vmap(net.init)`` makes them): the rank of its delay cursors, which ``init``
    makes scalars whatever its ``batch_shape``. 0 for a state of ``init`` itself (also
    when the network has no delay buffer: the stack then is a batch of ``init``)."""
    for d in state.delays:
        if d is not None:
            return d.cursor.ndim
    return 0
