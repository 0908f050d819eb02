import equinox as eqx
import jax.numpy as jnp

from .._checks import check_finite, check_nonnegative, check_positive, check_size
from ..initializers import AbstractInitializer, initialize
from ..integrators import AbstractIntegrator, ExpEuler
from ..spikes import AbstractSpike, Heaviside
from ._base import AbstractNeuron, Drive, refractory_update
from ._spiking import fire_and_reset


class GIFState(eqx.Module):
    v: jnp.ndarray  # (..., n) membrane potential, mV
    theta: jnp.ndarray  # (..., n) threshold, mV
    i1: jnp.ndarray  # (..., n) spike-triggered current 1, pA
    i2: jnp.ndarray  # (..., n) spike-triggered current 2, pA
    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    refractory: jnp.ndarray  # (..., n) int32, refractory steps left


class GIF(AbstractNeuron):
    r"""Generalized integrate-and-fire neurons with two spike-triggered currents and a
    dynamic threshold (Mihalas & Niebur 2009, Neural Comput 21:704).

    $$C_m \frac{dV}{dt} = -g_L (V - E_L) + I_1 + I_2 + I_{ext} + I_{syn}(V),\quad
    \frac{dI_j}{dt} = -k_j I_j,\quad
    \frac{d\Theta}{dt} = a (V - E_L) - b (\Theta - \Theta_\infty)$$

    When $V > \Theta$: spike, $I_j \leftarrow R_j I_j + A_j$, $V \leftarrow V_{reset}$,
    $\Theta \leftarrow \max(\Theta_{reset}, \Theta)$; $V$ clamped for ``t_ref`` ms.
    With $a = 0$, $A_j = 0$ and $\Theta(0) = \Theta_\infty$ it is a LIF neuron.

    Units: ``c_m`` pF; ``g_l`` nS; voltages mV; ``k1``, ``k2``, ``a``, ``b`` 1/ms;
    ``a1``, ``a2``, ``i_ext`` pA; ``r1``, ``r2`` dimensionless; ``t_ref`` ms. Defaults:
    the paper's tonic-spiking set scaled to C = 200 pF, g_L = 10 nS.
    """

    size: int = eqx.field(static=True)
    c_m: float | jnp.ndarray = 200.0
    g_l: float | jnp.ndarray = 10.0
    e_l: float | jnp.ndarray = -70.0
    v_reset: float | jnp.ndarray = -70.0
    theta_inf: float | jnp.ndarray = -50.0
    theta_reset: float | jnp.ndarray = -60.0
    a: float | jnp.ndarray = 0.0
    b: float | jnp.ndarray = 0.01
    k1: float | jnp.ndarray = 0.2
    k2: float | jnp.ndarray = 0.02
    r1: float | jnp.ndarray = 0.0
    r2: float | jnp.ndarray = 1.0
    a1: float | jnp.ndarray = 0.0
    a2: float | jnp.ndarray = 0.0
    t_ref: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer | None = None
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = ExpEuler()

    def __check_init__(self):
        check_size("GIF.size", self.size)
        check_positive("GIF.c_m", self.c_m, "pF")
        check_positive("GIF.g_l", self.g_l, "nS")
        for name in ("k1", "k2", "b"):
            check_positive(f"GIF.{name}", getattr(self, name), "1/ms")
        check_nonnegative("GIF.t_ref", self.t_ref, "ms")
        for name in (
            "e_l",
            "v_reset",
            "theta_inf",
            "theta_reset",
            "a",
            "r1",
            "r2",
            "a1",
            "a2",
            "i_ext",
        ):
            check_finite(f"GIF.{name}", getattr(self, name))

    def init(self, key, batch_shape=()):
        shape = (*batch_shape, self.size)
        v0 = self.e_l if self.v_init is None else self.v_init
        zeros = jnp.zeros(shape)
        theta = jnp.broadcast_to(jnp.asarray(self.theta_inf, zeros.dtype), shape)
        return GIFState(
            initialize(v0, key, shape, jnp.result_type(float)),
            theta,
            zeros,
            zeros,
            zeros,
            jnp.zeros(shape, jnp.int32),
        )

    def derivative(self, t, y, drive: Drive):
        """Derivatives of ``y = (V, Θ, I1, I2)`` (mV/ms, mV/ms, pA/ms, pA/ms)."""
        v, theta, i1, i2 = y
        i = self.g_l * (self.e_l - v) + i1 + i2 + self.i_ext + drive.membrane_current(v)
        dtheta = self.a * (v - self.e_l) - self.b * (theta - self.theta_inf)
        return i / self.c_m, dtheta, -self.k1 * i1, -self.k2 * i2

    def step(self, state: GIFState, drive: Drive | None, *, t, dt):
        drive = Drive() if drive is None else drive
        y = (state.v, state.theta, state.i1, state.i2)
        v, theta, i1, i2 = self.integrator.step(self.derivative, t, y, dt, drive)
        v, s = fire_and_reset(self.spike, v + drive.jump, theta, self.v_reset, state.refractory)
        i1 = i1 + (self.r1 * i1 + self.a1 - i1) * s
        i2 = i2 + (self.r2 * i2 + self.a2 - i2) * s
        theta = theta + (jnp.maximum(self.theta_reset, theta) - theta) * s
        refractory = refractory_update(state.refractory, s, self.t_ref, dt)
        return GIFState(v, theta, i1, i2, s, refractory), s
