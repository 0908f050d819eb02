"""Event-driven propagation with per-synapse delays into a postsynaptic ring buffer.

As in NEST, each projection keeps the input still in flight on the postsynaptic side:
a ring ``R (..., D, n_post)`` whose slot ``(c + k) mod D`` holds what arrives ``k``
steps after the current one (``c``, the cursor, is the slot read now). When
presynaptic neuron ``i`` spikes, every synapse ``(i → j)`` of delay ``d`` steps
(``1 <= d <= D``) adds its weight to the slot of step ``now + d - 1``; then the current
slot is read out and cleared::

    for i in nonzero(spikes):                      # spikes emitted one step ago
        for j, w, d in row(i):
            R[(c + d - 1) % D, j] += spikes[i] * w
    arriving = R[c];  R[c] = 0

i.e. $R_{(c + d_{ij} - 1) \\bmod D,\\, j} \\mathrel{+}= s_i\\, w_{ij}$. The cost is
O(active presynaptic neurons × fan-out + n_post), whatever the number of distinct
delays; the rest of the ring is not touched.

Two forward paths, as in ``bs.ops.event``:

- **native** (CPU): one C++ call behind ``jax.ffi`` (``ops/_native/delayed_event.cc``)
  for the scatter, the read-out and the clear, updating the ring in place; no buffer
  to overflow.
- **pure JAX** (any backend, and the test oracle): the spiking neurons are compacted into
  ``capacity`` slots, each slot expands to its row, and the weights are scatter-added at
  ``slot row × n_post + target``. A step with more active neurons than ``capacity``
  takes them in further rounds of ``capacity`` (a loop), so no spike is ever dropped.
  The whole step is a few XLA kernels (the all-synapse pass it once took as the
  overflow branch made it ~3x as many, which dominated the compilation of networks
  of many projections).

The VJP is O(synapses). With ``ct`` the cotangent of the ring before the read-out (the
new ring's, with row ``c`` replaced by the arriving input's),
``d spikes_i = sum_j w_ij ct[slot_ij, j]``, ``d w_ij = spikes_i ct[slot_ij, j]`` and
``d ring = ct``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ..conn.layouts import Delayed
from . import _native
from ._kernel import Kernel
from .dense import to_dense
from .event import _max_degree, _synapses, n_active


def active(spikes, capacity: int):
    """``(count, idx)``: the most active neurons of any sample of ``spikes (..., n_pre)``
    (int scalar) and each sample's active neurons ``(..., R capacity)`` int32, ascending,
    then ``n_pre`` (``R = ceil(n_pre / capacity)`` rounds of ``capacity``). Found once
    per spike vector for every projection it feeds (``delayed_propagate_many``)."""
    n_pre = spikes.shape[-1]
    size = -(-n_pre // capacity) * capacity
    each = lambda x: jnp.nonzero(x, size=size, fill_value=n_pre)[0]  # noqa: E731
    if spikes.ndim == 1:
        return n_active(spikes), each(spikes)
    idx = jax.vmap(each)(spikes.reshape(-1, n_pre))
    return n_active(spikes), idx.reshape(*spikes.shape[:-1], size)


def _compacted(layout: Delayed, weight, spikes, idx, ring, slot):
    """Pure-JAX event path for one spike vector ``(n_pre,)``, its active neurons ``idx
    (capacity,)`` (``active``) and ring ``(D, n_post)``."""
    n_pre, depth = spikes.shape[0], ring.shape[0]
    indptr, indices = layout.csr.indptr, layout.csr.indices
    live = idx < n_pre
    idx = jnp.where(live, idx, 0)
    start = indptr[idx]
    offset = jnp.arange(_max_degree(layout.csr))[None, :]
    valid = (offset < (indptr[idx + 1] - start)[:, None]) & live[:, None]
    pos = jnp.where(valid, start[:, None] + offset, 0)
    w = weight[pos] if weight.ndim else weight
    vals = spikes[idx][:, None] * w.astype(ring.dtype)
    rows = jnp.where(valid, slot[layout.group[pos].astype(jnp.int32)], depth)  # depth: dropped
    return ring.at[rows, indices[pos]].add(vals, mode="drop")


def _read_clear(ring, cursor):
    """``(ring with row cursor zeroed, ring[..., cursor, :])``, ``ring (..., D, n_post)``."""
    now = jax.lax.dynamic_index_in_dim(ring, cursor, axis=-2, keepdims=False)
    return jax.lax.dynamic_update_index_in_dim(ring, jnp.zeros_like(now), cursor, axis=-2), now


def _scatter(layout, weight, spikes, ring, slot, *, capacity, found=None):
    """Pure-JAX scatter of ``spikes (..., n_pre)`` into ``ring (..., D, n_post)``: the
    active neurons (``found``: ``active(spikes, capacity)``, if computed already) in
    rounds of ``capacity``, ascending (each round ``_compacted``): one round when no
    sample has more, ``ceil(count / capacity)`` in a loop otherwise, so each weight
    is added in the order of the stored synapses whatever the count."""
    count, idx = active(spikes, capacity) if found is None else found

    def add(j, ring):  # the active neurons [j capacity, (j + 1) capacity) of each sample
        i = jax.lax.dynamic_slice_in_dim(idx, j * capacity, capacity, axis=-1)
        f = lambda x, k, q: _compacted(layout, weight, x, k, q, slot)  # noqa: E731
        if spikes.ndim == 1:  # unbatched arrays are not reshaped (no copies in a scan)
            return f(spikes, i, ring)
        n_pre, depth, n_post = spikes.shape[-1], *ring.shape[-2:]
        out = jax.vmap(f)(
            spikes.reshape(-1, n_pre), i.reshape(-1, capacity), ring.reshape(-1, depth, n_post)
        )
        return out.reshape(ring.shape)

    rounds = (count + capacity - 1) // capacity
    return jax.lax.fori_loop(1, rounds, add, add(0, ring))


def _pure(layout, weight, spikes, ring, slot, cursor, *, capacity):
    """Pure-JAX step: the scatter, then the arriving slot read and cleared."""
    return _read_clear(_scatter(layout, weight, spikes, ring, slot, capacity=capacity), cursor)


_FLOATS = (jnp.float32, jnp.float64)


def _bwd(layout, weight, spikes, ring, slot, cursor, cts, *, capacity):
    """The VJP (module docstring); ``ring`` is not kept (``None``)."""
    ct_ring, ct_now = cts  # (..., D, n_post), (..., n_post)
    depth, n_post = ct_ring.shape[-2:]
    ct = jax.lax.dynamic_update_index_in_dim(
        ct_ring.reshape(-1, depth, n_post), ct_now.reshape(-1, n_post), cursor, axis=1
    )
    pre, post = _synapses(layout.csr)
    ct_syn = ct[:, slot[layout.group.astype(jnp.int32)], post]  # (b, n_synapses)
    s = spikes.reshape(-1, spikes.shape[-1])
    w = weight[None] if weight.ndim else weight
    d_spikes = jax.vmap(lambda c: jax.ops.segment_sum(c, pre, num_segments=layout.n_pre))(
        w * ct_syn
    )
    d_w = jnp.sum(s[:, pre] * ct_syn, axis=0)
    d_weight = d_w if weight.ndim else jnp.sum(d_w)
    no_grad = jax.tree.map(lambda _: None, layout)
    d_spikes = d_spikes.reshape(spikes.shape).astype(spikes.dtype)
    return no_grad, d_weight.astype(weight.dtype), d_spikes, ct.reshape(ct_ring.shape), None, None


_step = Kernel(
    "delayed_propagate",
    _pure,
    bwd=_bwd,
    saves=(0, 1, 2, 4, 5),  # not the ring
    when="heterogeneous-delay rings",
)


@_step.register("cpu", applies=lambda *args, **_: args[3].dtype in _FLOATS)
def _native_step(layout, weight, spikes, ring, slot, cursor, *, capacity):
    csr = layout.csr
    return _native.delayed_event_step(
        csr.indptr, csr.indices, layout.group, slot, weight, spikes, ring, cursor
    )


def check_steps(layout: Delayed, steps, depth: int) -> tuple[int, ...]:
    """``steps`` (one delay in steps per delay value of ``layout``, each in ``[1, D]``)
    as ints; ``ValueError`` otherwise."""
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
    return steps


def _slots(layout: Delayed, steps, cursor, depth: int):
    """``(n_values,)`` int32: the ring slot each delay value writes to, ``(c + d - 1) % D``;
    ``steps`` (static) are checked against ``layout`` and ``depth``."""
    steps = check_steps(layout, steps, depth)
    table = jnp.asarray(np.asarray(steps, np.int32) - 1)
    return jax.lax.rem(cursor + table, jnp.int32(depth))  # both >= 0: Python's % not needed


def advance(cursor, depth: int):
    """``(cursor + 1) mod depth`` for a cursor in ``[0, depth)``: ``lax.rem``, which is
    that for non-negative operands, compiles to one op where ``%`` (Python's sign rule)
    takes a dozen, in every ring's step."""
    return jax.lax.rem(cursor + 1, jnp.asarray(depth, cursor.dtype))


def delayed_propagate(layout: Delayed, weight, spikes, ring, cursor, *, steps, capacity: int):
    """One step of the postsynaptic delay ring ``(..., D, n_post)``: synapse ``i → j`` of
    delay ``d = steps[group]`` (in steps) adds ``spikes[i] w_ij`` to slot
    ``(cursor + d - 1) mod D``; then slot ``cursor`` (what arrives now) is read out and
    cleared. Returns ``(ring, arriving (..., n_post))``.

    ``spikes (..., n_pre)`` (emitted one step earlier), ``weight`` scalar or
    ``layout.weight_shape``; ``cursor``: int scalar in ``[0, D)``; ``steps`` (static):
    one delay in steps (``1 <= d <= D``) per value of ``layout.delays``; ``capacity``:
    event-buffer slots of the pure-JAX path. Differentiable in ``weight``, ``spikes``
    and ``ring``."""
    depth, n_post = ring.shape[-2:]
    if n_post != layout.n_post or spikes.shape[:-1] != ring.shape[:-2]:
        raise ValueError(
            f"ring must have shape (..., D, {layout.n_post}) with the batch shape of spikes "
            f"{spikes.shape[:-1]}, got {ring.shape}"
        )
    cursor = jnp.asarray(cursor, jnp.int32)
    slot = _slots(layout, steps, cursor, depth)
    weight = jnp.asarray(weight, ring.dtype)
    weight = weight.ravel() if weight.ndim else weight
    # No reshapes around the native call: they would make XLA copy the whole ring in and
    # out of the (aliased) call in every step of a scan.
    return _step(layout, weight, spikes.astype(ring.dtype), ring, slot, cursor, capacity=capacity)


def delayed_to_dense(layout: Delayed, weight, steps, depth: int):
    """``(D, n_pre, n_post)``: ``W[k]`` holds the synapses of delay ``k + 1`` steps."""
    w = jnp.broadcast_to(jnp.asarray(weight), layout.weight_shape)
    d = jnp.asarray(np.asarray(steps, np.int32))[layout.group.astype(jnp.int32)]
    per_delay = jnp.where(jnp.arange(1, depth + 1)[:, None] == d[None, :], w[None, :], 0.0)
    return jax.vmap(lambda x: to_dense(layout.csr, x))(per_delay)


def delayed_propagate_dense(layout: Delayed, weight, spikes, ring, cursor, *, steps):
    """The same step through the dense ``(D, n_pre, n_post)`` matrices, rolled by the
    cursor (the reference for tests and a path for small networks)."""
    w = delayed_to_dense(layout, weight, steps, ring.shape[-2]).astype(ring.dtype)
    add = jnp.einsum("...i,kij->...kj", spikes.astype(ring.dtype), w)
    full = ring + jnp.roll(add, cursor, axis=-2)
    return full.at[..., cursor, :].set(0.0), full[..., cursor, :]
