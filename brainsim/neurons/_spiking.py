"""Shared threshold, reset and refractory logic of the integrate-and-fire models."""

import jax.numpy as jnp


def fire_and_reset(spike_fn, v, v_th, v_reset, refractory):
    """Clamp refractory neurons at ``v_reset``, emit ``spike_fn(v - v_th)`` from the others,
    and reset spiking neurons: $V \\leftarrow V + (V_{reset} - V)\\,s$ (so a surrogate
    gradient flows through the reset). Returns ``(v, s)``."""
    free = refractory == 0
    v = jnp.where(free, v, v_reset)
    s = spike_fn(v - v_th) * free
    return v + (v_reset - v) * s, s


def upward_crossing(spike_fn, v_old, v_new, v_th):
    """Spike when ``v`` crosses ``v_th`` from below during the step (no reset): the
    detection used for conductance-based (Hodgkin–Huxley-type) models."""
    return spike_fn(v_new - v_th) * (v_old <= v_th)
