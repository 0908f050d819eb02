"""The on-disk compilation cache: a second process loads the compiled programs instead
of compiling them, and gets the same spikes."""

import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, jax, numpy as np, brainsim as bs
hits = []
jax.monitoring.register_event_listener(
    lambda name, **kw: hits.append(name) if name.endswith("cache_hits") else None
)
bs.enable_compilation_cache(sys.argv[1])
net = bs.models.cuba(200, key=jax.random.key(0))
state = net.init(jax.random.key(1), dt=0.1)
_, rec = bs.simulate(net, state, 20.0, 0.1, record={"E": ["spikes"]})
print(json.dumps({"hits": len(hits), "spikes": np.asarray(rec["E"]["spikes"]).sum(0).tolist()}))
"""


def _run(cache_dir):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_compiled_programs(tmp_path):
    first = _run(tmp_path)
    assert first["hits"] == 0  # empty cache: everything compiled
    assert any(tmp_path.iterdir()), "nothing was written to the cache directory"
    second = _run(tmp_path)
    # Network.init and the simulation loop (at least) come from the cache
    assert second["hits"] >= 2
    assert second["spikes"] == first["spikes"]
    assert sum(first["spikes"]) > 0  # the comparison covers actual spikes
