import equinox as eqx
import jax.numpy as jnp

from .._checks import check_finite, check_positive
from ..initializers import AbstractInitializer, initialize
from ..integrators import AbstractIntegrator, DormandPrince
from ..spikes import AbstractSpike, Heaviside
from ._base import AbstractNeuron, Drive, SpikeGeometry, refractory_update
from ._spiking import fire_and_reset
from .expif import check_exp_if, exp_if_current


class AdExState(eqx.Module):
    v: jnp.ndarray  # (..., n) membrane potential, mV
    w: jnp.ndarray  # (..., n) adaptation current, pA
    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    refractory: jnp.ndarray  # (..., n) int32, refractory steps left


class AdEx(AbstractNeuron):
    r"""Adaptive exponential integrate-and-fire neurons (Brette & Gerstner 2005).

    $$C_m \frac{dV}{dt} = -g_L (V - E_L) + g_L \Delta_T e^{(V - V_T)/\Delta_T} - w
    + I_{ext} + I_{syn}(V), \qquad \tau_w \frac{dw}{dt} = a (V - E_L) - w$$

    When $V > V_{peak}$: spike, $V \leftarrow V_{reset}$ (after a step, $V$ is capped at
    $V_{peak} + \Delta_T$: the upstroke diverges in finite time, and an explicit step
    may overshoot to infinity; any value above $V_{peak}$ is a spike), $w \leftarrow w + b$; $V$ is
    clamped at $V_{reset}$ for ``t_ref`` ms while $w$ keeps evolving (as NEST's
    ``aeif_*``).

    Units: ``c_m`` pF; ``g_l``, ``a`` nS; voltages and ``delta_t`` mV; ``tau_w``,
    ``t_ref`` ms; ``b``, ``i_ext`` pA. Defaults: NEST's ``aeif_psc_exp`` (Brette &
    Gerstner 2005). Default integrator: ``DormandPrince`` (adaptive sub-steps with error
    control inside each step, as NEST's ``aeif_*`` models do): the upstroke diverges in
    finite time, and a fixed-step scheme crosses ``v_peak`` a step late whenever the
    divergence falls inside a step (RK4 at dt = 0.025 ms: one step per spike, 0.125 ms by
    the 9th; the adaptive default: on the reference's step). For networks ``RK4`` or
    ``ExpEuler`` (exact for the linear parts, first order) are cheaper and
    reverse-differentiable. ``ETDRK4`` does not suit this model: the membrane's own
    rate turns positive on the upstroke while the exponential term is capped.
    """

    size: int = eqx.field(static=True)
    c_m: float | jnp.ndarray = 281.0
    g_l: float | jnp.ndarray = 30.0
    e_l: float | jnp.ndarray = -70.6
    v_t: float | jnp.ndarray = -50.4
    delta_t: float | jnp.ndarray = 2.0
    v_peak: float | jnp.ndarray = 0.0
    v_reset: float | jnp.ndarray = -60.0
    a: float | jnp.ndarray = 4.0
    b: float | jnp.ndarray = 80.5
    tau_w: float | jnp.ndarray = 144.0
    t_ref: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer | None = None
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = DormandPrince()

    def __check_init__(self):
        check_exp_if("AdEx", self)
        check_positive("AdEx.tau_w", self.tau_w, "ms")
        check_finite("AdEx.a", self.a, "nS")
        check_finite("AdEx.b", self.b, "pA")

    def init(self, key, batch_shape=()):
        shape = (*batch_shape, self.size)
        v0 = self.e_l if self.v_init is None else self.v_init
        zeros = jnp.zeros(shape)
        return AdExState(
            initialize(v0, key, shape, jnp.result_type(float)),
            zeros,
            zeros,
            jnp.zeros(shape, jnp.int32),
        )

    def derivative(self, t, y, drive: Drive):
        """``(dV/dt, dw/dt)`` in mV/ms and pA/ms for ``y = (V, w)``."""
        v, w = y
        v = jnp.minimum(v, self.v_peak)  # as NEST: the capped V in every term
        i = exp_if_current(v, self.g_l, self.e_l, self.v_t, self.delta_t, self.v_peak)
        dv = (i - w + self.i_ext + drive.membrane_current(v)) / self.c_m
        return dv, (self.a * (v - self.e_l) - w) / self.tau_w

    def spike_geometry(self):
        """Rest ``e_l`` (the exponential term's shift of it, below 0.01 mV for the
        defaults, neglected), threshold and runaway ``v_t`` (where the exponential term's
        slope equals the leak's), spike level ``v_peak``."""
        return SpikeGeometry(self.e_l, self.v_t, self.v_peak, self.v_t)

    def step(self, state: AdExState, drive: Drive | None, *, t, dt):
        drive = Drive() if drive is None else drive
        y = (state.v, state.w)
        v, w = self.integrator.step(self.derivative, t, y, dt, drive)
        v = jnp.minimum(v + drive.jump, self.v_peak + self.delta_t)  # bound the overshoot
        v, s = fire_and_reset(self.spike, v, self.v_peak, self.v_reset, state.refractory)
        refractory = refractory_update(state.refractory, s, self.t_ref, dt)
        return AdExState(v, w + self.b * s, s, refractory), s
