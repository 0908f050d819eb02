"""Several processes, one network, on JAX's multi-controller runtime (``jax.distributed``):
joining the processes, and merging their recordings.

Every process runs the same script. After ``bs.distributed.initialize(...)``,
``jax.devices()`` lists the devices of every process and a mesh over them makes the
sharded run's collectives cross processes (over Gloo on CPUs, NCCL on GPUs). Each
process places, steps and records only the neurons of its own devices; ``network``
builds a network's stored synapses alike, each process only those onto its own
neurons; the recordings of all processes are merged afterwards by ``merge_events``,
and the weights that plastic projections learned (each process holds its own
neurons' synapses) gathered by ``gather_plastic``.
"""

import atexit
import os
import sys
import time

import jax
from jax.sharding import Mesh

from ._shard_network import build_sharded
from ._shard_plastic import gathered
from .monitors import merge_events as merge_events  # (defined with the recordings)
from .network import Network, NetworkState


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout: int = 60,
) -> None:
    """Join the processes of one run: ``jax.distributed.initialize`` with CPU collectives
    over Gloo (JAX's CPU backend has none by default; a no-op choice on GPUs) and bounded
    waits. Call it first in every process, before anything touches a device.
    ``coordinator_address`` (``"host:port"`` of process 0), ``num_processes`` and
    ``process_id``: as ``jax.distributed.initialize`` (``None``: read from SLURM or
    Open MPI). ``timeout`` (s, ≥ 1): how long a process waits for the others to join,
    and how long a process may go silent (it died) before every other process is
    stopped with an error instead of waiting forever. A process that ends on the error
    of a failed collective (a peer died) exits at once (``_exit_if_peer_lost``). On CPUs
    (Linux) it also lowers the priority of Gloo's transport thread (nice 19), which spins
    during collectives and would otherwise take the core from the computation (docs:
    Scaling up)."""
    if not isinstance(timeout, int) or timeout < 1:
        raise ValueError(f"timeout must be an integer number of seconds >= 1, got {timeout!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        initialization_timeout=timeout,
        heartbeat_timeout_seconds=timeout,
        shutdown_timeout_seconds=timeout,
    )
    atexit.register(_exit_if_peer_lost)  # (after JAX's shutdown hook: runs before it)
    if jax.default_backend() == "cpu":  # (makes the backend, and Gloo's thread)
        _calm_gloo()


def _exit_if_peer_lost() -> None:
    """At exit, when this process ends on an unhandled error of a failed collective
    (``_collective_failed``: a peer process died, or left the collective), flush the
    output and exit now with status 1, without running the exit hooks registered before
    ``initialize`` (JAX's among them). Otherwise do nothing.

    Why: JAX's exit hook (``jax.distributed.shutdown``) waits at a barrier of every
    process; a dead one never comes, so the survivor waited until the coordination
    service declared it dead (heartbeat timeout, up to ``timeout`` s after the death)
    and was then aborted (SIGABRT). Its error had been printed already; the wait added
    nothing. A survivor still blocked in a collective is stopped either way: by the
    error of its own collective once its peers are gone (Gloo: connection closed), or
    by the heartbeat timeout."""
    error = getattr(sys, "last_value", None)  # set by the interpreter for an unhandled error
    if error is None or not _collective_failed(error):
        return
    print(
        "brainsim.distributed: exiting on a failed collective without waiting at "
        "jax.distributed's shutdown barrier for a dead process",
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def _collective_failed(error: BaseException) -> bool:
    """Whether ``error`` is a failed cross-process collective: XLA's error of a Gloo
    (CPU) collective whose peer closed or reset the connection, or otherwise failed
    (``"Gloo AllGather failed: ... Connection closed by peer"``)."""
    text = str(error)
    return "Gloo" in text and "failed" in text


def _calm_gloo() -> list[int]:
    """Lower to the least priority (nice 19) this process's Gloo transport thread
    (Linux: the thread waiting in ``epoll_wait(fd, events, 64, 10 ms)``, x86-64 system
    call numbers, Gloo's TCP event loop). Returns its thread ids (none found: ``[]``,
    nothing changed).

    Why: while a collective is under way that thread calls ``epoll_wait`` in a loop
    (measured with ``perf``: 70-90 % of a core during a loop of small all-gathers,
    ~30 % during a simulation); with one core per process it takes the core from the
    thread that computes the step or waits for the data (each all-gather ~3 ms; docs:
    Scaling up). At nice 19 it runs when nothing else of the process can, and the
    all-gather takes ~1 ms."""
    found = set()
    for _ in range(5):  # its 10 ms waits: a few looks find it waiting
        for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ():
            try:
                with open(f"/proc/self/task/{tid}/syscall") as f:
                    call = f.read().split()
            except OSError:
                continue
            if call[:1] in (["232"], ["281"]) and call[3:5] == ["0x40", "0xa"]:
                found.add(int(tid))
        time.sleep(0.002)
    for tid in found:
        os.setpriority(os.PRIO_PROCESS, tid, 19)
    return sorted(found)


def network(
    populations: dict,
    projections=(),
    *,
    key,
    mesh: Mesh | None = None,
    axis: str = "neurons",
) -> Network:
    """``bs.Network(populations, projections, key=key)`` for ``bs.simulate_sharded`` over
    ``mesh`` (default: every device on one axis ``axis``, as ``simulate_sharded``'s), its
    stored connectivity built in every process only onto the neurons of that process's
    devices: no process ever holds the whole matrix. Every process calls it with the
    same arguments; the synapses are those ``bs.Network`` draws from ``key`` (so the
    spikes equal a single-process run's), held as ``bs.ops.StoredShard`` global arrays.

    Stored rules built per process: ``FixedProb``, ``FixedInDegree`` (each process draws
    only the blocks of its own targets), ``FixedTotalNumber`` (per-synapse weights and
    delays included), ``FromEdges`` (each process keeps the edges onto its
    neurons) and ``OneToOne``; procedural ones (``ProceduralFixedOutDegree``) store nothing; any
    other rule, ``Projection(delays=...)`` or components other than ``bs.Plastic`` are a
    ``ValueError``. A ``bs.Plastic`` projection is indexed and initialized by each
    process for its own devices' blocks only (a sleep baseline from every neuron's
    initial total: one all-gather of ``n_post`` values): ``net.init`` gives its weights
    (and per-synapse rule state) in the devices' block order, split over them, and they
    stay so (no process holds them whole; ``gather_plastic`` leaves them as they are).
    A population
    whose size is not a multiple of the number of devices is padded at its end with inert
    neurons in the run (``bs.simulate_sharded``). A process draws every random number of
    a rule (the stream is sequential) but holds only its own synapses, plus O(2^16) per
    thread of temporaries. The network runs with ``simulate_sharded`` (same ``mesh``
    and ``axis``) only."""
    mesh = jax.make_mesh((jax.device_count(),), (axis,)) if mesh is None else mesh
    return build_sharded(populations, projections, key, mesh, axis)


def gather_plastic(
    net: Network, state: NetworkState, *, mesh: Mesh | None = None, axis: str = "neurons"
) -> NetworkState:
    """``state``, the final state of a ``bs.simulate_sharded`` run of ``net`` over
    ``mesh`` (default: every device on one axis ``axis``, as ``simulate_sharded``'s),
    with the plastic weights of every ``bs.Plastic`` projection (and the rest of its
    rule's per-synapse state; with per-synapse delays, its postsynaptic traces) in
    layout order (``state.components[k][0][0].w``, as ``bs.simulate`` returns them) on
    this host. Over several processes each process holds only its own devices' blocks
    of them, in block order (passed back into ``simulate_sharded`` as they are): every
    process calls this (one all-gather per array) and gets them whole; with one process
    they are in layout order already and ``state`` is returned as it is. Projections
    built per process (``network``) have no layout order (no process holds the layout):
    theirs stay in block order, split over the devices (block ``d`` at ``[d nnz, (d + 1)
    nnz)``: the synapses onto device ``d``'s neurons in row order, then padding that is
    no synapse and holds no meaningful value)."""
    mesh = jax.make_mesh((jax.device_count(),), (axis,)) if mesh is None else mesh
    return gathered(net, state, mesh.shape[axis])
