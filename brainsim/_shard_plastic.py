"""Plastic projections (``bs.Plastic``) in ``bs.simulate_sharded``: sharded by
postsynaptic neuron as every stored projection is. Each device holds the synapses onto
its own neurons (a ``bs.ops.StoredShard`` block), their plastic weights (the block's
synapses, in the block's order, padded like the block) and the postsynaptic traces of
its own neurons; the presynaptic traces are kept whole on every device, which steps
them from every shard's spikes (``bs.ops.exchange``), so each device updates its own
synapses from their two neurons with no collective. The rule's column index is the
block's own (``columns`` of the block, built on the host, stacked like the block; its
padding synapses target no neuron, so they count in no neuron's total).
With per-synapse delays (``bs.conn.Delayed``) the rule runs on the block's grouped view
(``bs.plastic.grouped``): a device holds the postsynaptic traces of its own neurons for
every delay group.

What pools over the synapses of several devices goes through ``Plastic.whole`` (one
``psum`` of the values per postsynaptic neuron, each device's put in place): the
modulator of a three-factor rule sees every postsynaptic spike (every device computes
the same reward from the same spikes), and the sleep renormalization of a whole layer
sums its neurons' totals in neuron order, as on one device. Per-neuron pooling
(``Normalized``, sleep toward per-neuron totals) is a device's own: it owns whole
columns, and its block of the per-neuron sleep baseline (``Blocks``).

A rule's state leaves are told apart by their last axis (``_kinds``): presynaptic,
postsynaptic or per synapse. The weights are cut into the devices' block order for a
run (``to_blocks``); over the devices of one process, gathered back into layout order
after it (``from_blocks``); over several processes, each process keeps its own devices'
blocks (a global array, in block order, that the next run takes as it is) and
``gathered`` puts them in layout order on request (``bs.distributed.gather_plastic``)."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import PartitionSpec as P

from ._multihost import agree_max
from .conn.layouts import CSR, ELL, Delayed
from .ops.plastic import Columns, Indexed, _narrowest, columns
from .ops.sharded import StoredShard, padded
from .plastic import Plastic


class Blocks(eqx.Module):
    """An array of one block per device along its leading axis, laid out over the mesh
    as a ``StoredShard``'s blocks are (``local_plastic`` takes its own)."""

    x: jax.Array


def is_plastic(proj) -> bool:
    """Whether ``proj`` has components, all of them ``bs.Plastic`` (then checked)."""
    components = getattr(proj, "components", ())
    if not components or not all(isinstance(c, Plastic) for c in components):
        return False
    if type(proj.conn) not in (CSR, ELL, Delayed, StoredShard):
        raise ValueError(
            f"Projection {proj.name}: sharded runs support Plastic on a CSR, ELL or "
            f"Delayed layout, got {type(proj.conn).__name__}"
        )
    return True


def shard_plastic(proj, shard: StoredShard):
    """``proj`` (its ``Plastic`` components bound to the whole layout, or to an empty
    stand-in of it when built per process: ``build_sharded``) with ``shard`` as its
    connectivity and each component's ``Indexed`` layout that of every block (of
    its grouped view with per-synapse delays: ``bs.plastic.grouped``), stacked along a
    leading shard axis as the block is (``local_plastic`` takes its own); its padding
    synapses target ``n_post`` (no neuron). A per-neuron sleep baseline is cut into
    the devices' blocks (``Blocks``)."""
    n_post, nnz = shard.n_post, shard.csr.indices.shape[1]
    groups = (shard.group,) if shard.group is not None else ()
    if groups:  # synapse s of group g onto j: g n_post + j
        n_post *= len(shard.delays)
    offset_type = _narrowest(shard.csr.max_degree)
    blocks, in_degree = {}, 0  # this process's blocks (of a run over several processes)
    for d, ptr, targets, *group in _own_blocks(shard.csr.indptr, shard.csr.indices, *groups):
        if group:
            targets = group[0].astype(np.int32) * shard.n_post + targets
        targets = np.where(np.arange(nnz) < ptr[-1], targets, n_post)  # padding: no neuron
        c = columns(CSR(shard.n_pre, n_post, ptr, targets[: ptr[-1]]))
        pad = lambda x: np.pad(np.asarray(x), (0, nnz - x.shape[0]))
        cols = (np.asarray(c.indptr), pad(c.pre), pad(c.offset).astype(offset_type))
        blocks[d] = (targets, *cols, ptr)
        in_degree = max(in_degree, c.max_degree)
    in_degree = int(agree_max(np.array([in_degree]))[0])  # the same shapes in every process
    mine = blocks[min(blocks)]  # (any of this process's blocks: the shapes)
    stack = lambda i: jax.make_array_from_callback(
        (shard.n_shards, *mine[i].shape),
        shard.csr.indices.sharding,  # a block per device
        lambda index: blocks[index[0].start or 0][i][None],
    )
    stacked = Columns(shard.n_pre, n_post, stack(1), stack(2), stack(3), in_degree)
    first = CSR(shard.n_pre, n_post, mine[4], mine[0], max_degree=shard.csr.max_degree)
    layout = eqx.tree_at(lambda c: (c.indptr, c.indices), first, (shard.csr.indptr, stack(0)))
    components = []
    for c in proj.components:
        index = Indexed(layout, stacked, c.index.pre_capacity, c.index.post_capacity)
        c = eqx.tree_at(lambda c: c.index, c, index)
        if c.sleep is not None and c.sleep.baseline == "post":  # (n_post,): cut by neuron
            target = np.asarray(c.sleep.target)
            target = np.pad(target, (0, shard.n_post * shard.n_shards - target.size))
            baseline = Blocks(jnp.asarray(target.reshape(shard.n_shards, shard.n_post)))
            c = eqx.tree_at(lambda c: c.sleep.target, c, baseline)
        components.append(dataclasses.replace(c, shard=(shard.axis, proj.conn.n_post)))
    components = tuple(components)
    return eqx.tree_at(lambda p: (p.conn, p.weight, p.components), proj, (shard, 1.0, components))


def with_block_baselines(proj, shard: StoredShard):
    """``proj`` (built per process: its ``Plastic`` components bound to an empty
    stand-in of its layout) with every sleep baseline from the initial weights of
    ``shard``'s blocks: each process sums its own blocks' weights per postsynaptic
    neuron (in the layout's order within a neuron, as one device does) and every
    process gets every neuron's total (one all-gather of ``n_post`` values)
    (``Sleep.with_totals``)."""
    if all(c.sleep is None for c in proj.components):
        return proj
    width, nnz = shard.n_post, shard.csr.indices.shape[1]
    per_synapse = (shard.weights,) if shard.weights is not None else ()
    own = {}  # block: (its neurons' totals, its synapse count)
    for d, ptr, targets, *w in _own_blocks(shard.csr.indptr, shard.csr.indices, *per_synapse):
        real = np.arange(nnz) < ptr[-1]
        weight = proj.weight if not w else jnp.asarray(w[0]) * proj.weight
        w0 = jnp.where(real, weight, 0.0).astype(jnp.result_type(float))
        totals = jax.ops.segment_sum(w0, np.where(real, targets, width), width)
        own[d] = (np.asarray(totals), int(ptr[-1]))
    blocks = sorted(own)
    every = (np.array(blocks), np.stack([own[d][0] for d in blocks]), [own[d][1] for d in blocks])
    if jax.process_count() > 1:
        every = multihost_utils.process_allgather(every)
    ids, totals, counts = np.ravel(every[0]), np.reshape(every[1], (-1, width)), every[2]
    totals = np.concatenate(totals[np.argsort(ids)])[: proj.conn.n_post]
    components = tuple(
        c
        if c.sleep is None
        else eqx.tree_at(lambda c: c.sleep, c, c.sleep.with_totals(totals, int(np.sum(counts))))
        for c in proj.components
    )
    return eqx.tree_at(lambda p: p.components, proj, components)


def _own_blocks(*arrays):
    """``(d, block of each of arrays)`` for every shard ``d`` that this process's
    devices hold of ``arrays`` (global arrays ``(n_shards, ...)`` laid out alike)."""
    parts = [{s.index[0].start or 0: s.data for s in x.addressable_shards} for x in arrays]
    for d in sorted(parts[0]):
        yield d, *(np.asarray(p[d])[0] for p in parts)


def local_plastic(component: Plastic) -> Plastic:
    """Inside ``jax.shard_map``: ``component`` (``shard_plastic``'s) with this device's
    ``Indexed`` block (and block of a per-neuron sleep baseline)."""
    c = eqx.tree_at(lambda c: c.index, component, jax.tree.map(lambda x: x[0], component.index))
    if c.sleep is not None and isinstance(c.sleep.target, Blocks):
        c = eqx.tree_at(lambda c: c.sleep.target, c, c.sleep.target.x[0])
    return c


def _kinds(rule, dtype):
    """The rule state's leaves as ``"pre"``, ``"post"``, ``"synapse"`` (their last axis
    that of the presynaptic, postsynaptic neurons or of the synapses) or ``"scalar"``,
    found from the shapes of a state of three distinct sizes."""
    sizes = {2: "pre", 3: "post", 5: "synapse"}
    shapes = jax.eval_shape(lambda w: rule.init(w, 2, 3), jax.ShapeDtypeStruct((5,), dtype))

    def kind(x):
        if not x.ndim:
            return "scalar"
        if x.shape[-1] not in sizes:
            raise ValueError(
                f"sharded runs: a {type(rule).__name__} state leaf {x} has no neuron axis"
            )
        return sizes[x.shape[-1]]

    return jax.tree.map(kind, shapes)


def _blocks(proj, n_shards: int) -> list[np.ndarray]:
    """For every shard, the layout positions of the synapses onto its block of targets
    (in layout order: the block's own synapse order, ``_column_block``'s)."""
    conn = proj.conn.csr if type(proj.conn) is Delayed else proj.conn
    width = padded(conn.n_post, n_shards) // n_shards
    return [
        np.flatnonzero(np.ravel(np.asarray(conn.indices)) // width == d) for d in range(n_shards)
    ]


def _map_plastic(net, state, n_shards: int, fn):
    """``state`` with ``fn(leaf, kind, where)`` applied to every leaf of the rule state
    of every plastic projection, ``where = (blocks, groups, n_post)``: ``_blocks``, the
    number of delay groups (1 without per-synapse delays) and the padded
    postsynaptic population."""
    components = list(state.components)
    for k, proj in enumerate(net.projections):
        if not is_plastic(proj) or isinstance(proj.conn, StoredShard):
            continue  # (built per process: in block order from the start)
        groups = len(proj.conn.delays) if type(proj.conn) is Delayed else 1
        where = (_blocks(proj, n_shards), groups, padded(proj.conn.n_post, n_shards))
        parts = []
        for c, (rule_state, *rest) in zip(proj.components, components[k], strict=True):
            kinds = _kinds(c.rule, rule_state.w.dtype)
            new = jax.tree.map(lambda x, kind, w=where: fn(x, kind, w), rule_state, kinds)
            parts.append((new, *rest))
        components[k] = tuple(parts)
    return eqx.tree_at(lambda s: s.components, state, tuple(components))


def _blocked(x) -> bool:
    """Whether ``x`` is a global array over the devices of several processes (a leaf of
    the final state of a run over them: in block order already)."""
    return isinstance(x, jax.Array) and not x.is_fully_addressable


def _host(x) -> np.ndarray:
    """The whole value of ``x`` on this host (of a global array over several processes:
    every process's blocks, one all-gather that every process makes)."""
    if _blocked(x):
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))


def to_blocks(net, state, n_shards: int):
    """``state`` with every plastic weight array in the devices' block order: block
    ``d`` (its synapses, padded with zeros to the largest block) at ``[d nnz, (d + 1)
    nnz)``, as ``shard_network`` cuts the layout; with per-synapse delays, every
    postsynaptic trace (``groups`` blocks of ``n_post``, ``bs.plastic.grouped``'s order)
    too: device ``d`` holds ``groups`` blocks of its own neurons. Leaves of a run over
    several processes (``_blocked``) are in block order already: kept."""

    def cut(x, kind, where):
        blocks, groups, n_post = where
        if _blocked(x):
            return x
        x = np.asarray(x)
        pad = lambda y, n: np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, n - y.shape[-1])])
        if kind == "post" and groups > 1:
            lead = x.shape[:-1]
            x = pad(x.reshape(*lead, groups, -1), n_post)
            x = x.reshape(*lead, groups, n_shards, -1)
            return np.moveaxis(x, -2, -3).reshape(*lead, -1)
        if kind != "synapse":
            return x
        nnz = max(b.size for b in blocks)
        return np.concatenate([pad(x[..., b], nnz) for b in blocks], axis=-1)

    return _map_plastic(net, state, n_shards, cut)


def from_blocks(net, state, n_shards: int):
    """``to_blocks`` undone (the weights gathered back into layout order; grouped
    postsynaptic traces back in group order, with the padded population)."""

    def join(x, kind, where):
        blocks, groups, _ = where
        if kind == "post" and groups > 1:
            x = _host(x)
            lead = x.shape[:-1]
            x = np.moveaxis(x.reshape(*lead, n_shards, groups, -1), -3, -2)
            return jnp.asarray(x.reshape(*lead, -1))
        if kind != "synapse":
            return x
        x = _host(x)
        nnz = x.shape[-1] // n_shards
        out = np.zeros(x.shape[:-1] + (sum(b.size for b in blocks),), x.dtype)
        for d, b in enumerate(blocks):
            out[..., b] = x[..., d * nnz : d * nnz + b.size]
        return jnp.asarray(out)

    return _map_plastic(net, state, n_shards, join)


def gathered(net, state, n_shards: int):
    """``state`` (a run's final state over ``n_shards`` devices) with its plastic
    weights in layout order on this host: ``from_blocks`` for a run over several
    processes (an all-gather of each leaf in every process), as it is for one."""
    if not any(_blocked(x) for x in jax.tree.leaves(state)):
        return state  # one process: in layout order already
    return from_blocks(net, state, n_shards)


def plastic_specs(net, state, specs, axis: str):
    """``specs`` (the state's) with the presynaptic leaves of every rule state
    replicated (every device steps them from every shard's spikes), and the modulator's
    state (every device steps it from the same spikes: ``Plastic.whole``)."""
    components = list(specs.components)
    for k, proj in enumerate(net.projections):
        if not is_plastic(proj):
            continue
        parts = []
        for c, (rule_state, *_), (rule_spec, post_spec, modulator) in zip(
            proj.components, state.components[k], components[k], strict=True
        ):
            kinds = _kinds(c.rule, rule_state.w.dtype)
            new = jax.tree.map(lambda s, kind: P() if kind == "pre" else s, rule_spec, kinds)
            parts.append((new, post_spec, jax.tree.map(lambda _: P(), modulator)))
        components[k] = tuple(parts)
    return eqx.tree_at(lambda s: s.components, specs, tuple(components))
