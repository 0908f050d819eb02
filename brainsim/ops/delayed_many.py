"""Every per-synapse-delay ring of a network step in one operation.

``delayed_propagate_many`` is ``delayed_propagate`` for a list of projections, each with
its own layout, weight, ring and cursor, plus the cursor advance::

    for each projection p (spikes s of its source, ring R, cursor c, depth D):
        R, arriving = delayed_propagate(layout_p, w_p, s, R, c, steps=steps_p)
        c = (c + 1) mod D

On a CPU the whole list is one native call per step (``ops/_native/delayed_multi.cc``):
each source's spike vector is scanned once for its active rows, whatever the number of
projections it feeds, and large steps take whole projections per thread (bitwise the
same for any thread count). Its synapses stream in the stored order: CSR by presynaptic
neuron, each row sorted by (delay value, target) (``bs.conn.with_delays``). Elsewhere,
and as the test oracle, each projection takes ``delayed_propagate``'s pure-JAX path.
The VJP is the sum of the projections' (``delayed_propagate``'s, O(synapses)); under
``jax.vmap`` each projection takes its own batched native call.
"""

import jax
import jax.numpy as jnp

from ..conn.layouts import Delayed
from . import _native
from ._kernel import Kernel
from .delayed import _FLOATS, _bwd, _pure, _slots, advance, check_steps


def _one(layout, weight, spikes, ring, cursor, steps, capacity):
    """The reference for one projection: ``(ring, arriving, next cursor)``."""
    slot = _slots(layout, steps, cursor, ring.shape[-2])
    ring, now = _pure(layout, weight, spikes, ring, slot, cursor, capacity=capacity)
    return ring, now, advance(cursor, ring.shape[-2])


def _portable(layouts, weights, sources, rings, cursors, *, source_of, steps, capacities):
    got = [
        _one(*args)
        for args in zip(
            layouts,
            weights,
            [sources[s] for s in source_of],
            rings,
            cursors,
            steps,
            capacities,
            strict=True,
        )
    ]
    return tuple(tuple(x) for x in zip(*got, strict=True))


def _many_bwd(layouts, weights, sources, rings, cursors, cts, *, source_of, steps, capacities):
    """Each projection's VJP (``delayed_propagate``'s), the sources' summed."""
    ct_rings, ct_now, _ = cts
    d_sources = [jnp.zeros_like(s) for s in sources]
    d_weights, d_rings = [], []
    for k, s in enumerate(source_of):
        depth = ct_rings[k].shape[-2]
        slot = _slots(layouts[k], steps[k], cursors[k], depth)
        _, d_w, d_s, d_r, _, _ = _bwd(
            layouts[k],
            weights[k],
            sources[s],
            None,
            slot,
            cursors[k],
            (ct_rings[k], ct_now[k]),
            capacity=capacities[k],
        )
        d_weights.append(d_w)
        d_rings.append(d_r)
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


def _one_native(layout, weight, spikes, ring, cursor, steps):
    slot = _slots(layout, steps, cursor, ring.shape[-2])
    csr = layout.csr
    ring, now = _native.delayed_event_step(
        csr.indptr, csr.indices, layout.group, slot, weight, spikes, ring, cursor
    )
    return ring, now, advance(cursor, ring.shape[-2])


@_many.register("cpu", applies=_applies)
def _native_many(layouts, weights, sources, rings, cursors, *, source_of, steps, capacities):
    @jax.custom_batching.custom_vmap
    def multi(layouts, weights, sources, rings, cursors):
        return _native.delayed_event_multi(
            sources,
            [
                (s, lay.csr.indptr, lay.csr.indices, lay.group, w, d, r, c)
                for s, lay, w, d, r, c in zip(
                    source_of, layouts, weights, steps, rings, cursors, strict=True
                )
            ],
        )

    @multi.def_vmap
    def _rule(axis_size, in_batched, layouts, weights, sources, rings, cursors):
        # One batched native call per projection (delayed_event_step's own rule).
        b_lay, b_w, b_s, b_r, b_c = in_batched
        axis = lambda b: 0 if b else None  # noqa: E731
        got = [
            jax.vmap(
                lambda lay, w, s, r, c, d=steps[k]: _one_native(lay, w, s, r, c, d),
                axis_size=axis_size,
                in_axes=(
                    jax.tree.map(axis, b_lay[k]),
                    axis(b_w[k]),
                    axis(b_s[source_of[k]]),
                    axis(b_r[k]),
                    axis(b_c[k]),
                ),
            )(layouts[k], weights[k], sources[source_of[k]], rings[k], cursors[k])
            for k in range(len(layouts))
        ]
        out = tuple(tuple(x) for x in zip(*got, strict=True))
        return out, jax.tree.map(lambda _: True, out)

    return multi(layouts, weights, sources, rings, cursors)


def delayed_propagate_many(
    layouts, weights, spikes, rings, cursors, *, steps, capacities
) -> tuple[list, list, list]:
    """``delayed_propagate`` for every projection of a list, and each ring's cursor
    advanced by one step, as one operation (module docstring). Returns ``(rings,
    arriving, cursors)``, lists in the projections' order.

    ``layouts``: ``bs.conn.Delayed``; ``weights``: scalar or ``layout.weight_shape`` each;
    ``spikes``: ``(..., n_pre)`` per projection (one array object passed for several
    projections is scanned once); ``rings``: ``(..., D, n_post)``; ``cursors``: int
    scalars in ``[0, D)``; ``steps`` (static): per projection one delay in steps
    (``1 <= d <= D``) per value of its layout's ``delays``; ``capacities``: event-buffer
    slots of the pure-JAX path. Differentiable in weights, spikes and rings."""
    n = len(layouts)
    if not all(len(x) == n for x in (weights, spikes, rings, cursors, steps, capacities)):
        raise ValueError(
            "delayed_propagate_many: one weight, spike array, ring, cursor, "
            f"steps and capacity per layout ({n})"
        )
    if n == 0:
        return [], [], []
    sources, source_of = [], []
    for s in spikes:
        k = next((i for i, t in enumerate(sources) if t is s), None)
        source_of.append(len(sources) if k is None else k)
        if k is None:
            sources.append(s)
    args = [[], [], []]  # weights, rings, cursors, checked
    for k, layout in enumerate(layouts):
        if not isinstance(layout, Delayed):
            raise TypeError(
                f"delayed_propagate_many: layouts[{k}] must be a bs.conn.Delayed "
                f"layout, got {type(layout).__name__}"
            )
        ring, src = rings[k], sources[source_of[k]]
        if ring.shape[-1] != layout.n_post or src.shape[:-1] != ring.shape[:-2]:
            raise ValueError(
                f"delayed_propagate_many: rings[{k}] must have shape (..., D, "
                f"{layout.n_post}) with the batch shape of its spikes {src.shape[:-1]}, "
                f"got {ring.shape}"
            )
        check_steps(layout, steps[k], ring.shape[-2])
        w = jnp.asarray(weights[k], ring.dtype)
        args[0].append(w.ravel() if w.ndim else w)
        args[1].append(ring)
        args[2].append(jnp.asarray(cursors[k], jnp.int32))
    dtype = rings[0].dtype
    got = _many(
        tuple(layouts),
        tuple(args[0]),
        tuple(s.astype(dtype) for s in sources),
        tuple(args[1]),
        tuple(args[2]),
        source_of=tuple(source_of),
        steps=tuple(tuple(int(d) for d in st) for st in steps),
        capacities=tuple(capacities),
    )
    return tuple(list(x) for x in got)
