import equinox as eqx
import jax.numpy as jnp

from .._checks import check_nonnegative, check_positive
from ..initializers import AbstractInitializer, initialize
from ..integrators import AbstractIntegrator, ExpEuler
from ..spikes import AbstractSpike, Heaviside
from ._base import AbstractNeuron, Drive, SpikeGeometry, refractory_update
from ._spiking import check_leaky, fire_and_reset, leaky_derivative


class ALIFState(eqx.Module):
    v: jnp.ndarray  # (..., n) membrane potential, mV
    a: jnp.ndarray  # (..., n) threshold adaptation variable (dimensionless)
    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    refractory: jnp.ndarray  # (..., n) int32, refractory steps left


class ALIF(AbstractNeuron):
    r"""Adaptive-threshold LIF (ALIF, the LSNN neuron of Bellec et al. 2018).

    $$C_m \frac{dV}{dt} = -\frac{C_m}{\tau_m}(V - V_{rest}) + I_{ext} + I_{syn}(V), \qquad
    \tau_a \frac{da}{dt} = -a, \qquad \vartheta = V_{th} + \beta\, a.$$

    When $V > \vartheta$: spike, $V \leftarrow V_{reset}$, $a \leftarrow a + 1$, and $V$
    is clamped at $V_{reset}$ for ``t_ref`` ms. The spike is ``spike(V - ϑ)``.

    Units: ``tau_m``, ``tau_a``, ``t_ref`` ms; ``c_m`` pF; voltages and ``beta`` mV (the
    threshold increase per spike); ``i_ext`` pA.
    """

    size: int = eqx.field(static=True)
    tau_m: float | jnp.ndarray = 20.0
    c_m: float | jnp.ndarray = 200.0
    v_rest: float | jnp.ndarray = -60.0
    v_th: float | jnp.ndarray = -50.0
    v_reset: float | jnp.ndarray = -60.0
    tau_a: float | jnp.ndarray = 200.0
    beta: float | jnp.ndarray = 1.0
    t_ref: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer | None = None
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = ExpEuler()

    def __check_init__(self):
        check_leaky("ALIF", self)
        check_positive("ALIF.tau_a", self.tau_a, "ms")
        check_nonnegative("ALIF.beta", self.beta, "mV")

    def init(self, key, batch_shape=()):
        shape = (*batch_shape, self.size)
        v0 = self.v_rest if self.v_init is None else self.v_init
        zeros = jnp.zeros(shape)
        return ALIFState(
            initialize(v0, key, shape, jnp.result_type(float)),
            zeros,
            zeros,
            jnp.zeros(shape, jnp.int32),
        )

    def derivative(self, t, y, drive: Drive):
        """``(dV/dt, da/dt)`` in mV/ms and 1/ms for ``y = (V, a)``."""
        v, a = y
        return leaky_derivative(self, v, drive), -a / self.tau_a

    def spike_geometry(self):
        """Rest ``v_rest``; threshold, spike level and runaway ``v_th`` (unadapted,
        $a = 0$)."""
        return SpikeGeometry(self.v_rest, self.v_th, self.v_th, self.v_th)

    def step(self, state: ALIFState, drive: Drive | None, *, t, dt):
        drive = Drive() if drive is None else drive
        v, a = self.integrator.step(self.derivative, t, (state.v, state.a), dt, drive)
        v = v + drive.jump
        v, s = fire_and_reset(
            self.spike, v, self.v_th + self.beta * a, self.v_reset, state.refractory
        )
        refractory = refractory_update(state.refractory, s, self.t_ref, dt)
        return ALIFState(v, a + s, s, refractory), s
