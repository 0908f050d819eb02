"""Event-driven propagation with per-synapse delays into a postsynaptic ring buffer.

As in NEST, each projection keeps the input still in flight on the postsynaptic side:
a ring ``R (..., D, n_post)`` whose slot ``(c + k) mod D`` holds what arrives ``k``
steps after the current one (``c``, the cursor, is the slot read now). When
presynaptic neuron ``i`` spikes, every synapse ``(i → j)`` of delay ``d`` steps
(``1 <= d <= D``) adds its weight to the slot of step ``now + d - 1``::

    for i in nonzero(spikes):                      # spikes emitted one step ago
        for j, w, d in row(i):
            R[(c + d - 1) % D, j] += spikes[i] * w

i.e. $R_{(c + d_{ij} - 1) \\bmod D,\\, j} \\mathrel{+}= s_i\\, w_{ij}$. The cost is
O(active presynaptic neurons × fan-out), whatever the number of distinct delays.

Two forward paths, as in ``bs.ops.event``:

- **native** (CPU): a C++ loop behind ``jax.ffi`` (``ops/_native/delayed_event.cc``),
  updating the ring in place; no buffer to overflow.
- **pure JAX** (any backend, and the test oracle): the spiking neurons are compacted into
  ``capacity`` slots, each slot expands to its row, and the weights are scatter-added at
  ``slot row × n_post + target``. A step with more active neurons than ``capacity``
  takes an exact O(synapses) pass instead, so no spike is ever dropped.

The VJP is O(synapses): ``d spikes_i = sum_j w_ij ct[slot_ij, j]``,
``d w_ij = spikes_i ct[slot_ij, j]``, and the ring's cotangent passes through.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..conn.layouts import Delayed
from . import _native
from .dense import to_dense
from .event import _max_degree, _synapses, n_active


def _targets(layout: Delayed, slot, syn, post, n_post):
    """Flat ring positions ``slot[group] * n_post + post`` of the synapses ``syn``."""
    return slot[layout.group[syn].astype(jnp.int32)] * n_post + post


def _compacted(layout: Delayed, weight, spikes, ring, slot, capacity):
    """Pure-JAX event path for one spike vector ``(n_pre,)`` and ring ``(D, n_post)``."""
    n_pre, (depth, n_post) = spikes.shape[0], ring.shape
    indptr, indices = layout.csr.indptr, layout.csr.indices
    idx = jnp.nonzero(spikes, size=capacity, fill_value=n_pre)[0]
    live = idx < n_pre
    idx = jnp.where(live, idx, 0)
    start = indptr[idx]
    offset = jnp.arange(_max_degree(layout.csr))[None, :]
    valid = (offset < (indptr[idx + 1] - start)[:, None]) & live[:, None]
    pos = jnp.where(valid, start[:, None] + offset, 0)
    w = weight[pos] if weight.ndim else weight
    vals = spikes[idx][:, None] * w.astype(ring.dtype)
    flat = jnp.where(valid, _targets(layout, slot, pos, indices[pos], n_post), depth * n_post)
    return ring.ravel().at[flat].add(vals, mode="drop").reshape(ring.shape)


def _all_synapses(layout: Delayed, weight, spikes, ring, slot):
    """The same update by one pass over every synapse; ``spikes (b, n_pre)``,
    ``ring (b, D, n_post)``."""
    b, depth, n_post = ring.shape
    pre, post = _synapses(layout.csr)
    flat = _targets(layout, slot, jnp.arange(post.shape[0]), post, n_post)
    w = weight[None] if weight.ndim else weight
    contrib = spikes[:, pre] * w.astype(ring.dtype)
    add = jax.vmap(lambda c: jax.ops.segment_sum(c, flat, num_segments=depth * n_post))(contrib)
    return ring + add.reshape(ring.shape)


def _pure(layout, weight, spikes, ring, slot, capacity):
    return jax.lax.cond(
        n_active(spikes) <= capacity,
        lambda s, r: jax.vmap(lambda x, q: _compacted(layout, weight, x, q, slot, capacity))(s, r),
        lambda s, r: _all_synapses(layout, weight, s, r, slot),
        spikes,
        ring,
    )


def _forward(layout, weight, spikes, ring, slot, capacity):
    if ring.dtype in (jnp.float32, jnp.float64) and _native.available():
        csr = layout.csr
        return jax.lax.platform_dependent(
            spikes,
            ring,
            cpu=lambda s, r: _native.delayed_event_add(
                csr.indptr, csr.indices, layout.group, slot, weight, s, r
            ),
            default=lambda s, r: _pure(layout, weight, s, r, slot, capacity),
        )
    return _pure(layout, weight, spikes, ring, slot, capacity)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _scatter(layout, weight, spikes, ring, slot, capacity):
    return _forward(layout, weight, spikes, ring, slot, capacity)


def _fwd(layout, weight, spikes, ring, slot, capacity):
    return _forward(layout, weight, spikes, ring, slot, capacity), (layout, weight, spikes, slot)


def _bwd(capacity, res, ct):
    layout, weight, spikes, slot = res  # spikes (b, n_pre), ct (b, D, n_post)
    b, depth, n_post = ct.shape
    pre, post = _synapses(layout.csr)
    flat = _targets(layout, slot, jnp.arange(post.shape[0]), post, n_post)
    ct_syn = ct.reshape(b, depth * n_post)[:, flat]
    w = weight[None] if weight.ndim else weight
    d_spikes = jax.vmap(lambda c: jax.ops.segment_sum(c, pre, num_segments=layout.n_pre))(
        w * ct_syn
    )
    d_w = jnp.sum(spikes[:, pre] * ct_syn, axis=0)
    d_weight = d_w if weight.ndim else jnp.sum(d_w)
    no_grad = jax.tree.map(lambda _: None, layout)
    return no_grad, d_weight.astype(weight.dtype), d_spikes.astype(spikes.dtype), ct, None


_scatter.defvjp(_fwd, _bwd)


def _slots(layout: Delayed, steps, cursor, depth: int):
    """``(n_values,)`` int32: the ring slot each delay value writes to, ``(c + d - 1) % D``;
    ``steps`` (static) are checked against ``layout`` and ``depth``."""
    steps = tuple(int(s) for s in steps)
    if len(steps) != len(layout.delays):
        raise ValueError(
            f"steps must give one delay (in steps) per delay value of the layout "
            f"({len(layout.delays)}), got {len(steps)}"
        )
    if steps and not (min(steps) >= 1 and max(steps) <= depth):
        raise ValueError(
            f"delays must be between 1 and the ring depth D={depth} steps, got "
            f"{min(steps)}..{max(steps)}"
        )
    table = jnp.asarray(np.asarray(steps, np.int32) - 1)
    return (jnp.asarray(cursor, jnp.int32) + table) % depth


def delayed_scatter(layout: Delayed, weight, spikes, ring, cursor, *, steps, capacity: int):
    """Add the input of ``spikes (..., n_pre)`` to the ring ``(..., D, n_post)``: synapse
    ``i → j`` of delay ``steps[group]`` (``d``, in steps) adds ``spikes[i] w_ij`` to slot
    ``(cursor + d - 1) mod D``. Returns the new ring (same shape and dtype).

    ``weight``: scalar or ``layout.weight_shape``; ``cursor``: int scalar in ``[0, D)``,
    the slot read in the current step; ``steps`` (static): one delay in steps
    (``1 <= d <= D``) per value of ``layout.delays``; ``capacity``: event-buffer slots
    of the pure-JAX path. Differentiable in ``weight``, ``spikes`` and ``ring``."""
    depth, n_post = ring.shape[-2:]
    if n_post != layout.n_post or spikes.shape[:-1] != ring.shape[:-2]:
        raise ValueError(
            f"ring must have shape (..., D, {layout.n_post}) with the batch shape of spikes "
            f"{spikes.shape[:-1]}, got {ring.shape}"
        )
    slot = _slots(layout, steps, cursor, depth)
    weight = jnp.asarray(weight, ring.dtype)
    weight = weight.ravel() if weight.ndim else weight
    flat = spikes.reshape(-1, spikes.shape[-1]).astype(ring.dtype)
    out = _scatter(layout, weight, flat, ring.reshape(-1, depth, n_post), slot, capacity)
    return out.reshape(ring.shape)


def delayed_to_dense(layout: Delayed, weight, steps, depth: int):
    """``(D, n_pre, n_post)``: ``W[k]`` holds the synapses of delay ``k + 1`` steps."""
    w = jnp.broadcast_to(jnp.asarray(weight), layout.weight_shape)
    d = jnp.asarray(np.asarray(steps, np.int32))[layout.group.astype(jnp.int32)]
    per_delay = jnp.where(jnp.arange(1, depth + 1)[:, None] == d[None, :], w[None, :], 0.0)
    return jax.vmap(lambda x: to_dense(layout.csr, x))(per_delay)


def delayed_scatter_dense(layout: Delayed, weight, spikes, ring, cursor, *, steps):
    """The same update through the dense ``(D, n_pre, n_post)`` matrices, rolled by the
    cursor (the reference for tests and a path for small networks)."""
    w = delayed_to_dense(layout, weight, steps, ring.shape[-2]).astype(ring.dtype)
    add = jnp.einsum("...i,kij->...kj", spikes.astype(ring.dtype), w)
    return ring + jnp.roll(add, cursor, axis=-2)
