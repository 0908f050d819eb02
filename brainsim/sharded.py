"""Run one network across several devices, sharded by neuron, through JAX's own SPMD
runtime (``jax.shard_map`` over a ``jax.sharding.Mesh``).

Every population is split into equal contiguous blocks, one per device, and so is every
state variable. Per step, each device all-gathers the presynaptic spikes (one exchange
per population, as NEST exchanges spikes over MPI), regenerates the procedural
connectivity of the active rows and keeps the targets in its own block
(``brainsim.ops.sharded``). The sums are formed in the same order as on one device, so
the spike trains are the same bit for bit. For several hosts, call
``jax.distributed.initialize()`` in each process first and pass a mesh over
``jax.devices()`` (see docs/scaling.md).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._checks import check_positive, check_size, steps
from .conn.layouts import Procedural
from .monitors import join_events, to_events
from .network import Network, NetworkState
from .ops.sharded import PostShard
from .simulate import _CHUNK_BYTES, _chunk_steps


def _local_network(net: Network, axis: str, n_shards: int) -> Network:
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
        if not isinstance(proj.conn, Procedural):
            raise ValueError(
                f"Projection {proj.name}: sharded runs need procedural connectivity "
                f"(e.g. bs.conn.ProceduralFixedOutDegree), got {type(proj.conn).__name__}"
            )
        projections.append(
            eqx.tree_at(lambda p: p.conn, proj, PostShard(proj.conn, axis, n_shards))
        )
    return eqx.tree_at(lambda n: n.projections, net, tuple(projections))


def _spec(x, axis):
    """Shard the last (neuron) axis; replicate scalars (delay cursors)."""
    return P(*([None] * (x.ndim - 1)), axis) if x.ndim else P()


def simulate_sharded(
    net: Network,
    state: NetworkState,
    duration: float,
    dt: float = 0.1,
    *,
    mesh: Mesh | None = None,
    axis: str = "neurons",
    t0: float = 0.0,
    chunk_steps: int | None = None,
    events: bool = False,
) -> tuple[NetworkState, dict]:
    """Run ``net`` from ``state`` (made by ``net.init``, unbatched) for ``duration`` ms on
    the devices of ``mesh`` (default: all devices on one axis ``axis``), each holding
    ``1/n_devices`` of every population. Returns the final state (arrays sharded by
    neuron) and every population's spikes: a raster ``(n_steps, size)`` bool, or
    ``bs.SpikeEvents`` with ``events=True`` (host memory ∝ spikes). The steps run in
    compiled chunks of ``chunk_steps`` (default: up to 10 000, fewer if a chunk's rasters
    would exceed 256 MiB), so device memory stays bounded.

    Needs procedural projections and population sizes that are multiples of the number of
    devices; the spikes equal those of ``bs.simulate`` on one device."""
    check_positive("dt", dt, "ms")
    n_steps = steps("duration", duration, dt)
    net.check_state(state, dt)
    mesh = jax.make_mesh((jax.device_count(),), (axis,)) if mesh is None else mesh
    local = _local_network(net, axis, mesh.shape[axis])
    specs = jax.tree.map(lambda x: _spec(x, axis), state)
    state = jax.device_put(state, jax.tree.map(lambda s: NamedSharding(mesh, s), specs))
    if chunk_steps is None:
        bytes_per_step = sum(pop.size for pop in net.populations.values())
        chunk_steps = _chunk_steps(n_steps, 1, _CHUNK_BYTES / max(bytes_per_step, 1))
    check_size("chunk_steps", chunk_steps)

    def run(state, i0, length):
        def body(state, i):
            t = t0 + i * dt
            state, spikes = local.step(state, None, t=t, dt=dt)
            return state, {name: s != 0 for name, s in spikes.items()}

        return jax.lax.scan(body, state, i0 + jnp.arange(length))

    out_specs = (specs, {name: P(None, axis) for name in net.populations})
    compiled = {}
    pieces = {name: [] for name in net.populations}
    done = 0
    while done < n_steps:
        length = min(chunk_steps, n_steps - done)
        if length not in compiled:
            fn = jax.shard_map(
                lambda s, i0, length=length: run(s, i0, length),
                mesh=mesh,
                in_specs=(specs, P()),
                out_specs=out_specs,
            )
            compiled[length] = jax.jit(fn)
        state, spikes = compiled[length](state, jnp.int32(done))
        for name, s in jax.device_get(spikes).items():
            pieces[name].append(to_events(s, done) if events else s)
        done += length
    if events:
        return state, {n: join_events(p, net.populations[n].size) for n, p in pieces.items()}
    return state, {
        n: np.concatenate(p) if p else np.zeros((0, net.populations[n].size), bool)
        for n, p in pieces.items()
    }
