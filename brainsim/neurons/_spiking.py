"""Shared threshold, reset and refractory logic of the integrate-and-fire models."""

import jax.numpy as jnp

from .._checks import check_finite, check_nonnegative, check_positive, check_size


def fire_and_reset(spike_fn, v, v_th, v_reset, refractory):
    """Clamp refractory neurons at ``v_reset``, emit ``spike_fn(v - v_th)`` from the others,
    and reset spiking neurons: $V \\leftarrow V + (V_{reset} - V)\\,s$ (a surrogate
    gradient flows through the reset unless ``spike_fn.reset_gate`` stops it). Returns
    ``(v, s)``."""
    free = refractory == 0
    v = jnp.where(free, v, v_reset)
    s = spike_fn(v - v_th) * free
    return v + (v_reset - v) * spike_fn.reset_gate(s), s


def upward_crossing(spike_fn, v_old, v_new, v_th):
    """Spike when ``v`` crosses ``v_th`` from below during the step (no reset): the
    detection used for conductance-based (Hodgkin–Huxley-type) models."""
    return spike_fn(v_new - v_th) * (v_old <= v_th)


def check_leaky(name: str, neuron) -> None:
    """Validate the parameters shared by the leaky integrate-and-fire models (``size``,
    ``tau_m``, ``c_m``, ``t_ref``, ``v_rest``, ``v_th``, ``v_reset``, ``i_ext``)."""
    check_size(f"{name}.size", neuron.size)
    check_positive(f"{name}.tau_m", neuron.tau_m, "ms")
    check_positive(f"{name}.c_m", neuron.c_m, "pF")
    check_nonnegative(f"{name}.t_ref", neuron.t_ref, "ms")
    for field in ("v_rest", "v_th", "v_reset", "i_ext"):
        check_finite(f"{name}.{field}", getattr(neuron, field))


def leaky_derivative(neuron, v, drive):
    """dV/dt (mV/ms) of a leaky membrane: $(g_L (V_{rest} - V) + I_{ext} + I_{syn}(V)) /
    C_m$ with $g_L = C_m / \tau_m$."""
    g_l = neuron.c_m / neuron.tau_m
    return (g_l * (neuron.v_rest - v) + neuron.i_ext + drive.membrane_current(v)) / neuron.c_m
