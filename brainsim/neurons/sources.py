import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_nonnegative, check_size
from .._random import is_threefry, threefry2x32_traced
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
        dtype = state.spike.dtype
        u = jax.random.uniform(sub, state.spike.shape, dtype)
        lam = self._mean(dt).astype(dtype)
        s = _poisson_by_inversion(u, jnp.broadcast_to(lam, u.shape) if lam.ndim else lam)
        return SourceState(spike=s, key=key), s

    def _mean(self, dt):
        """The mean count per step: a scalar, or ``(size,)`` for a rate per channel."""
        return jnp.asarray(self.rate) * (dt * 1e-3)

    def step_together(self, populations, states, drives, *, t, dt):
        """All ``populations`` (``PoissonCounts``) in one draw: the uniforms of all their
        channels, laid end to end, in one fusion (each is Threefry-2x32 of its
        population's subkey and its index in the population,
        ``_random.threefry2x32_traced``), so bit for bit the separate steps' draws
        (``jax.random.split`` then ``jax.random.uniform``, partitionable threefry); each
        population's counts by inversion against the CDF of its own mean. ``None`` (each
        population steps alone) for states with batch axes, spikes other than float32 or
        keys of another kind."""
        if not all(
            s.spike.shape == (p.size,) and s.spike.dtype == jnp.float32 and is_threefry(s.key)
            for p, s in zip(populations, states, strict=True)
        ):
            return None
        return poisson_counts_block(populations, states, dt, [0] * len(populations))


def poisson_counts_block(populations, states, dt, firsts):
    """``PoissonCounts.step_together`` for the channels ``[first, first + n)`` of each
    population (``firsts``: one ``first`` per population, may be traced; ``n``: the
    length of its state's ``spike``, float32): each channel's uniform is Threefry-2x32
    of its population's subkey and its index, so a block is bit for bit the same
    channels of the whole draw (one shard's neurons in ``bs.simulate_sharded`` draw
    only their own). Channels past a population's size draw counts too (a sharded run's
    padding, which masks them). Every state's key a single threefry key; every ``rate``
    a scalar where ``n`` is not the size."""
    data = jnp.stack([jax.random.key_data(s.key) for s in states])  # (P, 2) uint32
    zero = jnp.zeros(len(populations), jnp.uint32)
    keys = jnp.stack(threefry2x32_traced(data[:, 0], data[:, 1], zero, zero), axis=-1)
    keys = jax.random.wrap_key_data(keys, impl="threefry2x32")
    sub0, sub1 = threefry2x32_traced(data[:, 0], data[:, 1], zero, zero + 1)
    sizes = [s.spike.shape[-1] for s in states]
    index = jnp.concatenate(
        [
            np.arange(n, dtype=np.uint32) + jnp.asarray(f, jnp.uint32)
            for n, f in zip(sizes, firsts, strict=True)
        ]
    )
    per_channel = lambda x: jnp.concatenate(  # noqa: E731
        [jnp.broadcast_to(x[i], (n,)) for i, n in enumerate(sizes)]
    )
    u = _unit_float32(*threefry2x32_traced(per_channel(sub0), per_channel(sub1), 0, index))
    out, start = [], 0
    for i, (p, n) in enumerate(zip(populations, sizes, strict=True)):
        c = _poisson_by_inversion(u[start : start + n], p._mean(dt).astype(jnp.float32))
        out.append((SourceState(spike=c, key=keys[i]), c))
        start += n
    return tuple(out)


def _unit_float32(y0, y1):
    """``jax.random.uniform``'s float32 in [0, 1) from Threefry's two output words: the
    23 high bits of ``y0 ^ y1`` as the mantissa of a float in [1, 2), minus 1."""
    mantissa = (y0 ^ y1) >> np.uint32(9)
    return jax.lax.bitcast_convert_type(mantissa | np.uint32(0x3F800000), jnp.float32) - 1.0


#: Terms of the Poisson CDF summed without a loop (``_poisson_by_inversion``): a count
#: of 16 or more has probability below 1e-9 at PD's largest mean (2.3 per step).
_UNROLLED_TERMS = 16


def _poisson_by_inversion(u, lam):
    """Poisson(lam) from one uniform ``u`` per channel: N = #{k : u > F(k)}, F the Poisson
    CDF accumulated term by term (p_k = p_{k-1} lam / k) until every channel's CDF exceeds
    its uniform. Exact (up to float rounding of F) for lam < 80 per step (e^{-lam} must
    not underflow); about 9x faster on a CPU than the rejection sampler of
    ``jax.random.poisson`` for lam ~ 1. ``lam`` broadcasts against ``u``: F is computed
    in ``lam``'s own shape (once for a population's scalar mean, not per channel). The
    first ``_UNROLLED_TERMS`` terms are straight-line (one fusion); a loop adds further
    terms only while some channel's CDF is still below its uniform and still growing.
    F is nondecreasing, so terms past the point where every channel is done add nothing:
    the count does not depend on where the unrolled part ends.

    Rounding: summed in floating point, F stops growing at a value a little below or
    above 1 (past the mode each term is smaller than the last, so once one is lost in
    the sum all later ones are). A uniform above that limit (``u`` is at most
    1 - 2^-24) has met the tail's float resolution: it counts up to the last term that
    still moved F and no further (without this rule it counted every term up to the
    loop's cap, a count of ~1000)."""
    p = jnp.exp(-lam)
    cdf, n = p, (u > p).astype(u.dtype)
    for k in range(1, _UNROLLED_TERMS):
        p = p * lam / k
        new = cdf + p
        n = n + ((u > new) & (new > cdf))
        cdf = new

    def cond(c):
        k, _, _, _, live = c
        return live & (k < 999)

    def body(c):
        k, p, cdf, n, _ = c
        k = k + 1
        p = p * lam / k
        new = cdf + p
        counts = (u > new) & (new > cdf)
        return k, p, new, n + counts, jnp.any(counts)

    live = jnp.any(u > cdf)
    return jax.lax.while_loop(cond, body, (_UNROLLED_TERMS - 1, p, cdf, n, live))[3]
