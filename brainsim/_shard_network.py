"""A network as its shards see it in ``bs.simulate_sharded``: every population split
into equal contiguous blocks of neurons, one per device of the mesh axis (padded at its
end with inert neurons to a multiple of the devices: ``padded``), and every
projection's connectivity wrapped so that a device computes its own block of targets
(``bs.ops.PostShard`` for procedural layouts, ``bs.ops.StoredShard`` for stored CSR
ones and their per-synapse weights, of which each process cuts only the blocks of its
own devices; ``SourceShard`` for Poisson sources); and a network whose stored
projections each process builds only for its own devices (``build_sharded``,
``bs.distributed.network``)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._checks import check_finite
from ._multihost import agree_max, place
from ._random import fold_in
from ._shard_plastic import (
    Blocks,
    is_plastic,
    local_plastic,
    shard_plastic,
    with_block_baselines,
)
from ._shard_sources import SourceShard
from .conn.builders import AbstractBuilder, ProceduralFixedOutDegree
from .conn.layouts import CSR, ELL, Delayed, Procedural
from .gap_junction import GapJunction
from .network import Network
from .neurons import PoissonCounts, PoissonSource
from .ops.plastic import Indexed
from .ops.sharded import PostShard, StoredShard, padded
from .plastic import Plastic


def pad_state(state, n_shards: int):
    """``state`` (a ``bs.NetworkState``, unbatched) with every neuron axis (the last
    axis of every array leaf that has one) padded to a multiple of ``n_shards``: a
    population's variables by repeating its last neuron's (valid values of its model),
    its ``spike`` and every projection's variables (synaptic, delay buffers) by zeros.
    Leaves padded already (a sharded run's final state) stay as they are."""

    def pad(x, mode: str):
        if x is None or not x.ndim or not x.shape[-1] % n_shards:
            return x
        extra = padded(x.shape[-1], n_shards) - x.shape[-1]
        return np.pad(np.asarray(x), [(0, 0)] * (x.ndim - 1) + [(0, extra)], mode=mode)

    pops = {}
    for name, pop_state in state.populations.items():
        spike = pad(pop_state.spike, "constant")
        pop_state = jax.tree.map(lambda x: pad(x, "edge"), pop_state)
        pops[name] = eqx.tree_at(lambda s: s.spike, pop_state, spike)
    rest = jax.tree.map(
        lambda x: pad(x, "constant"), eqx.tree_at(lambda s: s.populations, state, {})
    )
    return eqx.tree_at(lambda s: s.populations, rest, pops)


def mask_padding(sizes: dict, state_pops: dict, spikes: dict, axis: str):
    """Inside ``jax.shard_map``: the spikes of the padding neurons of every population
    (``sizes``: ``{name: its real size}``, only those padded) zeroed, in the step's
    ``spikes`` and in the population states' ``spike`` (what the next step delivers)."""
    state_pops, spikes = dict(state_pops), dict(spikes)
    for name, n in sizes.items():
        local = spikes[name].shape[-1]
        real = jax.lax.axis_index(axis) * local + jnp.arange(local) < n
        keep = lambda x, real=real: jnp.where(real, x, jnp.zeros_like(x))
        spikes[name] = keep(spikes[name])
        state_pops[name] = eqx.tree_at(
            lambda s: s.spike, state_pops[name], keep(state_pops[name].spike)
        )
    return state_pops, spikes


def local_network(net: Network) -> Network:
    """Inside ``jax.shard_map``: ``net`` (``shard_network``'s) as this device's network,
    every ``StoredShard`` projection holding its own block as an ordinary layout and
    weight (``StoredShard.block``), so that ``Network.step`` steps it as it steps one
    device's network: the stored projections of a step in one fused call, the rings in
    one (``ring_step_many``), the LIF populations with their synapses fused."""
    projections = []
    for p in net.projections:
        if isinstance(p.conn, StoredShard):
            block = p.conn.block(p.weight)
            p = eqx.tree_at(lambda p: (p.conn, p.weight), p, block, is_leaf=lambda x: x is None)
            if p.components:  # Plastic (shard_plastic): the block's own column index
                local = tuple(local_plastic(c) for c in p.components)
                p = eqx.tree_at(lambda p: p.components, p, local)
        projections.append(p)
    return eqx.tree_at(lambda n: n.projections, net, tuple(projections))


def _column_block(indptr: np.ndarray, indices: np.ndarray, lo: int, hi: int):
    """The synapses of a CSR onto targets ``[lo, hi)``: ``(indptr, targets - lo, their
    positions in the full layout)``, every row's targets in their full-layout order.
    Where every synapse is in the block (one device's block of one process): the
    arrays themselves (no copy; positions: every one, ``slice(None)``)."""
    if not indices.size or (indices.min() >= lo and indices.max() < hi):
        targets = indices if lo == 0 else indices - np.int32(lo)
        return indptr, targets.astype(np.int32, copy=False), slice(None)
    keep = (indices >= lo) & (indices < hi)
    kept = np.concatenate([[0], np.cumsum(keep)])
    return kept[indptr], (indices[keep] - lo).astype(np.int32), np.flatnonzero(keep)


def _rows(layout: CSR | ELL) -> CSR:
    """``layout`` as a ``CSR`` (an ``ELL`` layout's fixed out-degree rows, in order)."""
    if isinstance(layout, CSR):
        return layout
    n, k = layout.indices.shape
    return CSR(layout.n_pre, layout.n_post, np.arange(n + 1) * k, np.ravel(layout.indices))


def _my_shards(mesh: Mesh, axis: str) -> list[int]:
    """The positions along ``axis`` of this process's devices (``mesh`` one-dimensional)."""
    devices = list(mesh.devices.flat)
    return [d for d, dev in enumerate(devices) if dev.process_index == jax.process_index()]


def _stored_shard(
    n_pre, n_post, rows, weights, mesh: Mesh, axis: str, group=None, delays=None
) -> StoredShard:
    """The synapses ``rows = (indptr, targets, lo)`` onto targets ``[lo, ...)`` (all the
    targets of this process's devices, counted from ``lo``; and their per-synapse
    ``weights``, or ``None``; with per-synapse delays, their delay index ``group`` and
    the ``delays`` values) cut into the column blocks of this process's devices along
    ``axis``, padded to the largest block of every process. Both populations padded
    (``padded``): empty rows for the padding sources, no synapse onto padding targets."""
    n_shards = mesh.shape[axis]
    width, rows_pad = padded(n_post, n_shards) // n_shards, padded(n_pre, n_shards)
    mine = _my_shards(mesh, axis)
    indptr, indices, lo = (np.asarray(rows[0]), np.asarray(rows[1]), rows[2])
    blocks = {}
    for d in mine:
        ptr, targets, where = _column_block(indptr, indices, d * width - lo, (d + 1) * width - lo)
        blocks[d] = (np.pad(ptr, (0, rows_pad - n_pre), mode="edge"), targets, where)
    # (synapses, out-degree, whether a synapse comes from another shard's sources) per block
    w_pre = rows_pad // n_shards
    local = [
        (b[1].size, int(np.diff(b[0]).max(initial=0)), _off_diagonal(b[0], d, w_pre))
        for d, b in blocks.items()
    ]
    nnz, degree, off = agree_max(np.max(local, axis=0))
    pad = lambda x: x if x.size == nnz else np.pad(x, (0, nnz - x.size))
    sharding = NamedSharding(mesh, P(axis, None))
    stack = lambda shape, part: jax.make_array_from_callback(
        shape, sharding, lambda index: part(index[0].start or 0)[None]
    )
    first = blocks[mine[0]]
    # the structure only (its arrays replaced by the stacked blocks: no copy of them)
    template = CSR(rows_pad, width, first[0], first[1][:0], max_degree=degree)
    stacked = eqx.tree_at(
        lambda c: (c.indptr, c.indices),
        template,
        (
            stack((n_shards, rows_pad + 1), lambda d: blocks[d][0].astype(np.int32)),
            stack((n_shards, nnz), lambda d: pad(blocks[d][1])),
        ),
    )
    if weights is not None:
        w = np.asarray(weights, jnp.result_type(float))
        weights = stack((n_shards, nnz), lambda d: pad(w[blocks[d][2]]))
    if group is not None:
        g = np.asarray(group)
        group = stack((n_shards, nnz), lambda d: pad(g[blocks[d][2]]))
    return StoredShard(stacked, axis, n_shards, weights, group, delays, diagonal=not off)


def _off_diagonal(indptr: np.ndarray, d: int, w_pre: int) -> bool:
    """Whether block ``d``'s rows (``indptr``, every padded source's) have a synapse
    from a source outside the block's own ``[d w_pre, (d + 1) w_pre)``."""
    return bool(indptr[d * w_pre] != 0 or indptr[(d + 1) * w_pre] != indptr[-1])


def _check_populations(populations: dict, n_shards: int) -> None:
    for name, pop in populations.items():
        if pop.size < n_shards:
            raise ValueError(
                f"population {name!r} has {pop.size} neurons, fewer than the {n_shards} "
                "devices it would be split over"
            )
        if any(x.ndim for x in jax.tree.leaves(eqx.filter(pop, eqx.is_array))):
            raise ValueError(
                f"population {name!r} has per-neuron parameter arrays; sharded runs "
                "support scalar parameters only"
            )


def build_sharded(populations, projections, key, mesh: Mesh, axis: str) -> Network:
    """``Network(populations, projections, key=key)`` with every stored projection built
    by this process only onto the targets of its own devices along ``axis``
    (``AbstractBuilder.build_window``, from the same key as ``Network`` gives it) and
    held as a ``StoredShard`` of global arrays (each process holding its blocks); a
    ``bs.Plastic`` component's column index too (``shard_plastic``, of its own blocks),
    and its initial weights are those blocks' (``Plastic.init``)."""
    populations = dict(populations)
    n_shards = mesh.shape[axis]
    _check_populations(populations, n_shards)
    mine = _my_shards(mesh, axis)
    stand_ins, windows = [], {}
    for k, proj in enumerate(projections):
        conn = proj.conn
        if not isinstance(conn, AbstractBuilder) or isinstance(conn, ProceduralFixedOutDegree):
            stand_ins.append(proj)  # built whole (procedural: nothing stored), or given
            continue
        plastic = all(isinstance(c, Plastic) for c in proj.components)
        if proj.delays is not None or not plastic:
            raise ValueError(
                f"Projection {proj.name}: a stored projection built per process takes no "
                "delays= (draw them with the rule, e.g. FixedTotalNumber(delays=...)) "
                "or components but bs.Plastic"
            )
        n_pre, n_post = populations[proj.pre].size, populations[proj.post].size
        width = padded(n_post, n_shards) // n_shards  # this process's targets, padding cut
        window = (min(min(mine) * width, n_post), min((max(mine) + 1) * width, n_post))
        sub = None if key is None else fold_in(key, k)
        try:
            indptr, targets, w, *delayed = conn.build_window(
                sub, n_pre, n_post, window, recurrent=proj.pre == proj.post
            )
        except ValueError as e:
            raise ValueError(f"Projection {proj.name}: {e}") from None
        if proj.weight is not None:
            w = None  # the projection's weight replaces the rule's (as Network builds it)
        elif w is None:
            raise ValueError(
                f"Projection {proj.name}: weight is None but {type(conn).__name__}"
                " provides no weights"
            )
        else:
            check_finite(f"Projection {proj.name}: weight", w)
        windows[k] = (n_pre, n_post, (indptr, targets, window[0]), w, *delayed)
        empty = CSR(n_pre, n_post, np.zeros(n_pre + 1, np.int64), np.zeros(0, np.int32))
        if delayed:  # a stand-in with the delay values (the ring buffer's depth)
            empty = Delayed(n_pre, n_post, empty, np.zeros(0, np.uint8), delayed[1])
        weight = 1.0 if w is not None else proj.weight
        stand_ins.append(
            eqx.tree_at(
                lambda p: (p.conn, p.weight), proj, (empty, weight), is_leaf=lambda x: x is None
            )
        )
    net = Network(populations, stand_ins, key=key)
    built = list(net.projections)
    while windows:  # each window let go once its shard holds it (a padded block is a copy)
        k, (n_pre, n_post, rows, w, *delayed) = windows.popitem()
        shard = _stored_shard(n_pre, n_post, rows, w, mesh, axis, *delayed)
        del rows, w, delayed
        if built[k].components:  # each process indexes its own blocks; weights: Plastic.init
            plastic = shard_plastic(with_block_baselines(built[k], shard), shard)
            built[k] = eqx.tree_at(lambda p: p.components, built[k], plastic.components)
        built[k] = eqx.tree_at(lambda p: p.conn, built[k], shard)
    return eqx.tree_at(lambda n: n.projections, net, tuple(built))


def _without_gain(proj, shard: StoredShard) -> tuple:
    """``(proj, shard)`` with the projection's gain (its scalar ``weight``) taken into
    the shard's per-synapse weights and the gain ``None``, so that the run's program
    propagates with the stored weights themselves (``StoredShard.block``): a product
    computed in the program would be a new array of every synapse at each chunk (at
    Potjans–Diesmann's full scale 1.2 GB per chunk, mapped and zeroed by the kernel:
    most of a chunk's system time). The gain that ``build_sharded`` leaves is 1: no
    multiplication, the same weights bit for bit; another is multiplied in once here."""
    gain = proj.weight
    if not np.all(np.asarray(gain) == 1):
        shard = eqx.tree_at(lambda s: s.weights, shard, jax.jit(jnp.multiply)(shard.weights, gain))
    proj = eqx.tree_at(
        lambda p: (p.conn, p.weight), proj, (shard, None), is_leaf=lambda x: x is None
    )
    return proj, shard


def diagonal_sources(populations, projections) -> set[str]:
    """The populations whose every projection is a ``diagonal`` stored shard without
    short-term plasticity or components (each shard's targets take only its own
    sources' spikes): ``own_rows`` of theirs, and no exchange of their spikes."""
    outgoing = {name: [] for name in populations}
    for p in projections:
        if not isinstance(p, GapJunction):
            outgoing[p.pre].append(p)
    local = lambda p: (
        isinstance(p.conn, StoredShard) and p.conn.diagonal and p.stp is None and not p.components
    )
    return {name for name, ps in outgoing.items() if ps and all(map(local, ps))}


def shard_network(net: Network, mesh: Mesh, axis: str):
    """``net`` as its shards along ``axis`` see it, as ``(arrays, static, specs)``
    (``eqx.combine(arrays, static)`` is the network): its arrays global (``place``d
    over ``mesh``) and the ``PartitionSpec`` of each (the stored blocks split along
    their shard axis, everything else replicated)."""
    n_shards = mesh.shape[axis]
    _check_populations(net.populations, n_shards)
    projections = []
    for proj in net.projections:
        if isinstance(proj.conn, StoredShard):  # built per process (build_sharded)
            if (proj.conn.axis, proj.conn.n_shards) != (axis, n_shards):
                raise ValueError(
                    f"Projection {proj.name}: built for {proj.conn.n_shards} shards along "
                    f"{proj.conn.axis!r}, run on {n_shards} along {axis!r}"
                )
            conn = proj.conn
            if conn.weights is not None and not proj.components:
                proj, conn = _without_gain(proj, conn)
        elif isinstance(proj.conn, Procedural):
            conn = PostShard(proj.conn, axis, n_shards)
        elif is_plastic(proj) or (type(proj.conn) in (CSR, Delayed, ELL) and not proj.components):
            # per-synapse weights move into the shard (cut like the targets); gain 1;
            # plastic ones are state (cut by the run: to_blocks)
            per_synapse = jax.numpy.ndim(proj.weight) > 0 and not proj.components
            weights = jnp.ravel(proj.weight) if per_synapse else None
            delayed = isinstance(proj.conn, Delayed)
            csr = proj.conn.csr if delayed else _rows(proj.conn)
            rows = (csr.indptr, csr.indices, 0)
            by_delay = (proj.conn.group, proj.conn.delays) if delayed else ()
            conn = _stored_shard(csr.n_pre, csr.n_post, rows, weights, mesh, axis, *by_delay)
            if proj.components:
                proj = shard_plastic(proj, conn)
            elif per_synapse:  # (no gain: StoredShard.block)
                proj = eqx.tree_at(lambda p: p.weight, proj, None, is_leaf=lambda x: x is None)
        else:
            raise ValueError(
                f"Projection {proj.name}: sharded runs need procedural connectivity "
                "(e.g. bs.conn.ProceduralFixedOutDegree) or a stored CSR, ELL or Delayed "
                "layout (FixedProb, FixedInDegree, FixedTotalNumber, FromEdges, OneToOne) "
                "without components (but bs.Plastic), got "
                f"{type(proj.conn).__name__}"
            )
        projections.append(eqx.tree_at(lambda p: p.conn, proj, conn))
    own = diagonal_sources(net.populations, projections)
    projections = [
        eqx.tree_at(lambda p: p.conn, p, p.conn.own_rows(mesh))
        if p.pre in own and not isinstance(p, GapJunction)
        else p
        for p in projections
    ]
    sources = {
        name: SourceShard(pop, axis, n_shards)
        if isinstance(pop, PoissonSource | PoissonCounts)
        else pop
        for name, pop in net.populations.items()
    }
    local = eqx.tree_at(
        lambda n: (n.populations, n.projections), net, (sources, tuple(projections))
    )
    arrays, static = eqx.partition(local, eqx.is_array)
    is_shard = lambda x: isinstance(x, StoredShard | Indexed | Blocks)  # (Plastic's)
    specs = jax.tree.map(
        lambda x: jax.tree.map(lambda _: P(axis), x) if is_shard(x) else P(),
        arrays,
        is_leaf=is_shard,
    )
    arrays = jax.tree.map(lambda x, s: place(x, NamedSharding(mesh, s)), arrays, specs)
    return arrays, static, specs
