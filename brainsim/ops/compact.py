"""Compaction of spike vectors into index lists (what a spike recorder stores).

``compact(spikes, capacity)`` gives the positions of the nonzero entries along the last
axis, ascending, in ``capacity`` slots, and their number; slots past the number are
unspecified (the native kernel leaves them unwritten, which halves its cost when the
capacity is large). The
number may exceed ``capacity`` (only the first ``capacity`` positions are kept): callers
compare it with ``capacity`` to detect the overflow. On CPU a native kernel
(``ops/_native/compact.cc``, ~n/64 word tests for a sparse row); elsewhere
``jnp.nonzero(..., size=capacity)`` (the portable path and the test oracle).
"""

import jax
import jax.numpy as jnp

from .._checks import check_size
from . import _native


def _portable(active, capacity):
    n = active.shape[-1]
    flat = active.reshape(-1, n)
    idx = jax.vmap(lambda a: jnp.nonzero(a, size=capacity, fill_value=-1)[0])(flat)
    count = jnp.count_nonzero(flat, axis=-1)
    lead = active.shape[:-1]
    return idx.astype(jnp.int32).reshape(*lead, capacity), count.astype(jnp.int32).reshape(lead)


def compact(spikes, capacity: int):
    """``(indices (..., capacity) int32, count (...) int32)`` for ``spikes (..., n)``:
    the positions of the nonzero entries, ascending (slots past ``count`` unspecified),
    and how many there are (possibly more than ``capacity``). Not differentiable."""
    check_size("capacity", capacity)
    active = jnp.asarray(spikes) != 0
    if not _native.available():
        return _portable(active, capacity)
    return _native.dispatch(
        active,
        cpu=lambda a: _native.spike_compact(a, capacity),
        default=lambda a: _portable(a, capacity),
    )
