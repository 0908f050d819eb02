"""Simulation checkpoints: a network, its state (with the PRNG keys of its stochastic
sources), the simulated time and the position of a streamed recording, saved in one
call and restored to continue the run exactly where it stopped.

    bs.save_run("run.ckpt", net, state, t=500.0, dt=0.1, recording="run.h5")
    ck = bs.restore_run("run.ckpt", net_like, state_like)
    bs.simulate(ck.net, ck.state, 1000.0 - ck.t, ck.dt, t0=ck.t, record=...,
                stream=bs.io.HDF5Sink(ck.recording, resume=True))

The continued run gives the same spikes as one uninterrupted run (``bs.simulate`` from
a state and ``t0`` is exact). The file is ``brainsim/_checkpoint.py``'s (no pickle, a
format version and a SHA-256; a damaged file raises ``CheckpointError`` naming it).
"""

import math
from pathlib import Path
from typing import NamedTuple

from . import _checkpoint
from ._checkpoint import CheckpointError as CheckpointError
from .network import Network, NetworkState

KIND = "simulation"


class RunCheckpoint(NamedTuple):
    """A restored run: ``net``, ``state``, ``t`` (ms, the time ``state`` is at: the next
    run's ``t0``), ``dt`` (ms), ``recording`` (the path of the streamed recording file,
    or ``None``) and the user's ``metadata``."""

    net: Network
    state: NetworkState
    t: float
    dt: float
    recording: str | None
    metadata: dict


def save_run(
    path,
    net: Network,
    state: NetworkState,
    *,
    t: float,
    dt: float,
    recording=None,
    metadata: dict | None = None,
) -> None:
    """Write ``net``, ``state`` (at time ``t`` ms, stepped with ``dt`` ms), the path of the
    run's streamed ``recording`` file (``bs.io.HDF5Sink``), if any, and ``metadata``
    (JSON) to the one file ``path``. The recording file must reach exactly ``t`` (save
    after a ``simulate`` call returns); its later chunks, if the run goes on, are cut off
    when a run is resumed from this checkpoint."""
    for name, value in (("t", t), ("dt", dt)):
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"save_run: {name} must be a finite number (ms), got {value!r}")
    if dt <= 0:
        raise ValueError(f"save_run: dt must be > 0 ms, got {dt!r}")
    net.check_state(state, dt)
    if recording is not None:
        recording = str(Path(recording).resolve())
        _check_reaches(recording, t, dt)
    info = {"t": float(t), "dt": float(dt), "recording": recording, "user": metadata or {}}
    _checkpoint.write(path, (net, state), kind=KIND, metadata=info)


def restore_run(path, net_like: Network, state_like: NetworkState) -> RunCheckpoint:
    """The run saved by ``save_run`` at ``path``, read into the structure of
    ``net_like``/``state_like`` (built the same way as the saved ones: the same model,
    sizes and ``dt``; their values are replaced). Raises ``CheckpointError`` naming the
    file and the failed check (not a checkpoint, version, a training checkpoint,
    truncated, bytes appended, checksum, a different network)."""
    (net, state), info = _checkpoint.read(path, (net_like, state_like), kind=KIND)
    return RunCheckpoint(net, state, info["t"], info["dt"], info["recording"], info["user"])


def _check_reaches(recording: str, t: float, dt: float) -> None:
    from .io.stored import open_file  # io builds on this layer: imported when called

    with open_file(recording) as f:
        n = int(f.attrs["n_chunks"])
        steps = int(f["chunks/end_step"][n - 1]) if n else 0
        reached = float(f.attrs["t0"]) + steps * float(f.attrs["dt"])
    if round((t - reached) / dt) != 0:
        raise ValueError(
            f"save_run: the recording file {recording} reaches t = {reached:g} ms but the "
            f"state is at t = {t:g} ms"
        )
