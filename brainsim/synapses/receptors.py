r"""Kinetic receptor models (Destexhe, Mainen & Sejnowski 1994, J Comput Neurosci 1:195).

Two-state receptors (AMPA, GABA_A, NMDA): a fraction $r$ of open channels obeys

$$\dot r = \alpha\,[T]\,(1 - r) - \beta\,r$$

where each arriving spike releases a transmitter pulse $[T] = T_{max}$ lasting
``t_pulse`` ms. During the pulse $r$ relaxes to $r_\infty = \alpha T_{max} /
(\alpha T_{max} + \beta)$ with time constant $\tau_{on} = 1/(\alpha T_{max} + \beta)$,
afterwards it decays with $1/\beta$ (both exact per step).

The synaptic variable of a postsynaptic neuron is $g = \sum_k w_k r_k$ (nS; $w_k$ the
conductance with all channels open). This module integrates that sum for every
postsynaptic neuron from the summed weights of the arrivals, which is exact when each
release finds the receptors of its synapse closed ($r_k \approx 0$: the responses
superpose linearly, the regime of low per-synapse rates). Saturation of one synapse
by its own high-frequency release is not modelled. A single arrival of weight $w$ at
$t = 0$ gives

$$g(t) = w\,r_\infty\,(1 - e^{-t/\tau_{on}}) \ (t \le t_p), \qquad
g(t) = g(t_p)\,e^{-\beta (t - t_p)} \ (t > t_p).$$

``g`` of a step is its value at the start of the step (0 in the arrival step). The
pulse must last a whole number of steps (checked by ``init(..., dt=)``).
"""

import math

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_positive, steps
from .._protocol import AbstractDynamics


class TwoStateState(eqx.Module):
    g_on: jnp.ndarray  # (..., n_post) nS, from synapses whose pulse is on
    g_off: jnp.ndarray  # (..., n_post) nS, from synapses whose pulse has ended
    w_on: jnp.ndarray  # (..., n_post) nS, summed weights with a pulse on
    pending: jnp.ndarray  # (n_pulse, ..., n_post) weights of the last n_pulse steps
    cursor: jnp.ndarray  # () int32, slot of the oldest pending entry


class TwoStateReceptor(AbstractDynamics):
    """Two-state kinetic receptor (see module docstring). ``alpha`` (1/(mM·ms)),
    ``beta`` (1/ms), ``t_max`` (mM), ``t_pulse`` (ms). Use ``AMPA()``, ``GABAA()`` or
    ``NMDA()`` for the published rate constants."""

    alpha: float
    beta: float
    t_max: float = 1.0
    t_pulse: float = 1.0

    def __check_init__(self):
        check_positive("TwoStateReceptor.alpha", self.alpha, "1/(mM ms)")
        check_positive("TwoStateReceptor.beta", self.beta, "1/ms")
        check_positive("TwoStateReceptor.t_max", self.t_max, "mM")
        check_positive("TwoStateReceptor.t_pulse", self.t_pulse, "ms")

    @property
    def r_inf(self) -> float:
        return self.alpha * self.t_max / (self.alpha * self.t_max + self.beta)

    @property
    def tau_on(self) -> float:
        return 1.0 / (self.alpha * self.t_max + self.beta)

    def init(self, key, shape, *, dt=None):
        if dt is None:
            raise ValueError("TwoStateReceptor.init needs dt (ms) to size the pulse buffer")
        n = steps("TwoStateReceptor.t_pulse", self.t_pulse, dt)
        z = jnp.zeros(shape)
        return TwoStateState(z, z, z, jnp.zeros((n, *shape)), jnp.zeros((), jnp.int32))

    def step(self, state, events, *, t, dt):
        rho = self.r_inf * -math.expm1(-self.t_pulse / self.tau_on)  # r at the pulse end
        ending = state.pending[state.cursor]  # arrived t_pulse ago: pulse ends now
        g_on = state.g_on - rho * ending
        g_off = state.g_off + rho * ending
        w_on = state.w_on - ending + events
        pending = state.pending.at[state.cursor].set(events)
        cursor = (state.cursor + 1) % state.pending.shape[0]
        g = g_on + g_off
        g_inf = self.r_inf * w_on
        g_on = g_inf + (g_on - g_inf) * math.exp(-dt / self.tau_on)
        g_off = g_off * math.exp(-self.beta * dt)
        return TwoStateState(g_on, g_off, w_on, pending, cursor), g


def AMPA(*, t_max: float = 1.0, t_pulse: float = 1.0) -> TwoStateReceptor:
    """AMPA: alpha = 1.1 /(mM ms), beta = 0.19 /ms (Destexhe et al. 1994; reversal 0 mV)."""
    return TwoStateReceptor(1.1, 0.19, t_max, t_pulse)


def GABAA(*, t_max: float = 1.0, t_pulse: float = 1.0) -> TwoStateReceptor:
    """GABA_A: alpha = 5 /(mM ms), beta = 0.18 /ms (Destexhe et al. 1994; reversal
    -80 mV)."""
    return TwoStateReceptor(5.0, 0.18, t_max, t_pulse)


def NMDA(*, t_max: float = 1.0, t_pulse: float = 1.0) -> TwoStateReceptor:
    """NMDA: alpha = 0.072 /(mM ms), beta = 0.0066 /ms (Destexhe et al. 1994; reversal
    0 mV). Pair with the ``MgBlock`` output for the voltage-dependent Mg2+ block."""
    return TwoStateReceptor(0.072, 0.0066, t_max, t_pulse)
