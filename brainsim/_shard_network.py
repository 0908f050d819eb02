"""A network as its shards see it in ``bs.simulate_sharded``: every population split
into equal contiguous blocks of neurons, one per device of the mesh axis, and every
projection's connectivity wrapped so that a device computes its own block of targets
(``bs.ops.PostShard`` for procedural layouts, ``bs.ops.StoredShard`` for stored CSR
ones and their per-synapse weights, of which each process cuts only the blocks of its
own devices)."""

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._multihost import agree_max, place
from .conn.layouts import CSR, Procedural
from .network import Network
from .ops.sharded import PostShard, StoredShard


def _column_block(indptr: np.ndarray, indices: np.ndarray, lo: int, hi: int):
    """The synapses of a CSR onto targets ``[lo, hi)``: ``(indptr, targets - lo, their
    positions in the full layout)``, every row's targets in their full-layout order."""
    keep = (indices >= lo) & (indices < hi)
    kept = np.concatenate([[0], np.cumsum(keep)])
    return kept[indptr], (indices[keep] - lo).astype(np.int32), np.flatnonzero(keep)


def _stored_shard(csr: CSR, weights, mesh: Mesh, axis: str) -> StoredShard:
    """``csr`` (and its per-synapse ``weights``, or ``None``) cut into the column blocks
    of the devices along ``axis``; this process cuts only its own devices' blocks,
    padded to the largest block of every process."""
    n_shards, width = mesh.shape[axis], csr.n_post // mesh.shape[axis]
    devices = list(mesh.devices.flat)
    mine = [d for d, dev in enumerate(devices) if dev.process_index == jax.process_index()]
    indptr, indices = np.asarray(csr.indptr), np.asarray(csr.indices)
    blocks = {d: _column_block(indptr, indices, d * width, (d + 1) * width) for d in mine}
    local = [(b[2].size, int(np.diff(b[0]).max(initial=0))) for b in blocks.values()]
    nnz, degree = agree_max(np.max(local, axis=0))
    pad = lambda x: np.pad(x, (0, nnz - x.size))
    sharding = NamedSharding(mesh, P(axis, None))
    stack = lambda shape, part: jax.make_array_from_callback(
        shape, sharding, lambda index: part(index[0].start or 0)[None]
    )
    first = blocks[mine[0]]
    template = CSR(csr.n_pre, width, first[0], pad(first[1]), max_degree=degree)
    stacked = eqx.tree_at(
        lambda c: (c.indptr, c.indices),
        template,
        (
            stack((n_shards, csr.n_pre + 1), lambda d: blocks[d][0].astype(np.int32)),
            stack((n_shards, nnz), lambda d: pad(blocks[d][1])),
        ),
    )
    if weights is not None:
        w = np.asarray(weights)
        weights = stack((n_shards, nnz), lambda d: pad(w[blocks[d][2]]))
    return StoredShard(stacked, axis, n_shards, weights)


def shard_network(net: Network, mesh: Mesh, axis: str):
    """``net`` as its shards along ``axis`` see it, as ``(arrays, static, specs)``
    (``eqx.combine(arrays, static)`` is the network): its arrays global (``place``d
    over ``mesh``) and the ``PartitionSpec`` of each (the stored blocks split along
    their shard axis, everything else replicated)."""
    n_shards = mesh.shape[axis]
    for name, pop in net.populations.items():
        if pop.size % n_shards:
            raise ValueError(
                f"population {name!r} has {pop.size} neurons, not a multiple of the "
                f"{n_shards} devices"
            )
        if any(x.ndim for x in jax.tree.leaves(eqx.filter(pop, eqx.is_array))):
            raise ValueError(
                f"population {name!r} has per-neuron parameter arrays; sharded runs "
                "support scalar parameters only"
            )
    projections = []
    for proj in net.projections:
        if isinstance(proj.conn, Procedural):
            conn = PostShard(proj.conn, axis, n_shards)
        elif type(proj.conn) is CSR and not proj.components:
            # per-synapse weights move into the shard (cut like the targets); gain 1
            per_synapse = jax.numpy.ndim(proj.weight) > 0
            weights = proj.weight if per_synapse else None
            conn = _stored_shard(proj.conn, weights, mesh, axis)
            if per_synapse:
                proj = eqx.tree_at(lambda p: p.weight, proj, 1.0)
        else:
            raise ValueError(
                f"Projection {proj.name}: sharded runs need procedural connectivity "
                "(e.g. bs.conn.ProceduralFixedOutDegree) or a stored CSR layout "
                "(FixedProb, FixedInDegree, FixedTotalNumber without delays, FromEdges) "
                f"without components, got {type(proj.conn).__name__}"
            )
        projections.append(eqx.tree_at(lambda p: p.conn, proj, conn))
    local = eqx.tree_at(lambda n: n.projections, net, tuple(projections))
    arrays, static = eqx.partition(local, eqx.is_array)
    is_shard = lambda x: isinstance(x, StoredShard)
    specs = jax.tree.map(
        lambda x: jax.tree.map(lambda _: P(axis), x) if is_shard(x) else P(),
        arrays,
        is_leaf=is_shard,
    )
    arrays = jax.tree.map(lambda x, s: place(x, NamedSharding(mesh, s)), arrays, specs)
    return arrays, static, specs
