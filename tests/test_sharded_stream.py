"""``bs.simulate_sharded(..., stream=)``: the spikes of a run on 4 forced host CPU
devices streamed to a file equal those kept in memory bit for bit (events; rasters
against the in-memory events, which test_sharded.py checks against in-memory rasters;
over uneven chunks); and ``bs.io.read_recording`` of one file per process (each
holding its own neurons' events, as in a multi-process run) merges them into the
whole run's spikes."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import jax, numpy as np
    import brainsim as bs
    from brainsim._sink import RecordingLayout

    folder = Path(sys.argv[1])
    assert jax.device_count() == 4, jax.devices()
    net = bs.models.coba(400, key=jax.random.key(0), procedural=True)
    state = net.init(jax.random.key(1))
    kw = dict(chunk_steps=130, capacity=8)  # uneven chunks; buffers grown in the first
    _, ev = bs.simulate_sharded(net, state, 50.0, 0.1, events=True, **kw)
    _, ev_file = bs.simulate_sharded(net, state, 50.0, 0.1, events=True, **kw,
                                     stream=bs.io.HDF5Sink(folder / "ev.h5"))
    _, dense_file = bs.simulate_sharded(net, state, 50.0, 0.1, chunk_steps=130,
                                        stream=bs.io.HDF5Sink(folder / "dense.h5"))
    back = bs.io.read_recording(folder / "ev.h5")
    out = {}
    for p in ("E", "I"):
        a, b, c = ev[p], ev_file[p], back[p]["spikes"]
        out[p] = dict(
            n=int(len(a.steps)),
            events=bool(isinstance(b, bs.SpikeEvents) and tuple(b.shape) == a.shape
                        and np.array_equal(np.asarray(b.steps), a.steps)
                        and np.array_equal(np.asarray(b.neurons), a.neurons)
                        and np.array_equal(c.steps, a.steps)
                        and np.array_equal(c.neurons, a.neurons)),
            dense=bool(np.array_equal(np.asarray(dense_file[p]), a.dense())),
        )
    # One file per process: here two "processes" holding neurons [0, n/2) and [n/2, n).
    paths = [folder / f"part{k}.h5" for k in range(2)]
    n_steps = 500
    records = {p: bs.Record("spikes", events=True) for p in ev}
    shapes = {p: (ev[p].shape[1],) for p in ev}
    layout = RecordingLayout(0.1, 0.0, n_steps, records, shapes, frozenset(ev))
    for k, path in enumerate(paths):
        sink = bs.io.HDF5Sink(path)
        sink.open(layout)
        own = {}
        for p, e in ev.items():
            half = e.shape[1] // 2
            mine = (e.neurons >= half) == bool(k)
            own[p] = {"spikes": bs.SpikeEvents(e.steps[mine], e.neurons[mine], e.shape)}
        sink.append(0, n_steps, own)
        sink.close()
    merged = bs.io.read_recording([str(p) for p in paths])
    out["merged"] = all(
        np.array_equal(merged[p]["spikes"].steps, ev[p].steps)
        and np.array_equal(merged[p]["spikes"].neurons, ev[p].neurons)
        and len(bs.io.read_recording(paths[0])[p]["spikes"].steps) < len(ev[p].steps)
        for p in ev
    )
    print(json.dumps(out))
    """
)


def test_streamed_sharded_run_equals_in_memory(tmp_path):
    pytest.importorskip("h5py")
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["E"]["n"] > 100 and out["I"]["n"] > 20, out  # not vacuous
    assert all(out[p][k] for p in ("E", "I") for k in ("events", "dense")), out
    assert out["merged"], out
