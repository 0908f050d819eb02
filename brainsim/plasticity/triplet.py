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
"""

import equinox as eqx
import jax.numpy as jnp

from ._base import AbstractPlasticity, apply_bounded, check_rule
from .bounds import Bounds
from .traces import AbstractPairing, AllToAll, decay


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
        r = (decay(state.r1, self.tau_plus, dt), decay(state.r2, self.tau_x, dt))
        o = (decay(state.o1, self.tau_minus, dt), decay(state.o2, self.tau_y, dt))
        # post spike: r1 of the partner times (A2+ + A3+ o2) of the spiking neuron
        on_post = (r[0], self.A2_plus + self.A3_plus * o[1])
        on_pre = (-o[0], self.A2_minus + self.A3_minus * r[1])
        w = apply_bounded(layout, state.w, pre, post, on_post, on_pre, self.bounds)
        r = [self.pairing.jump(t, pre) for t in r]
        o = [self.pairing.jump(t, post) for t in o]
        return TripletSTDPState(w, *r, *o)
