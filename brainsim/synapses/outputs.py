"""Synaptic outputs: how the synaptic variable ``g`` enters the postsynaptic membrane.

Each output maps ``g`` (..., n_post) to a ``Drive``; conductance outputs stay linear in
V so exponential Euler integrates them exactly over a step.
"""

import abc

import equinox as eqx

from .._checks import check_finite
from ..neurons import Drive


class AbstractOutput(eqx.Module):
    """Maps the synaptic variable ``g`` to the ``Drive`` it exerts on the membrane."""

    @abc.abstractmethod
    def __call__(self, g) -> Drive:
        """The drive produced by synaptic variable ``g``."""


class Current(AbstractOutput):
    """Current-based: ``g`` is a current (pA) added to the membrane."""

    def __call__(self, g):
        return Drive(current=g)


class Conductance(AbstractOutput):
    """Conductance-based: ``g`` is a conductance (nS) with reversal potential ``e_rev``
    (mV); the current is ``g (e_rev - V)``."""

    e_rev: float = 0.0

    def __check_init__(self):
        check_finite("Conductance.e_rev", self.e_rev, "mV")

    def __call__(self, g):
        return Drive(conductance=g, reversal=g * self.e_rev)


class VoltageJump(AbstractOutput):
    """``g`` (mV) is added directly to the membrane potential (delta synapse)."""

    def __call__(self, g):
        return Drive(jump=g)
