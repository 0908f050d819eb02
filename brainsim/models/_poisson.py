"""Poisson spike counts per step: the summed input of many independent Poisson sources."""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._checks import check_nonnegative, check_size
from ..neurons import AbstractNeuron
from ..neurons.sources import SourceState


class PoissonCounts(AbstractNeuron):
    """``size`` channels, each the superposition of independent Poisson trains with total
    ``rate`` (Hz): in a step of ``dt`` ms a channel emits ``Poisson(rate * dt / 1000)``
    spikes (a real-valued count, so the rate may exceed 1/dt). Used for the external
    drive of the reference networks (K_ext sources x rate onto each neuron)."""

    size: int = eqx.field(static=True)
    rate: float | jnp.ndarray = 10.0

    def __check_init__(self):
        check_size("PoissonCounts.size", self.size)
        check_nonnegative("PoissonCounts.rate", self.rate, "Hz")

    def init(self, key, batch_shape=()):
        return SourceState(spike=jnp.zeros((*batch_shape, self.size)), key=key)

    def step(self, state, drive=None, *, t, dt):
        key, sub = jax.random.split(state.key)
        lam = jnp.broadcast_to(jnp.asarray(self.rate) * (dt * 1e-3), state.spike.shape)
        s = jax.random.poisson(sub, lam, state.spike.shape).astype(state.spike.dtype)
        return SourceState(spike=s, key=key), s
