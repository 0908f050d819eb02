"""Synaptic kinetics: how the synaptic variable ``g`` of each postsynaptic neuron evolves.

``step(state, events, t=, dt=)`` takes ``events`` (..., n_post), the summed weights of the
spikes arriving in this step (in the synaptic variable's unit), and returns
``(state, g)``. The arrival is applied first, so ``g`` holds the full jump in the arrival
step and then decays.
"""

import math

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_positive
from .._protocol import AbstractDynamics


class SynapseState(eqx.Module):
    """State of a synaptic kinetics: the synaptic variable of each postsynaptic neuron."""

    g: jnp.ndarray  # (..., n_post) synaptic variable (nS, pA or mV depending on the output)


class Delta(AbstractDynamics):
    """No memory: ``g`` is the arriving weight in the arrival step and 0 otherwise.
    Pair with ``VoltageJump`` for the classic ``V += w`` synapse."""

    def init(self, key, shape, *, dt=None):
        return SynapseState(g=jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        return SynapseState(g=events), events


class Exponential(AbstractDynamics):
    r"""Exponential decay with time constant ``tau`` (ms), exact between arrivals:
    $g(t+\Delta t) = g(t)\,e^{-\Delta t/\tau} + \sum_{\text{arrivals}} w$."""

    tau: float | jnp.ndarray = 5.0

    def __check_init__(self):
        check_positive("Exponential.tau", self.tau, "ms")

    def init(self, key, shape, *, dt=None):
        return SynapseState(g=jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        g = state.g * jnp.exp(-dt / jnp.asarray(self.tau)) + events
        return SynapseState(g=g), g


class DualExponentialState(eqx.Module):
    rise: jnp.ndarray  # (..., n_post) component decaying with tau_rise
    decay: jnp.ndarray  # (..., n_post) component decaying with tau_decay


class DualExponential(AbstractDynamics):
    r"""Difference of exponentials, normalised so one arrival of weight $w$ peaks at $w$:

    $$g(t) = w\,A\left(e^{-t/\tau_d} - e^{-t/\tau_r}\right), \quad
    t_{pk} = \frac{\tau_d \tau_r}{\tau_d - \tau_r}\ln\frac{\tau_d}{\tau_r}, \quad
    A = \left(e^{-t_{pk}/\tau_d} - e^{-t_{pk}/\tau_r}\right)^{-1}$$

    for $t$ after the arrival (``g`` is 0 in the arrival step, which starts at the arrival).
    Both components decay exactly between arrivals. ``tau_rise < tau_decay`` (ms).
    """

    tau_rise: float = 1.0
    tau_decay: float = 5.0

    def __check_init__(self):
        check_positive("DualExponential.tau_rise", self.tau_rise, "ms")
        check_positive("DualExponential.tau_decay", self.tau_decay, "ms")
        if not self.tau_rise < self.tau_decay:
            raise ValueError(
                f"DualExponential.tau_rise must be < tau_decay={self.tau_decay:g} ms, got "
                f"{self.tau_rise:g} ms"
            )

    @property
    def peak_factor(self) -> float:
        """The normalisation ``A`` (dimensionless)."""
        tr, td = self.tau_rise, self.tau_decay
        t_pk = td * tr / (td - tr) * math.log(td / tr)
        return 1.0 / (math.exp(-t_pk / td) - math.exp(-t_pk / tr))

    def init(self, key, shape, *, dt=None):
        return DualExponentialState(jnp.zeros(shape), jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        jump = self.peak_factor * events
        rise = state.rise * math.exp(-dt / self.tau_rise) + jump
        decay = state.decay * math.exp(-dt / self.tau_decay) + jump
        return DualExponentialState(rise, decay), decay - rise


class AlphaState(eqx.Module):
    g: jnp.ndarray  # (..., n_post) synaptic variable
    h: jnp.ndarray  # (..., n_post) auxiliary variable (unit of g per ms)


class Alpha(AbstractDynamics):
    r"""Alpha function peaking at the weight $w$ at $t = \tau$ after the arrival:
    $g(t) = w\,\frac{t}{\tau}\,e^{1 - t/\tau}$.

    Integrated exactly as $\dot g = -g/\tau + h$, $\dot h = -h/\tau$ with
    $h \mathrel{+}= w e/\tau$ per arrival:
    $g \leftarrow e^{-\Delta t/\tau}(g + \Delta t\,h)$, $h \leftarrow e^{-\Delta t/\tau}h$.
    ``g`` is 0 in the arrival step. ``tau`` in ms.
    """

    tau: float = 2.0

    def __check_init__(self):
        check_positive("Alpha.tau", self.tau, "ms")

    def init(self, key, shape, *, dt=None):
        return AlphaState(jnp.zeros(shape), jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        # g_n = E (g_{n-1} + dt h_{n-1}); h_n = E h_{n-1} + (e / tau) w_n
        e = math.exp(-dt / self.tau)
        g = e * (state.g + dt * state.h)
        h = e * state.h + (math.e / self.tau) * events
        return AlphaState(g, h), g
