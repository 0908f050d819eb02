"""Synaptic kinetics: how the synaptic variable ``g`` of each postsynaptic neuron evolves.

``step(state, events, t=, dt=)`` takes ``events`` (..., n_post), the summed weights of the
spikes arriving in this step (in the synaptic variable's unit), and returns
``(state, g)``. The arrival is applied first, so ``g`` holds the full jump in the arrival
step and then decays.
"""

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_positive
from .._protocol import AbstractDynamics


class SynapseState(eqx.Module):
    """State of a synaptic kinetics: the synaptic variable of each postsynaptic neuron."""

    g: jnp.ndarray  # (..., n_post) synaptic variable (nS, pA or mV depending on the output)


class Delta(AbstractDynamics):
    """No memory: ``g`` is the arriving weight in the arrival step and 0 otherwise.
    Pair with ``VoltageJump`` for the classic ``V += w`` synapse."""

    def init(self, key, shape):
        return SynapseState(g=jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        return SynapseState(g=events), events


class Exponential(AbstractDynamics):
    r"""Exponential decay with time constant ``tau`` (ms), exact between arrivals:
    $g(t+\Delta t) = g(t)\,e^{-\Delta t/\tau} + \sum_{\text{arrivals}} w$."""

    tau: float | jnp.ndarray = 5.0

    def __check_init__(self):
        check_positive("Exponential.tau", self.tau, "ms")

    def init(self, key, shape):
        return SynapseState(g=jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        g = state.g * jnp.exp(-dt / jnp.asarray(self.tau)) + events
        return SynapseState(g=g), g
