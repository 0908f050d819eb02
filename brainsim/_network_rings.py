"""``Network.step``'s per-synapse delays: every postsynaptic ring (or one shard's, in a
sharded run) stepped by one operation (``ring_step_many``); and the projections with
per-synapse delays whose synaptic kinetics one trace and one ring serve
(``shared_traces``, ``ring_owners``)."""

import equinox as eqx

from . import ops
from .conn.layouts import Delayed
from .delays import group_steps, ring_step_many
from .ops import default_capacity
from .projection import Projection


def ring_steps(proj: Projection, dt: float):
    """``(steps per delay value, ring depth)`` of a projection with per-synapse delays
    (``bs.delays.group_steps``), errors naming the projection."""
    try:
        return group_steps(proj.conn.delays, dt, proj.max_delay)
    except ValueError as e:
        raise ValueError(f"Projection {proj.name}: {e}") from None


def per_synapse_delays(conn) -> bool:
    """Whether ``conn`` is a ``Delayed`` layout, or one shard of it in a sharded run."""
    return isinstance(conn, Delayed) or (
        isinstance(conn, ops.StoredShard) and conn.delays is not None
    )


def ring_owners(projections, trace_of) -> tuple[int, ...]:
    """Per projection, the projection whose delay ring it writes into: that of its
    trace (``trace_of``, ``shared_traces``) where both have per-synapse delays (their
    input arrives summed in one ring), else its own."""
    delayed = [per_synapse_delays(getattr(p, "conn", None)) for p in projections]
    return tuple(j if delayed[k] and delayed[j] else k for k, j in enumerate(trace_of))


def ring_depth(projections, owners, k: int, dt) -> int:
    """The depth (steps) of projection ``k``'s ring: the deepest of its writers'."""
    return max(ring_steps(projections[j], dt)[1] for j, o in enumerate(owners) if o == k)


def propagate_rings(projs, states, sent: dict, dt, delays: list, events: list, owners):
    """Per-synapse delays of the projections ``sent`` names (index -> ``(layout,
    weight, spikes)`` sent into its ring):
    every ring stepped by one operation (``ring_step_many``), each projection writing
    into its owner's ring (``ring_owners``); the rings and arriving input go to the
    owners' entries of ``delays`` and ``events``, the others' become ``None``."""
    if not sent:
        return
    ks = list(sent)
    rings = sorted({owners[k] for k in ks})
    got, now = ring_step_many(
        [states[j] for j in rings],
        [sent[k][0] for k in ks],
        [sent[k][1] for k in ks],
        [sent[k][2] for k in ks],
        steps=[ring_steps(projs[k], dt)[0] for k in ks],
        capacities=[
            default_capacity(sent[k][0].n_pre) if projs[k].capacity is None else projs[k].capacity
            for k in ks
        ],
        ring_of=[rings.index(owners[k]) for k in ks],
    )
    for k in ks:
        delays[k], events[k] = None, None
    for j, d, e in zip(rings, got, now, strict=True):
        delays[j], events[j] = d, e


def shared_traces(projections) -> tuple[int, ...]:
    """Per projection, the index of the projection whose synaptic state it uses: its
    own, or that of the first earlier projection with per-synapse delays (a
    ``Delayed`` layout) onto the same population with equal kinetics and output that
    both superpose (``superposes``: linear in what arrives). Such projections need one
    trace for all, as NEST keeps one ring and one current per receptor: the input of
    all of them arrives summed (in projection order) into the first one's kinetics,
    and the others keep no synaptic state (``None``)."""
    lead, firsts = [], []
    for k, p in enumerate(projections):
        merged = isinstance(getattr(p, "conn", None), Delayed) and _superposes(p)
        j = next((j for j in firsts if merged and _same_trace(projections[j], p)), k)
        if merged and j == k:
            firsts.append(k)
        lead.append(j)
    return tuple(lead)


def _superposes(p) -> bool:
    return getattr(type(p.synapse), "superposes", False) and getattr(
        type(p.output), "superposes", False
    )


def _same_trace(a, b) -> bool:
    """Same target, and kinetics and outputs of one type with equal (non-array)
    parameters."""
    same = lambda x, y: type(x) is type(y) and eqx.tree_equal(x, y) is True  # noqa: E731
    return a.post == b.post and same(a.synapse, b.synapse) and same(a.output, b.output)


def merge_events(lead: tuple[int, ...], events: list) -> None:
    """Add the events of each projection that shares a trace (``shared_traces``) to
    its lead's, in projection order, where they did not arrive in its ring already
    (``None``); its own become ``None``."""
    for k, j in enumerate(lead):
        if j != k and events[k] is not None:
            events[j], events[k] = events[j] + events[k], None
