"""The fused step of an ``Izhikevich`` population and its voltage-jump synapses
(``bs.ops.izhikevich_update``), and the many steps of a whole network of them in one
call (``bs.ops.izhikevich_network_run``): what ``Izhikevich.fuse`` returns where it
applies.

It applies to an ``Izhikevich`` (not a subclass: it may step differently) integrated by
``Euler`` with a ``Heaviside`` spike, all of whose incoming synapses (at most 16) have
``Delta`` kinetics and a ``VoltageJump`` output (Izhikevich's ``v += w``), and whose
other input is a current (no conductance, e.g. a gap junction, and no voltage jump). The op's
pure-JAX path is the modules' own composition; the tests of ``bs.neurons.Izhikevich``
check the kernel against it.
"""

from .. import ops
from ..synapses import SynapseState
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

    def run_network(self, parts, inputs, *, dt, steps, record):
        """``bs.ops.izhikevich_network_run`` where every population is a fused Izhikevich,
        every input static (no ``plastic`` form) and carrying a population's spikes."""
        if not inputs or not all(isinstance(f, IzhikevichFused) for f, _, _ in parts):
            return None
        pre = [
            next((i for i, (_, s, _) in enumerate(parts) if s.spike is x.spikes), None)
            for x in inputs
        ]
        if None in pre or any(x.plastic is not None for x in inputs):
            return None
        got = ops.izhikevich_network_run(
            [
                dict(neuron=f.neuron, synapses=f.synapses, state=s, current=d.current)
                for f, s, d in parts
            ],
            [
                dict(
                    layout=x.layout,
                    weight=x.weight,
                    pre=i,
                    post=x.post,
                    g=x.synapse.g,
                    capacity=x.capacity,
                )
                for x, i in zip(inputs, pre, strict=True)
            ],
            dt=dt,
            steps=steps,
            record=list(record),
            buffers=[buf for buf, _ in record.values()],
            offsets=[off for _, off in record.values()],
        )
        if got is None:
            return None
        states, g, bufs, ends, counts = got
        recorded = {i: (bufs[r], ends[r], counts[r]) for r, i in enumerate(record)}
        return states, tuple(SynapseState(g=x) for x in g), recorded, [None] * len(inputs)
