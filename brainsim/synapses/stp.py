r"""Tsodyks–Markram short-term plasticity on the presynaptic side of a projection
(Tsodyks, Pawelzik & Markram 1998; Markram, Wang & Tsodyks 1998).

Each presynaptic neuron has a utilisation $u$ and available resources $x$:

$$\dot u = -u/\tau_f, \qquad \dot x = (1 - x)/\tau_d$$

and at a spike, in this order: $u \leftarrow u + U(1 - u)$, the spike is transmitted with
efficacy $u\,x$ (it multiplies the synaptic weight), then $x \leftarrow x - u\,x$.
Between spikes both relax in closed form, so one step of $\Delta t$ applies the exact
decay ($\tau_f = 0$: no facilitation, $u = U$ at every spike). A regular train of
period $T$ converges to the efficacy

$$u^* x^*, \qquad u^* = \frac{U}{1 - (1 - U) e^{-T/\tau_f}}, \qquad
x^* = \frac{1 - e^{-T/\tau_d}}{1 - (1 - u^*) e^{-T/\tau_d}}.$$

The state starts at $u = 0$, $x = 1$. Real-valued spikes $s$ (surrogate or counts)
interpolate the jumps linearly: $u \mathrel{+}= s\,U(1-u)$, $x \mathrel{-}= s\,u x$.
"""

import math

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_nonnegative, check_positive
from .._protocol import AbstractDynamics


class STPState(eqx.Module):
    u: jnp.ndarray  # (..., n_pre) utilisation before the next spike
    x: jnp.ndarray  # (..., n_pre) available resources before the next spike


class TsodyksMarkram(AbstractDynamics):
    """``U`` in (0, 1]; ``tau_f`` >= 0 ms (facilitation; 0 disables it); ``tau_d`` > 0 ms
    (recovery from depression). ``step(state, spikes, t=, dt=)`` returns the spikes
    scaled by their efficacy ``u x`` (shape ``(..., n_pre)``)."""

    U: float = 0.5
    tau_f: float = 0.0
    tau_d: float = 100.0

    def __check_init__(self):
        check_positive("TsodyksMarkram.U", self.U)
        if self.U > 1:
            raise ValueError(f"TsodyksMarkram.U must be in (0, 1], got {self.U:g}")
        check_nonnegative("TsodyksMarkram.tau_f", self.tau_f, "ms")
        check_positive("TsodyksMarkram.tau_d", self.tau_d, "ms")

    def init(self, key, shape, *, dt=None):
        return STPState(u=jnp.zeros(shape), x=jnp.ones(shape))

    def step(self, state, spikes, *, t, dt):
        decay_f = math.exp(-dt / self.tau_f) if self.tau_f > 0 else 0.0
        u = state.u * decay_f
        x = 1.0 + (state.x - 1.0) * math.exp(-dt / self.tau_d)
        u_spike = u + self.U * (1.0 - u)
        efficacy = u_spike * x
        u = u + spikes * (u_spike - u)
        x = x - spikes * efficacy
        return STPState(u=u, x=x), spikes * efficacy

    def steady_state(self, period: float) -> float:
        """Closed-form efficacy ``u* x*`` of a regular train of ``period`` ms."""
        ef = math.exp(-period / self.tau_f) if self.tau_f > 0 else 0.0
        ed = math.exp(-period / self.tau_d)
        u = self.U / (1.0 - (1.0 - self.U) * ef)
        return u * (1.0 - ed) / (1.0 - (1.0 - u) * ed)
