r"""Inhibitory plasticity of Vogels, Sprekeler, Zenke, Clopath & Gerstner 2011
(Science 334:1569): inhibitory synapses onto a neuron grow until its rate is $\rho_0$.

Traces $x_i$ (pre) and $y_j$ (post), time constant $\tau$, jump 1 per spike. At a
postsynaptic spike $\Delta w_{ij} = \eta\,x_i$; at a presynaptic spike
$\Delta w_{ij} = \eta\,(y_j - \alpha)$ with $\alpha = 2\rho_0\tau$. The weight is the
magnitude of the inhibitory conductance (use it with an inhibitory reversal
potential), kept in ``bounds`` (default $[0, \infty)$). As in NEST's
``vogels_sprekeler_synapse``, up to the clipping of the two pre-spike terms at once.
"""

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_nonnegative
from ._base import AbstractPlasticity, apply_bounded, check_rule
from .bounds import Bounds
from .traces import decay


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
        x, y = decay(state.x, self.tau, dt), decay(state.y, self.tau, dt)
        on_post = (self.eta * x, jnp.ones_like(y))
        on_pre = (self.eta * (y - self.alpha), jnp.ones_like(x))
        w = apply_bounded(layout, state.w, pre, post, on_post, on_pre, self.bounds)
        return VogelsSprekelerState(w, x + pre, y + post)
