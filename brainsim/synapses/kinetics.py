"""Synaptic kinetics: how the synaptic variable ``g`` of each postsynaptic neuron evolves.

``step(state, events, t=, dt=)`` takes ``events`` (..., n_post), the summed weights of the
spikes arriving in this step (in the synaptic variable's unit), and returns
``(state, g_mean)``: the new state, whose variable is the synaptic variable at the start
of the step just after the arrivals, and ``g_mean``, the exact mean of the synaptic
variable over the step (what the membrane receives, held constant over the step). With
the mean, not the start value, one arrival of weight ``w`` delivers exactly the integral
of its response (``w τ`` for ``Exponential``) whatever ``dt / τ`` (see
docs/concepts/synaptic_integration.md).
"""

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_positive
from .._protocol import AbstractDynamics


def exp_mean(dt, tau):
    r"""Mean of $e^{-s/\tau}$ over $s \in [0, \Delta t]$:
    $\frac{\tau}{\Delta t}\left(1 - e^{-\Delta t/\tau}\right)$ (dimensionless, in
    $(0, 1]$). ``dt``, ``tau`` in ms (``tau`` a scalar or an array).

    Known values are evaluated on the host in float64 and rounded once (a float for a
    float ``tau``, else an array of ``tau``'s floating dtype): every code path that
    takes it from known values multiplies by the same number, which XLA's constant
    folding and its compiled ``expm1`` would not guarantee (they can differ in the last
    bit)."""
    if isinstance(dt, jax.core.Tracer) or isinstance(tau, jax.core.Tracer):
        x = dt / jnp.asarray(tau)
        return -jnp.expm1(-x) / x
    x = dt / np.asarray(tau, np.float64)
    m = -np.expm1(-x) / x
    if isinstance(tau, int | float):
        return float(m)
    dtype = jnp.asarray(tau).dtype
    return jnp.asarray(m, dtype if jnp.issubdtype(dtype, jnp.floating) else float)


class SynapseState(eqx.Module):
    """State of a synaptic kinetics: the synaptic variable of each postsynaptic neuron."""

    g: jnp.ndarray  # (..., n_post) synaptic variable (nS, pA or mV depending on the output)


class Delta(AbstractDynamics):
    """No memory: ``g`` is the arriving weight in the arrival step and 0 otherwise.
    Pair with ``VoltageJump`` for the classic ``V += w`` synapse."""

    superposes: ClassVar[bool] = True  # linear: the response to summed arrivals is the sum

    def init(self, key, shape, *, dt=None):
        return SynapseState(g=jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        return SynapseState(g=events), events


class Exponential(AbstractDynamics):
    r"""Exponential decay with time constant ``tau`` (ms), exact between arrivals:
    $g(t+\Delta t) = g(t)\,e^{-\Delta t/\tau} + \sum_{\text{arrivals}} w$. The step's
    mean is $g\,\frac{\tau}{\Delta t}(1 - e^{-\Delta t/\tau})$ (``exp_mean``): one
    arrival delivers $w\tau$. ``step_mean=False`` returns the start value instead
    (the scheme of Brian2's examples; too much charge by $x/(1 - e^{-x})$,
    $x = \Delta t/\tau$)."""

    superposes: ClassVar[bool] = True  # linear: the response to summed arrivals is the sum

    tau: float | jnp.ndarray = 5.0
    step_mean: bool = eqx.field(default=True, static=True)

    def __check_init__(self):
        check_positive("Exponential.tau", self.tau, "ms")

    def init(self, key, shape, *, dt=None):
        return SynapseState(g=jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        g = state.g * jnp.exp(-dt / jnp.asarray(self.tau)) + events
        return SynapseState(g=g), g * exp_mean(dt, self.tau) if self.step_mean else g


class DualExponentialState(eqx.Module):
    rise: jnp.ndarray  # (..., n_post) component decaying with tau_rise
    decay: jnp.ndarray  # (..., n_post) component decaying with tau_decay


class DualExponential(AbstractDynamics):
    r"""Difference of exponentials, normalised so one arrival of weight $w$ peaks at $w$:

    $$g(t) = w\,A\left(e^{-t/\tau_d} - e^{-t/\tau_r}\right), \quad
    t_{pk} = \frac{\tau_d \tau_r}{\tau_d - \tau_r}\ln\frac{\tau_d}{\tau_r}, \quad
    A = \left(e^{-t_{pk}/\tau_d} - e^{-t_{pk}/\tau_r}\right)^{-1}$$

    for $t$ after the arrival (the arrival step starts at the arrival). Both components
    decay exactly between arrivals; the step's mean is that of each component
    (``exp_mean``), so one arrival delivers $w A (\tau_d - \tau_r)$.
    ``tau_rise < tau_decay`` (ms). ``step_mean=False``: the start value (as
    ``Exponential``).
    """

    superposes: ClassVar[bool] = True  # linear: the response to summed arrivals is the sum

    tau_rise: float = 1.0
    tau_decay: float = 5.0
    step_mean: bool = eqx.field(default=True, static=True)

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
        if not self.step_mean:
            return DualExponentialState(rise, decay), decay - rise
        mean = decay * exp_mean(dt, self.tau_decay) - rise * exp_mean(dt, self.tau_rise)
        return DualExponentialState(rise, decay), mean


class AlphaState(eqx.Module):
    g: jnp.ndarray  # (..., n_post) synaptic variable
    h: jnp.ndarray  # (..., n_post) auxiliary variable (unit of g per ms)


class Alpha(AbstractDynamics):
    r"""Alpha function peaking at the weight $w$ at $t = \tau$ after the arrival:
    $g(t) = w\,\frac{t}{\tau}\,e^{1 - t/\tau}$.

    Integrated exactly as $\dot g = -g/\tau + h$, $\dot h = -h/\tau$ with
    $h \mathrel{+}= w e/\tau$ per arrival:
    $g \leftarrow e^{-\Delta t/\tau}(g + \Delta t\,h)$, $h \leftarrow e^{-\Delta t/\tau}h$.
    ``g`` is 0 at the start of the arrival step. Within a step starting at $(g, h)$,
    $g(s) = e^{-s/\tau}(g + s h)$, whose mean over the step is
    $g\,m_0 + h\,\tau\,m_1$ with $m_0 = (1 - E)/x$, $m_1 = (1 - E(1 + x))/x$,
    $E = e^{-x}$, $x = \Delta t/\tau$: one arrival delivers $w e \tau$. ``tau`` in ms.
    ``step_mean=False``: the start value (as ``Exponential``).
    """

    superposes: ClassVar[bool] = True  # linear: the response to summed arrivals is the sum

    tau: float = 2.0
    step_mean: bool = eqx.field(default=True, static=True)

    def __check_init__(self):
        check_positive("Alpha.tau", self.tau, "ms")

    def init(self, key, shape, *, dt=None):
        return AlphaState(jnp.zeros(shape), jnp.zeros(shape))

    def step(self, state, events, *, t, dt):
        # g_n = E (g_{n-1} + dt h_{n-1}); h_n = E h_{n-1} + (e / tau) w_n
        e = math.exp(-dt / self.tau)
        g = e * (state.g + dt * state.h)
        h = e * state.h + (math.e / self.tau) * events
        if not self.step_mean:
            return AlphaState(g, h), g
        x = dt / self.tau
        m0 = -math.expm1(-x) / x
        m1 = (-math.expm1(-x) - x * e) / x  # host float64: 1e-11 relative at x = 0.005
        return AlphaState(g, h), g * m0 + h * (self.tau * m1)
