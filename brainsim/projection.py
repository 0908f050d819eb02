"""A projection: the synapses from one population onto another, and how ``Network``
builds its connectivity."""

import abc
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._arrays import to_device
from ._checks import check_count, check_finite
from ._network_checks import check_projection
from ._protocol import AbstractDynamics
from ._random import fold_in
from .conn.builders import AbstractBuilder, numpy_rng, with_delays
from .conn.layouts import AbstractLayout
from .delays import NormalDelay
from .synapses import AbstractOutput, Current, Exponential, TsodyksMarkram


class ProjectionInput(NamedTuple):
    """What a projection component sees and may change in a step: the presynaptic
    ``pre (..., n_pre)`` spikes about to be sent (before the axonal delay), the
    postsynaptic spikes ``post (..., n_post)`` of the last step, and the ``weight`` the
    projection propagates with in this step (scalar or ``layout.weight_shape``)."""

    pre: Any
    post: Any
    weight: Any


class AbstractProjectionComponent(AbstractDynamics):
    """A stateful part of a projection (``Projection(components=...)``), e.g. a
    plasticity rule, stepped by ``Network.step`` with no special case:

    - ``bind(projection) -> component``: called once when ``Network`` has built the
      projection's connectivity (on the host, with concrete arrays: e.g. to index the
      layout); the default returns the component unchanged;
    - ``init(key, projection, batch_shape, *, dt) -> state``: ``projection`` is the built
      ``Projection`` (its ``conn`` gives ``n_pre``, ``n_post``, ``weight_shape``);
    - ``step(state, x: ProjectionInput, *, t, dt) -> (state, ProjectionInput)``: called
      once per step, before the projection's short-term plasticity and delay, in the
      order of ``components``, each seeing what the previous one returned. Returning a
      new ``weight`` (e.g. one kept in the state) makes the step propagate with it;
      returning new ``pre`` spikes scales what is sent.

    - ``run_form(state, *, dt)``: optional, the component's steps in the form a
      many-step native loop runs them (``Network.step_block``; e.g. ``bs.ops.PairRun``),
      and ``from_run(state, run)``, the state after that loop advanced the form.

    The component's states live in ``NetworkState.components[k]`` (a tuple per
    projection ``k``). A network with a component that offers no ``run_form`` steps one
    step at a time (``Network.step_block`` does not apply); the fused neuron steps still
    do, with the returned weights."""

    def bind(self, projection) -> "AbstractProjectionComponent":
        """This component for the built ``projection`` (default: unchanged)."""
        return self

    @abc.abstractmethod
    def init(self, key, projection, batch_shape, *, dt):
        """Initial state."""

    @abc.abstractmethod
    def step(self, state, x: ProjectionInput, *, t, dt):
        """``(state, ProjectionInput)`` after one step."""

    def run_form(self, state, *, dt):
        """This component in a many-step native loop, or ``None`` (the default)."""
        return None

    def from_run(self, state, run):
        """The state after the loop advanced ``run_form(state)`` to ``run``."""
        raise NotImplementedError(f"{type(self).__name__} has no run_form")


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
    - ``components``: stateful parts of the projection stepped before ``stp``
      (``AbstractProjectionComponent``: e.g. plasticity changing the weight).
    - ``capacity``: event-buffer slots, the presynaptic spikes per step handled by the
      event path (default ``bs.ops.default_capacity``); steps with more take an exact
      but O(synapses) pass (see ``bs.ops.matvec``); with per-synapse delays, further
      rounds of ``capacity`` active neurons each (``bs.ops.delayed_propagate``).
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
    components: tuple = ()

    def __check_init__(self):
        check_projection(self)

    @property
    def name(self) -> str:
        return f"{self.pre}->{self.post}"


def build(proj: Projection, key, n_pre: int, n_post: int) -> Projection:
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
    # The state's precision: float64 where JAX's x64 mode is on, a JAX array's own dtype.
    floating = isinstance(weight, jax.Array) and jnp.issubdtype(weight.dtype, jnp.floating)
    weight = to_device(weight, weight.dtype if floating else jnp.result_type(float))
    if weight.ndim and weight.shape != conn.weight_shape:
        raise ValueError(
            f"Projection {proj.name}: weight must be a scalar or have shape "
            f"{conn.weight_shape}, got {weight.shape}"
        )
    message = f"Projection {proj.name}: weight must be finite"
    if isinstance(weight, jax.core.Tracer):  # built inside a transformation: checked there
        weight = eqx.error_if(weight, ~jnp.all(jnp.isfinite(weight)), message)
    else:
        check_finite(f"Projection {proj.name}: weight", weight)
    if proj.capacity is not None:
        check_count(f"Projection {proj.name}: capacity", proj.capacity, n_pre)
    if getattr(proj, "delays", None) is not None:
        conn, weight = _per_synapse_delays(proj, key, conn, weight)
        proj = eqx.tree_at(lambda p: p.delays, proj, None)
    proj = eqx.tree_at(
        lambda p: (p.conn, p.weight), proj, (conn, weight), is_leaf=lambda x: x is None
    )
    if not getattr(proj, "components", ()):  # (gap junctions have none)
        return proj
    return eqx.tree_at(lambda p: p.components, proj, tuple(c.bind(proj) for c in proj.components))


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


def step_components(proj: Projection, states: tuple, pre, post, *, t, dt):
    """One step of ``proj``'s components in order: ``(states, pre, weight)``."""
    x = ProjectionInput(pre, post, proj.weight)
    new = []
    for component, state in zip(proj.components, states, strict=True):
        state, x = component.step(state, x, t=t, dt=dt)
        new.append(state)
    return tuple(new), x.pre, x.weight
