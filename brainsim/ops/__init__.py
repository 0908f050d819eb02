"""Spike propagation operators, dispatched on the connectivity layout.

The only layer that knows memory layouts and kernels. ``matvec`` computes
``out[..., j] = sum_i spikes[..., i] W[i, j]`` for any layout: event-driven for sparse
layouts (cost ∝ active presynaptic neurons × fan-out), dense for ``Dense``.
``lif_update`` is the fused step of a LIF population and its exponential synapses (one
pass over the state per step) that ``Network.step`` uses where it applies;
``izhikevich_update`` is that of an Izhikevich population and its voltage-jump
synapses. ``lif_network_update`` is the whole step of a network of such populations and stored
sparse projections (events and updates) in one call, ``lif_network_run`` many such steps
(and the spike events of each) in one call; ``izhikevich_network_run`` is that of a
network of Izhikevich populations.

``configure`` sets the native kernels' options (on/off, threads); ``backend_info``
says which path each op takes and why.
"""

from ..conn.layouts import CSR, ELL, Dense, Procedural
from .backend import KernelSettings as KernelSettings
from .backend import KernelsUnavailableWarning as KernelsUnavailableWarning
from .backend import backend_info as backend_info
from .backend import configure as configure
from .backend import settings as settings
from .compact import append_spikes as append_spikes
from .compact import compact as compact
from .compact import default_capacity as default_capacity
from .delayed import delayed_propagate as delayed_propagate
from .delayed import delayed_propagate_dense as delayed_propagate_dense
from .delayed import delayed_to_dense as delayed_to_dense
from .delayed_many import delayed_propagate_many as delayed_propagate_many
from .dense import matvec as dense_matvec
from .dense import to_dense as to_dense
from .event import event_matvec as event_matvec
from .event import event_matvec_many as event_matvec_many
from .izhikevich import izhikevich_update as izhikevich_update
from .izhikevich_network import izhikevich_network_run as izhikevich_network_run
from .lif import lif_update as lif_update
from .lif import lif_update_pure as lif_update_pure
from .lif_network import lif_network_update as lif_network_update
from .lif_network_run import PairRun as PairRun
from .lif_network_run import lif_network_run as lif_network_run
from .plastic import Columns as Columns
from .plastic import Indexed as Indexed
from .plastic import columns as columns
from .plastic import index as index
from .plastic import update_columns as update_columns
from .plastic import update_rows as update_rows
from .plastic_bounded import bounded_change as bounded_change
from .plastic_bounded import plastic_bounded as plastic_bounded
from .procedural import materialize as materialize
from .procedural import procedural_matvec as procedural_matvec
from .rows import fixed_rows_matmul as fixed_rows_matmul
from .rows import rows_matmul as rows_matmul
from .rows import rows_outer as rows_outer
from .sharded import PostShard as PostShard
from .sharded import StoredShard as StoredShard
from .sharded import exchange as exchange
from .sharded import exchange_slots as exchange_slots
from .sharded import sharded_matvec as sharded_matvec
from .sharded import stored_shard_inputs as stored_shard_inputs
from .sharded import stored_sharded_matvec as stored_sharded_matvec


def matvec(layout, weight, spikes, capacity: int | None = None):
    """Propagate ``spikes (..., n_pre)`` through ``layout`` with ``weight``; ``(..., n_post)``.

    ``capacity``: event-buffer slots of the event path (default ``default_capacity``);
    a step with more active presynaptic neurons takes an exact O(synapses) pass instead."""
    if isinstance(layout, Dense):
        return dense_matvec(layout, weight, spikes)
    if isinstance(layout, PostShard):
        cap = default_capacity(layout.layout.n_pre) if capacity is None else capacity
        return sharded_matvec(layout, weight, spikes, cap)
    if isinstance(layout, StoredShard):
        cap = default_capacity(layout.csr.n_pre) if capacity is None else capacity
        return stored_sharded_matvec(layout, weight, spikes, cap)
    cap = default_capacity(layout.n_pre) if capacity is None else capacity
    if isinstance(layout, Procedural):
        return procedural_matvec(layout, weight, spikes, cap)
    return event_matvec(layout, weight, spikes, cap)


def matvec_many(layouts, weights, spikes, capacities) -> list:
    """``[matvec(*args) for args in zip(layouts, weights, spikes, capacities)]``, with
    every stored sparse layout (``CSR``, ``ELL``) of the list propagated by one fused
    call (``event_matvec_many``): what ``Network.step`` uses for its projections."""
    layouts, weights, spikes, capacities = map(list, (layouts, weights, spikes, capacities))
    out = [None] * len(layouts)
    fused = [k for k, layout in enumerate(layouts) if type(layout) in (CSR, ELL)]
    if len(fused) > 1:
        caps = [
            default_capacity(layouts[k].n_pre) if capacities[k] is None else capacities[k]
            for k in fused
        ]
        pick = lambda xs: [xs[k] for k in fused]
        for k, o in zip(
            fused, event_matvec_many(pick(layouts), pick(weights), pick(spikes), caps), strict=True
        ):
            out[k] = o
    for k, layout in enumerate(layouts):
        if out[k] is None:
            out[k] = matvec(layout, weights[k], spikes[k], capacities[k])
    return out
