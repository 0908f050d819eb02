import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_nonnegative, check_size
from .._random import _is_threefry
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

    def step_together(self, populations, states, drives, *, t, dt):
        """All ``populations`` (``PoissonCounts``) in one draw: the rates padded with
        zeros to the largest size, the keys stacked, one vmapped draw. Bit for bit the
        separate steps: with JAX's partitionable threefry a uniform depends only on its
        key and index, so a longer draw extends a shorter one, and a padded channel (rate
        0) never spikes. ``None`` for states with batch axes or keys of another kind."""
        dtype = states[0].spike.dtype
        if not all(
            s.spike.shape == (p.size,) and s.spike.dtype == dtype and _is_threefry(s.key)
            for p, s in zip(populations, states, strict=True)
        ):
            return None
        width = max(p.size for p in populations)
        lam = jnp.stack(
            [_padded(jnp.asarray(p.rate) * (dt * 1e-3), p.size, width) for p in populations]
        )
        keys = jax.vmap(jax.random.split)(jnp.stack([s.key for s in states]))  # (P, 2)
        counts = jax.vmap(_poisson_by_inversion)(keys[:, 1], lam.astype(dtype))
        return tuple(
            (SourceState(spike=counts[i, : p.size], key=keys[i, 0]), counts[i, : p.size])
            for i, p in enumerate(populations)
        )


def _padded(x, size: int, width: int):
    """``x`` broadcast to ``(size,)`` and padded with zeros to ``(width,)``."""
    return jnp.pad(jnp.broadcast_to(jnp.asarray(x), (size,)), (0, width - size))


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
