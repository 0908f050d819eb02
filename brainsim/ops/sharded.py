"""Neuron-sharded propagation (inside ``jax.shard_map``): a layout seen by one shard.

Each device holds a contiguous block of every population. Per step the presynaptic
spikes are all-gathered along the mesh axis (one exchange per population and step:
identical gathers of one population are merged by XLA), and each device regenerates the
active rows of a procedural layout and keeps the targets in its own postsynaptic block.
Only procedural layouts can be sharded this way (nothing to distribute).
"""

import equinox as eqx
import jax

from ..conn.layouts import Procedural
from .procedural import procedural_matvec_window


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


def sharded_matvec(shard: PostShard, weight, spikes, capacity: int):
    """This shard's block of ``matvec(shard.layout, weight, all-gathered spikes)``;
    ``spikes (n_pre / n_shards,)`` (no batch axis). Forward only."""
    if spikes.ndim != 1:
        raise ValueError(f"sharded propagation takes unbatched spikes, got {spikes.shape}")
    full = jax.lax.all_gather(spikes, shard.axis, tiled=True)
    j0 = jax.lax.axis_index(shard.axis) * shard.n_post
    return procedural_matvec_window(shard.layout, weight, full, capacity, j0, shard.n_post)
