import equinox as eqx
import jax.numpy as jnp

from .._checks import check_finite, check_nonnegative, check_positive, check_size
from ..initializers import AbstractInitializer, initialize
from ..integrators import AbstractIntegrator, Euler
from ..spikes import AbstractSpike, Heaviside
from ._base import AbstractNeuron, Drive, SpikeGeometry, refractory_update
from ._spiking import fire_and_reset


class IzhikevichState(eqx.Module):
    v: jnp.ndarray  # (..., n) membrane potential, mV
    u: jnp.ndarray  # (..., n) recovery variable, mV/ms
    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    refractory: jnp.ndarray  # (..., n) int32, refractory steps left


class Izhikevich(AbstractNeuron):
    r"""Izhikevich's simple model (Izhikevich 2003, IEEE TNN 14:1569).

    $$\frac{dv}{dt} = 0.04 v^2 + 5 v + 140 - u + \frac{I_{ext} + I_{syn}(v)}{C_m},
    \qquad \frac{du}{dt} = a (b v - u)$$

    When $v \ge v_{peak}$ (30 mV): spike, $v \leftarrow c$, $u \leftarrow u + d$.
    Published parameter sets (Fig. 2 of the paper): RS (0.02, 0.2, −65, 8),
    IB (0.02, 0.2, −55, 4), CH (0.02, 0.2, −50, 2), FS (0.1, 0.2, −65, 2),
    LTS (0.02, 0.25, −65, 2), RZ (0.1, 0.26, −65, 2), TC (0.02, 0.25, −65, 0.05).

    Units as in the paper: $v$, $c$, ``v_peak`` mV; $t$ ms; $a$, $b$ 1/ms; $u$, $d$
    mV/ms. Input currents (pA) are divided by
    ``c_m`` (pF, default 1), so with the default an input of 10 pA is the paper's
    $I = 10$ (the convention of NEST's ``izhikevich``). ``t_ref`` (ms, default 0)
    optionally clamps $v$ at $c$ after a spike. Default integrator: forward Euler, the
    scheme of the paper and of NEST; use dt <= 0.1 ms (the paper's 0.5 ms steps
    alter the patterns).
    """

    size: int = eqx.field(static=True)
    a: float | jnp.ndarray = 0.02
    b: float | jnp.ndarray = 0.2
    c: float | jnp.ndarray = -65.0
    d: float | jnp.ndarray = 8.0
    v_peak: float | jnp.ndarray = 30.0
    c_m: float | jnp.ndarray = 1.0
    t_ref: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer = -65.0
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = Euler()

    def __check_init__(self):
        check_size("Izhikevich.size", self.size)
        check_positive("Izhikevich.a", self.a, "1/ms")
        check_positive("Izhikevich.c_m", self.c_m, "pF")
        check_nonnegative("Izhikevich.t_ref", self.t_ref, "ms")
        for name in ("b", "c", "d", "v_peak", "i_ext"):
            check_finite(f"Izhikevich.{name}", getattr(self, name))

    def init(self, key, batch_shape=()):
        """``v`` from ``v_init`` (default −65 mV for every parameter set: the initial state
        of the paper's simulations and of NEST's ``izhikevich``), ``u = b v``."""
        shape = (*batch_shape, self.size)
        v = initialize(self.v_init, key, shape, jnp.result_type(float))
        zeros = jnp.zeros(shape)
        return IzhikevichState(v, self.b * v, zeros, jnp.zeros(shape, jnp.int32))

    def derivative(self, t, y, drive: Drive):
        """``(dv/dt, du/dt)`` for ``y = (v, u)``."""
        v, u = y
        i = (self.i_ext + drive.membrane_current(v)) / self.c_m
        return 0.04 * v * v + 5.0 * v + 140.0 - u + i, self.a * (self.b * v - u)

    def spike_geometry(self):
        r"""The fixed points of $v$ with $u = b v$ (no input): the roots of
        $0.04 v^2 + (5 - b) v + 140 = 0$, rest the lower, threshold the upper (−70 and
        −50 mV for $b = 0.2$; NaN where $b > 5 - \sqrt{22.4} \approx 0.267$: no rest);
        spike level ``v_peak``; runaway −62.5 mV, the vertex of $0.04 v^2 + 5 v$."""
        half_width = jnp.sqrt((5.0 - self.b) ** 2 - 22.4) / 0.08
        centre = -(5.0 - self.b) / 0.08
        return SpikeGeometry(centre - half_width, centre + half_width, self.v_peak, -62.5)

    def fuse(self, synapses, drive):
        """The fused step (``bs.ops.izhikevich_update``) where it computes what ``step``
        and the synapses' steps compute: forward Euler, a ``Heaviside`` spike,
        ``Delta`` kinetics with ``VoltageJump`` outputs, a current input."""
        # Imported here: the synapse modules import this package (their outputs are Drives).
        from ._izhikevich_fused import fuse_izhikevich

        return fuse_izhikevich(self, synapses, drive)

    def step(self, state: IzhikevichState, drive: Drive | None, *, t, dt):
        drive = Drive() if drive is None else drive
        v, u = self.integrator.step(self.derivative, t, (state.v, state.u), dt, drive)
        # Heaviside(v - v_peak) fires for v > v_peak; the model's rule is v >= v_peak,
        # identical except on a set of measure zero.
        v, s = fire_and_reset(self.spike, v + drive.jump, self.v_peak, self.c, state.refractory)
        refractory = refractory_update(state.refractory, s, self.t_ref, dt)
        return IzhikevichState(v, u + self.d * s, s, refractory), s
