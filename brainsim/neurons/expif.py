import equinox as eqx
import jax.numpy as jnp

from .._checks import check_finite, check_nonnegative, check_positive, check_size
from ..initializers import AbstractInitializer, initialize
from ..integrators import AbstractIntegrator, ExpEuler
from ..spikes import AbstractSpike, Heaviside
from ._base import AbstractNeuron, Drive, SpikeGeometry, refractory_update
from ._spiking import fire_and_reset


class ExpIFState(eqx.Module):
    v: jnp.ndarray  # (..., n) membrane potential, mV
    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    refractory: jnp.ndarray  # (..., n) int32, refractory steps left


def exp_if_current(v, g_l, e_l, v_t, delta_t, v_peak):
    r"""Leak plus spike-initiation current (pA):
    $-g_L (V - E_L) + g_L \Delta_T \exp((\min(V, V_{peak}) - V_T)/\Delta_T)$.

    $V$ is capped at $V_{peak}$ (as in NEST's ``aeif`` models), so an explicit step or
    a Runge–Kutta stage that overshoots the peak cannot overflow. The models' derivatives
    use the capped $V$ in every term."""
    v = jnp.minimum(v, v_peak)
    return g_l * (e_l - v) + g_l * delta_t * jnp.exp((v - v_t) / delta_t)


def check_exp_if(name, m):
    """Constructor checks shared by ``ExpIF`` and ``AdEx``."""
    check_size(f"{name}.size", m.size)
    check_positive(f"{name}.c_m", m.c_m, "pF")
    check_positive(f"{name}.g_l", m.g_l, "nS")
    check_positive(f"{name}.delta_t", m.delta_t, "mV")
    check_nonnegative(f"{name}.t_ref", m.t_ref, "ms")
    for field in ("e_l", "v_t", "v_peak", "v_reset", "i_ext"):
        check_finite(f"{name}.{field}", getattr(m, field))


class ExpIF(AbstractNeuron):
    r"""Exponential integrate-and-fire neurons (Fourcaud-Trocmé et al. 2003).

    $$C_m \frac{dV}{dt} = -g_L (V - E_L) + g_L \Delta_T e^{(V - V_T)/\Delta_T}
    + I_{ext} + I_{syn}(V)$$

    When $V > V_{peak}$: spike, $V \leftarrow V_{reset}$ (after a step, $V$ is capped at
    $V_{peak} + \Delta_T$: the upstroke diverges in finite time, and an explicit step
    may overshoot to infinity; any value above $V_{peak}$ is a spike), clamped for ``t_ref`` ms.

    Units: ``c_m`` pF; ``g_l`` nS; voltages and ``delta_t`` mV; ``t_ref`` ms;
    ``i_ext`` pA. Defaults: Brette & Gerstner (2005) without adaptation.
    """

    size: int = eqx.field(static=True)
    c_m: float | jnp.ndarray = 281.0
    g_l: float | jnp.ndarray = 30.0
    e_l: float | jnp.ndarray = -70.6
    v_t: float | jnp.ndarray = -50.4
    delta_t: float | jnp.ndarray = 2.0
    v_peak: float | jnp.ndarray = 0.0
    v_reset: float | jnp.ndarray = -70.6
    t_ref: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer | None = None
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = ExpEuler()

    def __check_init__(self):
        check_exp_if("ExpIF", self)

    def init(self, key, batch_shape=()):
        shape = (*batch_shape, self.size)
        v0 = self.e_l if self.v_init is None else self.v_init
        return ExpIFState(
            initialize(v0, key, shape, jnp.result_type(float)),
            jnp.zeros(shape),
            jnp.zeros(shape, jnp.int32),
        )

    def derivative(self, t, v, drive: Drive):
        """dV/dt (mV/ms), with $V$ capped at ``v_peak``."""
        v = jnp.minimum(v, self.v_peak)
        i = exp_if_current(v, self.g_l, self.e_l, self.v_t, self.delta_t, self.v_peak)
        return (i + self.i_ext + drive.membrane_current(v)) / self.c_m

    def spike_geometry(self):
        """Rest ``e_l`` (the exponential term's shift of it, below 0.01 mV for the
        defaults, neglected), threshold and runaway ``v_t`` (where the exponential term's
        slope equals the leak's), spike level ``v_peak``."""
        return SpikeGeometry(self.e_l, self.v_t, self.v_peak, self.v_t)

    def step(self, state: ExpIFState, drive: Drive | None, *, t, dt):
        drive = Drive() if drive is None else drive
        v = self.integrator.step(self.derivative, t, state.v, dt, drive) + drive.jump
        v = jnp.minimum(v, self.v_peak + self.delta_t)  # bound the overshoot (docstring)
        v, s = fire_and_reset(self.spike, v, self.v_peak, self.v_reset, state.refractory)
        refractory = refractory_update(state.refractory, s, self.t_ref, dt)
        return ExpIFState(v, s, refractory), s
