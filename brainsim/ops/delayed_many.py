"""Every per-synapse-delay ring of a network step in one operation.

``delayed_propagate_many`` is ``delayed_propagate`` for a list of projections, each with
its own layout and weight, writing into rings that several may share (``ring_of``),
plus the cursor advance::

    for each ring R (cursor c, depth D):
        for each projection p with ring_of[p] = R, in order (spikes s of its source):
            scatter s through layout_p, w_p into R (slots (c + steps_p - 1) mod D)
        arriving = R[c];  R[c] = 0;  c = (c + 1) mod D

Projections onto one population whose input enters one synaptic trace share a ring: it
holds their input summed, as NEST keeps one ring per receptor type.

On a CPU the whole list is one native call per step (``ops/_native/delayed_multi.cc``):
each source's spike vector is scanned once for its active rows, whatever the number of
projections it feeds, and large steps take whole rings per thread (bitwise the same
for any thread count). Its synapses stream in the stored order: CSR by presynaptic
neuron, each row sorted by (delay value, target) (``bs.conn.with_delays``). Elsewhere,
and as the test oracle, each projection takes ``delayed_propagate``'s pure-JAX scatter,
in the same order. The VJP is the sum of the projections' (``delayed_propagate``'s,
O(synapses)); under ``jax.vmap`` the batch becomes the native call's leading axis
(layouts, weights and cursors unbatched), else the pure-JAX path is vmapped.
"""

import jax
import jax.numpy as jnp

from ..conn.layouts import Delayed
from . import _native
from ._kernel import Kernel
from .delayed import (
    _FLOATS,
    _bwd,
    _read_clear,
    _scatter,
    _slots,
    active,
    advance,
    check_steps,
)


def _portable(layouts, weights, sources, rings, cursors, *, source_of, ring_of, steps, capacities):
    """The reference: each ring's projections scattered in order, then read and cleared
    (each source's active neurons found once per capacity, for all its projections)."""
    out, found = [], {}
    for k, s in enumerate(source_of):
        if (s, capacities[k]) not in found:
            found[s, capacities[k]] = active(sources[s], capacities[k])
    for r, (ring, cursor) in enumerate(zip(rings, cursors, strict=True)):
        for k in (k for k, x in enumerate(ring_of) if x == r):
            slot = _slots(layouts[k], steps[k], cursor, ring.shape[-2])
            s, capacity = source_of[k], capacities[k]
            ring = _scatter(
                layouts[k],
                weights[k],
                sources[s],
                ring,
                slot,
                capacity=capacity,
                found=found[s, capacity],
            )
        ring, now = _read_clear(ring, cursor)
        out.append((ring, now, advance(cursor, ring.shape[-2])))
    return tuple(tuple(x) for x in zip(*out, strict=True))


def _many_bwd(
    layouts, weights, sources, rings, cursors, cts, *, source_of, ring_of, steps, capacities
):
    """Each projection's VJP (``delayed_propagate``'s), the sources' summed; a ring's
    cotangent passes through unchanged (the projections only add to it)."""
    ct_rings, ct_now, _ = cts
    d_sources = [jnp.zeros_like(s) for s in sources]
    d_weights, d_rings = [], [None] * len(cursors)
    for k, s in enumerate(source_of):
        r = ring_of[k]
        depth = ct_rings[r].shape[-2]
        slot = _slots(layouts[k], steps[k], cursors[r], depth)
        _, d_w, d_s, d_r, _, _ = _bwd(
            layouts[k],
            weights[k],
            sources[s],
            None,
            slot,
            cursors[r],
            (ct_rings[r], ct_now[r]),
            capacity=capacities[k],
        )
        d_weights.append(d_w)
        d_rings[r] = d_r
        d_sources[s] = d_sources[s] + d_s
    no_grad = jax.tree.map(lambda _: None, layouts)
    return no_grad, tuple(d_weights), tuple(d_sources), tuple(d_rings), (None,) * len(cursors)


_many = Kernel(
    "delayed_propagate_many",
    _portable,
    bwd=_many_bwd,
    saves=(0, 1, 2, 4),  # not the rings
    when="heterogeneous-delay rings of one float dtype, sources of one batch shape",
)


def _applies(layouts, weights, sources, rings, cursors, **_):
    first = sources[0]
    return (
        first.dtype in _FLOATS
        and all(s.dtype == first.dtype and s.shape[:-1] == first.shape[:-1] for s in sources)
        and all(r.dtype == first.dtype for r in rings)
    )


@_many.register("cpu", applies=_applies)
def _native_many(
    layouts, weights, sources, rings, cursors, *, source_of, ring_of, steps, capacities
):
    def call(layouts, weights, sources, rings, cursors):
        projections = [
            (source_of[k], ring_of[k], lay.csr.indptr, lay.csr.indices, lay.group, w, steps[k])
            for k, (lay, w) in enumerate(zip(layouts, weights, strict=True))
        ]
        return _native.delayed_event_multi(
            sources, projections, list(zip(rings, cursors, strict=True))
        )

    multi = jax.custom_batching.custom_vmap(call)

    @multi.def_vmap
    def _rule(axis_size, in_batched, layouts, weights, sources, rings, cursors):
        b_lay, b_w, b_s, b_r, b_c = in_batched
        n = len(rings)
        if any(jax.tree.leaves((b_lay, b_w, b_c))):  # per-sample synapses or cursors
            batched = ((True,) * n,) * 3
            out = jax.vmap(
                lambda *a: _portable(
                    *a, source_of=source_of, ring_of=ring_of, steps=steps, capacities=capacities
                ),
                axis_size=axis_size,
                in_axes=jax.tree.map(lambda b: 0 if b else None, tuple(in_batched)),
            )(layouts, weights, sources, rings, cursors)
        else:  # the batch as the call's leading axis (one batch shape for all)
            batched = ((True,) * n, (True,) * n, (False,) * n)
            lead = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *x.shape))  # noqa: E731
            out = multi(
                layouts,
                weights,
                tuple(map(lead, sources, b_s)),
                tuple(map(lead, rings, b_r)),
                cursors,
            )
        return out, batched

    return multi(layouts, weights, sources, rings, cursors)


def delayed_propagate_many(
    layouts, weights, spikes, rings, cursors, *, steps, capacities, ring_of=None
) -> tuple[list, list, list]:
    """``delayed_propagate`` for every projection of a list into rings that several may
    share, and each ring's cursor advanced by one step, as one operation (module
    docstring). Returns ``(rings, arriving, cursors)``, lists in the rings' order.

    ``layouts``: ``bs.conn.Delayed``; ``weights``: scalar or ``layout.weight_shape`` each;
    ``spikes``: ``(..., n_pre)`` per projection (one array object passed for several
    projections is scanned once); ``rings``: ``(..., D, n_post)``; ``cursors``: int
    scalars in ``[0, D)``, one per ring; ``ring_of`` (static): per projection the index
    of the ring it writes into (``None``: ring ``k`` for projection ``k``, as many rings
    as projections); ``steps`` (static): per projection one delay in steps
    (``1 <= d <= D`` of its ring) per value of its layout's ``delays``; ``capacities``:
    event-buffer slots of the pure-JAX path. Differentiable in weights, spikes and
    rings."""
    n = len(layouts)
    ring_of = tuple(range(n) if ring_of is None else (int(r) for r in ring_of))
    if not all(len(x) == n for x in (weights, spikes, steps, capacities, ring_of)):
        raise ValueError(
            "delayed_propagate_many: one weight, spike array, steps, capacity and ring "
            f"index per layout ({n})"
        )
    if len(cursors) != len(rings) or sorted(set(ring_of)) != list(range(len(rings))):
        raise ValueError(
            f"delayed_propagate_many: one cursor per ring ({len(rings)}), got "
            f"{len(cursors)}; ring_of must name every ring in [0, {len(rings)}), got "
            f"{ring_of}"
        )
    if n == 0:
        return [], [], []
    sources, source_of = [], []
    for s in spikes:
        k = next((i for i, t in enumerate(sources) if t is s), None)
        source_of.append(len(sources) if k is None else k)
        if k is None:
            sources.append(s)
    weights = list(weights)
    for k, layout in enumerate(layouts):
        if not isinstance(layout, Delayed):
            raise TypeError(
                f"delayed_propagate_many: layouts[{k}] must be a bs.conn.Delayed "
                f"layout, got {type(layout).__name__}"
            )
        ring, src = rings[ring_of[k]], sources[source_of[k]]
        if ring.shape[-1] != layout.n_post or src.shape[:-1] != ring.shape[:-2]:
            raise ValueError(
                f"delayed_propagate_many: rings[{ring_of[k]}] must have shape (..., D, "
                f"{layout.n_post}) with the batch shape of its spikes {src.shape[:-1]}, "
                f"got {ring.shape}"
            )
        check_steps(layout, steps[k], ring.shape[-2])
        w = jnp.asarray(weights[k], ring.dtype)
        weights[k] = w.ravel() if w.ndim else w
    dtype = rings[0].dtype
    got = _many(
        tuple(layouts),
        tuple(weights),
        tuple(s.astype(dtype) for s in sources),
        tuple(rings),
        tuple(jnp.asarray(c, jnp.int32) for c in cursors),
        source_of=tuple(source_of),
        ring_of=ring_of,
        steps=tuple(tuple(int(d) for d in st) for st in steps),
        capacities=tuple(capacities),
    )
    return tuple(list(x) for x in got)
