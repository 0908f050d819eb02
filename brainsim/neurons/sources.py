import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_nonnegative, check_size
from ._base import AbstractNeuron


class SourceState(eqx.Module):
    """State of a spike source: its last spikes and, if stochastic, its PRNG key."""

    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    key: jax.Array | None = None  # PRNG key for stochastic sources


class PoissonSource(AbstractNeuron):
    """Independent Poisson spike trains at ``rate`` Hz (scalar or ``(size,)``).

    In each step of ``dt`` ms a neuron spikes with probability ``rate * dt / 1000``
    (requires ``rate * dt < 1000``). Inputs are ignored."""

    size: int = eqx.field(static=True)
    rate: float | jnp.ndarray = 10.0

    def __check_init__(self):
        check_size("PoissonSource.size", self.size)
        check_nonnegative("PoissonSource.rate", self.rate, "Hz")

    def init(self, key, batch_shape=()):
        return SourceState(spike=jnp.zeros((*batch_shape, self.size)), key=key)

    def step(self, state, drive=None, *, t, dt):
        key, sub = jax.random.split(state.key)
        p = jnp.asarray(self.rate) * (dt * 1e-3)
        s = (jax.random.uniform(sub, state.spike.shape) < p).astype(state.spike.dtype)
        return SourceState(spike=s, key=key), s


class SpikeTimes(AbstractNeuron):
    """Neurons that spike at given times: neuron ``indices[k]`` spikes at ``times[k]`` ms.

    A spike at time ``τ`` is emitted in step ``round(τ / dt)`` (the step starting at
    ``t = round(τ/dt)·dt``). Several spikes of one neuron in one step add up. Cost per step
    is O(number of given spikes)."""

    size: int = eqx.field(static=True)
    times: jnp.ndarray
    indices: jnp.ndarray

    def __init__(self, size, times, indices):
        check_size("SpikeTimes.size", size)
        times, indices = np.asarray(times, np.float64), np.asarray(indices)
        if times.shape != indices.shape or times.ndim != 1:
            raise ValueError(
                "SpikeTimes: times and indices must be 1-D of equal length, got shapes "
                f"{times.shape} and {indices.shape}"
            )
        check_nonnegative("SpikeTimes.times", times, "ms")
        if indices.size and (indices.min() < 0 or indices.max() >= size):
            raise ValueError(f"SpikeTimes.indices must be in [0, {size - 1}], got {indices}")
        self.size = size
        self.times = jnp.asarray(times, jnp.float32)
        self.indices = jnp.asarray(indices, jnp.int32)

    def init(self, key=None, batch_shape=()):
        return SourceState(spike=jnp.zeros((*batch_shape, self.size)))

    def step(self, state, drive=None, *, t, dt):
        now = jnp.round(jnp.asarray(t) / dt)
        hit = (jnp.round(self.times / dt) == now).astype(state.spike.dtype)
        s = jnp.zeros(self.size, state.spike.dtype).at[self.indices].add(hit)
        s = jnp.broadcast_to(s, state.spike.shape)
        return SourceState(spike=s), s
