"""Synaptic outputs: how the synaptic variable ``g`` enters the postsynaptic membrane.

Each output maps ``g`` (..., n_post) and the postsynaptic membrane potential ``v``
(mV, at the start of the step; ``None`` if the population has none) to a ``Drive``;
conductance outputs stay linear in V so exponential Euler integrates them exactly over
a step.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_finite, check_nonnegative
from ..neurons import Drive


class AbstractOutput(eqx.Module):
    """Maps the synaptic variable ``g`` to the ``Drive`` it exerts on the membrane.
    ``superposes``: the drive is linear in ``g`` (as for every output here), so the
    drive of summed variables is the sum of their drives."""

    superposes: ClassVar[bool] = True

    @abc.abstractmethod
    def __call__(self, g, v=None) -> Drive:
        """The drive produced by synaptic variable ``g``."""


class Current(AbstractOutput):
    """Current-based: ``g`` is a current (pA) added to the membrane."""

    def __call__(self, g, v=None):
        return Drive(current=g)


class Conductance(AbstractOutput):
    """Conductance-based: ``g`` is a conductance (nS) with reversal potential ``e_rev``
    (mV); the current is ``g (e_rev - V)``."""

    e_rev: float = 0.0

    def __check_init__(self):
        check_finite("Conductance.e_rev", self.e_rev, "mV")

    def __call__(self, g, v=None):
        return Drive(conductance=g, reversal=g * self.e_rev)


class VoltageJump(AbstractOutput):
    """``g`` (mV) is added directly to the membrane potential (delta synapse)."""

    def __call__(self, g, v=None):
        return Drive(jump=g)


class MgBlock(AbstractOutput):
    r"""Conductance with the voltage-dependent Mg²⁺ block of NMDA receptors (Jahr &
    Stevens 1990):

    $$I = g\,B(V)\,(E_{rev} - V), \qquad
    B(V) = \frac{1}{1 + \frac{[Mg^{2+}]}{3.57\,\mathrm{mM}}\,e^{-0.062\,V}}$$

    ($V$ in mV). To keep the drive linear in V within a step, $B$ is evaluated at the
    membrane potential at the start of the step: the step integrates the conductance
    $g B(V_n)$ exactly, the block lags by at most one step. ``mg`` in mM (default 1),
    ``e_rev`` in mV.
    """

    e_rev: float = 0.0
    mg: float = 1.0

    def __check_init__(self):
        check_finite("MgBlock.e_rev", self.e_rev, "mV")
        check_nonnegative("MgBlock.mg", self.mg, "mM")

    def block(self, v):
        """The unblocked fraction B(V) at ``v`` (mV)."""
        return 1.0 / (1.0 + (self.mg / 3.57) * jnp.exp(-0.062 * v))

    def __call__(self, g, v=None):
        if v is None:
            raise ValueError("MgBlock needs the postsynaptic membrane potential v")
        gb = g * self.block(v)
        return Drive(conductance=gb, reversal=gb * self.e_rev)
