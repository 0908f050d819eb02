import equinox as eqx
import jax
import jax.numpy as jnp

from .._checks import check_finite, check_positive, check_size
from ..initializers import AbstractInitializer, initialize
from ..integrators import AbstractIntegrator, Euler, ExpEuler
from ..spikes import AbstractSpike, Heaviside
from ._base import AbstractNeuron, AffineForm, Drive, SpikeGeometry, refractory_update
from ._spiking import check_leaky, fire_and_reset, leaky_derivative


class LIFState(eqx.Module):
    v: jnp.ndarray  # (..., n) membrane potential, mV
    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    refractory: jnp.ndarray  # (..., n) int32, refractory steps left


class LIF(AbstractNeuron):
    r"""Leaky integrate-and-fire neurons with a refractory period.

    $$C_m \frac{dV}{dt} = -g_L (V - V_{rest}) + I_{ext} + I_{syn}(V), \qquad
    g_L = C_m / \tau_m$$

    When $V > V_{th}$ the neuron spikes, $V \leftarrow V_{reset}$, and $V$ is clamped at
    $V_{reset}$ for ``t_ref`` ms. The spike is ``spike(V - v_th)``, so any spike function
    (hard threshold with surrogate gradient, ...) can be used; the reset is
    $V \leftarrow V + (V_{reset} - V)\,s$.

    Units: ``tau_m``, ``t_ref`` ms; ``c_m`` pF; voltages mV; ``i_ext`` pA (a constant
    bias current, a trainable parameter). Every parameter is a scalar or an array of
    shape ``(size,)``.
    """

    size: int = eqx.field(static=True)
    tau_m: float | jnp.ndarray = 20.0
    c_m: float | jnp.ndarray = 200.0
    v_rest: float | jnp.ndarray = -60.0
    v_th: float | jnp.ndarray = -50.0
    v_reset: float | jnp.ndarray = -60.0
    t_ref: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer | None = None
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = ExpEuler()

    def __check_init__(self):
        check_leaky("LIF", self)

    def init(self, key, batch_shape=()):
        shape = (*batch_shape, self.size)
        v0 = self.v_rest if self.v_init is None else self.v_init
        return LIFState(
            v=initialize(v0, key, shape),
            spike=jnp.zeros(shape),
            refractory=jnp.zeros(shape, jnp.int32),
        )

    def derivative(self, t, v, drive: Drive):
        """dV/dt (mV/ms)."""
        return leaky_derivative(self, v, drive)

    def step(self, state: LIFState, drive: Drive | None, *, t, dt):
        drive = Drive() if drive is None else drive
        v = self.integrator.step(self.derivative, t, state.v, dt, drive) + drive.jump
        v, s = fire_and_reset(self.spike, v, self.v_th, self.v_reset, state.refractory)
        refractory = refractory_update(state.refractory, s, self.t_ref, dt)
        return LIFState(v=v, spike=s, refractory=refractory), s

    def spike_geometry(self):
        """Rest ``v_rest``; threshold, spike level and runaway ``v_th``."""
        return SpikeGeometry(self.v_rest, self.v_th, self.v_th, self.v_th)

    def affine_form(self, dt):
        """The ``AffineForm`` of ``step`` for a ``LIF`` (not a subclass) integrated by
        ``Euler`` or ``ExpEuler`` (affine in ``V`` and the current) with a ``Heaviside``
        spike whose reset is detached and no refractory period (``t_ref`` a Python 0).
        Its coefficients are the derivatives of this model's own integrator step (exact:
        the step is affine), so the form and ``step`` share one definition."""
        if not (
            type(self) is LIF
            and type(self.integrator) in (Euler, ExpEuler)
            and type(self.spike) is Heaviside
            and self.spike.detach_reset
            and isinstance(self.t_ref, int | float)
            and self.t_ref == 0
        ):
            return None
        v = jnp.broadcast_to(jnp.asarray(self.v_reset, jnp.result_type(float)), (self.size,))
        f = lambda v, i: self.integrator.step(self.derivative, 0.0, v, dt, Drive(current=i))
        zero, one = jnp.zeros_like(v), jnp.ones_like(v)
        base, beta = jax.jvp(f, (v, zero), (one, zero))
        gain = jax.jvp(f, (v, zero), (zero, one))[1]
        theta = jnp.broadcast_to(self.v_th - self.v_reset, v.shape)
        # No drift from the reset potential without input: the bias is zero (None).
        fixed = (self.v_rest, self.v_reset, self.i_ext)
        still = all(isinstance(p, int | float) for p in fixed) and (
            self.v_rest == self.v_reset and self.i_ext == 0
        )
        bias = None if still else base - v
        return AffineForm(beta, gain, bias, theta, self.v_reset, self.spike.surrogate)

    def fuse(self, synapses, drive):
        """The fused step (``bs.ops.lif_update``) where it computes what ``step`` and the
        synapses' steps compute: exponential kinetics with current or conductance
        outputs, Euler or exponential Euler, a ``Heaviside`` spike, a current input."""
        # Imported here: the synapse modules import this package (their outputs are Drives).
        from ._lif_fused import fuse_lif

        return fuse_lif(self, synapses, drive)


class LeakyIntegratorState(eqx.Module):
    v: jnp.ndarray  # (..., n) membrane potential, mV
    spike: jnp.ndarray  # (..., n) always zero (the membrane never spikes)


class LeakyIntegrator(AbstractNeuron):
    r"""A leaky membrane without spikes: ``LIF``'s membrane (the same derivative) with
    no threshold, e.g. the readout of a trained network (``bs.train.Readout``).

    $$C_m \frac{dV}{dt} = -g_L (V - V_{rest}) + I_{ext} + I_{syn}(V), \qquad
    g_L = C_m / \tau_m$$

    ``step`` returns zero spikes. Units and shapes as ``LIF``'s: ``tau_m`` ms, ``c_m``
    pF, ``v_rest`` mV, ``i_ext`` pA, each a scalar or ``(size,)``.
    """

    size: int = eqx.field(static=True)
    tau_m: float | jnp.ndarray = 20.0
    c_m: float | jnp.ndarray = 200.0
    v_rest: float | jnp.ndarray = -60.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer | None = None
    integrator: AbstractIntegrator = ExpEuler()

    def __check_init__(self):
        check_size("LeakyIntegrator.size", self.size)
        check_positive("LeakyIntegrator.tau_m", self.tau_m, "ms")
        check_positive("LeakyIntegrator.c_m", self.c_m, "pF")
        check_finite("LeakyIntegrator.v_rest", self.v_rest, "mV")
        check_finite("LeakyIntegrator.i_ext", self.i_ext, "pA")

    def init(self, key, batch_shape=()):
        shape = (*batch_shape, self.size)
        v0 = self.v_rest if self.v_init is None else self.v_init
        return LeakyIntegratorState(initialize(v0, key, shape), jnp.zeros(shape))

    def derivative(self, t, v, drive: Drive):
        """dV/dt (mV/ms)."""
        return leaky_derivative(self, v, drive)

    def step(self, state: LeakyIntegratorState, drive: Drive | None, *, t, dt):
        drive = Drive() if drive is None else drive
        v = self.integrator.step(self.derivative, t, state.v, dt, drive) + drive.jump
        return LeakyIntegratorState(v, jnp.zeros_like(v)), jnp.zeros_like(v)
