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


def refractory_update(refractory, spike, t_ref, dt):
    """Countdown of refractory steps: ``round(t_ref / dt)`` after a spike, else minus one.

    A neuron is refractory (clamped) while the counter is positive, i.e. for exactly
    ``round(t_ref/dt)`` steps after the step in which it spiked."""
    n_ref = jnp.round(jnp.asarray(t_ref) / dt).astype(refractory.dtype)
    return jnp.where(spike > 0, n_ref, jnp.maximum(refractory - 1, 0))
