"""Native (C++, XLA FFI) CPU kernels for event-driven synaptic propagation.

Public API::

    available() -> bool
    csr_event_matvec(indptr, indices, weights, spikes, n_post) -> out
    delayed_event_step(indptr, indices, group, slot, weights, spikes, ring, cursor)
    delayed_event_multi(sources, rings) -> (rings, arriving, cursors)
    procedural_event(layout, spikes) -> out       (see brainsim.ops.procedural)
    procedural_gather(layout, ct) -> out
    rows_matmul(x, w) -> out                       (see brainsim.ops.rows)
    rows_outer(x, g) -> dw
    spike_compact(active, capacity) -> (indices, count)   (see brainsim.ops.compact)

The shared library is built with the package (``CMakeLists.txt``; ``_library.py``
loads it); ``bs.ops.configure(kernels=False)`` turns it off. The kernels are registered
for the ``"cpu"`` platform only: callers must not use them on arrays placed on an
accelerator.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _library, _settings

__all__ = [
    "available",
    "cpu_only",
    "csr_event_matvec",
    "csr_event_multi",
    "delayed_event_step",
    "delayed_event_multi",
    "procedural_event",
    "procedural_gather",
    "rows_matmul",
    "pack_rows_weight",
    "rows_outer",
    "spike_compact",
]

_MATVEC = "brainsim_csr_event_matvec"
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def available() -> bool:
    """True if the native kernels are on (``bs.ops.configure``) and the library built
    with the package is loaded and registered for "cpu". The first call loads it (or
    warns once why it cannot)."""
    return _settings.settings().kernels and _library.load() is not None


def _require() -> None:
    if _library.load() is None:
        raise RuntimeError("brainsim native kernels are unavailable: " + str(_library.error()))


def _prepare(indptr, indices, weights, spikes):
    indptr = jnp.asarray(indptr)
    indices = jnp.asarray(indices)
    weights = jnp.asarray(weights)
    spikes = jnp.asarray(spikes)
    if not (
        jnp.issubdtype(indptr.dtype, jnp.integer) and jnp.issubdtype(indices.dtype, jnp.integer)
    ):
        raise TypeError("indptr and indices must be integer arrays")
    indptr = indptr.astype(jnp.int32)
    indices = indices.astype(jnp.int32)
    dtype = np.dtype(spikes.dtype)
    if dtype not in _FLOATS:
        # bool/int spikes: compute in the weights' float dtype (or float32).
        dtype = np.dtype(weights.dtype)
        if dtype not in _FLOATS:
            dtype = np.dtype(jnp.float32)
        spikes = spikes.astype(dtype)
    weights = weights.astype(dtype)
    if indptr.ndim != 1 or indices.ndim != 1:
        raise ValueError("indptr and indices must be 1-D")
    if weights.ndim not in (0, 1) or (weights.ndim == 1 and weights.shape != indices.shape):
        raise ValueError(
            "weights must be a scalar or have the shape of indices, got "
            f"{weights.shape} vs {indices.shape}"
        )
    if spikes.ndim < 1 or spikes.shape[-1] != indptr.shape[0] - 1:
        raise ValueError(
            f"spikes.shape[-1] must be n_pre = len(indptr) - 1 = "
            f"{indptr.shape[0] - 1}, got spikes.shape = {spikes.shape}"
        )
    return indptr, indices, weights, spikes, dtype


def csr_event_matvec(indptr, indices, weights, spikes, n_post: int):
    """Event-driven ``out[..., j] = sum_i spikes[..., i] * W[i, j]``.

    Args:
      indptr: int (n_pre + 1,) CSR row pointer, rows = presynaptic neurons.
      indices: int (nnz,) postsynaptic target of each synapse.
      weights: 0-d (one weight for all synapses) or (nnz,) float array.
      spikes: float32/float64 array (..., n_pre).  Rows with spike value 0 are
        skipped.  bool/int spikes are cast to the weights' float dtype.
      n_post: number of postsynaptic neurons (static int).

    Returns:
      (..., n_post) array of the spikes' (float) dtype.

    Works under jit, scan and vmap (vmap_method="expand_dims": the whole
    batch is one FFI call; batched connectivity or weights are supported).
    Out-of-range entries of ``indices`` are ignored; an ``indptr`` pointing
    outside ``indices`` for an active row raises at run time.  Not
    differentiable.
    """
    _require()
    indptr, indices, weights, spikes, dtype = _prepare(indptr, indices, weights, spikes)
    out_type = jax.ShapeDtypeStruct(spikes.shape[:-1] + (int(n_post),), dtype)
    call = jax.ffi.ffi_call(_MATVEC, out_type, vmap_method="expand_dims")
    return call(indptr, indices, weights, spikes, homogeneous=bool(weights.ndim == 0))


def _procedural_call(target, layout, x, n_out):
    _require()
    table = layout.weights.table()
    weighted = table is not None
    table = jnp.asarray(table if weighted else np.zeros(1, np.float32))
    out_type = jax.ShapeDtypeStruct(x.shape[:-1] + (int(n_out),), x.dtype)
    # broadcast_all: a seed batched by jax.vmap (one network per batch entry) meets a
    # batch of spikes (the kernel gives seed g the g-th part of the batch)
    call = jax.ffi.ffi_call(target, out_type, vmap_method="broadcast_all")
    seed = jnp.asarray(layout.seed, jnp.uint32)
    return call(
        x, table, seed, k=np.int64(layout.k), skip_self=bool(layout.skip_self), weighted=weighted
    )


def procedural_event(layout, spikes):
    """``out[..., j] = sum_i spikes[..., i] sum_c r_ic [t_ic = j]`` for a
    ``brainsim.conn.Procedural`` layout (float32/float64 spikes, not
    differentiable: ``brainsim.ops.procedural`` wraps it)."""
    return _procedural_call("brainsim_procedural_event", layout, spikes, layout.n_post)


def procedural_gather(layout, ct):
    """``out[..., i] = sum_c r_ic ct[..., t_ic]`` (the transpose), ``ct (..., n_post)``."""
    return _procedural_call("brainsim_procedural_gather", layout, ct, layout.n_pre)


def csr_event_multi(sources, projections):
    """Several event-driven products in one call: for each projection ``(source, indptr,
    indices, weights, n_post)``, ``out[..., j] = sum_i sources[source][..., i] W[i, j]``.

    ``sources``: float32/float64 spike arrays ``(b..., n_pre_s)`` with one batch shape
    and dtype; the connectivity and weights (scalar or ``(nnz,)``) are unbatched.
    Returns one ``(b..., n_post)`` array per projection. Not differentiable."""
    _require()
    dtype = sources[0].dtype
    batch = sources[0].shape[:-1]
    operands, source, homogeneous, out_types = list(sources), [], [], []
    for src, indptr, indices, weights, n_post in projections:
        operands += [
            jnp.asarray(indptr, jnp.int32),
            jnp.asarray(indices, jnp.int32),
            jnp.asarray(weights, dtype),
        ]
        source.append(src)
        homogeneous.append(int(jnp.ndim(weights) == 0))
        out_types.append(jax.ShapeDtypeStruct((*batch, int(n_post)), dtype))
    call = jax.ffi.ffi_call("brainsim_csr_event_multi", out_types)
    return call(
        *operands,
        source=np.asarray(source, np.int64),
        homogeneous=np.asarray(homogeneous, np.int64),
    )


def cpu_only() -> bool:
    """Whether the process has only CPU devices (every computation runs on a CPU)."""
    import jax.extend.backend

    return set(jax.extend.backend.backends()) == {"cpu"}


def delayed_event_step(indptr, indices, group, slot, weights, spikes, ring, cursor):
    """One step of a postsynaptic delay ring (see ``brainsim.ops.delayed``)::

        R = ring;  R[..., slot[group[q]], indices[q]] += spikes[..., i] * weights[q]
        arriving = R[..., cursor, :];  R[..., cursor, :] = 0

    for every synapse ``q`` of every active row ``i``. Returns ``(R, arriving)``.

    Args:
      indptr, indices: int32 CSR by presynaptic neuron.
      group: uint8/int16/int32 (nnz,) delay value of each synapse.
      slot: int32 (n_groups,) ring row of each delay value, in ``[0, D)``.
      weights: 0-d or (nnz,) array of the ring's float dtype.
      spikes: (..., n_pre) array of the ring's float dtype.
      ring: float32/float64 (..., D, n_post), updated in place where XLA allows.
      cursor: int32 scalar in ``[0, D)``, the slot that arrives now.

    Works under jit, scan and vmap; not differentiable.
    """
    _require()
    return _delayed_call(indptr, indices, group, slot, weights, spikes, ring, cursor)


@jax.custom_batching.custom_vmap
def _delayed_call(indptr, indices, group, slot, weights, spikes, ring, cursor):
    out_type = (
        jax.ShapeDtypeStruct(ring.shape, ring.dtype),
        jax.ShapeDtypeStruct(ring.shape[:-2] + ring.shape[-1:], ring.dtype),
    )
    call = jax.ffi.ffi_call("brainsim_delayed_event_step", out_type, input_output_aliases={6: 0})
    homogeneous = bool(weights.ndim == indices.ndim - 1)
    return call(
        indptr, indices, group, slot, weights, spikes, ring, cursor, homogeneous=homogeneous
    )


@_delayed_call.def_vmap
def _delayed_call_vmap(axis_size, in_batched, *args):
    # As vmap_method="expand_dims", but the ring (aliased to the output) must have the
    # output's full shape: unbatched operands get a size-1 leading dim, the ring is
    # broadcast.
    args = [a if b else a[None] for a, b in zip(args, in_batched, strict=True)]
    if not in_batched[6]:
        args[6] = jnp.broadcast_to(args[6], (axis_size,) + args[6].shape[1:])
    return _delayed_call(*args), (True, True)


def delayed_event_multi(sources, projections, rings):
    """Every delay ring of a network step in one call (see
    ``brainsim.ops.delayed_many``): for each ring ``(ring, cursor)``, the scatters of
    its projections ``(source, ring index, indptr, indices, group, weights, steps)`` in
    their order (``delayed_event_step``'s, slots ``(cursor + steps - 1) mod D``;
    ``steps``: a static tuple, one delay per value of ``group``), then its arriving
    slot read and cleared and its cursor advanced by one. ``sources``: ``(u...,
    n_pre_s)`` spike arrays of the rings' float dtype, one batch shape ``u...``;
    ``ring`` ``(u..., D, n_post)`` (updated in place where XLA allows); ``cursor``
    int32 scalar. Returns ``(rings, arriving (u..., n_post), next cursors)``, tuples in
    the rings' order. Not differentiable, not batched by ``jax.vmap``."""
    _require()
    operands, source, ring_of, n_groups, steps = list(sources), [], [], [], []
    for src, r, indptr, indices, group, weights, d in projections:
        operands += [indptr, indices, group, weights]
        source.append(src)
        ring_of.append(r)
        n_groups.append(len(d))
        steps += list(d)
    out_types, aliases = [], {}
    for ring, cursor in rings:
        aliases[len(operands)], aliases[len(operands) + 1] = len(out_types), len(out_types) + 2
        operands += [ring, cursor]
        out_types += [
            jax.ShapeDtypeStruct(ring.shape, ring.dtype),
            jax.ShapeDtypeStruct(ring.shape[:-2] + ring.shape[-1:], ring.dtype),
            jax.ShapeDtypeStruct((), jnp.int32),
        ]
    call = jax.ffi.ffi_call(
        "brainsim_delayed_event_multi", out_types, input_output_aliases=aliases
    )
    out = call(
        *operands,
        source=np.asarray(source, np.int64),
        ring=np.asarray(ring_of, np.int64),
        n_groups=np.asarray(n_groups, np.int64),
        steps=np.asarray(steps, np.int64),
    )
    return tuple(out[0::3]), tuple(out[1::3]), tuple(out[2::3])


def rows_matmul(x, w, swap: bool = False, n: int | None = None):
    """``out[..., :] = sum_i x[..., i] w[i, :]`` over the nonzero ``x[..., i]`` only;
    ``x (..., K)``, ``w (K, N)`` of the same float32/float64 dtype, or ``w`` packed by
    ``pack_rows_weight`` with ``n = N``. ``swap``: ``x (A, B, K)`` gives ``out (B, A,
    N)``. Not differentiable, not batched: ``brainsim.ops.rows`` wraps it."""
    _require()
    rows = (x.shape[1], x.shape[0]) if swap else x.shape[:-1]
    out_type = jax.ShapeDtypeStruct(rows + (w.shape[1] if w.ndim == 2 else n,), x.dtype)
    call = jax.ffi.ffi_call("brainsim_rows_matmul", out_type, vmap_method="sequential")
    return call(x, w, swap=bool(swap))


def pack_rows_weight(w):
    """``w (K, N)`` as ``(ceil(N/b), K, b)`` column blocks of ``b = 256 bytes / itemsize``
    (64 float32, 32 float64) columns, zero-padded: the layout ``rows_matmul``'s kernel
    gathers from (packed once, e.g. outside a scan, instead of on every call)."""
    k, n = w.shape
    b = 256 // w.dtype.itemsize
    nb = -(-n // b)
    wp = jnp.pad(w, ((0, 0), (0, nb * b - n)))
    return jnp.transpose(wp.reshape(k, nb, b), (1, 0, 2))


def rows_outer(x, g, swap: bool = False):
    """``dw[i, :] = sum_r x[r, i] g[r, :]`` over the nonzero ``x[r, i]`` only (the rows
    ``r`` are all leading axes); ``x (..., K)``, ``g (..., N)``, same float dtype.
    ``swap``: ``x (A, B, K)`` against ``g (B, A, N)``."""
    _require()
    out_type = jax.ShapeDtypeStruct((x.shape[-1], g.shape[-1]), x.dtype)
    call = jax.ffi.ffi_call("brainsim_rows_outer", out_type, vmap_method="sequential")
    return call(x, g, swap=bool(swap))


def spike_compact(active, capacity: int):
    """``(indices (..., capacity) int32, count (...) int32)`` of the ``True`` entries of
    ``active (..., n)`` (bool) along the last axis; see ``brainsim.ops.compact``."""
    _require()
    lead = active.shape[:-1]
    out_types = (
        jax.ShapeDtypeStruct(lead + (int(capacity),), jnp.int32),
        jax.ShapeDtypeStruct(lead, jnp.int32),
    )
    call = jax.ffi.ffi_call("brainsim_spike_compact", out_types, vmap_method="broadcast_all")
    return call(active)
