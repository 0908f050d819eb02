r"""Inhibitory plasticity of Vogels, Sprekeler, Zenke, Clopath & Gerstner 2011
(Science 334:1569): inhibitory synapses onto a neuron grow until its rate is $\rho_0$.

Traces $x_i$ (pre) and $y_j$ (post), time constant $\tau$, jump 1 per spike. At a
postsynaptic spike $\Delta w_{ij} = \eta\,x_i$; at a presynaptic spike
$\Delta w_{ij} = \eta\,(y_j - \alpha)$ with $\alpha = 2\rho_0\tau$. The weight is the
magnitude of the inhibitory conductance (use it with an inhibitory reversal
potential), kept in ``bounds`` (default $[0, \infty)$). As in NEST's
``vogels_sprekeler_synapse``, up to the clipping of the two pre-spike terms at once.
In a network of fused LIF populations on a one-step delay it runs in the many-step
native loop (``run_form``: ``bs.ops.PairRun``'s triplet form), bit for bit this path.
"""

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_nonnegative
from ..ops import PairRun
from ._base import AbstractPlasticity, apply_bounded, check_rule
from .bounds import Bounds
from .traces import decay_factor


class VogelsSprekelerState(eqx.Module):
    w: jnp.ndarray  # (n_synapses,) plastic weights, flat layout order
    x: jnp.ndarray  # (n_pre,)
    y: jnp.ndarray  # (n_post,)


class VogelsSprekeler(AbstractPlasticity):
    """``eta`` >= 0 (learning rate, weight units); ``rho0`` >= 0 Hz (target rate);
    ``tau`` > 0 ms (trace time constant)."""

    eta: float = 1e-3
    rho0: float = 5.0
    tau: float = 20.0
    bounds: Bounds = Bounds(0.0, float("inf"))

    def __check_init__(self):
        check_rule("VogelsSprekeler", self, ("eta",), ("tau",))
        check_nonnegative("VogelsSprekeler.rho0", self.rho0, "Hz")

    @property
    def alpha(self):
        """Depression offset $2\\rho_0\\tau$ (ρ0 in Hz, τ in ms)."""
        return 2.0 * self.rho0 * self.tau * 1e-3

    def init(self, w, n_pre: int, n_post: int) -> VogelsSprekelerState:
        w = jnp.asarray(w)
        return VogelsSprekelerState(w, jnp.zeros(n_pre, w.dtype), jnp.zeros(n_post, w.dtype))

    def step(self, state, pre, post, *, layout, dt) -> VogelsSprekelerState:
        f = decay_factor(self.tau, dt, state.x.dtype)
        x, y = state.x * f, state.y * f
        # eta factored out of both changes, (alpha - y) (-eta) at a pre spike: the form
        # of the native loop's (bs.ops.PairRun, run_form), rounding alike
        on_post = (x, jnp.full_like(y, self.eta))
        on_pre = (self.alpha - y, jnp.full_like(x, -self.eta))
        w = apply_bounded(layout, state.w, pre, post, on_post, on_pre, self.bounds)
        return VogelsSprekelerState(w, x + pre, y + post)

    def run_form(self, state: VogelsSprekelerState, *, dt):
        """``bs.ops.PairRun``'s triplet form (``a3`` 0, ``offset = alpha``; its unused
        traces zeros, decay 0) where the bounds are additive or multiplicative on each
        side (``mu`` 0 or 1); else ``None``."""
        b = self.bounds
        if b.mu_plus not in (0, 1) or b.mu_minus not in (0, 1):
            return None
        f = decay_factor(self.tau, dt, state.x.dtype)
        zero = jnp.zeros((), state.x.dtype)
        return PairRun(
            w=state.w,
            traces=(state.x, jnp.zeros_like(state.x), jnp.zeros_like(state.y), state.y),
            seen=None,
            cols=None,
            decay=(f, zero, zero, f),
            a_plus=self.eta,
            a_minus=-self.eta,
            w_min=b.w_min,
            w_max=b.w_max,
            soft=(b.mu_plus == 1, b.mu_minus == 1),
            triplet=True,
            offset=self.alpha,
        )

    def from_run(self, state: VogelsSprekelerState, run) -> VogelsSprekelerState:
        x, _, _, y = run.traces
        return VogelsSprekelerState(run.w, x, y)
