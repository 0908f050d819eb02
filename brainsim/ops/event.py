"""Event-driven propagation through sparse layouts (CSR, ELL), in pure JAX.

Forward: the spiking presynaptic neurons are compacted into ``capacity`` slots; each slot
expands to its row of synapses, whose weights are scatter-added into the output. Cost is
O(capacity × max out-degree), independent of the number of synapses. Roughly::

    out = zeros(n_post)
    for i in nonzero(spikes):            # at most `capacity` of them
        for j, w in row(i):
            out[j] += spikes[i] * w

The VJP is O(synapses): every presynaptic neuron gets a gradient, spiking or not, and so
does every synapse weight (``spikes[i] * ct[j]``).

When more than ``capacity`` presynaptic neurons are active at once (a synchronous burst),
that call falls back to an O(synapses) pass over all synapses: the result is always
exact, only slower for that step. This is the portable path (GPU/TPU) and the reference
for native kernels.
"""

import functools

import jax
import jax.numpy as jnp

from ..conn.layouts import CSR, ELL


def n_active(spikes):
    """Number of nonzero entries along the last axis (max over leading axes)."""
    return jnp.max(jnp.count_nonzero(spikes, axis=-1), initial=0)


def _rows(layout, weight, idx):
    """Targets, weights and validity ``(k, width)`` of presynaptic rows ``idx (k,)``."""
    if isinstance(layout, ELL):
        targets = layout.indices[idx]
        valid = jnp.ones(targets.shape, bool)
        w = weight[idx] if jnp.ndim(weight) else weight
    elif isinstance(layout, CSR):
        start = layout.indptr[idx]
        length = layout.indptr[idx + 1] - start
        offset = jnp.arange(layout.max_degree)[None, :]
        valid = offset < length[:, None]
        pos = jnp.where(valid, start[:, None] + offset, 0)
        targets = layout.indices[pos]
        w = weight[pos] if jnp.ndim(weight) else weight
    else:
        raise TypeError(f"event_matvec: no event path for layout {type(layout).__name__}")
    return targets, jnp.broadcast_to(w, targets.shape), valid


def _synapses(layout):
    """Flat ``(pre, post)`` index arrays of all synapses, in the weight array's order."""
    if isinstance(layout, ELL):
        k = layout.indices.shape[1]
        return jnp.repeat(jnp.arange(layout.n_pre), k), layout.indices.ravel()
    degree = jnp.diff(layout.indptr)
    pre = jnp.repeat(jnp.arange(layout.n_pre), degree, total_repeat_length=layout.n_synapses)
    return pre, layout.indices


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _event_matvec(layout, weight, spikes, capacity):
    n_pre, n_post = spikes.shape[0], layout.n_post
    idx = jnp.nonzero(spikes, size=capacity, fill_value=n_pre)[0]
    live = idx < n_pre
    idx = jnp.where(live, idx, 0)
    targets, w, valid = _rows(layout, weight, idx)
    vals = (spikes[idx] * live)[:, None] * w.astype(spikes.dtype)
    targets = jnp.where(valid & live[:, None], targets, n_post)
    return jnp.zeros(n_post, spikes.dtype).at[targets].add(vals, mode="drop")


def _fwd(layout, weight, spikes, capacity):
    return _event_matvec(layout, weight, spikes, capacity), (layout, weight, spikes)


def _bwd(capacity, res, ct):
    layout, weight, spikes = res
    pre, post = _synapses(layout)
    ct_syn = ct[post]
    w = jnp.ravel(weight) if jnp.ndim(weight) else weight
    d_spikes = jax.ops.segment_sum(w * ct_syn, pre, num_segments=layout.n_pre)
    d_w = spikes[pre] * ct_syn
    d_weight = d_w.reshape(jnp.shape(weight)) if jnp.ndim(weight) else jnp.sum(d_w)
    no_grad = jax.tree.map(lambda _: None, layout)
    return no_grad, d_weight.astype(jnp.result_type(weight)), d_spikes.astype(spikes.dtype)


_event_matvec.defvjp(_fwd, _bwd)


def _all_synapses(layout, weight, spikes):
    """The same product by one pass over every synapse, ``spikes (b, n_pre)``."""
    pre, post = _synapses(layout)
    w = jnp.ravel(weight)[None] if jnp.ndim(weight) else weight
    contrib = spikes[:, pre] * w.astype(spikes.dtype)
    return jax.vmap(lambda c: jax.ops.segment_sum(c, post, num_segments=layout.n_post))(contrib)


def event_matvec(layout, weight, spikes, capacity: int):
    """``out[..., j] = sum_i spikes[..., i] * W[i, j]`` touching only the rows of nonzero
    spikes. ``spikes (..., n_pre)``; ``weight`` scalar or ``layout.weight_shape``;
    ``capacity``: event-buffer slots; above it the call takes the all-synapse pass."""
    weight = jnp.asarray(weight)
    flat = spikes.reshape(-1, spikes.shape[-1])
    out = jax.lax.cond(
        n_active(flat) <= capacity,
        lambda s: jax.vmap(lambda x: _event_matvec(layout, weight, x, capacity))(s),
        lambda s: _all_synapses(layout, weight, s),
        flat,
    )
    return out.reshape(*spikes.shape[:-1], layout.n_post)
