"""Dense propagation: the reference (test oracle) for every layout, and the fast path for
small or densely active networks."""

import jax.numpy as jnp

from ..conn.layouts import CSR, ELL, Dense, Procedural


def to_dense(layout, weight):
    """The ``(n_pre, n_post)`` weight matrix a layout and its weights describe."""
    w = jnp.asarray(weight)
    if isinstance(layout, Dense):
        w = jnp.broadcast_to(w, layout.weight_shape)
        return w if layout.mask is None else jnp.where(layout.mask, w, 0.0)
    if isinstance(layout, Procedural):
        from .procedural import materialize

        layout, factors = materialize(layout)
        w = w * jnp.asarray(factors)
    if isinstance(layout, CSR):
        degree = jnp.diff(layout.indptr)
        rows = jnp.repeat(jnp.arange(layout.n_pre), degree, total_repeat_length=layout.n_synapses)
        cols = layout.indices
    elif isinstance(layout, ELL):
        rows = jnp.broadcast_to(jnp.arange(layout.n_pre)[:, None], layout.indices.shape)
        cols = layout.indices
    else:
        raise TypeError(f"to_dense: unknown layout {type(layout).__name__}")
    w = jnp.broadcast_to(w, cols.shape)
    return jnp.zeros((layout.n_pre, layout.n_post), w.dtype).at[rows, cols].add(w)


def matvec(layout, weight, spikes):
    """``out[..., j] = sum_i spikes[..., i] * W[i, j]`` through the dense matrix."""
    return spikes @ to_dense(layout, weight).astype(spikes.dtype)
