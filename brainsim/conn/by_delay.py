"""Per-synapse delays attached to a stored layout: ``with_delays`` regroups the
synapses of each row by (delay, target), block by block (``bs.conn.blocks``)."""

import numpy as np

from .._arrays import to_device
from .blocks import BLOCK, aligned_empty, group_dtype, parallel, row_blocks
from .layouts import CSR, ELL, Delayed, Dense


def _rows(layout):
    """``(indptr (n_pre + 1,) int64, targets (n_synapses,))`` of a CSR/ELL/Dense layout,
    in weight order."""
    n_pre, n_post = layout.n_pre, layout.n_post
    if isinstance(layout, CSR):
        return np.asarray(layout.indptr, np.int64), np.asarray(layout.indices)
    if isinstance(layout, ELL):
        idx = np.asarray(layout.indices)
        return np.arange(n_pre + 1, dtype=np.int64) * idx.shape[1], idx.ravel()
    if isinstance(layout, Dense):
        if layout.mask is not None:
            raise ValueError("with_delays: a masked Dense layout is not supported; use CSR")
        indptr = np.arange(n_pre + 1, dtype=np.int64) * n_post
        return indptr, np.tile(np.arange(n_post, dtype=np.int32), n_pre)
    raise TypeError(f"with_delays: unsupported layout {type(layout).__name__}")


def with_delays(layout, delays, weight=None):
    """Attach one delay per synapse to ``layout``: ``(Delayed layout, weight)``.

    ``delays`` (ms) has ``layout.weight_shape`` (one delay per synapse, in weight order);
    values equal to within 1e-9 ms share a group. The synapses are reordered by
    (presynaptic neuron, delay, target), ties kept in their order (a stable sort); a
    per-synapse ``weight`` array is reordered alike (float32), a scalar ``weight`` (or
    ``None``) is returned unchanged. Built block by block of rows into the final arrays
    (int32 targets, uint8 delay index up to 256 values, float32 weights).
    """
    indptr, targets = _rows(layout)
    d = np.asarray(delays, np.float64)
    if d.shape != tuple(layout.weight_shape):
        raise ValueError(
            f"delays must have the layout's weight shape {tuple(layout.weight_shape)}, "
            f"got {d.shape}"
        )
    d = d.ravel()
    if d.size and not (np.all(np.isfinite(d)) and d.min() > 0):
        raise ValueError(f"delays must be > 0 (ms), got min {d.min():g}")
    values = _delay_values(d)
    w = None if weight is None or not np.ndim(weight) else np.asarray(weight).ravel()
    out_t = aligned_empty(d.size, np.int32)
    out_g = aligned_empty(d.size, group_dtype(len(values)))
    out_w = None if w is None else aligned_empty(d.size, np.float32)
    cuts = row_blocks(indptr)

    def block(b):
        r0, r1 = int(cuts[b]), int(cuts[b + 1])
        s0, s1 = int(indptr[r0]), int(indptr[r1])
        group = np.searchsorted(values, np.round(d[s0:s1], 9))
        order = _order(np.diff(indptr[r0 : r1 + 1]), group, targets[s0:s1], len(values))
        out_t[s0:s1] = targets[s0:s1][order]
        out_g[s0:s1] = group[order]
        if w is not None:
            out_w[s0:s1] = w[s0:s1][order]

    parallel(block, len(cuts) - 1)
    csr = CSR(layout.n_pre, layout.n_post, indptr, out_t)
    delayed = Delayed(layout.n_pre, layout.n_post, csr, to_device(out_g, out_g.dtype), values)
    return delayed, weight if w is None else to_device(out_w, np.float32)


def _delay_values(d) -> tuple[float, ...]:
    """The distinct delays (equal within 1e-9 ms), ascending: exactly
    ``np.unique(np.round(d, 9))``, but found in a strided sample and completed by the
    values that sample misses, block by block."""
    values = np.unique(np.round(d[:: max(1, d.size >> 20)], 9))
    cuts = range(0, d.size, BLOCK)

    def missed(b):
        r = np.round(d[cuts[b] : cuts[b] + BLOCK], 9)
        found = values[np.minimum(np.searchsorted(values, r), values.size - 1)]
        return np.unique(r[found != r])

    extra = parallel(missed, len(cuts))
    return tuple(float(v) for v in np.unique(np.concatenate([values, *extra])))


def _order(degrees, group, post, n_groups):
    """The permutation sorting one block of rows by (row, delay group, target), stable:
    one stable argsort of a combined int64 key, or a lexsort where it would overflow."""
    row = np.repeat(np.arange(degrees.size, dtype=np.int64), degrees)
    if degrees.size * n_groups * (int(post.max(initial=0)) + 1) >= 2**63:
        return np.lexsort((post, group, row))
    key = row * n_groups + group
    key *= int(post.max(initial=0)) + 1
    key += post
    return np.argsort(key, kind="stable")
