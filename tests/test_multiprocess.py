"""Multi-process runs (jax.distributed on localhost, Gloo CPU collectives) reproduce the
single-process spike trains; their failures are named errors in every process."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import driven_lif

import brainsim as bs
from brainsim.models.potjans_diesmann import POPULATIONS

ROOT = Path(__file__).resolve().parents[1]

# Each process: 2 host CPU devices. ``import brainsim`` before ``initialize`` is part of
# the test (importing must not start the XLA backend).
CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import brainsim as bs

    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bs.distributed.initialize(f"localhost:{port}", 2, pid, timeout=60)
    import os
    import jax

    # the threads initialize lowered to nice 19 (Gloo's transport thread), and what they wait in
    low = {t: open(f"/proc/self/task/{t}/syscall").read().split()[:5]
           for t in os.listdir("/proc/self/task") if os.getpriority(os.PRIO_PROCESS, int(t)) == 19}
    from jax.sharding import Mesh
    from test_multiprocess import held, weighted_network

    assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
    net = bs.models.coba(800, key=jax.random.key(0), procedural=True)
    state = net.init(jax.random.key(1))
    # 4 shards (2 per process), 8-spike buffers: the first chunk overflows and is rerun;
    # each process streams its own neurons' spikes to its own file
    _, four = bs.simulate_sharded(net, state, 100.0, 0.1, events=True, chunk_steps=500,
                                  capacity=8, stream=bs.io.HDF5Sink(f"{out}/four{pid}.h5"))
    # stored FixedProb (CSR) built whole by every process (bs.Network) and cut: 2 shards,
    # one device per process, each holding the synapses onto its block
    firsts = [next(d for d in jax.devices() if d.process_index == p) for p in (0, 1)]
    one_each = Mesh(np.array(firsts), ("neurons",))
    whole = bs.models.coba(800, key=jax.random.key(0))
    _, two = bs.simulate_sharded(whole, state, 100.0, 0.1, events=True, mesh=one_each)
    # the same synapses built per process (bs.distributed.network): 4 shards
    own = bs.models.coba(800, key=jax.random.key(0), network=bs.distributed.network)
    _, csr = bs.simulate_sharded(own, own.init(jax.random.key(1)), 100.0, 0.1, events=True)
    # per-synapse weights and delays (FixedTotalNumber), built per process
    weighted = weighted_network(bs.distributed.network)
    _, w = bs.simulate_sharded(weighted, weighted.init(jax.random.key(3)), 100.0, 0.1,
                               events=True)
    np.savez(f"{out}/p{pid}.npz", **{
        f"{tag}_{p}_{k}": np.asarray(getattr(e, k))
        for tag, ev in (("four", four), ("two", two), ("csr", csr), ("w", w))
        for p, e in ev.items()
        for k in ("steps", "neurons")})
    errors = {}
    for tag, call in {
        "seed": lambda: bs.simulate_sharded(net, net.init(jax.random.key(1 + pid)), 1.0,
                                            events=True),
        "raster": lambda: bs.simulate_sharded(net, state, 1.0),
    }.items():
        try:
            call()
            errors[tag] = None
        except ValueError as e:
            errors[tag] = str(e)
    print(json.dumps({"errors": errors, "held": {"csr": held(own), "w": held(weighted)},
                      "low": low}))
    """
)


# 4 processes, one device each: COBA with its stored synapses built per process; then
# process 3 dies and every other process must stop with an error, not wait forever.
FOUR = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import brainsim as bs

    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bs.distributed.initialize(f"localhost:{port}", 4, pid, timeout=20)
    import jax
    from test_multiprocess import held

    assert jax.process_count() == 4 and jax.device_count() == 4, jax.devices()
    own = bs.models.coba(800, key=jax.random.key(0), network=bs.distributed.network)
    state = own.init(jax.random.key(1))
    _, ev = bs.simulate_sharded(own, state, 100.0, 0.1, events=True)
    np.savez(f"{out}/p{pid}.npz", **{
        f"{p}_{k}": np.asarray(getattr(e, k)) for p, e in ev.items()
        for k in ("steps", "neurons")})
    print(json.dumps(held(own)), flush=True)
    if pid == 3:
        os._exit(3)
    try:
        bs.simulate_sharded(own, state, 1000.0, 0.1, events=True)
        print("finished")
    except Exception as e:
        print("error:", type(e).__name__, e)
        raise
    """
)


# Potjans-Diesmann (populations of 12 to 219 neurons: padded) and a FixedInDegree network
# with stored synapses built per process, as 2 processes of 4 devices each: 8 shards.
PADDED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import brainsim as bs

    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bs.distributed.initialize(f"localhost:{port}", 2, pid, timeout=120)
    import jax
    from test_multiprocess import held, in_degree_network, microcircuit

    assert jax.process_count() == 2 and jax.device_count() == 8, jax.devices()
    pd = microcircuit(bs.distributed.network)
    _, ev = bs.simulate_sharded(pd, pd.init(jax.random.key(1)), 100.0, 0.1, events=True)
    fid = in_degree_network(bs.distributed.network)
    _, fev = bs.simulate_sharded(fid, fid.init(jax.random.key(3)), 100.0, 0.1, events=True)
    np.savez(f"{out}/{pid}.npz", **{
        f"{tag}_{p}_{k}": np.asarray(getattr(e, k))
        for tag, got in (("pd", ev), ("fid", fev)) for p, e in got.items()
        for k in ("steps", "neurons")})
    print(json.dumps({"pd": held(pd), "fid": held(fid)}))
    """
)


def microcircuit(network=bs.Network) -> bs.Network:
    """Potjans & Diesmann's microcircuit at 1 % of its neurons (770) and 10 % of its
    in-degrees (300 k synapses, per-synapse normal weights and delays), Poisson-driven,
    built by ``network``."""
    return bs.models.potjans_diesmann(0.01, key=jax.random.key(0), k_scale=0.1, network=network)


def held(net: bs.Network) -> list[dict]:
    """Per projection, what this process holds of its ``StoredShard``: the synapse count
    of each of its shards (by shard index) and the padded length of every array."""
    out = []
    for proj in net.projections:
        conn = proj.conn
        ends = {
            s.index[0].start or 0: int(np.asarray(s.data)[0, -1])
            for s in conn.csr.indptr.addressable_shards
        }
        padded = {
            a.addressable_shards[0].data.shape
            for a in (conn.csr.indices, conn.weights, conn.group)
            if a is not None
        }
        out.append({"synapses": ends, "padded": sorted(padded)})
    return out


def weighted_network(network=bs.Network) -> bs.Network:
    """400 LIF neurons, 8 000 synapses drawn with normal weights and delays (a
    ``Delayed`` layout with per-synapse weights, 41 delay values), built by
    ``network``."""
    pop = driven_lif(400)
    conn = bs.conn.FixedTotalNumber(
        8000, weights=bs.conn.NormalWeights(0.5, 0.3), delays=bs.conn.NormalDelay(1.5, 0.75)
    )
    proj = bs.Projection(
        "A",
        "A",
        conn,
        weight=None,
        synapse=bs.synapses.Exponential(5.0),
        output=bs.synapses.Conductance(0.0),
    )
    return network({"A": pop}, [proj], key=jax.random.key(2))


def in_degree_network(network=bs.Network) -> bs.Network:
    """401 excitatory and 99 inhibitory LIF neurons (sizes that 2, 4 or 8 processes or
    devices do not divide), each receiving ``FixedInDegree`` synapses (40 from E, 10 from
    I, distinct, no autapses) with conductances, built by ``network``."""
    proj = lambda pre, post, k, w, tau, e_rev: bs.Projection(
        pre,
        post,
        bs.conn.FixedInDegree(k, allow_self=False),
        weight=w,
        synapse=bs.synapses.Exponential(tau),
        output=bs.synapses.Conductance(e_rev),
    )
    projections = [
        proj(pre, post, *(40, 0.5, 5.0, 0.0) if pre == "E" else (10, 2.0, 10.0, -80.0))
        for pre in ("E", "I")
        for post in ("E", "I")
    ]
    return network({"E": driven_lif(401), "I": driven_lif(99)}, projections, key=jax.random.key(4))


def stopped_by_peer_death(out: str, err: str) -> bool:
    """Whether a surviving process stopped with a named error after a peer died: its
    collective raised (printed as ``error: ...``), or JAX's coordination service, missing
    the dead process's heartbeats, terminated it (the service words it "heartbeat
    timeout" or "unhealthy (stopped sending heartbeats)", depending on which side
    notices first), or its client did when the process holding the service (process 0)
    had exited on its own collective's error ("the leader task was preempted/died")."""
    return "error:" in out or any(
        s in err
        for s in (
            "heartbeat timeout",
            "stopped sending heartbeats",
            "leader task was preempted/died",
        )
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(script: str, tmp_path, n: int, devices: int, extra=()) -> list:
    """Start ``script`` as ``n`` processes of ``devices`` host CPU devices each (argv:
    process id, a free port, ``tmp_path``, ``extra``)."""
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    }
    port = str(_free_port())
    return [
        subprocess.Popen(
            [sys.executable, "-c", script, str(p), port, str(tmp_path), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in range(n)
    ]


def _wait(procs: list, timeout: float):
    """The return codes, stdouts and stderrs of ``procs``, each killed after ``timeout`` s."""
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            p.kill()
    return [p.returncode for p in procs], outs


def _launch(script: str, tmp_path, n: int = 2, devices: int = 2, timeout: float = 300):
    """Run ``script`` as ``n`` processes of ``devices`` host CPU devices each (``_start``)."""
    return _wait(_start(script, tmp_path, n, devices), timeout)


def _reference(tag: str):
    """The single-process run (``bs.simulate``, 100 ms) a multi-process one must equal:
    the network built whole and its spikes ``{population: (1000, size) bool}``."""
    if tag in ("w", "fid", "pd"):
        net = {"w": weighted_network, "fid": in_degree_network, "pd": microcircuit}[tag]()
        state = net.init(jax.random.key(1 if tag == "pd" else 3))
    else:
        net = bs.models.coba(800, key=jax.random.key(0), procedural=tag == "procedural")
        state = net.init(jax.random.key(1))
    _, rec = bs.simulate(net, state, 100.0, 0.1, record={p: ["spikes"] for p in net.populations})
    spikes = {p: np.asarray(r["spikes"]) != 0 for p, r in rec.items()}
    if tag == "pd":  # every layer active; the Poisson sources are not recorded
        spikes = {p: spikes[p] for p in POPULATIONS}
        assert all(s.sum() >= 10 for s in spikes.values()), {p: s.sum() for p, s in spikes.items()}
    else:
        assert spikes["A" if tag == "w" else "E"].sum() > 500  # an active network
    return net, spikes


def _check_merged(files, prefix: str, net, spikes, shards: int | None = None):
    """The processes' recordings (``files``, keys ``{prefix}{population}_steps`` /
    ``_neurons``) each hold their own contiguous block of neurons, and merged equal the
    single-process ``spikes`` (a population of ``size`` neurons padded to a multiple of
    the ``shards``, default one per process, ``S / P`` per process: process ``p`` holds
    ``[p w, (p + 1) w)``, ``w = ceil(size / S) S / P``)."""
    n = len(files)
    shards = n if shards is None else shards
    for pop, one in spikes.items():
        size = net.populations[pop].size
        parts = [
            bs.SpikeEvents(f[f"{prefix}{pop}_steps"], f[f"{prefix}{pop}_neurons"], (1000, size))
            for f in files
        ]
        width = -(-size // shards) * (shards // n)
        for p, part in enumerate(parts):  # process p recorded its own neurons only
            if part.neurons.size:
                lo, hi = p * width, min((p + 1) * width, size)
                assert lo <= part.neurons.min() <= part.neurons.max() < hi, (prefix, pop, p)
        merged = bs.distributed.merge_events(parts)
        np.testing.assert_array_equal(merged.dense(), one, err_msg=f"{prefix} {pop}")


def _check_held(held: list[dict], net, n_shards: int, mine: list[int]):
    """A process holds exactly the synapses of ``net`` (built whole here) onto the
    neurons of its shards ``mine``, in arrays padded to the largest shard's count: its
    share, never the whole matrix."""
    for got, proj in zip(held, net.projections, strict=True):
        csr = proj.conn.csr if isinstance(proj.conn, bs.conn.Delayed) else proj.conn
        width = -(-csr.n_post // n_shards)  # padded: the last shards hold fewer targets
        counts = np.bincount(np.ravel(csr.indices) // width, minlength=n_shards)
        assert {int(d): c for d, c in got["synapses"].items()} == {d: counts[d] for d in mine}
        assert got["padded"] == [[1, int(counts.max())]], (got, counts)


def test_two_processes_reproduce_single_process_spikes(tmp_path):
    """COBA (800 neurons) for 100 ms as 2 processes on localhost: procedural over 4
    devices (2 per process; event buffers of 8 spikes, so the first chunk overflows on
    some device and every process must rerun it); with stored FixedProb connectivity
    built whole and cut, over 2 devices (one per process); the same synapses built per
    process (``bs.distributed.network``: each process holds only the synapses onto its
    neurons, counted here against the whole network) over 4 devices; and a network with
    per-synapse weights and delays (FixedTotalNumber) built per process. The merged per-process
    recordings equal the single-process ``bs.simulate`` spike trains, every spike at the
    same step (the first run streamed by each process to its own file, read back merged
    by ``bs.io.read_recording``). The network is chaotic: one differently rounded
    conductance would move spikes within tens of ms, so equality checks the exchange and
    the built synapses bit for bit. Different seeds per process, and rasters (not
    events) over several processes, are a ValueError in every process, not a hang."""
    codes, outs = _launch(CHILD, tmp_path)
    assert codes == [0, 0], [o[1][-3000:] for o in outs]
    files = [np.load(tmp_path / f"p{p}.npz") for p in (0, 1)]
    lines = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    for ref, tags in (("procedural", ["four"]), ("stored", ["two", "csr"]), ("w", ["w"])):
        net, spikes = _reference(ref)
        for tag in tags:
            _check_merged(files, f"{tag}_", net, spikes)
        if ref == "procedural":  # the processes' streamed files, read as one recording
            merged = bs.io.read_recording([tmp_path / f"four{p}.h5" for p in (0, 1)])
            for pop, one in spikes.items():
                np.testing.assert_array_equal(merged[pop]["spikes"].dense(), one, err_msg=pop)
        if ref != "procedural":
            for p, line in enumerate(lines):
                _check_held(line["held"]["w" if ref == "w" else "csr"], net, 4, [2 * p, 2 * p + 1])
    for line in lines:
        errors = line["errors"]
        assert "differ between processes: processes [1]" in errors["seed"], errors
        # one thread lowered (nice 19): Gloo's event loop, waiting in epoll_wait (or, if
        # caught between two waits, running); none would mean a jaxlib whose Gloo thread
        # is no longer found, so no longer calmed
        assert [c[0] for c in line["low"].values()] in (["232"], ["281"], ["running"]), line["low"]
        assert "pass events=True" in errors["raster"], errors


def test_four_processes_and_a_dead_one(tmp_path):
    """COBA (800 neurons) with stored FixedProb synapses built per process, as 4
    processes of one device each, for 100 ms: each holds exactly the synapses onto its
    200 neurons, and the merged recordings equal the single-process spike trains. Then
    process 3 dies; every other process stops with an error within the bounded waits of
    ``initialize(timeout=20)``: the next collective fails (Gloo: connection reset) or
    JAX's coordination service, missing the dead process's heartbeat, terminates the
    survivor. Never a hang (the launch would time out)."""
    codes, outs = _launch(FOUR, tmp_path, n=4, devices=1, timeout=240)
    assert codes[3] == 3, outs[3][1][-3000:]
    net, spikes = _reference("stored")
    _check_merged([np.load(tmp_path / f"p{p}.npz") for p in range(4)], "", net, spikes)
    for p, (out, err) in enumerate(outs):
        _check_held(json.loads(next(ln for ln in out.splitlines() if ln[:2] == "[{")), net, 4, [p])
        if p < 3:
            assert codes[p] != 0 and "finished" not in out, (codes, out, err[-2000:])
            assert stopped_by_peer_death(out, err), (out, err[-2000:])


@pytest.mark.slow
def test_padded_populations_and_in_degree_built_per_process(tmp_path):
    """Potjans & Diesmann's microcircuit (770 neurons, 300 k synapses with per-synapse
    weights and delays, Poisson drive; no population a multiple of 8 and four of them
    odd, so every one is padded) with its synapses built per process, for 100 ms, as 2
    processes of 4 devices each (8 shards): the merged recordings equal the
    single-process ``bs.simulate`` spike trains of every layer, and each process holds
    exactly the synapses onto its own neurons. A FixedInDegree network (401 + 99
    neurons) built per process (each process drawing only its own targets' synapses)
    likewise."""
    codes, outs = _launch(PADDED, tmp_path, n=2, devices=4, timeout=600)
    assert codes == [0, 0], [o[1][-3000:] for o in outs]
    lines = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    files = [np.load(tmp_path / f"{p}.npz") for p in (0, 1)]
    for tag in ("pd", "fid"):
        net, spikes = _reference(tag)
        _check_merged(files, f"{tag}_", net, spikes, shards=8)
        for p, line in enumerate(lines):
            _check_held(line[tag], net, 8, list(range(4 * p, 4 * p + 4)))


@pytest.mark.parametrize("failed", [True, False])
def test_a_process_ending_on_a_failed_collective_exits_at_once(failed):
    """A process ending on an unhandled error of a failed Gloo collective (the message of
    a dead peer's) exits with status 1 without running the exit hooks registered before
    ``initialize`` (here one standing for JAX's, which would wait at the shutdown barrier
    for the dead process); on any other error they all run."""
    message = (
        "UNKNOWN: Gloo AllGather failed: [pair.cc:538] Read error: Connection reset by peer"
        if failed
        else "a ValueError of the script's own"
    )
    script = textwrap.dedent(
        f"""
        import atexit
        import brainsim as bs
        atexit.register(lambda: print("earlier hook ran", flush=True))
        atexit.register(bs.distributed._exit_if_peer_lost)  # as initialize does
        raise ValueError({message!r})
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 1 and message in run.stderr, run.stderr
    assert ("earlier hook ran" in run.stdout) != failed, (run.stdout, run.stderr)
    assert ("without waiting" in run.stderr) == failed, run.stderr


def test_calm_gloo_touches_nothing_without_gloo():
    """In a process without Gloo collectives (this one), ``_calm_gloo`` finds no thread
    and lowers none: every thread keeps its priority."""
    nice = lambda: {
        int(t): os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir("/proc/self/task")
    }
    before = nice()
    assert bs.distributed._calm_gloo() == []
    after = nice()
    assert {t: after[t] for t in before.keys() & after.keys()} == {
        t: before[t] for t in before.keys() & after.keys()
    }


def test_merge_events_sorts_by_step_then_neuron():
    a = bs.SpikeEvents(np.array([0, 2]), np.array([1, 0], np.int32), (3, 4))
    b = bs.SpikeEvents(np.array([0, 1]), np.array([3, 2], np.int32), (3, 4))
    m = bs.distributed.merge_events([b, a])
    assert m.steps.tolist() == [0, 0, 1, 2] and m.neurons.tolist() == [1, 3, 2, 0]
    with pytest.raises(ValueError, match=r"different shapes \[\(3, 4\), \(3, 5\)\]"):
        bs.distributed.merge_events([a, bs.SpikeEvents(a.steps, a.neurons, (3, 5))])
