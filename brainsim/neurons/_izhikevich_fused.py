"""The fused step of an ``Izhikevich`` population and its voltage-jump synapses
(``bs.ops.izhikevich_update``): what ``Izhikevich.fuse`` returns where it applies.

It applies to an ``Izhikevich`` (not a subclass: it may step differently) integrated by
``Euler`` with a ``Heaviside`` spike, all of whose incoming synapses (at most 16) have
``Delta`` kinetics and a ``VoltageJump`` output (Izhikevich's ``v += w``), and whose
other input is a current (no conductance, e.g. a gap junction, and no voltage jump). The op's
pure-JAX path is the modules' own composition; the tests of ``bs.neurons.Izhikevich``
check the kernel against it.
"""

from .. import ops
from ._base import AbstractFused
from .izhikevich import Izhikevich


def fuse_izhikevich(neuron: Izhikevich, synapses: tuple, drive):
    """``IzhikevichFused`` for ``neuron`` and its incoming ``(kinetics, output)`` pairs,
    or ``None`` where the op's kernel does not compute the same step
    (``bs.ops.izhikevich.computes``)."""
    if not ops.izhikevich.computes(neuron, synapses, drive):
        return None
    return IzhikevichFused(neuron, tuple(synapses))


class IzhikevichFused(AbstractFused):
    """An ``Izhikevich`` population with its incoming ``(kinetics, output)`` pairs."""

    neuron: Izhikevich
    synapses: tuple

    def step(self, state, synapses, events, drive, *, t, dt):
        return ops.izhikevich_update(
            self.neuron, self.synapses, state, synapses, events, drive, t=t, dt=dt
        )
