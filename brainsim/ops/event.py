"""Event-driven propagation through sparse layouts (CSR, ELL).

``out[b, j] = sum_i spikes[b, i] W[i, j]``, touching only the rows of nonzero spikes::

    out = zeros(n_post)
    for i in nonzero(spikes):
        for j, w in row(i):
            out[j] += spikes[i] * w

Two forward paths compute it:

- **native** (CPU): a C++ loop behind ``jax.ffi`` (``ops/_native``), cost ∝ active rows ×
  fan-out, no buffer to overflow; used when the library could be built.
- **pure JAX** (any backend, and the reference): the spiking presynaptic neurons are
  compacted into ``capacity`` slots, each slot expands to its row, and the weights are
  scatter-added. Cost O(capacity × max out-degree). A step with more active neurons
  than ``capacity`` (a synchronous burst) takes an exact O(synapses) pass instead, so
  no spike is ever dropped.

The VJP is O(synapses): every presynaptic neuron gets a gradient, spiking or not, and so
does every synapse weight (``spikes[i] * ct[j]``).
"""

import jax
import jax.numpy as jnp

from ..conn.layouts import CSR, ELL
from . import _native
from ._kernel import Kernel


def n_active(spikes):
    """Number of nonzero entries along the last axis (max over leading axes)."""
    return jnp.max(jnp.count_nonzero(spikes, axis=-1), initial=0)


def _csr_arrays(layout):
    """``(indptr, indices)`` of a CSR or ELL layout (an ELL row is a CSR row of length k)."""
    if isinstance(layout, ELL):
        k = layout.indices.shape[1]
        return jnp.arange(0, layout.n_pre * k + 1, k, dtype=jnp.int32), layout.indices.ravel()
    return layout.indptr, layout.indices


def _max_degree(layout):
    return layout.indices.shape[1] if isinstance(layout, ELL) else layout.max_degree


def _synapses(layout):
    """Flat ``(pre, post)`` index arrays of all synapses, in the weight array's order."""
    indptr, post = _csr_arrays(layout)
    degree = jnp.diff(indptr)
    pre = jnp.repeat(jnp.arange(layout.n_pre), degree, total_repeat_length=post.shape[0])
    return pre, post


def _compacted(layout, weight, spikes, capacity):
    """Pure-JAX event path for one spike vector ``(n_pre,)``."""
    n_pre, n_post = spikes.shape[0], layout.n_post
    indptr, indices = _csr_arrays(layout)
    idx = jnp.nonzero(spikes, size=capacity, fill_value=n_pre)[0]
    live = idx < n_pre
    idx = jnp.where(live, idx, 0)
    start = indptr[idx]
    offset = jnp.arange(_max_degree(layout))[None, :]
    valid = (offset < (indptr[idx + 1] - start)[:, None]) & live[:, None]
    pos = jnp.where(valid, start[:, None] + offset, 0)
    w = weight[pos] if weight.ndim else weight
    vals = spikes[idx][:, None] * w.astype(spikes.dtype)
    targets = jnp.where(valid, indices[pos], n_post)
    return jnp.zeros(n_post, spikes.dtype).at[targets].add(vals, mode="drop")


def _all_synapses(layout, weight, spikes):
    """The same product by one pass over every synapse, ``spikes (b, n_pre)``."""
    pre, post = _synapses(layout)
    w = weight[None] if weight.ndim else weight
    contrib = spikes[:, pre] * w.astype(spikes.dtype)
    return jax.vmap(lambda c: jax.ops.segment_sum(c, post, num_segments=layout.n_post))(contrib)


def _pure(layout, weight, spikes, *, capacity):
    """The reference: ``spikes (b, n_pre)`` through ``layout``, ``(b, n_post)``."""
    return jax.lax.cond(
        n_active(spikes) <= capacity,
        lambda s: jax.vmap(lambda x: _compacted(layout, weight, x, capacity))(s),
        lambda s: _all_synapses(layout, weight, s),
        spikes,
    )


def _bwd(layout, weight, spikes, ct, *, capacity):
    """O(synapses) VJP: ``spikes (b, n_pre)``, ``ct (b, n_post)``."""
    pre, post = _synapses(layout)
    ct_syn = ct[:, post]
    w = weight[None] if weight.ndim else weight
    d_spikes = jax.vmap(lambda c: jax.ops.segment_sum(c, pre, num_segments=layout.n_pre))(
        w * ct_syn
    )
    d_w = jnp.sum(spikes[:, pre] * ct_syn, axis=0)
    d_weight = d_w if weight.ndim else jnp.sum(d_w)
    no_grad = jax.tree.map(lambda _: None, layout)
    return no_grad, d_weight.astype(weight.dtype), d_spikes.astype(spikes.dtype)


_FLOATS = (jnp.float32, jnp.float64)
_event_matvec = Kernel("event_matvec", _pure, bwd=_bwd, when="CSR/ELL layouts")


@_event_matvec.register("cpu", applies=lambda layout, weight, spikes, **_: spikes.dtype in _FLOATS)
def _native_call(layout, weight, spikes, *, capacity):
    return _native_one(layout, weight, spikes)


def event_matvec(layout: CSR | ELL, weight, spikes, capacity: int):
    """``out[..., j] = sum_i spikes[..., i] * W[i, j]`` touching only the rows of nonzero
    spikes. ``spikes (..., n_pre)``; ``weight`` scalar or ``layout.weight_shape``;
    ``capacity``: event-buffer slots of the pure-JAX path (see module docstring)."""
    weight = jnp.asarray(weight, spikes.dtype)
    weight = weight.ravel() if weight.ndim else weight  # in synapse (CSR) order
    flat = spikes.reshape(-1, spikes.shape[-1])
    out = _event_matvec(layout, weight, flat, capacity=capacity)
    return out.reshape(*spikes.shape[:-1], layout.n_post)


def _native_one(layout, weight, spikes):
    return _native.csr_event_matvec(*_csr_arrays(layout), weight, spikes, layout.n_post)


def _native_many(layouts, weights, sources, source_of):
    projections = [
        (s, *_csr_arrays(layout), w, layout.n_post)
        for layout, w, s in zip(layouts, weights, source_of, strict=True)
    ]
    return tuple(_native.csr_event_multi(list(sources), projections))


def _fused_native(layouts, weights, sources, source_of):
    """``_native_many`` with a batching rule: batched spikes join the kernel's batch
    axis; batched connectivity or weights take one call per projection instead."""

    @jax.custom_batching.custom_vmap
    def fused(layouts, weights, sources):
        return _native_many(layouts, weights, sources, source_of)

    @fused.def_vmap
    def _rule(axis_size, in_batched, layouts, weights, sources):
        b_layouts, b_weights, b_sources = in_batched
        if any(jax.tree.leaves((b_layouts, b_weights))):
            outs = tuple(
                jax.vmap(
                    _native_one,
                    axis_size=axis_size,
                    in_axes=(
                        jax.tree.map(lambda b: 0 if b else None, b_layouts[k]),
                        0 if b_weights[k] else None,
                        0 if b_sources[s] else None,
                    ),
                )(layouts[k], weights[k], sources[s])
                for k, s in enumerate(source_of)
            )
            return outs, (True,) * len(outs)
        sources = tuple(
            s if b else jnp.broadcast_to(s, (axis_size, *s.shape))
            for s, b in zip(sources, b_sources, strict=True)
        )
        return fused(layouts, weights, sources), (True,) * len(layouts)

    return fused(layouts, weights, sources)


def _many_portable(layouts, weights, sources, *, source_of, capacities):
    return tuple(
        _pure(layout, w, sources[s], capacity=c)
        for layout, w, s, c in zip(layouts, weights, source_of, capacities, strict=True)
    )


def _many_bwd(layouts, weights, sources, cts, *, source_of, capacities):
    d_sources = [jnp.zeros_like(s) for s in sources]
    d_weights = []
    for layout, w, s, c, ct in zip(layouts, weights, source_of, capacities, cts, strict=True):
        _, d_w, d_s = _bwd(layout, w, sources[s], ct, capacity=c)
        d_weights.append(d_w)
        d_sources[s] = d_sources[s] + d_s
    no_grad = jax.tree.map(lambda _: None, layouts)
    return no_grad, tuple(d_weights), tuple(d_sources)


_many = Kernel(
    "event_matvec_many",
    _many_portable,
    bwd=_many_bwd,
    when="CSR/ELL projections fused into one call (spikes of one batch shape and dtype)",
)


@_many.register("cpu")
def _many_native(layouts, weights, sources, *, source_of, capacities):
    return _fused_native(layouts, weights, sources, source_of)


def event_matvec_many(layouts, weights, spikes, capacities):
    """``[event_matvec(l, w, s, c) for ...]`` in one native call per step on CPU (one
    FFI call instead of one per projection: the fixed cost of a call dominates small
    networks); spike vectors shared by several projections (the same array object) are
    passed and scanned once. Falls back to separate calls when the native kernels are
    unavailable or the spikes differ in batch shape or dtype."""
    spikes = list(spikes)
    first = spikes[0]
    same = all(s.shape[:-1] == first.shape[:-1] and s.dtype == first.dtype for s in spikes)
    if not (same and first.dtype in (jnp.float32, jnp.float64) and _native.available()):
        return [
            event_matvec(*args) for args in zip(layouts, weights, spikes, capacities, strict=True)
        ]
    sources, source_of = [], []
    for s in spikes:
        k = next((i for i, t in enumerate(sources) if t is s), None)
        if k is None:
            k = len(sources)
            sources.append(s)
        source_of.append(k)
    flat = tuple(s.reshape(-1, s.shape[-1]) for s in sources)
    weights = tuple(
        w.ravel() if w.ndim else w for w in (jnp.asarray(w, first.dtype) for w in weights)
    )
    outs = _many(
        tuple(layouts),
        weights,
        flat,
        source_of=tuple(source_of),
        capacities=tuple(capacities),
    )
    return [
        o.reshape(*first.shape[:-1], layout.n_post)
        for o, layout in zip(outs, layouts, strict=True)
    ]
