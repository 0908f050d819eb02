import abc
from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_parameter_shapes
from .._protocol import AbstractDynamics


class Drive(eqx.Module):
    """Everything that enters a neuron's membrane in one step, as a linear function of V.

    The membrane current is ``current + reversal - conductance * v`` (pA) and ``jump`` is
    added to ``v`` (mV) after integration (delta synapses). Synaptic outputs reduce to
    this form, so integrators can treat conductance input exactly. Fields broadcast to
    the population shape ``(..., n)``.
    """

    current: jnp.ndarray | float = 0.0  # pA
    conductance: jnp.ndarray | float = 0.0  # nS, total synaptic conductance
    reversal: jnp.ndarray | float = 0.0  # pA = nS·mV, sum of g_k * E_k
    jump: jnp.ndarray | float = 0.0  # mV

    def membrane_current(self, v):
        """Synaptic + external current (pA) at membrane potential ``v`` (mV)."""
        return self.current + self.reversal - self.conductance * v

    def __add__(self, other: "Drive") -> "Drive":
        return Drive(
            self.current + other.current,
            self.conductance + other.conductance,
            self.reversal + other.reversal,
            self.jump + other.jump,
        )


class AbstractNeuron(AbstractDynamics):
    """A population of ``size`` neurons. ``step(state, drive, t=, dt=)`` returns
    ``(state, spikes)`` with spikes of shape ``(..., size)``; the state keeps the last
    spikes in ``state.spike`` so projections can read them."""

    size: eqx.AbstractVar[int]

    def __check_init__(self):
        check_parameter_shapes(self)

    def fuse(self, synapses: tuple, drive: Drive) -> "AbstractFused | None":
        """A faster implementation of this population's step together with the kinetics
        of its incoming synapses, or ``None`` (the default: ``Network.step`` composes the
        modules' ``step``s). ``synapses``: ``(kinetics, output)`` of every incoming
        projection, in the network's order; ``drive``: the rest of the input (external
        and gap-junction ``Drive``; only its structure may be inspected, its values can
        be tracers). A model returns an ``AbstractFused`` only for the combinations it
        implements exactly."""
        return None

    def step_together(self, populations: tuple, states: tuple, drives: tuple, *, t, dt):
        """The steps of several populations of this model (``self`` is
        ``populations[0]``) as one computation, or ``None`` (the default:
        ``Network.step`` steps each alone). ``states`` and ``drives``: one per population.
        Returns one ``(state, spikes)`` per population, what its own ``step`` returns,
        bit for bit. It makes the compiled program smaller (one graph for many
        populations, e.g. the eight Poisson sources of ``bs.models.potjans_diesmann``)."""
        return None

    def affine_form(self, dt) -> "AffineForm | None":
        """This model's step as an ``AffineForm`` where it has that form exactly (then
        ``bs.train.NeuronLayer`` runs it through the hand-written BPTT of
        ``bs.train.lif_scan``), or ``None`` (the default: the layer scans ``step``)."""
        return None

    def spike_geometry(self) -> "SpikeGeometry | None":
        """Where this model's membrane ``state.v`` sits relative to its spike (a
        ``SpikeGeometry``), or ``None`` (the default: not an integrate-and-fire membrane).
        ``bs.train.neuron_layer`` derives a layer's input scale and surrogate from it."""
        return None


class AffineForm(NamedTuple):
    r"""A step that is affine in the membrane $V$ and a current $I$ (pA) between spikes:
    with $u = V - V_{reset}$,

    $$\tilde u_t = \beta\, u_{t-1} + k\, I_t + c, \quad s_t = H(\tilde u_t - \vartheta),
    \quad u_t = \tilde u_t (1 - s_t)$$

    (Heaviside spike with ``surrogate`` gradient and detached reset, no refractory
    period). Fields: ``beta`` (per step), ``gain`` $k$ (mV/pA), ``bias`` $c$ (mV; ``None``
    where it is zero whatever the parameters' values),
    ``threshold`` $\vartheta = V_{th} - V_{reset}$ (mV), each ``(n,)``; ``v_reset``
    (mV); ``surrogate``."""

    beta: Any
    gain: Any
    bias: Any
    threshold: Any
    v_reset: Any
    surrogate: Any


class SpikeGeometry(NamedTuple):
    r"""The landmarks of an integrate-and-fire membrane without input (mV, scalars or
    ``(n,)``). ``v_rest``: its resting potential (the stable fixed point).
    ``v_threshold``: its threshold (the hard one of a leaky model; the threshold
    parameter $V_T$ of the exponential models; the unstable fixed point of the quadratic
    ones). ``v_spike``: the level its spike function compares $V$ with
    (``spike(V - v_spike)``: the threshold, or ``v_peak`` where the upstroke is
    modelled). ``v_runaway``: where its own dynamics turn expanding, $\partial \dot V /
    \partial V > 0$ with the slower variables held (the minimum of the instantaneous
    I–V curve: the upstroke starts there; a leaky membrane has none below its threshold,
    so ``v_threshold``)."""

    v_rest: Any
    v_threshold: Any
    v_spike: Any
    v_runaway: Any


class FusedInput(NamedTuple):
    """One projection as a whole-network fused step takes it: the ``layout`` and
    ``weight`` of its connectivity, the presynaptic ``spikes (..., n_pre)`` arriving now,
    the index ``post`` of its target population, the state ``synapse`` of its kinetics
    and its event-buffer ``capacity`` (``None``: the ops' default); ``plastic``: for
    ``run_network`` only, the ``run_form`` of the projection's learning component
    (``bs.ops.PairRun``, whose weights then replace ``weight``) or ``None``."""

    layout: Any
    weight: Any
    spikes: Any
    post: int
    synapse: Any
    capacity: int | None
    plastic: Any = None


class AbstractFused(eqx.Module):
    """A population's step fused with the kinetics of its incoming synapses (returned by
    ``AbstractNeuron.fuse``). The composition of the modules' ``step``s is the
    specification: a fused step must compute what they compute (tests check every
    configuration a model claims against it, many steps, Poisson input)."""

    @abc.abstractmethod
    def step(self, state, synapses: tuple, events: tuple, drive: Drive, *, t, dt):
        """One step from the population's ``state``, its incoming synapses' states and
        the summed weights ``events`` arriving on each (``(..., size)``), and ``drive``.
        Returns ``(state, synapses, spikes)``."""

    def step_network(self, parts: tuple, inputs: tuple[FusedInput, ...], *, t, dt):
        """The step of a whole network whose populations are all fused, as one call, or
        ``None`` (then each population steps alone). ``parts``: ``(fused, state, drive)``
        per population in order (this object is the first one's); ``inputs``: every
        projection as a ``FusedInput``, spikes arriving after one step. Returns
        ``(states, synapses)``, tuples in the order of ``parts`` and ``inputs``."""
        return None

    def run_network(self, parts: tuple, inputs: tuple[FusedInput, ...], *, dt, steps, record):
        """``steps`` calls of ``step_network`` with each step's spikes the next step's
        arriving spikes and the drives constant, as one call, or ``None``; after each
        step the spikes of the populations in ``record`` (``{index: (buffer, offset)}``)
        are appended to their buffers as ``bs.ops.append_spikes`` appends them; inputs
        with a ``plastic`` form learn in every step as their component would. Returns
        ``(states, synapses, {index: (buffer, end, counts (steps,))}, plastic)``, the
        last the advanced forms (``None`` for static inputs)."""
        return None


def refractory_update(refractory, spike, t_ref, dt):
    """Countdown of refractory steps: ``round(t_ref / dt)`` after a spike, else minus one.

    A neuron is refractory (clamped) while the counter is positive, i.e. for exactly
    ``round(t_ref/dt)`` steps after the step in which it spiked."""
    n_ref = jnp.round(jnp.asarray(t_ref) / dt).astype(refractory.dtype)
    return jnp.where(spike > 0, n_ref, jnp.maximum(refractory - 1, 0))
