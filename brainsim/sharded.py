"""Run one network across several devices, sharded by neuron, through JAX's own SPMD
runtime (``jax.shard_map`` over a ``jax.sharding.Mesh``).

Every population is split into equal contiguous blocks, one per device, and so is every
state variable (but the presynaptic delay buffers and short-term plasticity, which hold
every shard's spikes). Per step, the devices all-gather the lists of the active neurons
of every presynaptic population in one collective (``bs.ops.exchange``, as NEST
exchanges spikes over MPI; or once per block of ``D`` steps when every delay is at least
``D`` steps, ``bs.exchange_interval``, as NEST exchanges once per minimum delay) and
each computes the input of its own block of targets: by
regenerating the procedural connectivity of the active rows, or through its own block of
a stored CSR layout (``brainsim.ops.sharded``). A population whose every projection is
stored and block-diagonal over the devices (each device's targets receive only from its
own block of sources: a Poisson background ``OneToOne`` onto its own population, as in
the Potjans–Diesmann model) is not exchanged at all: each device propagates its own
block's spikes (``bs.ops.StoredShard.own_rows``). The sums are
formed in the same order as on one device, so the spike trains are the same bit for bit.
For several processes (hosts), call ``bs.distributed.initialize`` in each first: the
default mesh then spans the devices of every process, each process places, steps and
records only its own devices' neurons, and ``bs.distributed.merge_events`` merges the
processes' recordings (docs: Scaling up).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._checks import check_positive, check_size, steps
from ._chunks import chunk_steps as default_chunk_steps
from ._chunks import run_chunks
from ._min_delay import run_blocks
from ._multihost import check_same, local_blocks, place
from ._shard_args import check_random_sources, checked_exchange_every, recorded_populations
from ._shard_network import (
    diagonal_sources,
    local_network,
    mask_padding,
    pad_state,
    shard_network,
)
from ._shard_plastic import from_blocks, plastic_specs, to_blocks
from ._sink import RecordingLayout, RecordingSink
from ._varying import own as _own
from ._varying import varies as _varies
from ._version import __version__
from .delays import DelayState
from .gap_junction import GapJunction
from .monitors import (
    EVENT_DENSITY_HZ,
    Record,
    event_capacity,
    grow_capacity,
    join_events,
    keep_chunk,
    merge_blocks,
)
from .network import Network, NetworkState
from .ops import default_capacity
from .ops.compact import append_spikes
from .ops.sharded import exchange, exchange_slots, padded


def _spec(x, axis):
    """Shard the last (neuron) axis; replicate scalars (delay cursors)."""
    return P(*([None] * (x.ndim - 1)), axis) if x.ndim else P()


def _state_specs(net: Network, state: NetworkState, axis: str, own: frozenset) -> NetworkState:
    """The ``PartitionSpec`` of every leaf of ``state``: neuron, synapse, ring-buffer
    (postsynaptic) and component variables sharded along their neuron axis; the
    presynaptic delay buffers and short-term plasticity states, which take every shard's
    spikes (``bs.ops.exchange``), replicated, but the delay buffers of the populations
    whose spikes stay on their shard (``own``), sharded."""
    shard = lambda tree: jax.tree.map(lambda x: _spec(x, axis), tree)
    whole = lambda tree: jax.tree.map(lambda _: P(), tree)
    delays = tuple(
        whole(d) if isinstance(d, DelayState) and p.pre not in own else shard(d)
        for p, d in zip(net.projections, state.delays, strict=True)
    )
    return NetworkState(
        shard(state.populations),
        shard(state.synapses),
        delays,
        whole(state.stp),
        shard(state.components),
    )


def _slots(net: Network, n_shards: int, own: frozenset) -> dict:
    """``{population: list slots per shard}`` (``bs.ops.exchange_slots``) of every
    population some projection takes spikes from (but those whose spikes stay on their
    shard, ``own``), for the largest event capacity of its projections
    (``Projection.capacity``, or the default one)."""
    caps = {}
    for proj in net.projections:
        if not isinstance(proj, GapJunction) and proj.pre not in own:
            cap = proj.capacity or default_capacity(
                padded(net.populations[proj.pre].size, n_shards)
            )
            caps[proj.pre] = max(caps.get(proj.pre, 0), cap)
    sizes = {name: net.populations[name].size for name in caps}
    return {name: exchange_slots(sizes[name], c, n_shards) for name, c in caps.items()}


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
    capacity: int | None = None,
    stream: RecordingSink | None = None,
    exchange_every: int | None = None,
    record=None,
) -> tuple[NetworkState, dict]:
    """Run ``net`` from ``state`` (made by ``net.init``, unbatched) for ``duration`` ms on
    the devices of ``mesh`` (default: all devices on one axis ``axis``), each holding
    ``1/n_devices`` of every population. Returns the final state (arrays sharded by
    neuron) and the spikes of every population recorded (``record``): a raster
    ``(n_steps, size)`` bool, or ``bs.SpikeEvents`` with ``events=True`` (memory ∝
    spikes: each device appends its own spikes to its own buffer,
    ``bs.ops.append_spikes``; a chunk with more spikes than a buffer holds is run again
    with larger buffers; ``capacity``: the initial spikes per device and chunk, default
    room for 50 Hz). The steps run in compiled chunks of
    ``chunk_steps`` (default: up to 10 000, fewer if a chunk's recordings would exceed
    256 MiB), so device memory stays bounded.

    Needs procedural projections or stored ``CSR``, ``ELL`` (as its rows) or ``Delayed``
    ones without components (each device then holds the synapses onto its own neurons,
    their weights and delays; ``bs.distributed.network`` builds only those) or with
    ``bs.Plastic`` (each device learns its own synapses' weights, what pools over
    neurons, sleep, modulators and ``Normalized``, pooled exactly; the final state holds
    them in layout order, over several processes each process its own blocks: below),
    and
    populations of at least as many neurons as devices; the spikes equal those of
    ``bs.simulate`` on one device. A population whose size is not a multiple of the
    devices is padded at its end with inert neurons that never spike and receive
    nothing; the recordings hold only its own neurons, the final state has the padded
    size (and may be passed back in to go on).

    Several processes (after ``bs.distributed.initialize``; the mesh may span the devices
    of every process): every process calls this with the same arguments (checked first:
    a ``ValueError`` in every process if the networks, states or arguments differ), each
    transfers, steps and records only the neurons of its own devices, and the spikes
    cross processes in the same one collective per step (or per ``exchange_every``
    steps). Spikes must be recorded as events: each process returns the ``SpikeEvents``
    of its own neurons (global indices; ``bs.distributed.merge_events`` joins those of
    every process). The final state's plastic weights stay where they were learned: a
    global array in the devices' block order, each process holding its own blocks, that
    the next call takes as it is; ``bs.distributed.gather_plastic`` puts them in layout
    order.

    ``exchange_every``: steps between two spike exchanges, from 1 (every step) to
    ``bs.exchange_interval(net, dt)`` (the network's smallest delay in steps), which is
    the default: with every delay at least ``D`` steps, the devices step ``D`` times on
    their own, then exchange the ``D`` steps' spikes in one collective of ``D`` times
    the words and deposit them into the delay buffers where they would have gone when
    emitted (as NEST exchanges once per minimum delay). The spikes are the same.

    ``record``: the names of the populations whose spikes are recorded and returned
    (default: every population). Recording a population costs per spike: a Poisson
    background of counts (``bs.PoissonCounts``, e.g. the Potjans–Diesmann model's, where
    most channels count something every step) records far more events than the network's
    neurons spike.

    ``stream``: where each chunk's spikes go instead of memory (``bs.io.HDF5Sink``; one
    sink, so one file, per process: its own neurons); the spikes returned are then the
    file's, read when used. ``bs.io.read_recording([path, ...])`` reads the files of
    every process as one recording."""
    check_positive("dt", dt, "ms")
    n_steps = steps("duration", duration, dt)
    if stream is not None and not isinstance(stream, RecordingSink):
        raise TypeError(
            f"simulate_sharded: stream must be a bs.io.HDF5Sink (a RecordingSink), got {stream!r}"
        )
    net.check_state(state, dt)
    recorded = recorded_populations(net, record)
    every = checked_exchange_every(net, dt, exchange_every)
    mesh = jax.make_mesh((jax.device_count(),), (axis,)) if mesh is None else mesh
    one_process = all(d.process_index == jax.process_index() for d in mesh.devices.flat)
    if not events and not one_process:
        raise ValueError(
            "simulate_sharded over the devices of several processes records each process's "
            "own neurons: pass events=True (and merge with bs.distributed.merge_events)"
        )
    check_random_sources(net, state)
    if jax.process_count() > 1:  # (the layouts' repr costs ~4 ms each)
        check_same(
            "the networks, states or simulate_sharded arguments",
            __version__,
            {name: pop.size for name, pop in net.populations.items()},
            [repr(p.conn) for p in net.projections],
            net,
            state,
            (duration, dt, t0, chunk_steps, events, capacity, every),
        )
    arrays, static, net_specs = shard_network(net, mesh, axis)
    sharded = eqx.combine(arrays, static)  # spikes that stay on their shard: not exchanged
    unexchanged = frozenset(diagonal_sources(sharded.populations, sharded.projections))
    n_shards = mesh.shape[axis]
    state = pad_state(to_blocks(net, state, n_shards), n_shards)
    specs = plastic_specs(net, state, _state_specs(net, state, axis, unexchanged), axis)
    state = jax.tree.map(lambda x, s: place(x, NamedSharding(mesh, s)), state, specs)
    if chunk_steps is None:
        # a boolean raster per step, or the counts and the default event buffer
        per = 4 * EVENT_DENSITY_HZ * dt * 1e-3 if events else 1.0
        bytes_per_step = sum(net.populations[name].size for name in recorded) * per
        chunk_steps = default_chunk_steps(n_steps, 1, bytes_per_step)
    check_size("chunk_steps", chunk_steps)
    if capacity is not None:
        check_size("capacity", capacity)
    sizes = {name: pop.size for name, pop in net.populations.items()}
    local_size = {name: padded(n, n_shards) // n_shards for name, n in sizes.items()}
    pads = {name: n for name, n in sizes.items() if n % n_shards}
    slots = _slots(net, n_shards, unexchanged)
    blocks = every > 1 and bool(slots)  # exchanges in blocks of `every` steps

    def run(arrays, state, last, i0, length, capacities):
        local = local_network(eqx.combine(arrays, static))
        own = lambda x: _own(x, axis)
        retype = lambda new, old: jax.tree.map(
            lambda x, o: own(x) if _varies(o, axis) else x, new, old
        )

        def one(carry, i, sent):  # step i, given every shard's spikes sent to it
            state, bufs = carry
            t = t0 + i * dt
            pre = {**sent, **{name: state.populations[name].spike for name in unexchanged}}
            new, spikes = local.step(state, None, t=t, dt=dt, presynaptic=pre)
            if pads:  # the padding neurons never spike
                pops, spikes = mask_padding(pads, new.populations, spikes, axis)
                new = eqx.tree_at(lambda s: s.populations, new, pops)
            # each device's own state stays its own (typed varying) whatever computed it
            state = retype(new, state)
            if not events:
                return (state, bufs), {name: spikes[name] != 0 for name in recorded}
            # each device appends the local indices of its own spikes to its own buffer
            new, counts = {}, {}
            for name in recorded:
                s, (buf, end) = spikes[name], bufs[name]
                buf, stop = append_spikes(s, buf, end[0])
                new[name], counts[name] = (own(buf), own(stop[None])), (stop - end[0])[None]
            return (state, new), counts

        def body(carry, i):
            # every shard's spikes of every presynaptic population: one collective
            sent = {name: carry[0].populations[name].spike for name in slots}
            return one(carry, i, exchange(sent, axis, slots) if sent else {})

        bufs = {
            n: (own(jnp.zeros(c, jnp.int32)), own(jnp.zeros(1, jnp.int32))) for n, c in capacities
        }
        if not blocks:
            (state, bufs), out = jax.lax.scan(body, (state, bufs), i0 + jnp.arange(length))
        else:  # one exchange per block of `every` steps
            ((state, bufs), last), out = run_blocks(
                local, one, (state, bufs), last, i0, length, every, run=(slots, axis, dt, retype)
            )
        # the fullest buffer of every device: every process decides alike on a rerun
        most = {n: jax.lax.pmax(end[0], axis) for n, (_, end) in bufs.items()}
        return state, out, bufs, most, last

    buf_specs = {name: (P(axis), P(axis)) for name in recorded} if events else {}
    most_specs = {name: P() for name in recorded} if events else {}
    last_specs = {name: P() for name in slots} if blocks else {}
    out_specs = (
        specs,
        {name: P(None, axis) for name in recorded},
        buf_specs,
        most_specs,
        last_specs,
    )
    # every shard's spikes of the step before the chunk (the blocks' first input)
    last = _gathered(state, mesh, axis, specs, slots) if blocks else {}
    # what a chunk's program depends on besides its length and buffers (its arguments
    # aside): a later call with the same reuses the programs compiled before
    flat = lambda tree: (jax.tree.structure(tree), *jax.tree.leaves(tree))
    depends = (
        *flat(static),
        *flat((net_specs, specs)),
        mesh,
        axis,
        t0,
        dt,
        events,
        every,
        recorded,
        tuple(sorted(pads.items())),
        tuple(sorted(slots.items())),
    )
    capacities = {
        n: event_capacity(Record("spikes", capacity=capacity), local_size[n], chunk_steps, dt)
        for n in recorded
    }
    records = {name: Record("spikes", events=events) for name in recorded}
    if stream is not None:
        shapes = {name: (sizes[name],) for name in recorded}
        ev = frozenset(recorded) if events else frozenset()
        stream.open(RecordingLayout(dt, t0, n_steps, records, shapes, ev))
    kept = {name: {} for name in recorded}

    def run_chunk(done: int, length: int) -> bool:
        nonlocal state, last
        caps = tuple(sorted(capacities.items())) if events else ()
        fn = _program(
            (*depends, length, caps),
            lambda: jax.shard_map(
                lambda a, s, g, i0: run(a, s, g, i0, length, caps),
                mesh=mesh,
                in_specs=(net_specs, specs, last_specs, P()),
                out_specs=out_specs,
            ),
        )
        new_state, out, bufs, most, new_last = fn(arrays, state, last, jnp.int32(done))
        chunk = {}
        if events:
            most = {n: int(m) for n, m in most.items()}
            grown = {
                n: grow_capacity(most[n], local_size[n] * length)
                for n in recorded
                if most[n] > capacities[n]
            }
            if grown:  # a device had more spikes than its buffer: run the chunk again
                capacities.update(grown)
                return False
            for name in recorded:
                buf, end = bufs[name]
                chunk[name] = merge_blocks(
                    local_blocks(buf),
                    local_blocks(end),
                    local_blocks(out[name]),
                    done,
                    local_size[name],
                    sizes[name],
                )
                capacities[name] = max(
                    capacities[name], grow_capacity(most[name], local_size[name] * chunk_steps)
                )
        else:
            chunk.update({n: x[:, : sizes[n]] for n, x in jax.device_get(out).items()})
        if stream is not None:
            stream.append(done, length, {n: {"spikes": x} for n, x in chunk.items()})
        else:
            for name, x in chunk.items():
                keep_chunk(kept[name], "spikes", x, done, n_steps)
        state, last = new_state, new_last
        return True

    try:
        run_chunks(n_steps, chunk_steps, run_chunk, progress=False)
    finally:
        streamed = stream.close() if stream is not None else None
    if one_process:  # (over several, each process keeps its own blocks)
        state = from_blocks(net, state, n_shards)  # plastic weights in layout order
    if streamed is not None:
        return state, {n: streamed[n]["spikes"] for n in recorded}
    if events:
        return state, {n: join_events(kept[n].get("spikes", []), sizes[n]) for n in recorded}
    empty = lambda k: np.zeros((0, k), bool)
    return state, {n: kept[n].get("spikes", empty(sizes[n])) for n in recorded}


_PROGRAMS: dict = {}  # the chunk programs of the last calls, by what they depend on
_KEEP = 16


def _program(key: tuple, build):
    """``jax.jit(build())``, the same function object (so its compiled program) for the
    same ``key`` as a recent call's (the last ``_KEEP`` kept; a key with an unhashable
    part: a new one)."""
    try:
        hash(key)
    except TypeError:
        return jax.jit(build())
    if key not in _PROGRAMS:
        if len(_PROGRAMS) >= _KEEP:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[key] = jax.jit(build())
    return _PROGRAMS[key]


def _gathered(state: NetworkState, mesh: Mesh, axis: str, specs, slots: dict) -> dict:
    """Every shard's ``spike`` of every population of ``slots`` (one exchange), as
    global arrays replicated over ``mesh``."""
    spikes = {n: state.populations[n].spike for n in slots}
    in_specs = {n: specs.populations[n].spike for n in slots}
    fn = jax.shard_map(
        lambda s: exchange(s, axis, slots),
        mesh=mesh,
        in_specs=(in_specs,),
        out_specs={n: P() for n in slots},
    )
    return jax.jit(fn)(spikes)
