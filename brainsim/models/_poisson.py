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
        s = _poisson_by_inversion(sub, lam.astype(state.spike.dtype))
        return SourceState(spike=s, key=key), s


def _poisson_by_inversion(key, lam):
    """Poisson(lam) from one uniform per channel: N = #{k : U > F(k)}, F the Poisson CDF,
    accumulated term by term until every channel's CDF exceeds its uniform. Exact (up to
    float rounding of F) for lam < 80 per step (e^{-lam} must not underflow); about 9x
    faster on a CPU than the rejection sampler of ``jax.random.poisson`` for lam ~ 1, and
    a much smaller graph to compile."""
    u = jax.random.uniform(key, lam.shape, lam.dtype)
    p = jnp.exp(-lam)

    def cond(c):
        k, _, cdf, _ = c
        return jnp.any(u > cdf) & (k < 1000)

    def body(c):
        k, p, cdf, n = c
        n = n + (u > cdf)
        k = k + 1
        p = p * lam / k
        return k, p, cdf + p, n

    return jax.lax.while_loop(cond, body, (0, p, p, jnp.zeros_like(lam)))[3]
