"""The fused step of a ``LIF`` population and its exponential synapses
(``bs.ops.lif_update``), and of a whole network of them (``bs.ops.lif_network_update``,
``bs.ops.lif_network_run``): what ``LIF.fuse`` returns where it applies.

It applies to a ``LIF`` (not a subclass: it may step differently) integrated by
``Euler`` or ``ExpEuler`` with a ``Heaviside`` spike, all of whose incoming synapses
have ``Exponential`` kinetics (delivering the step's mean, ``step_mean``) and a
``Current`` or ``Conductance`` output, and whose other input is a current (no
conductance, e.g. a gap junction, and no voltage jump). The ops compute what these
modules' ``step``s compute, in their operation order; the tests of ``bs.neurons.LIF``
check it for every such configuration.
"""

from .. import ops
from ..integrators import Euler, ExpEuler
from ..spikes import Heaviside
from ..synapses import Conductance, Current, Exponential, SynapseState
from ._base import AbstractFused
from .lif import LIF, LIFState


def fuse_lif(neuron: LIF, synapses: tuple, drive):
    """``LIFFused`` for ``neuron`` and its incoming ``(kinetics, output)`` pairs, or
    ``None`` where the ops do not compute the same step (module docstring)."""
    zero = lambda x: isinstance(x, int | float) and x == 0
    if not (
        type(neuron) is LIF
        and type(neuron.integrator) in (Euler, ExpEuler)
        and type(neuron.spike) is Heaviside
        and not neuron.spike.detach_reset
        and all(
            type(k) is Exponential and k.step_mean and type(o) in (Current, Conductance)
            for k, o in synapses
        )
        and zero(drive.conductance)
        and zero(drive.reversal)
        and zero(drive.jump)
    ):
        return None
    e_rev = tuple(o.e_rev if type(o) is Conductance else None for _, o in synapses)
    return LIFFused(neuron, tuple(k.tau for k, _ in synapses), e_rev)


class LIFFused(AbstractFused):
    """A ``LIF`` population with ``K`` exponential traces: ``tau_syn`` (ms) and the
    reversal potential ``e_rev`` (mV; ``None``: a current) of each incoming projection."""

    neuron: LIF
    tau_syn: tuple
    e_rev: tuple

    def _parameters(self) -> dict:
        n = self.neuron
        return dict(
            tau_m=n.tau_m,
            c_m=n.c_m,
            v_rest=n.v_rest,
            v_th=n.v_th,
            v_reset=n.v_reset,
            i_ext=n.i_ext,
            t_ref=n.t_ref,
            exp_euler=type(n.integrator) is ExpEuler,
            spike_fn=n.spike,
        )

    def step(self, state, synapses, events, drive, *, t, dt):
        v, spike, refractory, g = ops.lif_update(
            state.v,
            state.refractory,
            state.spike,
            [s.g for s in synapses],
            list(events),
            tau_syn=list(self.tau_syn),
            e_rev=list(self.e_rev),
            current=drive.current,
            dt=dt,
            **self._parameters(),
        )
        new = LIFState(v=v, spike=spike, refractory=refractory)
        return new, tuple(SynapseState(g=x) for x in g), spike

    def _network_args(self, parts, inputs):
        """``parts`` and ``inputs`` as ``ops.lif_network_update`` takes them, or ``None``
        if a population is not a fused LIF."""
        if not all(isinstance(f, LIFFused) for f, _, _ in parts):
            return None
        pops = [
            dict(
                v=s.v,
                refractory=s.refractory,
                spike=s.spike,
                current=d.current,
                **f._parameters(),
            )
            for f, s, d in parts
        ]
        projs, seen = [], [0] * len(parts)
        for x in inputs:
            f = parts[x.post][0]
            j, seen[x.post] = seen[x.post], seen[x.post] + 1
            projs.append(
                dict(
                    layout=x.layout,
                    weight=x.weight,
                    spikes=x.spikes,
                    post=x.post,
                    g=x.synapse.g,
                    tau=f.tau_syn[j],
                    e_rev=f.e_rev[j],
                    capacity=x.capacity,
                )
            )
        return pops, projs

    def step_network(self, parts, inputs, *, t, dt):
        args = self._network_args(parts, inputs)
        if args is None or not inputs:
            return None
        out_pops, out_g = ops.lif_network_update(*args, dt=dt)
        states = tuple(LIFState(v=v, spike=s, refractory=r) for v, s, r in out_pops)
        return states, tuple(SynapseState(g=g) for g in out_g)

    def run_network(self, parts, inputs, *, dt, steps, record):
        args = self._network_args(parts, inputs)
        if args is None or not inputs:
            return None
        got = ops.lif_network_run(
            *args,
            dt=dt,
            steps=steps,
            record=list(record),
            buffers=[buf for buf, _ in record.values()],
            offsets=[off for _, off in record.values()],
            plastic=[x.plastic for x in inputs],
        )
        if got is None:
            return None
        out_pops, out_g, bufs, ends, counts, learned = got
        states = tuple(LIFState(v=v, spike=s, refractory=r) for v, s, r in out_pops)
        recorded = {i: (bufs[r], ends[r], counts[r]) for r, i in enumerate(record)}
        return states, tuple(SynapseState(g=g) for g in out_g), recorded, learned
