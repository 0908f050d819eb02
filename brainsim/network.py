"""Populations and projections composed into one ``Network`` with one pure ``step``."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import ops
from ._checks import check_count
from ._protocol import AbstractDynamics
from .conn.builders import AbstractBuilder
from .conn.layouts import AbstractLayout
from .delays import DelayState, delay_step, delay_steps, init_delay
from .neurons import AbstractNeuron, Drive
from .synapses import AbstractOutput, Current, Exponential, SynapseState


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
    - ``capacity``: event-buffer slots, the presynaptic spikes per step handled by the
      event path (default ``bs.ops.default_capacity``); steps with more take an exact
      but O(synapses) pass (see ``bs.ops.matvec``).
    """

    pre: str = eqx.field(static=True)
    post: str = eqx.field(static=True)
    conn: AbstractBuilder | AbstractLayout
    weight: float | jnp.ndarray | None = 1.0
    synapse: AbstractDynamics = Exponential(5.0)
    output: AbstractOutput = Current()
    delay: float | None = eqx.field(default=None, static=True)
    capacity: int | None = eqx.field(default=None, static=True)

    @property
    def name(self) -> str:
        return f"{self.pre}->{self.post}"


class NetworkState(eqx.Module):
    """State of a ``Network``: one state per population, synapse and delay buffer."""

    populations: dict  # name -> neuron state
    synapses: tuple[SynapseState, ...]  # per projection
    delays: tuple[DelayState, ...]  # per projection


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
    weight = jnp.asarray(weight, jnp.float32)
    if weight.ndim and weight.shape != conn.weight_shape:
        raise ValueError(
            f"Projection {proj.name}: weight must be a scalar or have shape "
            f"{conn.weight_shape}, got {weight.shape}"
        )
    if not np.all(np.isfinite(np.asarray(weight))):
        raise ValueError(f"Projection {proj.name}: weight must be finite")
    if proj.capacity is not None:
        check_count(f"Projection {proj.name}: capacity", proj.capacity, n_pre)
    return eqx.tree_at(
        lambda p: (p.conn, p.weight), proj, (conn, weight), is_leaf=lambda x: x is None
    )


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
            sub = None if key is None else jax.random.fold_in(key, k)
            built.append(
                _build(proj, sub, populations[proj.pre].size, populations[proj.post].size)
            )
        self.populations = populations
        self.projections = tuple(built)

    def init(self, key, *, dt: float = 0.1, batch_shape: tuple[int, ...] = ()) -> NetworkState:
        """Initial state; ``dt`` (ms) sizes the delay buffers and must match ``step``'s."""
        delay_steps_all = [delay_steps(p.delay, dt) for p in self.projections]  # checks dt
        # One compiled program instead of dozens of eagerly compiled small ops.
        return _init(self, key, tuple(delay_steps_all), tuple(batch_shape))

    def _init(self, key, delays_in_steps, batch_shape) -> NetworkState:
        keys = jax.random.split(key, len(self.populations))
        pops = {
            name: pop.init(k, batch_shape)
            for k, (name, pop) in zip(keys, self.populations.items(), strict=True)
        }
        syn, delays = [], []
        for proj in self.projections:
            n_pre, n_post = self.populations[proj.pre].size, self.populations[proj.post].size
            syn.append(proj.synapse.init(None, (*batch_shape, n_post)))
            delays.append(init_delay(delays_in_steps[len(delays)], (*batch_shape, n_pre)))
        return NetworkState(pops, tuple(syn), tuple(delays))

    def check_state(self, state: NetworkState, dt: float) -> None:
        """Raise ``ValueError`` if ``state`` was initialised for another ``dt``."""
        for proj, d in zip(self.projections, state.delays, strict=True):
            if d.buffer.shape[0] != delay_steps(proj.delay, dt) - 1:
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
        syn, delays = [], []
        for k, proj in enumerate(self.projections):
            d_state, arriving = delay_step(state.delays[k], state.populations[proj.pre].spike)
            events = ops.matvec(proj.conn, proj.weight, arriving, proj.capacity)
            s_state, g = proj.synapse.step(state.synapses[k], events, t=t, dt=dt)
            drives[proj.post] = drives[proj.post] + proj.output(g)
            syn.append(s_state)
            delays.append(d_state)
        pops, spikes = {}, {}
        for name, pop in self.populations.items():
            pops[name], spikes[name] = pop.step(state.populations[name], drives[name], t=t, dt=dt)
        return NetworkState(pops, tuple(syn), tuple(delays)), spikes


@eqx.filter_jit
def _init(net: Network, key, delays_in_steps, batch_shape) -> NetworkState:
    return net._init(key, delays_in_steps, batch_shape)


def _as_drive(x) -> Drive:
    if x is None:
        return Drive()
    if isinstance(x, Drive):
        return x
    return Drive(current=jnp.asarray(x))
