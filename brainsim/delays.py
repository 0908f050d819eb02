"""Axonal delays: ring buffers of past spike vectors per projection.

A spike emitted in step ``t`` reaches the synapses in step ``t + d`` for a delay of
``d = delay / dt`` steps (``d >= 1``; as in NEST, the minimum delay is one step ``dt``).

- Homogeneous (``Projection(delay=...)``): the buffer holds the last ``d - 1`` spike
  vectors, so ``d = 1`` costs nothing.
- Per synapse (``Projection(delays=...)``, a ``bs.conn.Delayed`` layout): a history of
  the last ``D`` spike vectors (``D`` the largest delay in steps, or ``max_delay``); in
  each step ``bs.ops.delayed_matvec`` sends the spikes emitted ``d`` steps ago through
  the synapses of delay ``d``, for every delay value ``d`` of the projection.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_nonnegative, check_positive, steps


class DelayState(eqx.Module):
    buffer: jnp.ndarray  # (d - 1, ..., n_pre) spikes waiting to arrive
    cursor: jnp.ndarray  # () int32, slot of the oldest entry


def delay_steps(delay: float | None, dt: float) -> int:
    """Delay in whole steps (>= 1); ``None`` means the minimum, one step."""
    if delay is None:
        return 1
    if delay < dt * (1 - 1e-9):
        raise ValueError(f"delay must be >= dt={dt:g} ms (the minimum delay), got {delay:g} ms")
    d = steps("delay", delay, dt)
    if d < 1:
        raise ValueError(f"delay must be >= dt={dt:g} ms (the minimum delay), got {delay:g} ms")
    return d


def init_delay(d: int, spike_shape: tuple[int, ...]) -> DelayState:
    return DelayState(jnp.zeros((d - 1, *spike_shape)), jnp.zeros((), jnp.int32))


def delay_step(state: DelayState, spikes):
    """Push this step's ``spikes``; return ``(state, spikes arriving now)``."""
    length = state.buffer.shape[0]
    if length == 0:
        return state, spikes
    arriving = state.buffer[state.cursor]
    buffer = state.buffer.at[state.cursor].set(spikes.astype(state.buffer.dtype))
    return DelayState(buffer, (state.cursor + 1) % length), arriving


class HistoryState(eqx.Module):
    history: jnp.ndarray  # (..., 2 D, n_pre) the last D spike vectors, stored twice
    cursor: jnp.ndarray  # () int32 in [0, D): rows cursor .. cursor + D - 1 = delays 1..D


def init_history(depth: int, spike_shape: tuple[int, ...]) -> HistoryState:
    *batch, n = spike_shape
    return HistoryState(jnp.zeros((*batch, 2 * depth, n)), jnp.zeros((), jnp.int32))


def history_step(state: HistoryState, spikes) -> HistoryState:
    """Record ``spikes`` (emitted in the previous step: they arrive through delay-1
    synapses now) as the most recent entry, overwriting the oldest.

    The ring is stored twice (rows ``c`` and ``c + D``) and filled backwards, so that the
    ``D`` rows from the cursor are the spikes of delays 1..D in order: one contiguous
    slice, no gather (``history_slots``)."""
    depth = state.history.shape[-2] // 2
    cursor = (state.cursor - 1) % depth
    hist = jnp.moveaxis(state.history, -2, 0)
    new = spikes.astype(hist.dtype)
    hist = hist.at[cursor].set(new).at[cursor + depth].set(new)
    return HistoryState(jnp.moveaxis(hist, 0, -2), cursor)


def history_slots(state: HistoryState, group_steps: tuple[int, ...]):
    """``(..., len(group_steps), n_pre)``: for each delay ``d`` (steps) the spikes emitted
    ``d`` steps before the current step. A contiguous slice when the delays are
    ``1, 2, ..., G`` (the usual case for delays drawn on the dt grid), else a gather."""
    depth = state.history.shape[-2] // 2
    window = jax.lax.dynamic_slice_in_dim(state.history, state.cursor, depth, axis=-2)
    g = len(group_steps)
    if tuple(group_steps) == tuple(range(1, g + 1)):
        return window[..., :g, :]
    return jnp.take(window, jnp.asarray(group_steps, jnp.int32) - 1, axis=-2)


def group_steps(delays: tuple[float, ...], dt: float, max_delay: float | None = None):
    """Delay values (ms) as whole steps, checked: multiples of ``dt``, ``>= dt`` and
    ``<= max_delay``. Returns ``(steps per value, history depth)``."""
    out = tuple(delay_steps(v, dt) for v in delays)
    depth = max(out, default=1)
    if max_delay is not None:
        limit = delay_steps(max_delay, dt)
        if depth > limit:
            raise ValueError(
                f"delays must be <= max_delay={max_delay:g} ms, got {max(delays):g} ms"
            )
        depth = limit
    return out, depth


class NormalDelay(eqx.Module):
    """Per-synapse delays drawn from a normal distribution (ms), as NEST's microcircuit
    does: draws below ``resolution / 2`` are redrawn, then each delay is rounded to the
    nearest multiple of ``resolution`` (so the smallest delay is ``resolution``).
    ``resolution`` is the simulation step the network is meant for."""

    mean: float
    std: float
    resolution: float = 0.1

    def __check_init__(self):
        check_positive("NormalDelay.mean", self.mean, "ms")
        check_nonnegative("NormalDelay.std", self.std, "ms")
        check_positive("NormalDelay.resolution", self.resolution, "ms")

    def sample(self, rng: np.random.Generator, shape) -> np.ndarray:
        d = rng.normal(self.mean, self.std, shape)
        low = d < self.resolution / 2
        while low.any():
            d[low] = rng.normal(self.mean, self.std, int(low.sum()))
            low = d < self.resolution / 2
        return np.round(d / self.resolution) * self.resolution
