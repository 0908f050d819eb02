"""Spike propagation operators, dispatched on the connectivity layout.

The only layer that knows memory layouts and kernels. ``matvec`` computes
``out[..., j] = sum_i spikes[..., i] W[i, j]`` for any layout: event-driven for sparse
layouts (cost ∝ active presynaptic neurons × fan-out), dense for ``Dense``.
"""

from ..conn.layouts import Dense, Procedural
from .delayed import delayed_matvec as delayed_matvec
from .delayed import delayed_matvec_dense as delayed_matvec_dense
from .dense import matvec as dense_matvec
from .dense import to_dense as to_dense
from .event import event_matvec as event_matvec
from .procedural import materialize as materialize
from .procedural import procedural_matvec as procedural_matvec
from .rows import rows_matmul as rows_matmul
from .rows import rows_outer as rows_outer
from .sharded import PostShard as PostShard
from .sharded import sharded_matvec as sharded_matvec


def default_capacity(n_pre: int) -> int:
    """Event-buffer slots when none is given: 2 % of the presynaptic population (a
    population rate of 200 Hz within one 0.1 ms step), at least 16."""
    return min(n_pre, max(16, -(-n_pre // 50)))


def matvec(layout, weight, spikes, capacity: int | None = None):
    """Propagate ``spikes (..., n_pre)`` through ``layout`` with ``weight``; ``(..., n_post)``.

    ``capacity``: event-buffer slots of the event path (default ``default_capacity``);
    a step with more active presynaptic neurons takes an exact O(synapses) pass instead."""
    if isinstance(layout, Dense):
        return dense_matvec(layout, weight, spikes)
    if isinstance(layout, PostShard):
        cap = default_capacity(layout.layout.n_pre) if capacity is None else capacity
        return sharded_matvec(layout, weight, spikes, cap)
    cap = default_capacity(layout.n_pre) if capacity is None else capacity
    if isinstance(layout, Procedural):
        return procedural_matvec(layout, weight, spikes, cap)
    return event_matvec(layout, weight, spikes, cap)
