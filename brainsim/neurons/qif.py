import equinox as eqx
import jax.numpy as jnp

from .._checks import check_finite, check_nonnegative, check_positive, check_size
from ..initializers import AbstractInitializer, initialize
from ..integrators import AbstractIntegrator, Euler
from ..spikes import AbstractSpike, Heaviside
from ._base import AbstractNeuron, Drive, SpikeGeometry, refractory_update
from ._spiking import fire_and_reset


class QIFState(eqx.Module):
    v: jnp.ndarray  # (..., n) membrane potential, mV
    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    refractory: jnp.ndarray  # (..., n) int32, refractory steps left


class QIF(AbstractNeuron):
    r"""Quadratic integrate-and-fire neurons (Latham et al. 2000; Ermentrout's theta
    neuron in voltage form).

    $$C_m \frac{dV}{dt} = \frac{C_m}{\tau_m}\, a_0 (V - V_{rest})(V - V_c)
    + I_{ext} + I_{syn}(V)$$

    When $V > V_{peak}$: spike, $V \leftarrow V_{reset}$, clamped for ``t_ref`` ms. The
    rheobase is $C_m a_0 (V_c - V_{rest})^2 / (4 \tau_m)$.

    Units: ``tau_m``, ``t_ref`` ms; ``c_m`` pF; ``a0`` 1/mV; voltages mV; ``i_ext`` pA.
    Default integrator: forward Euler (the equation is polynomial; ``RK4`` for accuracy).
    """

    size: int = eqx.field(static=True)
    tau_m: float | jnp.ndarray = 10.0
    c_m: float | jnp.ndarray = 200.0
    a0: float | jnp.ndarray = 0.07
    v_rest: float | jnp.ndarray = -65.0
    v_c: float | jnp.ndarray = -50.0
    v_peak: float | jnp.ndarray = -30.0
    v_reset: float | jnp.ndarray = -68.0
    t_ref: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer | None = None
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = Euler()

    def __check_init__(self):
        check_size("QIF.size", self.size)
        check_positive("QIF.tau_m", self.tau_m, "ms")
        check_positive("QIF.c_m", self.c_m, "pF")
        check_positive("QIF.a0", self.a0, "1/mV")
        check_nonnegative("QIF.t_ref", self.t_ref, "ms")
        for name in ("v_rest", "v_c", "v_peak", "v_reset", "i_ext"):
            check_finite(f"QIF.{name}", getattr(self, name))

    def init(self, key, batch_shape=()):
        shape = (*batch_shape, self.size)
        v0 = self.v_rest if self.v_init is None else self.v_init
        return QIFState(
            initialize(v0, key, shape, jnp.result_type(float)),
            jnp.zeros(shape),
            jnp.zeros(shape, jnp.int32),
        )

    def derivative(self, t, v, drive: Drive):
        """dV/dt (mV/ms)."""
        quad = self.a0 * (v - self.v_rest) * (v - self.v_c) / self.tau_m
        return quad + (self.i_ext + drive.membrane_current(v)) / self.c_m

    def spike_geometry(self):
        """Rest ``v_rest``, threshold ``v_c``, spike level ``v_peak``, runaway midway
        between rest and ``v_c`` (the vertex of the parabola)."""
        mid = 0.5 * (jnp.asarray(self.v_rest) + self.v_c)
        return SpikeGeometry(self.v_rest, self.v_c, self.v_peak, mid)

    def step(self, state: QIFState, drive: Drive | None, *, t, dt):
        drive = Drive() if drive is None else drive
        v = self.integrator.step(self.derivative, t, state.v, dt, drive) + drive.jump
        v, s = fire_and_reset(self.spike, v, self.v_peak, self.v_reset, state.refractory)
        refractory = refractory_update(state.refractory, s, self.t_ref, dt)
        return QIFState(v, s, refractory), s
