"""Axonal delays: per-projection ring buffers.

A spike emitted in step ``t`` reaches the synapses in step ``t + d`` for a delay of
``d = delay / dt`` steps (``d >= 1``; as in NEST, the minimum delay is one step ``dt``).

- Homogeneous (``Projection(delay=...)``): a presynaptic buffer of the last ``d - 1``
  spike vectors, so ``d = 1`` costs nothing.
- Per synapse (``Projection(delays=...)``, a ``bs.conn.Delayed`` layout): as in NEST, a
  postsynaptic ring of ``D`` input vectors (``D`` the largest delay in steps, or
  ``max_delay``). When a neuron spikes, each of its synapses adds its weight to the slot
  of its own arrival step and each step reads and clears the current slot
  (``bs.ops.delayed_propagate``). The cost is O(active presynaptic neurons x fan-out),
  independent of the number of distinct delays. A network steps all its rings as one
  operation (``ring_step_many``, ``bs.ops.delayed_propagate_many``: one native call
  per step on a CPU); projections onto one population that share a synaptic trace
  (``Network.trace_of``) share one ring, as NEST keeps one per receptor type.
"""

import equinox as eqx
import jax.numpy as jnp

from ._checks import steps
from .conn.delay_rules import NormalDelay as NormalDelay
from .ops.delayed import advance, delayed_propagate
from .ops.delayed_many import delayed_propagate_many


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
    return DelayState(buffer, advance(state.cursor, length)), arriving


class RingState(eqx.Module):
    buffer: jnp.ndarray  # (..., D, n_post) in flight: slot (cursor + k) % D arrives in k steps
    cursor: jnp.ndarray  # () int32, the slot that arrives in the current step


def init_ring(depth: int, batch_shape: tuple[int, ...], n_post: int) -> RingState:
    return RingState(jnp.zeros((*batch_shape, depth, n_post)), jnp.zeros((), jnp.int32))


def ring_step(state: RingState, layout, weight, spikes, *, steps, capacity: int):
    """Send ``spikes`` (emitted in the previous step) into the ring, each synapse to the
    slot of its arrival step, then read and clear the current slot
    (``bs.ops.delayed_propagate``). Returns ``(state, input arriving now (..., n_post))``."""
    buffer, arriving = delayed_propagate(
        layout, weight, spikes, state.buffer, state.cursor, steps=steps, capacity=capacity
    )
    return RingState(buffer, advance(state.cursor, buffer.shape[-2])), arriving


def ring_step_many(states, layouts, weights, spikes, *, steps, capacities, ring_of=None):
    """``ring_step`` for several projections as one operation
    (``bs.ops.delayed_propagate_many``: one native call per step on a CPU), into the
    rings ``states`` (``ring_of``: per projection the index of its ring; ``None``: one
    ring each). Returns ``(states, inputs arriving now)``, lists in the rings' order."""
    rings, arriving, cursors = delayed_propagate_many(
        layouts,
        weights,
        spikes,
        [s.buffer for s in states],
        [s.cursor for s in states],
        steps=steps,
        capacities=capacities,
        ring_of=ring_of,
    )
    return [RingState(r, c) for r, c in zip(rings, cursors, strict=True)], arriving


def group_steps(delays: tuple[float, ...], dt: float, max_delay: float | None = None):
    """Delay values (ms) as whole steps, checked: multiples of ``dt``, ``>= dt`` and
    ``<= max_delay``. Returns ``(steps per value, ring depth D)``."""
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
