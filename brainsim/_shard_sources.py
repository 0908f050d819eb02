"""A random spike source as one shard of ``bs.simulate_sharded`` sees it: the spikes of
its own block of the one-device draw."""

import equinox as eqx
import jax
import jax.numpy as jnp

from ._random import is_threefry
from .neurons import AbstractNeuron, PoissonCounts, PoissonSource
from .neurons.sources import poisson_counts_block


class SourceShard(AbstractNeuron):
    """A random spike source (``PoissonSource``, ``PoissonCounts``: its step depends on
    its PRNG key only) as the shard ``axis_index(axis)`` sees it: the spikes of its own
    block of the one-device draw from the same key. ``PoissonCounts`` draw only their
    block (``poisson_counts_block``: each channel's uniform hashes its index), all of a
    network's in one draw (``step_together``), as ``bs.simulate`` draws them; a
    ``PoissonSource`` draws the whole population and keeps its block (O(size) per step
    on every shard). The padding channels of a padded population (``padded``) are masked
    by the run (``mask_padding``)."""

    source: PoissonSource | PoissonCounts
    axis: str = eqx.field(static=True)
    n_shards: int = eqx.field(static=True)

    @property
    def size(self) -> int:
        return self.source.size

    def init(self, key, batch_shape=()):
        return self.source.init(key, batch_shape)

    def step(self, state, drive=None, *, t, dt):
        block = self.step_together((self,), (state,), (drive,), t=t, dt=dt)
        if block is not None:
            return block[0]
        local = state.spike.shape[-1]
        whole = jnp.zeros((*state.spike.shape[:-1], self.size), state.spike.dtype)
        new, spikes = self.source.step(
            eqx.tree_at(lambda s: s.spike, state, whole), drive, t=t, dt=dt
        )
        pad = [(0, 0)] * (spikes.ndim - 1) + [(0, local * self.n_shards - self.size)]
        start = jax.lax.axis_index(self.axis) * local
        mine = jax.lax.dynamic_slice_in_dim(jnp.pad(spikes, pad), start, local, axis=-1)
        return eqx.tree_at(lambda s: s.spike, new, mine), mine

    def step_together(self, populations, states, drives, *, t, dt):
        """Every ``PoissonCounts`` shard's own block in one draw, or ``None`` (then each
        steps alone) if one is not a ``PoissonCounts`` with an unbatched float32 state
        and a threefry key."""
        if not all(
            type(p.source) is PoissonCounts
            and s.spike.ndim == 1
            and s.spike.dtype == jnp.float32
            and is_threefry(s.key)
            for p, s in zip(populations, states, strict=True)
        ):
            return None
        d = jax.lax.axis_index(self.axis)
        firsts = [d * s.spike.shape[-1] for s in states]
        return poisson_counts_block(tuple(p.source for p in populations), states, dt, firsts)
