"""``HDF5Sink``: a run's recordings appended to an HDF5 file chunk by chunk (``bs.simulate(
..., stream=bs.io.HDF5Sink(path))``), so memory stays bounded however long the run.

HDF5 (``h5py``) rather than zarr: one file that every analysis tool reads (h5py,
MATLAB, NWB tooling), datasets that grow along their first axis, and no dependency
beyond the one the SHD loader already uses. The layout and the integrity checks are in
``brainsim/io/stored.py``; a chunk is committed by writing its data, then its row in
``/chunks`` (its end step and SHA-256), then ``n_chunks``, then flushing the file.
"""

import math
from pathlib import Path

import numpy as np

from .._sink import RecordingLayout, RecordingSink
from .stored import (
    FORMAT,
    FORMAT_VERSION,
    RecordingFileError,
    datasets,
    digest,
    h5py,
    is_events,
    layout_text,
    open_file,
    read_recording,
    sizes,
)

CHUNK_BYTES = 2**20  # HDF5 storage chunk of a dense dataset, about


class HDF5Sink(RecordingSink):
    """Stream a run's recordings to the HDF5 file ``path``; ``bs.io.read_recording``
    reads it back as the same ``Recording``.

    - ``resume=False``: a new file (an existing one is replaced).
    - ``resume=True``: continue the recording in an existing file with a run that
      starts where the file's recording reached, or earlier at the end of one of its
      chunks (a checkpoint taken before the file's last chunks: those are cut off). The
      populations, variables, intervals, shapes and ``dt`` must be the file's.

    A sink serves one ``simulate`` call. ``simulate`` returns the recording of the whole
    file with ``StoredArray`` arrays (read when used)."""

    def __init__(self, path, *, resume: bool = False):
        self.path, self.resume = Path(path), bool(resume)
        if self.resume and not self.path.is_file():
            raise FileNotFoundError(f"HDF5Sink: resume=True but there is no file {path}")
        self._file, self._used = None, False

    def open(self, layout: RecordingLayout) -> None:
        if self._used:  # a second open would start the file again (resume=False)
            raise RuntimeError(
                f"HDF5Sink({self.path}) has served a run; continue it with "
                f"bs.io.HDF5Sink({str(self.path)!r}, resume=True)"
            )
        self._used = True
        if self.resume:
            self._file = self._reopen(layout)
        else:
            self._file = _create(self.path, layout)
        self._every = {n: rec.every for n, rec in layout.records.items()}
        f = self._file
        self._n = int(f.attrs["n_chunks"])
        self._rows = sizes(f, self._n)
        self._steps = int(f["chunks/end_step"][self._n - 1]) if self._n else 0
        self._start = self._steps  # the run's first step, counted from the file's t0
        self._layout = layout_text(f)

    def _reopen(self, layout):
        f = open_file(self.path, "r+")
        try:
            _check_continues(f, self.path, layout)
        except RecordingFileError:
            f.close()
            raise
        return f

    def append(self, first_step: int, n_steps: int, chunk: dict) -> None:
        f = self._file
        parts = []
        for pop, var in sorted((p, v) for p, d in chunk.items() for v in d):
            x, g = chunk[pop][var], f[pop]
            if is_events(g, var):
                offset = self._start // self._every[pop]
                new = [np.asarray(x.steps, np.int64) + offset, np.asarray(x.neurons, np.int32)]
            else:
                new = [np.asarray(x)]
            stored = datasets(g, var) or _create_datasets(g, var, new)
            for ds, a in zip(stored, new, strict=True):
                rows = self._rows[pop, var]
                ds.resize(rows + len(a), axis=0)
                ds[rows:] = a
            self._rows[pop, var] += len(new[0])
            if is_events(g, var):
                _grow(g[var]["chunk_end"], self._n, self._rows[pop, var])
            parts.extend(new)
        self._steps = self._start + first_step + n_steps
        _grow(f["chunks/end_step"], self._n, self._steps)
        _grow(f["chunks/sha256"], self._n, digest(self._layout, self._steps, parts).encode())
        self._n += 1
        f.attrs["n_chunks"] = self._n  # the commit
        f.flush()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
        return read_recording(self.path, lazy=True, check=False)


def _grow(ds, n: int, value) -> None:
    """Write ``value`` as row ``n`` of the 1-D dataset ``ds`` (cutting off rows past it)."""
    ds.resize(n + 1, axis=0)
    ds[n] = value


def _create(path: Path, layout: RecordingLayout):
    f = h5py().File(path, "w")
    f.attrs.update(
        format=FORMAT, format_version=FORMAT_VERSION, dt=layout.dt, t0=layout.t0, n_chunks=0
    )
    g = f.create_group("chunks")
    g.create_dataset("end_step", (0,), np.int64, maxshape=(None,))
    g.create_dataset("sha256", (0,), "S64", maxshape=(None,))
    for name, rec in layout.records.items():
        g = f.create_group(name)
        g.attrs.update(
            every=rec.every,
            shape=np.asarray(layout.shapes[name], np.int64),
            variables=list(rec.variables),
            events=name in layout.events,
            # default spike events (``Record(events=None)``): read back as rasters
            raster=name in layout.events and rec.events is None,
        )
    f.flush()
    return f


def _create_datasets(group, var: str, arrays) -> list:
    """The datasets of ``var`` (at the first chunk: their dtypes are the data's)."""
    if is_events(group, var):
        g = group.create_group(var)
        g.create_dataset("chunk_end", (0,), np.int64, maxshape=(None,))
        names = ("steps", "neurons")
    else:
        g, names = group, (var,)
    out = []
    for name, a in zip(names, arrays, strict=True):
        row = max(1, math.prod(a.shape[1:]) * a.dtype.itemsize)
        rows = max(1, min(CHUNK_BYTES // row, 2**16))
        out.append(
            g.create_dataset(
                name,
                (0, *a.shape[1:]),
                a.dtype,
                maxshape=(None, *a.shape[1:]),
                chunks=(rows, *a.shape[1:]),
            )
        )
    return out


def _check_continues(f, path, layout: RecordingLayout) -> None:
    """Check that a run of ``layout`` continues the recording in ``f``, and cut the file
    back to the chunk the run starts after."""
    if not math.isclose(float(f.attrs["dt"]), layout.dt):
        raise RecordingFileError(
            f"recording file {path}: recorded with dt = {f.attrs['dt']:g} ms, the run has "
            f"dt = {layout.dt:g} ms"
        )
    pops = sorted(n for n in f if n != "chunks")
    for name, rec in layout.records.items():
        g = f.get(name)
        here = (rec.every, tuple(layout.shapes[name]), list(rec.variables), name in layout.events)
        there = g and (
            int(g.attrs["every"]),
            tuple(int(s) for s in g.attrs["shape"]),
            list(g.attrs["variables"]),
            bool(g.attrs["events"]),
        )
        if here != there:
            raise RecordingFileError(
                f"recording file {path}: population {name!r} is recorded as "
                f"(every, shape, variables, events) = {here}, the file holds {there}"
            )
    if pops != sorted(layout.records):
        raise RecordingFileError(
            f"recording file {path}: holds populations {pops}, the run records "
            f"{sorted(layout.records)}"
        )
    n = int(f.attrs["n_chunks"])
    ends = [0, *(int(e) for e in f["chunks/end_step"][:n])]
    start = round((layout.t0 - float(f.attrs["t0"])) / layout.dt)
    if start not in ends:
        reached = float(f.attrs["t0"]) + ends[-1] * layout.dt
        raise RecordingFileError(
            f"recording file {path}: the run starts at t0 = {layout.t0:g} ms, which is not "
            f"the end of a chunk of the file (its recording reaches t = {reached:g} ms)"
        )
    k = ends.index(start)
    if k < n:  # the run continues from an earlier chunk: cut off the later ones
        rows = sizes(f, k)
        for name in layout.records:
            for var in f[name].attrs["variables"]:
                for ds in datasets(f[name], var):
                    ds.resize(rows[name, var], axis=0)
                if is_events(f[name], var) and var in f[name]:
                    f[name][var]["chunk_end"].resize(k, axis=0)
        for ds in ("chunks/end_step", "chunks/sha256"):
            f[ds].resize(k, axis=0)
        f.attrs["n_chunks"] = k
        f.flush()
