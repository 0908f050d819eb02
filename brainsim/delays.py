"""Homogeneous axonal delays: a ring buffer of past spike vectors per projection.

A spike emitted in step ``t`` reaches the synapses in step ``t + d`` for a delay of
``d = delay / dt`` steps (``d >= 1``; as in NEST, the minimum delay is one step ``dt``).
The buffer holds the last ``d - 1`` spike vectors, so ``d = 1`` costs nothing.
"""

import equinox as eqx
import jax.numpy as jnp

from ._checks import steps


class DelayState(eqx.Module):
    buffer: jnp.ndarray  # (d - 1, ..., n_pre) spikes waiting to arrive
    cursor: jnp.ndarray  # () int32, slot of the oldest entry


def delay_steps(delay: float | None, dt: float) -> int:
    """Delay in whole steps (>= 1); ``None`` means the minimum, one step."""
    if delay is None:
        return 1
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
