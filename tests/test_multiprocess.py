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

import brainsim as bs

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
    import jax
    from jax.sharding import Mesh

    assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
    net = bs.models.coba(800, key=jax.random.key(0), procedural=True)
    state = net.init(jax.random.key(1))
    # 4 shards (2 per process), 8-spike buffers: the first chunk overflows and is rerun
    _, four = bs.simulate_sharded(net, state, 100.0, 0.1, events=True, chunk_steps=500,
                                  capacity=8)
    # 2 shards, one device per process
    firsts = [next(d for d in jax.devices() if d.process_index == p) for p in (0, 1)]
    one_each = Mesh(np.array(firsts), ("neurons",))
    _, two = bs.simulate_sharded(net, state, 100.0, 0.1, events=True, mesh=one_each)
    # stored connectivity (FixedProb, CSR): each device holds the synapses onto its block
    stored = bs.models.coba(800, key=jax.random.key(0))
    _, csr = bs.simulate_sharded(stored, stored.init(jax.random.key(1)), 100.0, 0.1,
                                 events=True)
    # stored, with per-synapse weights (cut with the targets)
    from test_multiprocess import weighted_network

    weighted = weighted_network()
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
    print(json.dumps(errors))
    """
)


# Process 1 dies between two runs; process 0 must stop with an error, not wait forever.
DIES = textwrap.dedent(
    """
    import os, sys
    import brainsim as bs

    pid, port = int(sys.argv[1]), sys.argv[2]
    bs.distributed.initialize(f"localhost:{port}", 2, pid, timeout=10)
    import jax

    net = bs.models.coba(80, key=jax.random.key(0), procedural=True)
    state = net.init(jax.random.key(1))
    bs.simulate_sharded(net, state, 10.0, 0.1, events=True)
    if pid == 1:
        os._exit(3)
    try:
        bs.simulate_sharded(net, state, 1000.0, 0.1, events=True)
        print("finished")
    except Exception as e:
        print("error:", type(e).__name__, e)
        raise
    """
)


def weighted_network() -> bs.Network:
    """400 LIF neurons, 8 000 synapses drawn with normal weights (a CSR layout with
    per-synapse weights)."""
    pop = bs.neurons.LIF(
        400,
        tau_m=20.0,
        v_rest=-60.0,
        v_th=-50.0,
        v_reset=-60.0,
        t_ref=5.0,
        i_ext=200.0,
        v_init=bs.initializers.Uniform(-60.0, -50.0),
    )
    conn = bs.conn.FixedTotalNumber(8000, weights=bs.conn.NormalWeights(0.5, 0.3))
    proj = bs.Projection(
        "A",
        "A",
        conn,
        weight=None,
        synapse=bs.synapses.Exponential(5.0),
        output=bs.synapses.Conductance(0.0),
    )
    return bs.Network({"A": pop}, [proj], key=jax.random.key(2))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(script: str, tmp_path, n: int = 2, timeout: float = 300):
    """Run ``script`` as ``n`` processes (argv: process id, port, ``tmp_path``); their
    return codes, stdout and stderr."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    }
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(p), port, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in range(n)
    ]
    try:
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            p.kill()
    return [p.returncode for p in procs], outs


def test_two_processes_reproduce_single_process_spikes(tmp_path):
    """COBA (800 neurons, procedural) for 100 ms as 2 processes on localhost: over 4
    devices (2 per process; event buffers of 8 spikes, so the first chunk overflows on
    some device and every process must rerun it) and over 2 (one per process), and COBA
    with stored FixedProb connectivity (each device holding its targets' synapses) over 4
    devices, and a network with per-synapse weights (cut with their targets), the merged
    per-process recordings equal the single-process ``bs.simulate`` spike trains, every
    spike at the same step. The network is chaotic: one differently rounded conductance
    would move spikes within tens of ms, so equality checks the exchange bit for bit.
    Different seeds per process, and rasters (not events) over several processes, are a
    ValueError in every process, not a hang."""
    codes, outs = _launch(CHILD, tmp_path)
    assert codes == [0, 0], [o[1][-3000:] for o in outs]
    files = [np.load(tmp_path / f"p{p}.npz") for p in (0, 1)]
    for tag in ("four", "two", "csr", "w"):
        if tag == "w":
            net = weighted_network()
            state = net.init(jax.random.key(3))
        else:
            net = bs.models.coba(800, key=jax.random.key(0), procedural=tag != "csr")
            state = net.init(jax.random.key(1))
        _, rec = bs.simulate(
            net, state, 100.0, 0.1, record={p: ["spikes"] for p in net.populations}
        )
        for pop in net.populations:
            size = net.populations[pop].size
            parts = [
                bs.SpikeEvents(f[f"{tag}_{pop}_steps"], f[f"{tag}_{pop}_neurons"], (1000, size))
                for f in files
            ]
            # each process recorded its own neurons only: the first / second half
            assert parts[0].neurons.max() < size // 2 <= parts[1].neurons.min()
            merged = bs.distributed.merge_events(parts)
            one = np.asarray(rec[pop]["spikes"]) != 0
            assert one.sum() > (100 if pop == "I" else 500)  # an active network
            np.testing.assert_array_equal(merged.dense(), one, err_msg=f"{tag} {pop}")
    for out, _ in outs:
        errors = json.loads(out.strip().splitlines()[-1])
        assert "differ between processes: processes [1]" in errors["seed"], errors
        assert "pass events=True" in errors["raster"], errors


def test_merge_events_sorts_by_step_then_neuron():
    a = bs.SpikeEvents(np.array([0, 2]), np.array([1, 0], np.int32), (3, 4))
    b = bs.SpikeEvents(np.array([0, 1]), np.array([3, 2], np.int32), (3, 4))
    m = bs.distributed.merge_events([b, a])
    assert m.steps.tolist() == [0, 0, 1, 2] and m.neurons.tolist() == [1, 3, 2, 0]
    with pytest.raises(ValueError, match=r"different shapes \[\(3, 4\), \(3, 5\)\]"):
        bs.distributed.merge_events([a, bs.SpikeEvents(a.steps, a.neurons, (3, 5))])


def test_a_dead_process_stops_the_others(tmp_path):
    """A process that dies mid-run (between two runs here) stops the other one with an
    error within the bounded waits of ``initialize(timeout=10)``: the next collective
    fails (Gloo: connection reset) or JAX's coordination service, missing the dead
    process's heartbeat, terminates the survivor. Never a hang (the launch would time
    out)."""
    codes, outs = _launch(DIES, tmp_path, timeout=240)
    assert codes[1] == 3
    out, err = outs[0]
    assert codes[0] != 0 and "finished" not in out, (codes, out, err[-2000:])
    assert "error:" in out or "heartbeat timeout" in err, (out, err[-2000:])
