"""Recordings streamed to an HDF5 file (``bs.io.HDF5Sink``) and simulation checkpoints
(``bs.save_run``/``bs.restore_run``).

The reference is the in-memory run: streaming must store exactly its arrays (the same
float bits, the same spike events), and a run stopped, saved, restored and resumed into
the same file must equal the uninterrupted run spike for spike. The network is Brunel
(2000) model A, driven by Poisson sources whose PRNG keys are part of the state, so a
resumed run that lost or reused a key, or an event lost at a chunk boundary, shows as
different spikes; it is recurrent, so one differing spike changes the rest of the run.
"""

import jax
import numpy as np
import pytest

import brainsim as bs

DT = 0.1
T = 60.0  # ms: 600 steps, 12 chunks of 50 steps
CHUNK = 50
RECORD = {
    "E": bs.Record(["spikes", "v"], indices=slice(0, 40), every=2),
    "I": bs.Record(["spikes"], events=True),
}

pytest.importorskip("h5py")


def _build(seed=0):
    net = bs.models.brunel2000(200, key=jax.random.key(0))
    return net, net.init(jax.random.key(seed), dt=DT)


@pytest.fixture(scope="module")
def reference():
    """The in-memory recording of the whole run, and the network."""
    net, state = _build()
    _, rec = bs.simulate(net, state, T, DT, record=RECORD, chunk_steps=CHUNK)
    assert len(rec["I"]["spikes"].steps) > 100  # the run spiked
    return net, state, rec


def _assert_same(rec, ref, n_steps=None):
    """``rec`` holds exactly ``ref``'s recording (its first ``n_steps`` steps)."""
    n_steps = ref.n_steps if n_steps is None else n_steps
    assert rec.n_steps == n_steps and rec.dt == ref.dt
    for pop, r in RECORD.items():
        np.testing.assert_array_equal(
            np.asarray(rec[pop]["t"]), ref[pop]["t"][: n_steps // r.every]
        )
        for var in r.variables:
            got, want = rec[pop][var], ref[pop][var]
            if isinstance(want, bs.SpikeEvents):
                keep = want.steps < n_steps // r.every
                assert got.shape == (n_steps // r.every, want.shape[1])
                np.testing.assert_array_equal(np.asarray(got.steps), want.steps[keep])
                np.testing.assert_array_equal(np.asarray(got.neurons), want.neurons[keep])
            else:
                got = np.asarray(got)
                assert got.dtype == want.dtype
                # the same bits (v is float32: compare the integer views)
                np.testing.assert_array_equal(
                    got.view(np.uint8), want[: n_steps // r.every].view(np.uint8)
                )


def test_recording_a_slice_of_neurons_compiles_once(reference):
    """``Record(indices=slice(...))`` is static: before Python 3.12 a slice is unhashable,
    which kept the compiled chunk out of the cache, so every chunk compiled again."""
    net, state, _ = reference
    _, rec = bs.simulate(net, state, T, DT, record=RECORD, chunk_steps=CHUNK)
    assert rec.compile_time == 0.0  # the reference run's compiled chunks, reused


def test_streamed_run_stores_exactly_the_in_memory_recording(reference, tmp_path):
    net, state, ref = reference
    path = tmp_path / "run.h5"
    _, rec = bs.simulate(
        net, state, T, DT, record=RECORD, chunk_steps=CHUNK, stream=bs.io.HDF5Sink(path)
    )
    assert isinstance(rec["E"]["v"], bs.io.StoredArray)  # read from the file, not held
    _assert_same(rec, ref)
    loaded = bs.io.read_recording(path)
    assert isinstance(loaded["E"]["v"], np.ndarray)
    _assert_same(loaded, ref)
    np.testing.assert_array_equal(rec["E"]["v"][10:20], ref["E"]["v"][10:20])
    # the Neo export of the file's recording is the in-memory one's
    block, want = loaded.to_neo(["I"]), ref.to_neo(["I"])
    for a, b in zip(block.segments[0].spiketrains, want.segments[0].spiketrains, strict=True):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)


class _Killed(Exception):
    pass


class _KilledAfter(bs.io.HDF5Sink):
    """A sink whose run is killed after ``n`` chunks were written."""

    def __init__(self, path, n, **kwargs):
        super().__init__(path, **kwargs)
        self.left = n

    def append(self, first_step, n_steps, chunk):
        if not self.left:
            raise _Killed
        self.left -= 1
        super().append(first_step, n_steps, chunk)


def test_killed_run_leaves_its_chunks_and_resumes_from_a_checkpoint(reference, tmp_path):
    """Run 0..25 ms streamed, checkpoint; go on to 45 ms and die (killed in the 3rd chunk
    after 35 ms); restore the checkpoint into a network built with another seed (its
    values must come from the file) and resume into the file from 25 ms with other chunk
    boundaries: the file equals the uninterrupted in-memory run."""
    net, state, ref = reference
    path, ckpt = tmp_path / "run.h5", tmp_path / "run.ckpt"
    state1, _ = bs.simulate(
        net, state, 25.0, DT, record=RECORD, chunk_steps=CHUNK, stream=bs.io.HDF5Sink(path)
    )
    bs.save_run(ckpt, net, state1, t=25.0, dt=DT, recording=path)
    with pytest.raises(_Killed):
        bs.simulate(
            net,
            state1,
            20.0,
            DT,
            t0=25.0,
            record=RECORD,
            chunk_steps=CHUNK,
            stream=_KilledAfter(path, 2, resume=True),
        )
    _assert_same(bs.io.read_recording(path), ref, n_steps=350)  # up to its last chunk

    net_like, state_like = _build(seed=7)
    ck = bs.restore_run(ckpt, net_like, state_like)
    assert (ck.t, ck.dt, ck.recording) == (25.0, DT, str(path.resolve()))
    _, rec = bs.simulate(
        ck.net,
        ck.state,
        T - ck.t,
        ck.dt,
        t0=ck.t,
        record=RECORD,
        chunk_steps=70,
        stream=bs.io.HDF5Sink(ck.recording, resume=True),
    )
    _assert_same(rec, ref)
    _assert_same(bs.io.read_recording(path), ref)


def test_resume_must_start_at_a_chunk_end_with_the_same_recording(reference, tmp_path):
    net, state, _ = reference
    path = tmp_path / "run.h5"
    sink = bs.io.HDF5Sink(path)
    bs.simulate(net, state, 10.0, DT, record=RECORD, chunk_steps=CHUNK, stream=sink)
    with pytest.raises(RuntimeError, match=r"has served a run; continue it with"):
        bs.simulate(net, state, 10.0, DT, record=RECORD, chunk_steps=CHUNK, stream=sink)
    assert bs.io.read_recording(path).n_steps == 100  # (not started again)
    with pytest.raises(bs.io.RecordingFileError, match=r"t0 = 7 ms.*reaches t = 10 ms"):
        bs.simulate(
            net, state, 5.0, DT, t0=7.0, record=RECORD, stream=bs.io.HDF5Sink(path, resume=True)
        )
    other = {**RECORD, "E": bs.Record(["spikes"], indices=slice(0, 40), every=2)}
    with pytest.raises(bs.io.RecordingFileError, match=r"population 'E' is recorded as"):
        bs.simulate(
            net, state, 5.0, DT, t0=10.0, record=other, stream=bs.io.HDF5Sink(path, resume=True)
        )


def _data_offset(path, name):
    import h5py

    with h5py.File(path, "r") as f:
        return f[name].id.get_chunk_info(0).byte_offset


@pytest.fixture(scope="module")
def stored(reference, tmp_path_factory):
    net, state, _ = reference
    path = tmp_path_factory.mktemp("stored") / "run.h5"
    bs.simulate(
        net, state, 20.0, DT, record=RECORD, chunk_steps=CHUNK, stream=bs.io.HDF5Sink(path)
    )
    return path


def test_a_flipped_byte_in_a_chunk_fails_its_checksum(stored, tmp_path):
    raw = bytearray(stored.read_bytes())
    raw[_data_offset(stored, "E/v") + 4 * 40 * 30 + 1] ^= 0x01  # sample 30: chunk 1
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(raw))
    with pytest.raises(
        bs.io.RecordingFileError, match=r"bad\.h5: chunk 1 \(steps 50\.\.\.100\) fails its SHA-256"
    ):
        bs.io.read_recording(bad)
    rec = bs.io.read_recording(bad, check=False)  # unchecked: the changed value is read
    assert not np.array_equal(rec["E"]["v"], bs.io.read_recording(stored)["E"]["v"])


def test_truncated_or_foreign_files_raise_naming_the_file(stored, tmp_path):
    bad = tmp_path / "cut.h5"
    bad.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])
    with pytest.raises(bs.io.RecordingFileError, match=r"cut\.h5: cannot be opened as HDF5"):
        bs.io.read_recording(bad)
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(bs.io.RecordingFileError, match=r"other\.h5: not a brainsim recording"):
        bs.io.read_recording(tmp_path / "other.h5")


@pytest.mark.parametrize("damage", ["flip", "append", "truncate"])
def test_damaged_run_checkpoint_raises_naming_the_file(reference, tmp_path, damage):
    net, state, _ = reference
    path = tmp_path / "run.ckpt"
    bs.save_run(path, net, state, t=0.0, dt=DT)
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[-5] ^= 0x10
    elif damage == "append":
        raw += b"\0" * 3
    else:
        raw = raw[:-100]
    path.write_bytes(bytes(raw))
    why = {"flip": "checksum mismatch", "append": "3 unexpected bytes", "truncate": "truncated"}
    with pytest.raises(bs.CheckpointError, match=rf"run\.ckpt: .*{why[damage]}"):
        bs.restore_run(path, net, state)


def test_save_run_refuses_a_recording_that_does_not_reach_t(reference, stored):
    net, state, _ = reference
    with pytest.raises(ValueError, match=r"reaches t = 20 ms but the state is at t = 30 ms"):
        bs.save_run(stored.with_suffix(".ckpt"), net, state, t=30.0, dt=DT, recording=stored)


def test_rows_of_an_uncommitted_chunk_are_ignored(reference, stored, tmp_path):
    """A run killed while writing a chunk leaves rows past the last committed chunk:
    they are not read, and a run resumed into the file writes over them."""
    import h5py

    net, _, ref = reference
    path = tmp_path / "killed.h5"
    path.write_bytes(stored.read_bytes())
    with h5py.File(path, "r+") as f:  # half a chunk's rows, no row in /chunks
        for name in ("E/v", "I/spikes/steps", "I/spikes/neurons"):
            n = f[name].shape[0]
            f[name].resize(n + 7, axis=0)
            f[name][n:] = 1
    _assert_same(bs.io.read_recording(path), ref, n_steps=200)
    state, _ = bs.simulate(net, _build()[1], 20.0, DT, record=RECORD, chunk_steps=CHUNK)
    bs.simulate(
        net, state, 10.0, DT, t0=20.0, record=RECORD, chunk_steps=CHUNK,
        stream=bs.io.HDF5Sink(path, resume=True),
    )  # fmt: skip
    _assert_same(bs.io.read_recording(path), ref, n_steps=300)


def test_a_changed_attribute_fails_the_checksum(stored, tmp_path):
    """The layout (dt, t0, the populations' attributes) is part of every chunk's hash."""
    import h5py

    bad = tmp_path / "attr.h5"
    bad.write_bytes(stored.read_bytes())
    with h5py.File(bad, "r+") as f:
        f["E"].attrs["every"] = 1
    with pytest.raises(bs.io.RecordingFileError, match=r"attr\.h5: chunk 0 .* fails its SHA-256"):
        bs.io.read_recording(bad)
