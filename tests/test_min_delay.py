"""Min-delay batching of the sharded spike exchange (``simulate_sharded(exchange_every=)``):
one collective per block of D steps gives the single-device spike trains."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import driven_lif
from test_multiprocess import _check_merged, _launch, stopped_by_peer_death

import brainsim as bs

ROOT = Path(__file__).resolve().parents[1]


def delayed_coba(network=bs.Network) -> bs.Network:
    """A COBA-like E/I network (642 + 158 LIF neurons, neither a multiple of 4 or 8:
    padded) whose smallest delay is 1.0 ms: E->E stored (FixedProb) with a scalar delay
    of 1.0 ms (a presynaptic buffer), E->I procedural with 1.2 ms, I->E with per-synapse
    weights and delays drawn per synapse in whole ms (>= 1 ms: a postsynaptic ring),
    I->I stored with 2.0 ms. At dt = 0.1 ms every exchange may wait 10 steps."""
    exc = lambda post, conn, **kw: bs.Projection(
        "E",
        post,
        conn,
        synapse=bs.synapses.Exponential(5.0),
        output=bs.synapses.Conductance(0.0),
        **kw,
    )
    inh = lambda post, conn, **kw: bs.Projection(
        "I",
        post,
        conn,
        synapse=bs.synapses.Exponential(10.0),
        output=bs.synapses.Conductance(-80.0),
        **kw,
    )
    per_synapse = bs.conn.FixedTotalNumber(
        8000,
        weights=bs.conn.NormalWeights(6.7, 2.0),
        delays=bs.conn.NormalDelay(1.5, 0.8, resolution=1.0),
    )
    projections = [
        exc("E", bs.conn.FixedProb(0.1, allow_self=False), weight=0.6, delay=1.0),
        exc("I", bs.conn.ProceduralFixedOutDegree(16), weight=0.6, delay=1.2),
        inh("E", per_synapse, weight=None),
        inh("I", bs.conn.FixedProb(0.1, allow_self=False), weight=6.7, delay=2.0),
    ]
    return network(
        {"E": driven_lif(642), "I": driven_lif(158)}, projections, key=jax.random.key(4)
    )


def reference(duration: float = 100.0) -> dict:
    """``bs.simulate`` on one device: ``{population: (steps, size) bool}``, active."""
    net = delayed_coba()
    _, rec = bs.simulate(
        net, net.init(jax.random.key(5)), duration, 0.1, record={p: ["spikes"] for p in "EI"}
    )
    spikes = {p: np.asarray(r["spikes"]) != 0 for p, r in rec.items()}
    assert spikes["E"].sum() > 1000 and spikes["I"].sum() > 200  # an active, chaotic network
    return spikes


EIGHT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    import brainsim as bs
    from test_min_delay import delayed_coba

    assert jax.device_count() == 8, jax.devices()
    net = delayed_coba()
    state = net.init(jax.random.key(5))
    out = {"D": bs.exchange_interval(net, 0.1)}
    # a raster run of 40 ms exchanging every 7 steps (200-step chunks: 28 blocks and one
    # of 4 each), then 60 ms more of events from its final state exchanging every 10
    # steps (the default)
    mid, first = bs.simulate_sharded(net, state, 40.0, 0.1, chunk_steps=200, exchange_every=7)
    _, rest = bs.simulate_sharded(net, mid, 60.0, 0.1, events=True)
    np.savez(f"{sys.argv[1]}/resumed.npz",
             **{p: np.concatenate([first[p], rest[p].dense()]) for p in "EI"})
    print(json.dumps(out))
    """
)


def _gathers(dump: Path) -> list[set]:
    """Per optimised sharded program XLA dumped to ``dump``: the widths (int32 words per
    device) of its all-gathers ``s32[8, words]``."""
    import re

    found = []
    for f in dump.glob("*after_optimizations.txt"):
        text = f.read_text()
        if "all-gather" in text:
            found.append(
                {int(w) for w in re.findall(r"= s32\[8,(\d+)\]\{1,0\} all-gather\(", text)}
            )
    return found


def test_eight_devices_exchange_every_min_delay(tmp_path):
    """The delayed COBA network (min delay 1.0 ms = 10 steps at 0.1 ms; scalar delays,
    per-synapse delays, stored and procedural, padded populations) on 8 forced CPU
    devices for 100 ms gives the single-device spike trains, every spike at the same
    step (the network is chaotic: one input delivered a step late or rounded
    differently moves spikes within tens of ms): 40 ms recorded as rasters exchanging
    once per 7 steps (blocks cut by 200-step chunks: 28 full blocks and one of 4 per
    chunk), then 60 ms as events resumed from its final state exchanging once per 10
    steps (the default; the state between runs is the one ``Network.step`` reaches).
    D shows in the compiled programs: their all-gathers carry 10 (and 7 and 4) steps'
    lists (that many times the list words of one step's, ``bs.ops.exchange_slots``) and no
    per-step exchange is left in them."""
    dump = tmp_path / "dump"
    env = {
        **os.environ,
        "XLA_FLAGS": f"--xla_force_host_platform_device_count=8 --xla_dump_to={dump}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    }
    cmd = [sys.executable, "-c", EIGHT, str(tmp_path)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"D": 10}
    spikes = reference()
    got = np.load(tmp_path / "resumed.npz")
    for p, one in spikes.items():
        np.testing.assert_array_equal(got[p], one, err_msg=p)
    # an exchange of D steps' compacted lists: one count, then D x the slots of every
    # presynaptic population x (index, value), the value one int32 word
    step = sum(2 * bs.ops.exchange_slots(n, None, 8) for n in (642, 158))
    width = lambda d: 1 + d * step
    widths = _gathers(dump)
    assert any(width(10) in w for w in widths), (step, widths)
    assert all(width(1) not in w for w in widths if width(10) in w), (step, widths)
    assert any(width(7) in w and width(4) in w for w in widths), (step, widths)


def test_exchange_interval_and_bad_exchange_every():
    """``bs.exchange_interval`` is the smallest delay in steps, 1 where a projection
    needs the spikes of the step just emitted (short-term plasticity) or has no delay;
    ``exchange_every`` outside ``[1, D]`` is a ValueError naming it, its value and the
    range, before anything compiles."""
    net = delayed_coba()
    assert bs.exchange_interval(net, 0.1) == 10
    assert bs.exchange_interval(net, 0.2) == 5
    assert bs.exchange_interval(bs.models.coba(100, key=jax.random.key(0)), 0.1) == 1
    tm = bs.synapses.TsodyksMarkram(U=0.2, tau_f=50.0, tau_d=100.0)
    stp = bs.Network(
        {"A": bs.neurons.LIF(10)},
        [bs.Projection("A", "A", bs.conn.FixedProb(0.5), weight=1.0, delay=1.0, stp=tm)],
        key=jax.random.key(0),
    )
    assert bs.exchange_interval(stp, 0.1) == 1
    mesh = jax.make_mesh((1,), ("neurons",))
    state = net.init(jax.random.key(5))
    for bad in (0, 11, 2.0, True):
        with pytest.raises(
            ValueError, match=rf"exchange_every must be .* from 1 to 10 .*got {bad!r}"
        ):
            bs.simulate_sharded(net, state, 1.0, 0.1, mesh=mesh, exchange_every=bad)


# 2 processes of one device each: the delayed COBA network built per process, min-delay
# batched; then the bad inputs of a multi-process run, each a ValueError in every process.
TWO = textwrap.dedent(
    """
    import json, os, sys, threading
    import numpy as np
    import brainsim as bs

    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bs.distributed.initialize(f"localhost:{port}", 2, pid, timeout=20)
    import jax
    from test_min_delay import delayed_coba

    assert jax.process_count() == 2 and jax.device_count() == 2, jax.devices()
    net = delayed_coba(bs.distributed.network)
    state = net.init(jax.random.key(5))
    _, ev = bs.simulate_sharded(net, state, 100.0, 0.1, events=True, chunk_steps=250)
    np.savez(f"{out}/p{pid}.npz", **{
        f"{p}_{k}": np.asarray(getattr(e, k)) for p, e in ev.items()
        for k in ("steps", "neurons")})
    tiny = bs.Network({"A": bs.neurons.LIF(1)}, [], key=jax.random.key(0))
    errors = {}

    def error(tag, call):
        try:
            call()
            errors[tag] = None
        except ValueError as e:
            errors[tag] = str(e)

    error("tiny", lambda: bs.simulate_sharded(tiny, tiny.init(jax.random.key(0)), 1.0,
                                              events=True))
    error("every", lambda: bs.simulate_sharded(net, state, 1.0, events=True,
                                               exchange_every=5 + pid))
    if pid == 1:  # another brainsim version in process 1
        bs.sharded.__version__ = "0+other"
    error("version", lambda: bs.simulate_sharded(net, state, 1.0, events=True))
    print(json.dumps(errors), flush=True)
    bs.sharded.__version__ = bs.__version__
    if pid == 1:  # process 1 dies 3 s into a 10 s run
        threading.Timer(3.0, lambda: os._exit(3)).start()
    try:
        bs.simulate_sharded(net, state, 10_000.0, 0.1, events=True)
        print("finished")
    except Exception as e:
        print("error:", type(e).__name__, e)
        raise
    """
)


def test_two_processes_exchange_every_min_delay(tmp_path):
    """The delayed COBA network with its stored synapses built per process, as 2
    processes (one device each, Gloo CPU collectives) exchanging once per 10 steps, in
    250-step chunks: the merged recordings equal the single-process spike trains. A
    different brainsim version or ``exchange_every`` in one process, and a population
    of 1 neuron over 2 processes, are a ValueError naming the problem in every process,
    not a hang. Then process 1 dies in the middle of a run exchanging once per 10 steps:
    process 0 stops with an error within the bounded waits of ``initialize(timeout=20)``
    (the next collective fails, or the coordination service, missing the heartbeat,
    terminates it), never a hang (the launch would time out)."""
    codes, outs = _launch(TWO, tmp_path, n=2, devices=1, timeout=600)
    assert codes[1] == 3, outs[1][1][-3000:]
    out, err = outs[0]
    assert codes[0] != 0 and "finished" not in out, (codes, out, err[-2000:])
    assert stopped_by_peer_death(out, err), (out, err[-2000:])
    files = [np.load(tmp_path / f"p{p}.npz") for p in (0, 1)]
    _check_merged(files, "", delayed_coba(), reference())
    for out, _ in outs:
        errors = json.loads(next(ln for ln in out.splitlines() if ln.startswith('{"tiny"')))
        assert "differ between processes: processes [1]" in errors["version"], errors
        assert "differ between processes: processes [1]" in errors["every"], errors
        assert "population 'A' has 1 neurons, fewer than the 2 devices" in errors["tiny"], errors
