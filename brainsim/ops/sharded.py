"""Neuron-sharded propagation (inside ``jax.shard_map``): the spike exchange of a step,
and a layout seen by one shard.

Each device holds a contiguous block of every population. Once per step, the lists of
the active neurons of every population of every device are all-gathered along the mesh
axis in one collective (``exchange``), which gives every device the spikes of every
population; each device then computes its own block of targets: it regenerates the
active rows of a procedural layout and keeps the targets in its block (``PostShard``), or
propagates through the column block of a stored ``CSR`` layout it holds
(``StoredShard``).
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from ..conn.layouts import CSR, Delayed, Procedural
from .compact import default_capacity
from .event import event_matvec
from .procedural import procedural_matvec_window


def padded(n: int, n_shards: int) -> int:
    """``n`` neurons rounded up to a multiple of ``n_shards``: a population's size in a
    sharded run (its neurons ``[n, padded)`` inert: they never spike, nothing reaches
    them, no recording holds them)."""
    return -(-n // n_shards) * n_shards


def exchange_slots(n: int, capacity: int | None, n_shards: int) -> int:
    """List slots per shard of a population of ``n`` neurons in ``exchange``: the event
    capacity of its projections (``capacity``, or ``None``: ``default_capacity`` of the
    padded population) divided over the ``n_shards`` shards, at least 16, at most a
    shard's neurons."""
    local = padded(n, n_shards) // n_shards
    cap = default_capacity(padded(n, n_shards)) if capacity is None else capacity
    return min(local, max(16, -(-cap // n_shards)))


class PostShard(eqx.Module):
    """``layout`` as seen by the shard ``axis_index(axis)`` of ``n_shards``: presynaptic
    spikes of every shard ``(n_pre,)`` (a population padded to a multiple of
    ``n_shards``: ``ceil(layout.n_pre / n_shards)·n_shards``, as ``exchange`` gives
    them), output its block of ``ceil(layout.n_post / n_shards)`` targets."""

    layout: Procedural  # (its seed an array: a leaf, replicated)
    axis: str = eqx.field(static=True)
    n_shards: int = eqx.field(static=True)

    @property
    def n_pre(self) -> int:
        return padded(self.layout.n_pre, self.n_shards)

    @property
    def n_post(self) -> int:
        return padded(self.layout.n_post, self.n_shards) // self.n_shards


class StoredShard(eqx.Module):
    """A stored ``CSR`` layout as seen by the shard ``axis_index(axis)`` of ``n_shards``:
    ``csr`` holds, for every shard, the synapses onto its block of ``n_post / n_shards``
    targets (every row, targets local to the block, in the full layout's order): arrays
    stacked along a leading shard axis ``(n_shards, ...)``, ``indices`` padded to the
    largest block (``bs.simulate_sharded`` or ``bs.distributed.network`` builds it and
    lays the shard axis over the devices, so inside ``jax.shard_map`` each device sees
    its own block, ``(1, ...)``). Presynaptic spikes: those of every shard ``(n_pre,)``.
    ``weights``: the per-synapse weights cut and stacked the same way, or ``None`` (the
    projection's weight is a scalar). A ``Delayed`` layout's shard also has the delay
    index of every synapse (``group``, cut alike) and the ``delays`` values (ms).

    ``diagonal``: every synapse onto a shard's block of targets comes from the same
    shard's block of sources (e.g. ``OneToOne`` between populations of one size), so a
    run need not exchange the sources' spikes for it (``own_rows``: ``csr`` then holds
    only those rows, ``(n_pre / n_shards, ...)``, and the presynaptic spikes are the
    shard's own; ``bs.simulate_sharded`` makes it so where every projection of a
    population is diagonal)."""

    csr: CSR
    axis: str = eqx.field(static=True)
    n_shards: int = eqx.field(static=True)
    weights: jax.Array | None = None
    group: jax.Array | None = None  # per-synapse delays: ``Delayed.group``, cut alike
    delays: tuple[float, ...] | None = eqx.field(default=None, static=True)
    diagonal: bool = eqx.field(default=False, static=True)

    @property
    def n_pre(self) -> int:
        return self.csr.n_pre

    @property
    def n_post(self) -> int:
        return self.csr.n_post

    def own_rows(self, mesh: Mesh) -> "StoredShard":
        """This ``diagonal`` shard (laid over ``mesh``) with each device's block cut to
        the rows of its own sources: it then propagates the shard's own spikes, with no
        exchange. The rows before a block's own are empty, so its
        row pointers are a slice as they are."""
        if not self.diagonal:
            raise ValueError("StoredShard.own_rows: the shard has synapses across shards")
        w = self.csr.n_pre // self.n_shards
        ptr = np.zeros(w + 1, np.int32)
        template = CSR(w, self.n_post, ptr, np.zeros(0), max_degree=self.csr.max_degree)
        csr = eqx.tree_at(
            lambda c: (c.indptr, c.indices),
            template,
            (_own_rows_cut(mesh, self.axis, w)(self.csr.indptr), self.csr.indices),
        )
        kept = (self.weights, self.group, self.delays)
        return StoredShard(csr, self.axis, self.n_shards, *kept, diagonal=True)

    def flat_weights(self, weight) -> jax.Array:
        """Every synapse's weight, ``weight`` times its per-synapse weight (if any),
        flat in block order ``(n_shards nnz,)``: block ``d`` at ``[d nnz, (d + 1) nnz)``,
        its padding 0 (split over the devices as the blocks are)."""
        real = jnp.arange(self.csr.indices.shape[1]) < self.csr.indptr[:, -1:]
        w = weight if self.weights is None else self.weights * weight
        return jnp.where(real, w, 0.0).astype(jnp.result_type(float)).reshape(-1)

    def local(self) -> CSR | Delayed:
        """This device's block (inside ``jax.shard_map``) as a ``CSR`` of
        ``(n_pre, n_post / n_shards)``, or a ``Delayed`` layout over it."""
        csr = eqx.tree_at(
            lambda c: (c.indptr, c.indices), self.csr, (self.csr.indptr[0], self.csr.indices[0])
        )
        if self.group is None:
            return csr
        return Delayed(csr.n_pre, csr.n_post, csr, self.group[0], self.delays)

    def block(self, weight) -> tuple:
        """This device's block (inside ``jax.shard_map``) as one device's projection
        holds its layout: ``(self.local(), weight)``, the weight ``weight`` times the
        per-synapse weights (if any; in the block's synapse order); ``weight`` ``None``:
        the per-synapse weights themselves, no copy (a product is a new array of every
        synapse, made at every call of a compiled chunk)."""
        if self.weights is not None:
            weight = self.weights[0] if weight is None else self.weights[0] * weight
        return self.local(), weight


@functools.cache
def _own_rows_cut(mesh: Mesh, axis: str, w: int):
    """The compiled cut of ``StoredShard.own_rows``: each device's ``w + 1`` row
    pointers from its own first row (one program per mesh and block size, reused)."""
    spec = P(axis, None)
    first = lambda: jax.lax.axis_index(axis) * w
    cut = lambda ptr: jax.lax.dynamic_slice_in_dim(ptr[0], first(), w + 1)[None]
    return jax.jit(jax.shard_map(cut, mesh=mesh, in_specs=spec, out_specs=spec))


def _words(x) -> jax.Array:
    """``x (m,)`` as int32 words ``(m, k)``, exactly (``_unwords`` inverts it)."""
    size = x.dtype.itemsize
    if size < 4:  # bool, 8- and 16-bit values: exact as int32
        return x.astype(jnp.int32)[:, None]
    return jax.lax.bitcast_convert_type(x, jnp.int32).reshape(x.shape[0], size // 4)


def _unwords(w, dtype) -> jax.Array:
    """The values ``(m,)`` of ``dtype`` of the int32 words ``w (m, k)``."""
    if jnp.dtype(dtype).itemsize < 4:
        return w[:, 0].astype(dtype)
    return jax.lax.bitcast_convert_type(w if w.shape[1] > 1 else w[:, 0], dtype)


def exchange(spikes: dict, axis: str, slots: dict) -> dict:
    """Inside ``jax.shard_map``: the spikes of every shard along ``axis`` of every
    population of ``spikes`` (``{name: this shard's (n_local,)}``), ``{name: (n_shards ·
    n_local,)}`` (shard ``d``'s neurons at ``[d n_local, (d + 1) n_local)``), the same on
    every shard (typed invariant along ``axis``), from one collective.

    Each shard lays its populations end to end and sends its count of active neurons,
    then the indices (in that layout) and values of the first ``Σ slots`` of them, in one
    int32 message of ``1 + Σ slots · (1 + k)`` words (``k`` int32 words per value: 1 for
    values of up to 32 bits), all-gathered once, as NEST exchanges spikes over MPI. If any
    shard had more active neurons than the slots (a synchronous burst), every shard sees
    it in the gathered counts and the step gathers the populations' dense values instead
    (one collective too): no spike is dropped. One list for every population keeps the
    step's operations few (each costs a dispatch, whatever its size)."""
    names = list(spikes)
    n_shards = jax.lax.axis_size(axis)
    words = [_words(spikes[n]) for n in names]
    k = max(w.shape[1] for w in words)
    values = jnp.concatenate([jnp.pad(w, ((0, 0), (0, k - w.shape[1]))) for w in words])
    active = jnp.concatenate([spikes[n] != 0 for n in names])
    n_local, cap = active.shape[0], sum(slots[n] for n in names)
    idx = jnp.nonzero(active, size=cap, fill_value=n_local)[0].astype(jnp.int32)
    sent = values[jnp.minimum(idx, n_local - 1)] * (idx < n_local)[:, None]
    count = jnp.count_nonzero(active).astype(jnp.int32)[None]
    g = jax.lax.all_gather(jnp.concatenate([count, idx, sent.ravel()]), axis, to="invarying")

    def listed():  # every shard's lists, scattered into its block (unused slots dropped)
        at = g[:, 1 : 1 + cap] + (jnp.arange(n_shards, dtype=jnp.int32) * n_local)[:, None]
        at = jnp.where(g[:, 1 : 1 + cap] < n_local, at, n_shards * n_local)
        got = jnp.zeros((n_shards * n_local, k), jnp.int32)
        return got.at[at.ravel()].set(g[:, 1 + cap :].reshape(-1, k), mode="drop")

    def dense():
        return jax.lax.all_gather(values, axis, to="invarying").reshape(-1, k)

    every = jax.lax.cond(jnp.max(g[:, 0]) > cap, dense, listed).reshape(n_shards, n_local, k)
    out, at = {}, 0
    for name, w in zip(names, words, strict=True):
        n, kw = w.shape
        block = every[:, at : at + n, :kw].reshape(n_shards * n, kw)
        out[name] = _unwords(block, spikes[name].dtype)
        at += n
    return out


def sharded_matvec(shard: PostShard, weight, spikes, capacity: int):
    """This shard's block of ``matvec(shard.layout, weight, spikes)``; ``spikes
    (shard.n_pre,)`` those of every shard (``exchange``), no batch axis. Forward only.
    The active rows are regenerated in ascending global order, as on one device, and
    only their targets in this shard's block are added: the block is the full
    product's, bit for bit."""
    if spikes.ndim != 1:
        raise ValueError(f"sharded propagation takes unbatched spikes, got {spikes.shape}")
    j0 = jax.lax.axis_index(shard.axis) * shard.n_post
    return procedural_matvec_window(shard.layout, weight, spikes, capacity, j0, shard.n_post)


def stored_sharded_matvec(shard: StoredShard, weight, spikes, capacity: int):
    """This shard's block of ``matvec(full CSR, weight, spikes)``; ``spikes
    (shard.n_pre,)`` those of every shard (``exchange``), no batch axis, ``weight`` a
    scalar (a gain on ``shard.weights`` when the synapses have their own weights).
    Forward only. The spikes go through this shard's block by ``event_matvec``, whose
    rows and targets are in the full layout's order: every target sums the same terms in
    the same order as on one device."""
    return event_matvec(*stored_shard_inputs(shard, weight, spikes, capacity), capacity)


def stored_shard_inputs(shard: StoredShard, weight, spikes, capacity: int | None = None):
    """What this shard propagates, as one device would the whole layout: ``(its block
    (``StoredShard.local``), its weight (``weight`` times its per-synapse weights, if
    any), spikes)``; ``spikes (shard.n_pre,)``: those of every shard (``exchange``).
    ``capacity`` is not used (the spikes are exchanged before, for every projection)."""
    if spikes.ndim != 1:
        raise ValueError(f"sharded propagation takes unbatched spikes, got {spikes.shape}")
    return *shard.block(weight), spikes
