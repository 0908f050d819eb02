r"""Triplet STDP (Pfister & Gerstner 2006, J Neurosci 26:9673).

Presynaptic traces $r_1$ ($\tau_+$), $r_2$ ($\tau_x$); postsynaptic traces $o_1$
($\tau_-$), $o_2$ ($\tau_y$). At a postsynaptic spike each incoming weight changes by

$$\Delta w = r_1\,(A_2^+ + A_3^+\,o_2(t^-))$$

and at a presynaptic spike each outgoing weight by

$$\Delta w = -o_1\,(A_2^- + A_3^-\,r_2(t^-))$$

($t^-$: before the trace's own jump), then through ``bounds``. ``pairing=AllToAll()``
is the all-to-all model, ``Nearest()`` the nearest-spike model (traces reset to 1);
the *minimal* models set $A_3^- = 0$ (and, in the visual-cortex fits,
$A_2^+ \approx 0$). With additive ``Bounds(0, w_max)`` this is NEST's
``stdp_triplet_synapse``. Step order and delay convention: ``bs.plasticity`` (``_base``).
In a network of fused LIF populations on a one-step delay it runs in the many-step
native loop (``run_form``: ``bs.ops.PairRun(triplet=True)``), bit for bit this path.
"""

import equinox as eqx
import jax.numpy as jnp

from ..ops import PairRun
from ._base import AbstractPlasticity, apply_bounded, check_rule
from .bounds import Bounds
from .traces import AbstractPairing, AllToAll, Nearest, decay_factor


class TripletSTDPState(eqx.Module):
    w: jnp.ndarray  # (n_synapses,) plastic weights, flat layout order
    r1: jnp.ndarray  # (n_pre,) tau_plus
    r2: jnp.ndarray  # (n_pre,) tau_x
    o1: jnp.ndarray  # (n_post,) tau_minus
    o2: jnp.ndarray  # (n_post,) tau_y


class TripletSTDP(AbstractPlasticity):
    """Amplitudes ``A2_plus``, ``A3_plus``, ``A2_minus``, ``A3_minus`` >= 0 (weight
    units); time constants ``tau_plus``, ``tau_minus``, ``tau_x``, ``tau_y`` > 0 ms.
    Defaults: Pfister & Gerstner's visual-cortex all-to-all full model (Table 4; the
    defaults of NESTML's ``stdp_triplet``)."""

    A2_plus: float = 7.5e-10
    A3_plus: float = 9.3e-3
    A2_minus: float = 7e-3
    A3_minus: float = 2.3e-4
    tau_plus: float = 16.8
    tau_minus: float = 33.7
    tau_x: float = 101.0
    tau_y: float = 125.0
    bounds: Bounds = Bounds()
    pairing: AbstractPairing = AllToAll()

    def __check_init__(self):
        check_rule(
            "TripletSTDP",
            self,
            ("A2_plus", "A3_plus", "A2_minus", "A3_minus"),
            ("tau_plus", "tau_minus", "tau_x", "tau_y"),
        )

    def init(self, w, n_pre: int, n_post: int) -> TripletSTDPState:
        w = jnp.asarray(w)
        pre, post = jnp.zeros(n_pre, w.dtype), jnp.zeros(n_post, w.dtype)
        return TripletSTDPState(w, pre, pre, post, post)

    def step(self, state: TripletSTDPState, pre, post, *, layout, dt) -> TripletSTDPState:
        f = self._factors(state, dt)
        r, o = (state.r1 * f[0], state.r2 * f[1]), (state.o1 * f[3], state.o2 * f[2])
        # post spike: r1 of the partner times (A2+ + A3+ o2) of the spiking neuron, the
        # slow trace as o2 (f A3+) (as XLA folds constants: every program, and the
        # native loop, bs.ops.PairRun, rounds alike); the pre spike's alike
        on_post = (r[0], self.A2_plus + state.o2 * (f[2] * self.A3_plus))
        on_pre = (-o[0], self.A2_minus + state.r2 * (f[1] * self.A3_minus))
        w = apply_bounded(layout, state.w, pre, post, on_post, on_pre, self.bounds)
        r = [self.pairing.jump(t, pre) for t in r]
        o = [self.pairing.jump(t, post) for t in o]
        return TripletSTDPState(w, *r, *o)

    def _factors(self, state, dt):
        """Decay factors of ``(r1, r2, o2, o1)`` over ``dt``."""
        taus = (self.tau_plus, self.tau_x, self.tau_y, self.tau_minus)
        return tuple(decay_factor(t, dt, state.r1.dtype) for t in taus)

    def run_form(self, state: TripletSTDPState, *, dt):
        """``bs.ops.PairRun(triplet=True)`` for all-to-all or nearest-spike pairing with
        bounds additive or multiplicative on each side (``mu`` 0 or 1); else ``None``."""
        b = self.bounds
        if type(self.pairing) not in (AllToAll, Nearest):
            return None
        if b.mu_plus not in (0, 1) or b.mu_minus not in (0, 1):
            return None
        return PairRun(
            w=state.w,
            traces=(state.r1, state.r2, state.o2, state.o1),
            seen=None,
            cols=None,
            decay=self._factors(state, dt),
            a_plus=self.A2_plus,
            a_minus=self.A2_minus,
            w_min=b.w_min,
            w_max=b.w_max,
            soft=(b.mu_plus == 1, b.mu_minus == 1),
            nearest=type(self.pairing) is Nearest,
            triplet=True,
            a3_plus=self.A3_plus,
            a3_minus=self.A3_minus,
        )

    def from_run(self, state: TripletSTDPState, run: PairRun) -> TripletSTDPState:
        r1, r2, o2, o1 = run.traces
        return TripletSTDPState(run.w, r1, r2, o1, o2)
