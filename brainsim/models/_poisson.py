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
        s = jax.lax.cond(
            jnp.max(lam, initial=0.0) <= _LAM_MAX,
            _inverse_cdf,
            lambda k, lam: jax.random.poisson(k, lam, lam.shape).astype(lam.dtype),
            sub,
            lam,
        )
        return SourceState(spike=s.astype(state.spike.dtype), key=key), s


_LAM_MAX, _K_MAX = 4.0, 24  # P(N >= 24 | lam = 4) < 1e-11


def _inverse_cdf(key, lam):
    """Poisson(lam) by inversion of one uniform (exact up to the tail beyond _K_MAX):
    N = #{k < _K_MAX : U > F(k)}. One uniform per channel instead of the rejection
    loop of ``jax.random.poisson`` (about 5x faster on a CPU for lam <= 4)."""
    u = jax.random.uniform(key, lam.shape, lam.dtype)
    p = jnp.exp(-lam)
    cdf, n = p, jnp.zeros_like(lam)
    for k in range(1, _K_MAX + 1):
        n = n + (u > cdf)
        p = p * lam / k
        cdf = cdf + p
    return n
