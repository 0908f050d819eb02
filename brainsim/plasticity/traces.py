r"""Spike traces: how a neuron's past spikes are summarised for pairing.

Between spikes a trace decays, $x \leftarrow x\,e^{-\Delta t/\tau}$; at a spike $s$ it
jumps:

- ``AllToAll``: $x \leftarrow x + s$, every earlier spike pairs with the new partner
  spike (Morrison, Diesmann & Gerstner 2008, "all-to-all");
- ``Nearest``: $x \leftarrow x + s\,(1 - x)$, the trace is reset to 1, so only the most
  recent spike pairs ("symmetric nearest-spike" pairing of Morrison et al. 2008, NEST's
  ``stdp_nn_symm_synapse``; the nearest-spike model of Pfister & Gerstner 2006).

Real-valued (surrogate) spikes interpolate linearly.
"""

import abc

import equinox as eqx
import jax.numpy as jnp


class AbstractPairing(eqx.Module):
    @abc.abstractmethod
    def jump(self, x, spikes):
        """Trace after this step's ``spikes`` (same shape as ``x``)."""


class AllToAll(AbstractPairing):
    """Every pair of pre/post spikes interacts."""

    def jump(self, x, spikes):
        return x + spikes


class Nearest(AbstractPairing):
    """Only nearest-neighbour pairs interact (the trace resets to 1 at a spike)."""

    def jump(self, x, spikes):
        return x + spikes * (1.0 - x)


def decay(x, tau, dt):
    """``x`` decayed over ``dt`` ms with time constant ``tau`` (ms); differentiable in
    ``tau``."""
    return x * decay_factor(tau, dt, x.dtype)


def decay_factor(tau, dt, dtype):
    """$e^{-dt/\tau}$ in ``dtype``: what ``decay`` multiplies by."""
    return jnp.exp(-dt / jnp.asarray(tau, dtype))
