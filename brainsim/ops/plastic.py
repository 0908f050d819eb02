r"""Event-driven updates of plastic weights stored in a sparse layout (CSR, ELL).

A plasticity rule changes the weight of synapse $s$ (presynaptic neuron $i$,
postsynaptic neuron $j$) when one of its neurons spikes:

$$w_s \leftarrow w_s + \text{spikes}_k\,\Delta(w_s, \text{pre}_i, \text{post}_j, \theta)$$

with $k = i$ for ``update_rows`` (a presynaptic spike updates that neuron's outgoing
row) and $k = j$ for ``update_columns`` (a postsynaptic spike updates its incoming
column). ``pre``/``post`` are pytrees of per-neuron arrays (traces) gathered at $i$ and
$j$; $\theta$ are the rule's parameters. Roughly::

    for i in nonzero(spikes):              # update_rows
        for s, j in row(i):
            w[s] += spikes[i] * delta(w[s], pre[i], post[j], theta)

The forward pass compacts the spiking neurons and updates their rows (columns) in place,
``capacity`` neurons at a time: one chunk of cost O(capacity × max degree) in a normal
step, more in a burst, so no spike is dropped and no step costs O(synapses). The update
is linear in the spike value, so real-valued (surrogate) spikes are well defined; the
VJP is the one of the formula written over all synapses (every neuron and synapse gets
its gradient, spiking or not), as for ``event_matvec``.

A column is found through a ``Columns`` index built once from the layout (NumPy, on
the host): for postsynaptic neuron ``j``, entries ``e`` in ``ptr[j]:ptr[j+1]`` give the
presynaptic neuron ``pre[e]`` and the synapse's place in its row ``offset[e]`` (position
``indptr[pre[e]] + offset[e]`` in the flat weight array), each in the narrowest unsigned
type its range allows: 3 bytes per synapse up to 65 536 presynaptic neurons and out-degree
256 (``uint16`` + ``uint8``), at most 8.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import to_device
from .._checks import check_size
from ..conn.layouts import CSR, ELL
from .compact import compact, default_capacity
from .event import _csr_arrays, _max_degree, _synapses


class Columns(eqx.Module):
    """Column index of a stored layout: the incoming synapses of every postsynaptic
    neuron, in presynaptic order. Build it with ``columns(layout)``."""

    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)
    indptr: jnp.ndarray  # (n_post + 1,) int32
    pre: jnp.ndarray  # (n_synapses,) uint16 or int32: presynaptic neuron of each entry
    offset: jnp.ndarray  # (n_synapses,) uint8, uint16 or int32: its place in that row
    max_degree: int = eqx.field(static=True)  # largest in-degree


def _narrowest(n: int, types=(np.uint8, np.uint16)):
    """The first of ``types`` (else int32) that holds ``0 .. n - 1``."""
    return next((t for t in types if n <= np.iinfo(t).max + 1), np.int32)


def columns(layout: CSR | ELL) -> Columns:
    """The ``Columns`` index of ``layout`` (computed on the host, once)."""
    if not isinstance(layout, CSR | ELL):
        raise ValueError(
            "columns: plastic weights need a stored CSR or ELL layout, got "
            f"{type(layout).__name__}"
        )
    indptr, post = (np.asarray(a) for a in _csr_arrays(layout))
    order = np.argsort(post, kind="stable")  # by post; within a column by position (pre)
    degree = np.diff(indptr)
    pre = np.repeat(np.arange(layout.n_pre), degree)[order]
    offset = order - indptr[pre]
    counts = np.bincount(post, minlength=layout.n_post)
    col_ptr = np.concatenate([[0], np.cumsum(counts)])
    return Columns(
        n_pre=layout.n_pre,
        n_post=layout.n_post,
        indptr=to_device(col_ptr, np.int32),
        pre=to_device(pre, _narrowest(layout.n_pre, (np.uint16,))),
        offset=to_device(offset, _narrowest(int(degree.max(initial=0)))),
        max_degree=int(counts.max(initial=0)),
    )


class Indexed(eqx.Module):
    """A stored layout with its column index and the event capacities of plasticity:
    what a rule's ``step`` needs to update rows and columns. Build it with
    ``index(layout)`` (on the host, once per network)."""

    layout: CSR | ELL
    cols: Columns
    pre_capacity: int = eqx.field(static=True)  # presynaptic neurons updated per chunk
    post_capacity: int = eqx.field(static=True)  # postsynaptic neurons updated per chunk


def index(layout: CSR | ELL, pre_capacity: int | None = None, post_capacity: int | None = None):
    """``Indexed`` view of ``layout``; capacities (neurons updated per chunk, >= 1)
    default to 2 % of each population (at least 16, as ``default_capacity``); a step
    with more spiking neurons takes more chunks."""
    cap = lambda n, c: default_capacity(n) if c is None else c
    for name, c in (
        ("pre_capacity", pre_capacity),
        ("post_capacity", post_capacity),
    ):
        if c is not None:
            check_size(f"index: {name}", c)
    return Indexed(
        layout, columns(layout), cap(layout.n_pre, pre_capacity), cap(layout.n_post, post_capacity)
    )


def _gather(tree, idx):
    return jax.tree.map(lambda a: a[idx], tree)


def _row_slots(layout, idx):
    """Synapse positions, partner (post) neurons and validity of the rows ``idx``."""
    indptr, indices = _csr_arrays(layout)
    start = indptr[idx]
    offset = jnp.arange(_max_degree(layout))[None, :]
    valid = offset < (indptr[idx + 1] - start)[:, None]
    pos = jnp.where(valid, start[:, None] + offset, 0)
    return pos, indices[pos], valid


def _column_slots(layout, cols, idx):
    """Synapse positions, partner (pre) neurons and validity of the columns ``idx``."""
    start = cols.indptr[idx]
    offset = jnp.arange(cols.max_degree)[None, :]
    valid = offset < (cols.indptr[idx + 1] - start)[:, None]
    entry = jnp.where(valid, start[:, None] + offset, 0)
    pre = cols.pre[entry].astype(jnp.int32)
    return _csr_arrays(layout)[0][pre] + cols.offset[entry].astype(jnp.int32), pre, valid


def _chunk(layout, cols, delta, w, spikes, pre, post, theta, idx, live, by_row):
    """The update through one chunk of compacted events ``idx`` (``live`` marks the
    real ones)."""
    idx = jnp.where(live, idx, 0)
    if by_row:
        pos, partner, valid = _row_slots(layout, idx)
    else:
        pos, partner, valid = _column_slots(layout, cols, idx)
    valid = valid & live[:, None]
    i, j = (idx[:, None], partner) if by_row else (partner, idx[:, None])
    d = delta(w[pos], _gather(pre, i), _gather(post, j), theta)
    pos = jnp.where(valid, pos, w.shape[0])  # padding slots: out of bounds, dropped
    return w.at[pos].add((spikes[idx][:, None] * d).astype(w.dtype), mode="drop")


def _all_synapses(layout, delta, w, spikes, pre, post, theta, by_row):
    """The same update as one pass over every synapse (the VJP's formula)."""
    i, j = _synapses(layout)
    d = delta(w, _gather(pre, i), _gather(post, j), theta)
    return w + spikes[i if by_row else j] * d


def _forward(layout, cols, delta, w, spikes, pre, post, theta, capacity, by_row):
    """Every spiking neuron, ``capacity`` at a time: one chunk in a normal step, as many
    as needed in a burst (cost ∝ spiking neurons × degree, in place)."""
    slots = -(-spikes.shape[0] // capacity) * capacity
    idx, count = compact(spikes, slots)

    def chunk(c, w):
        part = jax.lax.dynamic_slice(idx, (c * capacity,), (capacity,))
        live = c * capacity + jnp.arange(capacity) < count
        return _chunk(layout, cols, delta, w, spikes, pre, post, theta, part, live, by_row)

    return jax.lax.fori_loop(0, (count + capacity - 1) // capacity, chunk, w)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 8, 9))
def _update(delta, layout, cols, w, spikes, pre, post, theta, capacity, by_row):
    return _forward(layout, cols, delta, w, spikes, pre, post, theta, capacity, by_row)


def _update_fwd(delta, layout, cols, w, spikes, pre, post, theta, capacity, by_row):
    out = _forward(layout, cols, delta, w, spikes, pre, post, theta, capacity, by_row)
    return out, (layout, cols, w, spikes, pre, post, theta)


def _update_bwd(delta, capacity, by_row, res, ct):
    layout, cols, *args = res
    dense = lambda *a: _all_synapses(layout, delta, *a, by_row=by_row)
    _, vjp = jax.vjp(dense, *args)
    no_grad = lambda tree: jax.tree.map(lambda _: None, tree)
    return (no_grad(layout), no_grad(cols), *vjp(ct))


_update.defvjp(_update_fwd, _update_bwd)


def _check(name, layout, w, spikes, n, capacity):
    check_size(f"{name}: capacity", capacity)
    if w.shape != (layout.n_synapses,):
        raise ValueError(
            f"{name}: weights must be flat, shape ({layout.n_synapses},), got {w.shape}"
        )
    if spikes.shape != (n,):
        raise ValueError(f"{name}: spikes must have shape ({n},), got {spikes.shape}")


def update_rows(layout: CSR | ELL, w, spikes, delta, pre, post, theta, capacity: int):
    """Presynaptic events: every synapse of a spiking presynaptic neuron ``i`` gets
    ``w += spikes[i] * delta(w, pre[i], post[j], theta)``.

    Args:
        layout: the stored layout (``CSR`` or ``ELL``).
        w: ``(n_synapses,)`` weights in the layout's (flat) synapse order.
        spikes: ``(n_pre,)`` presynaptic spikes (0/1 or surrogate values).
        delta: a module-level function ``(w, pre, post, theta) -> change per unit spike``,
            elementwise on its gathered ``(capacity, degree)`` arguments.
        pre, post: pytrees of ``(n_pre,)`` / ``(n_post,)`` arrays gathered per synapse.
        theta: the rule's parameters (a pytree, differentiable).
        capacity: neurons updated per chunk (a step with more spikes takes more chunks).

    Returns:
        The updated ``(n_synapses,)`` weights.
    """
    _check("update_rows", layout, w, spikes, layout.n_pre, capacity)
    return _update(delta, layout, None, w, spikes, pre, post, theta, capacity, True)


def update_columns(
    layout: CSR | ELL, cols: Columns, w, spikes, delta, pre, post, theta, capacity: int
):
    """Postsynaptic events: every synapse onto a spiking postsynaptic neuron ``j`` gets
    ``w += spikes[j] * delta(w, pre[i], post[j], theta)``; ``cols = columns(layout)``,
    ``spikes (n_post,)``; the other arguments as in ``update_rows``."""
    _check("update_columns", layout, w, spikes, layout.n_post, capacity)
    return _update(delta, layout, cols, w, spikes, pre, post, theta, capacity, False)
