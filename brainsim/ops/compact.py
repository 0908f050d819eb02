"""Compaction of spike vectors into index lists (what a spike recorder stores).

``compact(spikes, capacity)`` gives the positions of the nonzero entries along the last
axis, ascending, in ``capacity`` slots, and their number; slots past the number are
unspecified (the native kernel leaves them unwritten, which halves its cost when the
capacity is large). The number may exceed ``capacity`` (only the first ``capacity``
positions are kept): callers compare it with ``capacity`` to detect the overflow. On
CPU a native kernel (``ops/_native/compact.cc``, ~n/64 word tests for a sparse row);
elsewhere ``jnp.nonzero(..., size=capacity)`` (the portable path and the test oracle).

``append_spikes(spikes, buffer, offset)`` writes the positions of one spike vector's
nonzero entries into a flat event buffer from slot ``offset`` on and returns the buffer
and the new end: what ``simulate`` threads through its scan to record spikes as events, so a
step writes only its own spikes. On CPU a native kernel updates the buffer in place
(``input_output_aliases``); elsewhere a scatter (the portable path and the test oracle).
"""

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_size
from . import _native
from ._kernel import Kernel


def default_capacity(n_pre: int) -> int:
    """Event-buffer slots when none is given: 2 % of the presynaptic population (a
    population rate of 200 Hz within one 0.1 ms step), at least 16."""
    return min(n_pre, max(16, -(-n_pre // 50)))


def _portable(active, *, capacity):
    n = active.shape[-1]
    flat = active.reshape(-1, n)
    idx = jax.vmap(lambda a: jnp.nonzero(a, size=capacity, fill_value=-1)[0])(flat)
    count = jnp.count_nonzero(flat, axis=-1)
    lead = active.shape[:-1]
    return idx.astype(jnp.int32).reshape(*lead, capacity), count.astype(jnp.int32).reshape(lead)


_compact = Kernel("compact", _portable, when="any spike dtype")


@_compact.register("cpu")
def _compact_native(active, *, capacity):
    return _native.spike_compact(active, capacity)


def compact(spikes, capacity: int):
    """``(indices (..., capacity) int32, count (...) int32)`` for ``spikes (..., n)``:
    the positions of the nonzero entries, ascending (slots past ``count`` unspecified),
    and how many there are (possibly more than ``capacity``). Not differentiable."""
    check_size("capacity", capacity)
    return _compact(jnp.asarray(spikes) != 0, capacity=capacity)


_INT32_MAX = np.iinfo(np.int32).max


def _append_portable(spikes, buffer, offset):
    active = (spikes != 0).reshape(-1)
    cap = buffer.shape[0]
    count = jnp.cumsum(active, dtype=jnp.int32)
    pos = offset + count - 1
    # inactive or past the capacity: out of bounds (cap + i, unique), dropped
    where = jnp.where(active & (pos < cap), pos, cap + jnp.arange(active.size, dtype=jnp.int32))
    values = jnp.arange(active.size, dtype=jnp.int32)
    buffer = buffer.at[where].set(values, mode="drop", unique_indices=True)
    total = count[-1] if active.size else jnp.int32(0)
    end = jnp.where(offset > _INT32_MAX - total, _INT32_MAX, offset + total)  # saturate
    return buffer, end.astype(jnp.int32)


_append = Kernel("append_spikes", _append_portable, when="bool/float32/float64 spikes")


@_append.register("cpu")
def _append_native(spikes, buffer, offset):
    out_types = (
        jax.ShapeDtypeStruct(buffer.shape, jnp.int32),
        jax.ShapeDtypeStruct((), jnp.int32),
    )
    call = jax.ffi.ffi_call("brainsim_spike_append", out_types, input_output_aliases={1: 0})
    return call(spikes, buffer, offset)


def append_spikes(spikes, buffer, offset):
    r"""Append the positions of the nonzero entries of ``spikes (n,)`` (bool, float32 or
    float64), ascending, to ``buffer (C,) int32`` from slot ``offset`` (int32 scalar):

    $$\text{buffer}[\text{offset} + k] = i_k \quad (\text{offset} + k < C),
    \qquad \text{end} = \text{offset} + \#\{i : \text{spikes}_i \ne 0\}$$

    Returns ``(buffer, end)``. Slots before ``offset`` and from ``end`` on are unchanged;
    ``end`` may exceed ``C`` (the positions that do not fit are dropped): callers compare
    it with ``C`` to detect the overflow. ``end`` saturates at ``2**31 - 1``. Unbatched
    (``spikes`` of any shape is flattened), not differentiable."""
    spikes = jnp.asarray(spikes)
    if spikes.dtype not in (jnp.bool_, jnp.float32, jnp.float64):
        spikes = spikes != 0
    buffer = jnp.asarray(buffer)
    if buffer.ndim != 1 or buffer.dtype != jnp.int32:
        raise ValueError(
            f"append_spikes: buffer must be 1-D int32, got {buffer.dtype}{buffer.shape}"
        )
    offset = jnp.asarray(offset, jnp.int32)
    return _append(spikes.reshape(-1), buffer, offset)
