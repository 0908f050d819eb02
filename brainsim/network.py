"""Populations and projections composed into one ``Network`` with one pure ``step``."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import ops
from ._arrays import to_device
from ._checks import check_count
from ._compile import FAST_COMPILE
from ._network_checks import check_dt_and_delays, check_projection
from ._protocol import AbstractDynamics
from ._random import fold_in, split
from .conn.builders import AbstractBuilder, numpy_rng, with_delays
from .conn.layouts import CSR, ELL, AbstractLayout, Delayed
from .delays import (
    NormalDelay,
    delay_step,
    delay_steps,
    group_steps,
    init_delay,
    init_ring,
    ring_step,
)
from .gap_junction import GapJunction
from .integrators import Euler, ExpEuler
from .neurons import LIF, AbstractNeuron, Drive, LIFState
from .ops import default_capacity
from .spikes import Heaviside
from .synapses import (
    AbstractOutput,
    Conductance,
    Current,
    Exponential,
    SynapseState,
    TsodyksMarkram,
)


class Projection(eqx.Module):
    """Synapses from population ``pre`` onto population ``post``.

    - ``conn``: a connectivity builder (``bs.conn.FixedProb(0.02)``, built by ``Network``
      with its key) or an already built layout.
    - ``weight``: scalar (homogeneous) or an array of ``layout.weight_shape``, in the unit
      of the synaptic variable: nS for ``Conductance``, pA for ``Current``, mV for
      ``VoltageJump``. ``None`` takes the weights a builder provides (``FromDense``,
      ``FromEdges``).
    - ``synapse``: kinetics of the synaptic variable (default ``Exponential(5.0)``).
    - ``output``: how it enters the membrane (default ``Current()``).
    - ``delay``: axonal delay in ms, a multiple of dt and >= dt; ``None`` is one step.
    - ``delays``: per-synapse delays instead of ``delay``: an array (ms) of
      ``layout.weight_shape`` or a distribution (``bs.delays.NormalDelay``) drawn when the
      network is built; each must be a multiple of dt and >= dt (checked by ``init``).
      The layout becomes a ``bs.conn.Delayed`` one and per-synapse weights are reordered
      to it. In flight, the input waits in a postsynaptic ring buffer of ``D`` steps
      (``bs.delays``). ``max_delay`` (ms): optional upper bound, checked; it fixes ``D``.
    - ``stp``: optional presynaptic short-term plasticity (``TsodyksMarkram``): the
      spikes of ``pre`` are scaled by their efficacy ``u x`` before they enter the delay.
    - ``capacity``: event-buffer slots, the presynaptic spikes per step handled by the
      event path (default ``bs.ops.default_capacity``); steps with more take an exact
      but O(synapses) pass (see ``bs.ops.matvec``); the same holds with per-synapse
      delays (``bs.ops.delayed_propagate``).
    """

    pre: str = eqx.field(static=True)
    post: str = eqx.field(static=True)
    conn: AbstractBuilder | AbstractLayout
    weight: float | jnp.ndarray | None = 1.0
    synapse: AbstractDynamics = Exponential(5.0)
    output: AbstractOutput = Current()
    delay: float | None = eqx.field(default=None, static=True)
    capacity: int | None = eqx.field(default=None, static=True)
    delays: np.ndarray | NormalDelay | None = None
    max_delay: float | None = eqx.field(default=None, static=True)
    stp: TsodyksMarkram | None = None

    def __check_init__(self):
        check_projection(self)

    @property
    def name(self) -> str:
        return f"{self.pre}->{self.post}"


class NetworkState(eqx.Module):
    """State of a ``Network``: one state per population, synapse and delay buffer."""

    populations: dict  # name -> neuron state
    synapses: tuple  # per projection: its kinetics' state (None for gap junctions)
    delays: tuple  # per projection: DelayState, RingState or None
    stp: tuple = ()  # per projection: STPState or None


def _build(proj: Projection, key, n_pre: int, n_post: int) -> Projection:
    conn, weight = proj.conn, proj.weight
    if isinstance(conn, AbstractBuilder):
        conn, built_weight = conn.build(key, n_pre, n_post, recurrent=proj.pre == proj.post)
        if weight is None:
            weight = built_weight
    if weight is None:
        raise ValueError(
            f"Projection {proj.name}: weight is None but {type(proj.conn).__name__}"
            " provides no weights"
        )
    if (conn.n_pre, conn.n_post) != (n_pre, n_post):
        raise ValueError(
            f"Projection {proj.name}: layout is {conn.n_pre}x{conn.n_post} but the "
            f"populations have sizes {n_pre} and {n_post}"
        )
    weight = to_device(weight, np.float32)
    if weight.ndim and weight.shape != conn.weight_shape:
        raise ValueError(
            f"Projection {proj.name}: weight must be a scalar or have shape "
            f"{conn.weight_shape}, got {weight.shape}"
        )
    if not np.all(np.isfinite(np.asarray(weight))):
        raise ValueError(f"Projection {proj.name}: weight must be finite")
    if proj.capacity is not None:
        check_count(f"Projection {proj.name}: capacity", proj.capacity, n_pre)
    if getattr(proj, "delays", None) is not None:
        conn, weight = _per_synapse_delays(proj, key, conn, weight)
        proj = eqx.tree_at(lambda p: p.delays, proj, None)
    return eqx.tree_at(
        lambda p: (p.conn, p.weight), proj, (conn, weight), is_leaf=lambda x: x is None
    )


def _per_synapse_delays(proj, key, conn, weight):
    if proj.delay is not None:
        raise ValueError(f"Projection {proj.name}: give either delay or delays, not both")
    delays = proj.delays
    if isinstance(delays, NormalDelay):
        rng = numpy_rng(None if key is None else fold_in(key, 1))
        delays = delays.sample(rng, conn.weight_shape)
    delays = np.asarray(delays, np.float64)
    if proj.max_delay is not None and delays.size and delays.max() > proj.max_delay + 1e-9:
        raise ValueError(
            f"Projection {proj.name}: delays must be <= max_delay={proj.max_delay:g} ms, "
            f"got {delays.max():g} ms"
        )
    try:
        return with_delays(conn, delays, weight)
    except ValueError as e:
        raise ValueError(f"Projection {proj.name}: {e}") from None


class Network(eqx.Module):
    """Named populations and the projections between them.

    ``Network(populations, projections, key=key)`` builds every projection's
    connectivity (deterministically from ``key``). ``init(key, dt=)`` gives the state;
    ``step(state, inputs, t=, dt=)`` advances it one step and returns the spikes of every
    population. In a step, spikes emitted in the previous step (or ``delay`` earlier)
    reach the synapses, synaptic variables update, then neurons integrate and spike.
    """

    populations: dict[str, AbstractNeuron]
    projections: tuple[Projection, ...]

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
            built.append(
                _build(proj, sub, populations[proj.pre].size, populations[proj.post].size)
            )
        self.populations = populations
        self.projections = tuple(built)

    def init(self, key, *, dt: float = 0.1, batch_shape: tuple[int, ...] = ()) -> NetworkState:
        """Initial state; ``dt`` (ms) sizes the delay buffers and must match ``step``'s."""
        check_dt_and_delays(self, dt, batch_shape)
        keys = split(key, len(self.populations))  # on the host: no threefry compiled
        if isinstance(key, jax.core.Tracer):  # inside the caller's jit/vmap: traced there
            return self._init(keys, float(dt), tuple(batch_shape))
        # One compiled program instead of dozens of eagerly compiled small ops; bad delays
        # raise while it is traced, before anything is compiled.
        return _init(self, keys, float(dt), tuple(batch_shape))

    def _init(self, keys, dt, batch_shape) -> NetworkState:
        pops = {
            name: pop.init(k, batch_shape)
            for k, (name, pop) in zip(keys, self.populations.items(), strict=True)
        }
        syn, delays, stp = [], [], []
        for proj in self.projections:
            n_pre, n_post = self.populations[proj.pre].size, self.populations[proj.post].size
            if isinstance(proj, GapJunction):
                syn.append(None), delays.append(None), stp.append(None)
                continue
            syn.append(proj.synapse.init(None, (*batch_shape, n_post), dt=dt))
            stp.append(None if proj.stp is None else proj.stp.init(None, (*batch_shape, n_pre)))
            if isinstance(proj.conn, Delayed):
                _, depth = _group_steps(proj, dt)
                delays.append(init_ring(depth, batch_shape, n_post))
            else:
                delays.append(init_delay(delay_steps(proj.delay, dt), (*batch_shape, n_pre)))
        return NetworkState(pops, tuple(syn), tuple(delays), tuple(stp))

    def check_state(self, state: NetworkState, dt: float) -> None:
        """Raise ``ValueError`` if ``state`` was initialised for another ``dt``."""
        for proj, d in zip(self.projections, state.delays, strict=True):
            if isinstance(proj, GapJunction):
                continue
            if isinstance(proj.conn, Delayed):
                depth = _group_steps(proj, dt)[1]
                if d.buffer.shape[-2] == depth:
                    continue
            elif d.buffer.shape[0] == delay_steps(proj.delay, dt) - 1:
                continue
            raise ValueError(
                f"dt={dt:g} ms does not match the dt the state was initialised "
                f"with (projection {proj.name}); call net.init(key, dt={dt:g})"
            )

    def step(self, state: NetworkState, inputs=None, *, t, dt):
        """One step. ``inputs``: ``None`` or a dict from population name to an external
        current (pA, scalar or ``(..., n)``) or a ``Drive``. Returns ``(state, spikes)``
        with ``spikes`` a dict of ``(..., n)`` arrays."""
        inputs = {} if inputs is None else inputs
        drives = {name: _as_drive(inputs.get(name)) for name in self.populations}
        n = len(self.projections)
        syn, delays, stp, events = [None] * n, [None] * n, [None] * n, [None] * n
        arriving = {}  # projection index -> spikes reaching its synapses now
        for k, proj in enumerate(self.projections):
            if isinstance(proj, GapJunction):
                continue
            spikes = state.populations[proj.pre].spike
            if proj.stp is not None:
                stp[k], spikes = proj.stp.step(state.stp[k], spikes, t=t, dt=dt)
            if isinstance(proj.conn, Delayed):
                delays[k], events[k] = _propagate(proj, state.delays[k], spikes, dt)
            else:
                delays[k], arriving[k] = delay_step(state.delays[k], spikes)
        fused = {name for name in self.populations if _fusable_lif(self, name, drives[name])}
        if _whole_network(self, fused, arriving):
            pops = _network_lif_step(self, state, arriving, drives, syn, dt)
            spikes = {name: pops[name].spike for name in self.populations}
            return NetworkState(pops, tuple(syn), tuple(delays), tuple(stp)), spikes
        # All projections at once: one fused event-driven call per step where possible.
        ks = list(arriving)
        got = ops.matvec_many(
            [self.projections[k].conn for k in ks],
            [self.projections[k].weight for k in ks],
            [arriving[k] for k in ks],
            [self.projections[k].capacity for k in ks],
        )
        for k, e in zip(ks, got, strict=True):
            events[k] = e
        for k, proj in enumerate(self.projections):
            if proj.post in fused:
                continue
            if isinstance(proj, GapJunction):
                drives[proj.post] = drives[proj.post] + proj.drive(state.populations[proj.pre].v)
                continue
            syn[k], g = proj.synapse.step(state.synapses[k], events[k], t=t, dt=dt)
            v_post = getattr(state.populations[proj.post], "v", None)
            drives[proj.post] = drives[proj.post] + proj.output(g, v_post)
        pops, spikes = {}, {}
        for name, pop in self.populations.items():
            if name in fused:
                pops[name] = _fused_lif_step(self, name, state, events, drives[name], syn, dt)
                spikes[name] = pops[name].spike
                continue
            pops[name], spikes[name] = pop.step(state.populations[name], drives[name], t=t, dt=dt)
        return NetworkState(pops, tuple(syn), tuple(delays), tuple(stp)), spikes

    def step_block(self, state: NetworkState, inputs=None, *, steps: int, dt, record=None):
        """``steps`` calls of ``step`` as one native call (``ops.lif_network_run``), where
        that is exactly equivalent: the whole step is one ``ops.lif_network_update``
        (``_whole_network``) with every projection's spikes arriving after one step (no
        STP), an unbatched state and ``inputs`` constant (``None`` or a dict, not a
        function of ``t``). ``record``: ``{population: (buffer, offset)}``, event buffers
        to which the spikes of every step are appended as ``ops.append_spikes`` appends
        them. Returns ``(state, {population: (buffer, end, counts (steps,))})``, bit for
        bit what the steps and appends give, or ``None`` where the call does not apply
        (the caller then steps one at a time)."""
        if callable(inputs):
            return None
        inputs = {} if inputs is None else inputs
        drives = {name: _as_drive(inputs.get(name)) for name in self.populations}
        arriving = {}
        for k, proj in enumerate(self.projections):
            if isinstance(proj, GapJunction) or proj.stp is not None:
                return None
            if isinstance(proj.conn, Delayed) or state.delays[k].buffer.shape[0] != 0:
                return None
            arriving[k] = state.populations[proj.pre].spike
        fused = {name for name in self.populations if _fusable_lif(self, name, drives[name])}
        if not _whole_network(self, fused, arriving):
            return None
        record = dict(record or {})
        names = list(self.populations)
        pops, projs = _network_args(self, state, arriving, drives)
        got = ops.lif_network_run(
            pops,
            projs,
            dt=dt,
            steps=steps,
            record=[names.index(name) for name in record],
            buffers=[buf for buf, _ in record.values()],
            offsets=[off for _, off in record.values()],
        )
        if got is None:
            return None
        out_pops, out_g, bufs, ends, counts = got
        syn = tuple(SynapseState(g=g) for g in out_g)
        new = NetworkState(_lif_states(self, out_pops), syn, state.delays, state.stp)
        return new, {name: (bufs[r], ends[r], counts[r]) for r, name in enumerate(record)}


def _fusable_lif(net: Network, name: str, drive: Drive) -> bool:
    """Whether population ``name`` steps through the fused ``ops.lif_update`` (one pass
    over its state instead of a dozen XLA loops): a ``LIF`` integrated by ``Euler`` or
    ``ExpEuler`` with a ``Heaviside`` spike, whose incoming projections all have
    ``Exponential`` kinetics with a ``Current`` or ``Conductance`` output (no gap
    junctions) and whose external drive is a current only. The fused step computes
    what the modules compute, in their operation order."""
    pop = net.populations[name]
    if not (
        type(pop) is LIF
        and type(pop.integrator) in (Euler, ExpEuler)
        and type(pop.spike) is Heaviside
    ):
        return False
    for proj in net.projections:
        if proj.post != name:
            continue
        if isinstance(proj, GapJunction) or type(proj.synapse) is not Exponential:
            return False
        if type(proj.output) not in (Current, Conductance):
            return False
    zero = lambda x: isinstance(x, int | float) and x == 0
    return zero(drive.conductance) and zero(drive.reversal) and zero(drive.jump)


def _whole_network(net: Network, fused: set, arriving: dict) -> bool:
    """Whether the whole step is one ``ops.lif_network_update``: every population steps
    through the fused LIF update and every projection is a stored sparse layout (``CSR``,
    ``ELL``) whose spikes arrive through the axonal delay line (not per-synapse delays)."""
    if not (net.projections and len(fused) == len(net.populations)):
        return False
    return all(
        k in arriving and type(proj.conn) in (CSR, ELL) for k, proj in enumerate(net.projections)
    )


def _lif_parameters(pop) -> dict:
    """The neuron parameters of a fusable LIF population as the fused kernels take them."""
    return dict(
        tau_m=pop.tau_m,
        c_m=pop.c_m,
        v_rest=pop.v_rest,
        v_th=pop.v_th,
        v_reset=pop.v_reset,
        i_ext=pop.i_ext,
        t_ref=pop.t_ref,
        exp_euler=type(pop.integrator) is ExpEuler,
        spike_fn=pop.spike,
    )


def _network_args(net: Network, state, arriving: dict, drives: dict):
    """The populations and projections of a network that ``_whole_network`` accepts, as
    ``ops.lif_network_update`` takes them."""
    names = list(net.populations)
    pops = []
    for name in names:
        pop, old = net.populations[name], state.populations[name]
        pops.append(
            dict(
                v=old.v,
                refractory=old.refractory,
                spike=old.spike,
                current=drives[name].current,
                **_lif_parameters(pop),
            )
        )
    projs = [
        dict(
            layout=proj.conn,
            weight=proj.weight,
            spikes=arriving[k],
            post=names.index(proj.post),
            g=state.synapses[k].g,
            tau=proj.synapse.tau,
            e_rev=proj.output.e_rev if type(proj.output) is Conductance else None,
            capacity=default_capacity(proj.conn.n_pre) if proj.capacity is None else proj.capacity,
        )
        for k, proj in enumerate(net.projections)
    ]
    return pops, projs


def _network_lif_step(net: Network, state, arriving: dict, drives: dict, syn: list, dt):
    """The step of a network that ``_whole_network`` accepts, as one call; writes the new
    synaptic states into ``syn`` and returns the populations' ``LIFState``."""
    pops, projs = _network_args(net, state, arriving, drives)
    out_pops, out_g = ops.lif_network_update(pops, projs, dt=dt)
    for k, g in enumerate(out_g):
        syn[k] = SynapseState(g=g)
    return _lif_states(net, out_pops)


def _lif_states(net: Network, out_pops) -> dict:
    return {
        name: LIFState(v=v, spike=s, refractory=r)
        for name, (v, s, r) in zip(net.populations, out_pops, strict=True)
    }


def _fused_lif_step(net: Network, name: str, state, events, drive: Drive, syn: list, dt):
    """The step of a population that ``_fusable_lif`` accepts; writes the new synaptic
    states of its incoming projections into ``syn`` and returns its ``LIFState``."""
    pop, old = net.populations[name], state.populations[name]
    ks = [k for k, proj in enumerate(net.projections) if proj.post == name]
    projs = [net.projections[k] for k in ks]
    v, spike, refractory, g = ops.lif_update(
        old.v,
        old.refractory,
        old.spike,
        [state.synapses[k].g for k in ks],
        [events[k] for k in ks],
        tau_syn=[p.synapse.tau for p in projs],
        e_rev=[p.output.e_rev if type(p.output) is Conductance else None for p in projs],
        current=drive.current,
        dt=dt,
        **_lif_parameters(pop),
    )
    for k, gk in zip(ks, g, strict=True):
        syn[k] = SynapseState(g=gk)
    return LIFState(v=v, spike=spike, refractory=refractory)


def _group_steps(proj: Projection, dt: float):
    try:
        return group_steps(proj.conn.delays, dt, proj.max_delay)
    except ValueError as e:
        raise ValueError(f"Projection {proj.name}: {e}") from None


def _propagate(proj: Projection, d_state, spikes, dt):
    """Per-synapse delays: scatter ``spikes`` into the postsynaptic ring and read the
    input arriving now: ``(ring state, events)``."""
    steps, _ = _group_steps(proj, dt)
    cap = default_capacity(proj.conn.n_pre) if proj.capacity is None else proj.capacity
    return ring_step(d_state, proj.conn, proj.weight, spikes, steps=steps, capacity=cap)


# The initial state is computed once per network, in milliseconds: compiled fast.
@eqx.filter_jit(compiler_options=FAST_COMPILE)
def _init(net: Network, keys, dt: float, batch_shape) -> NetworkState:
    return net._init(keys, dt, batch_shape)


def _as_drive(x) -> Drive:
    if x is None:
        return Drive()
    if isinstance(x, Drive):
        return x
    return Drive(current=jnp.asarray(x))
