"""Neuron-sharded propagation (inside ``jax.shard_map``): a layout seen by one shard.

Each device holds a contiguous block of every population. Per step, each device's list
of active presynaptic neurons is all-gathered along the mesh axis (one exchange per
population and step: identical gathers of one population are merged by XLA), and each
device regenerates the active rows of a procedural layout and keeps the targets in its
own postsynaptic block.
Only procedural layouts can be sharded this way (nothing to distribute).
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from ..conn.layouts import Procedural
from .procedural import procedural_matvec_list, procedural_matvec_window


class PostShard(eqx.Module):
    """``layout`` as seen by the shard ``axis_index(axis)`` of ``n_shards``: presynaptic
    spikes local ``(n_pre / n_shards,)``, output its block ``(n_post / n_shards,)``."""

    layout: Procedural = eqx.field(static=True)
    axis: str = eqx.field(static=True)
    n_shards: int = eqx.field(static=True)

    def __check_init__(self):
        for side in ("n_pre", "n_post"):
            n = getattr(self.layout, side)
            if n % self.n_shards:
                raise ValueError(
                    f"{side}={n} must be a multiple of the number of shards {self.n_shards}"
                )

    @property
    def n_pre(self) -> int:
        return self.layout.n_pre // self.n_shards

    @property
    def n_post(self) -> int:
        return self.layout.n_post // self.n_shards


def _exchange(shard: PostShard, spikes, cap: int):
    """All-gather every shard's compacted spike list (one collective): the global
    indices ``(n_shards·cap,)`` of the active neurons, ascending (``n_pre`` marks an
    empty slot), their spike values, and each shard's number of active neurons."""
    n_local, n_pre = spikes.shape[0], shard.layout.n_pre
    active = spikes != 0
    idx = jnp.nonzero(active, size=cap, fill_value=n_local)[0]
    live = idx < n_local
    offset = jax.lax.axis_index(shard.axis) * n_local
    gidx = jnp.where(live, idx + offset, n_pre).astype(jnp.int32)
    vals = jnp.where(live, spikes[jnp.where(live, idx, 0)], 0)
    count = jnp.count_nonzero(active).astype(jnp.int32)[None]
    if vals.dtype.itemsize == 4:  # pack into one int32 message
        packed = jnp.concatenate([count, gidx, jax.lax.bitcast_convert_type(vals, jnp.int32)])
        g = jax.lax.all_gather(packed, shard.axis).reshape(shard.n_shards, 1 + 2 * cap)
        gvals = jax.lax.bitcast_convert_type(g[:, 1 + cap :], vals.dtype)
        return g[:, 1 : 1 + cap].ravel(), gvals.ravel(), g[:, 0]
    g_count, g_idx, g_vals = jax.lax.all_gather((count, gidx, vals), shard.axis)
    return g_idx.ravel(), g_vals.ravel(), g_count.ravel()


def sharded_matvec(shard: PostShard, weight, spikes, capacity: int):
    """This shard's block of ``matvec(shard.layout, weight, all spikes)``;
    ``spikes (n_pre / n_shards,)`` (this shard's neurons, no batch axis). Forward only.

    Each shard sends the list of its active neurons (at most ``capacity / n_shards``
    slots, at least 16) in one all-gather; the rows are regenerated in ascending global
    order, as on one device. If any shard had more active neurons than slots (a burst),
    every shard knows it from the gathered counts and the step falls back to gathering
    the dense spike vectors: exact in every case, never a dropped spike."""
    if spikes.ndim != 1:
        raise ValueError(f"sharded propagation takes unbatched spikes, got {spikes.shape}")
    layout, n_out = shard.layout, shard.n_post
    cap = min(shard.n_pre, max(16, -(-capacity // shard.n_shards)))
    j0 = jax.lax.axis_index(shard.axis) * n_out
    idx, vals, counts = _exchange(shard, spikes, cap)

    def dense():
        full = jax.lax.all_gather(spikes, shard.axis, tiled=True)
        return procedural_matvec_window(layout, weight, full, capacity, j0, n_out)

    listed = lambda: procedural_matvec_list(layout, weight, idx, vals, j0, n_out)
    return jax.lax.cond(jnp.max(counts) > cap, dense, listed)
