r"""GABA_B receptor with a second-messenger cascade (Destexhe, Mainen & Sejnowski 1994;
rate constants of Destexhe et al. 1998, "Kinetic models of synaptic transmission").

$$\dot r = K_1 [T] (1 - r) - K_2 r, \qquad \dot s = K_3 r - K_4 s, \qquad
g = g_{max} \frac{s^n}{s^n + K_d}$$

with $[T] = T_{max} \sum w$ over the arrivals of the last ``t_pulse`` ms: a spike of
weight $w$ (dimensionless, the number of release sites relative to one) releases a
transmitter pulse of $w\,T_{max}$. The state is lumped per postsynaptic neuron (one
receptor pool, so the pooled G-protein $s$ is what the nonlinearity sees), which is the
model's own assumption of a shared second messenger. $r$ and $s$ are integrated exactly
for the transmitter held constant over each step. ``g`` (nS) of a step is its value at
the start of the step.
"""

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_positive, steps
from .._protocol import AbstractDynamics


class GABABState(eqx.Module):
    r: jnp.ndarray  # (..., n_post) activated receptor fraction
    s: jnp.ndarray  # (..., n_post) G-protein concentration (model units)
    w_on: jnp.ndarray  # (..., n_post) summed weights with a pulse on
    pending: jnp.ndarray  # (n_pulse, ..., n_post)
    cursor: jnp.ndarray  # () int32


def _phi(a, b, h):
    """(e^{-a h} - e^{-b h}) / (b - a), finite as a -> b (-> h e^{-a h})."""
    x = (b - a) * h
    small = jnp.abs(x) < 1e-6
    ratio = jnp.where(
        small, 1.0 - 0.5 * x, -jnp.expm1(-jnp.where(small, 1.0, x)) / jnp.where(small, 1.0, x)
    )
    return h * jnp.exp(-a * h) * ratio


class GABAB(AbstractDynamics):
    """GABA_B kinetics (see module docstring). Rates in 1/ms (``k1`` in 1/(mM ms)),
    ``t_max`` mM, ``t_pulse`` ms, ``g_max`` nS, ``kd`` in s-units^n."""

    g_max: float = 1.0
    k1: float = 0.09
    k2: float = 0.0012
    k3: float = 0.18
    k4: float = 0.034
    kd: float = 100.0
    n: float = 4.0
    t_max: float = 0.5
    t_pulse: float = 0.3

    def __check_init__(self):
        for name in ("g_max", "k1", "k2", "k3", "k4", "kd", "n", "t_max", "t_pulse"):
            check_positive(f"GABAB.{name}", getattr(self, name))

    def init(self, key, shape, *, dt=None):
        if dt is None:
            raise ValueError("GABAB.init needs dt (ms) to size the pulse buffer")
        n = steps("GABAB.t_pulse", self.t_pulse, dt)
        z = jnp.zeros(shape)
        return GABABState(z, z, z, jnp.zeros((n, *shape)), jnp.zeros((), jnp.int32))

    def step(self, state, events, *, t, dt):
        w_on = state.w_on - state.pending[state.cursor] + events
        pending = state.pending.at[state.cursor].set(events)
        cursor = (state.cursor + 1) % state.pending.shape[0]
        sn = state.s**self.n
        g = self.g_max * sn / (sn + self.kd)
        # exact solution of the linear system for constant [T] over the step
        a = self.k1 * self.t_max * w_on + self.k2
        r_inf = self.k1 * self.t_max * w_on / a
        dr = state.r - r_inf
        r = r_inf + dr * jnp.exp(-a * dt)
        s = (
            state.s * jnp.exp(-self.k4 * dt)
            + self.k3 * r_inf * (-jnp.expm1(-self.k4 * dt)) / self.k4
            + self.k3 * dr * _phi(a, self.k4, dt)
        )
        return GABABState(r, s, w_on, pending, cursor), g
