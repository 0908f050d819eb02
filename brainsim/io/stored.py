"""Reading a recording streamed to an HDF5 file (``bs.io.HDF5Sink``): the same
``Recording`` as in memory, its arrays read from the file when used, every chunk's
SHA-256 checked.

Layout of the file (version 1)::

    /                    attrs: format "brainsim-recording", format_version, dt (ms),
                         t0 (ms), n_chunks (chunks committed: written last, after a
                         chunk's data and its row in /chunks)
    /chunks/end_step     (n_chunks,) int64: the steps recorded when each chunk ended
    /chunks/sha256       (n_chunks,) 64-byte ASCII: SHA-256 of each chunk's data
    /<population>        attrs: every (steps per sample), shape (one sample's shape),
                         variables (in recording order), events (spikes as events),
                         raster (optional, default false: events read as a raster)
    /<population>/<var>  dense: (n_samples, ..., n_recorded), grown along axis 0
                         spike events: a group with steps (int64, sample index),
                         neurons (int32) and chunk_end (n_chunks,) int64 (the events
                         stored when each chunk ended)

Rows past what the committed chunks cover (a run killed while writing a chunk) are
ignored, and cut off when a run is resumed into the file. A chunk's SHA-256 covers, in
the file's layout (``dt``, ``t0``, the populations' attributes) and its end step, then,
in the order of ``sorted((population, variable))``, the bytes (C order) of its dense
rows, or of its events' steps then neurons.
"""

import hashlib
import json

import numpy as np

from .._optional import require
from ..monitors import SpikeEvents, is_spikes, merge_events

FORMAT = "brainsim-recording"
FORMAT_VERSION = 1


class RecordingFileError(ValueError):
    """A recording file that cannot be read: not one, another format version, truncated
    or corrupted (a chunk fails its SHA-256 check), or a run that does not continue it;
    the message names the file and the failed check."""


def h5py():
    return require("h5py", "hdf5")


def open_file(path, mode: str = "r"):
    """The HDF5 file at ``path``, checked to be a brainsim recording of this version."""
    try:
        f = h5py().File(path, mode)
    except OSError as e:
        if mode == "r" or "No such file" not in str(e):
            raise RecordingFileError(
                f"recording file {path}: cannot be opened as HDF5 (truncated or corrupted?): {e}"
            ) from None
        raise
    fmt, version = f.attrs.get("format"), f.attrs.get("format_version")
    if fmt != FORMAT:
        f.close()
        raise RecordingFileError(f"recording file {path}: not a brainsim recording")
    if version != FORMAT_VERSION:
        f.close()
        raise RecordingFileError(
            f"recording file {path}: format version {version!r}, this brainsim reads "
            f"version {FORMAT_VERSION}"
        )
    return f


def layout_text(f) -> str:
    """The file's layout (``dt``, ``t0``, each population's attributes) as JSON text: part
    of every chunk's SHA-256, so a changed attribute fails the check too."""
    pops = {
        p: {k: np.asarray(v).tolist() for k, v in sorted(f[p].attrs.items())}
        for p in _populations(f)
    }
    return json.dumps([float(f.attrs["dt"]), float(f.attrs["t0"]), pops], sort_keys=True)


def digest(head: str, end_step: int, parts) -> str:
    """SHA-256 (hex) of a chunk: the file's ``layout_text``, the chunk's end step, then the
    arrays ``parts`` (their bytes in C order, in order)."""
    h = hashlib.sha256(f"{head}|{end_step}|".encode())
    for x in parts:
        h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def sizes(f, n_chunks: int) -> dict:
    """``{(population, variable): rows}``: the rows of each dataset (dense: samples;
    events: spikes) the first ``n_chunks`` committed chunks cover."""
    steps = int(f["chunks/end_step"][n_chunks - 1]) if n_chunks else 0
    out = {}
    for pop in _populations(f):
        g = f[pop]
        for var in g.attrs["variables"]:
            if not n_chunks:
                out[pop, var] = 0
            elif is_events(g, var):
                out[pop, var] = int(g[var]["chunk_end"][n_chunks - 1])
            else:
                out[pop, var] = steps // int(g.attrs["every"])
    return out


def _populations(f):
    return [name for name in f if name != "chunks"]


def is_events(group, var: str) -> bool:
    """Whether ``var`` of the population ``group`` is stored as spike events."""
    return bool(group.attrs["events"]) and is_spikes(var)


def datasets(group, var: str) -> list:
    """The datasets holding ``var`` (events: steps, neurons); none before a chunk."""
    if var not in group:
        return []
    return [group[var]["steps"], group[var]["neurons"]] if is_events(group, var) else [group[var]]


def verify(f, path) -> None:
    """Check every committed chunk against its SHA-256, one chunk in memory at a time."""
    n = int(f.attrs["n_chunks"])
    for name in ("chunks/end_step", "chunks/sha256"):
        if f[name].shape[0] < n:
            raise RecordingFileError(f"recording file {path}: truncated: {name} is short")
    start, head = sizes(f, 0), layout_text(f)
    for k in range(n):
        stop = sizes(f, k + 1)
        parts = []
        for pop, var in sorted(stop):
            a, b = start[pop, var], stop[pop, var]
            for ds in datasets(f[pop], var):
                if ds.shape[0] < b:
                    raise RecordingFileError(
                        f"recording file {path}: truncated: {ds.name} holds {ds.shape[0]} "
                        f"rows, chunk {k} needs {b}"
                    )
                parts.append(ds[a:b])
        expected = f["chunks/sha256"][k].decode()
        if digest(head, int(f["chunks/end_step"][k]), parts) != expected:
            first = int(f["chunks/end_step"][k - 1]) if k else 0
            raise RecordingFileError(
                f"recording file {path}: chunk {k} (steps {first}..."
                f"{int(f['chunks/end_step'][k])}) fails its SHA-256 check: the file is "
                "corrupted"
            )
        start = stop


class StoredArray:
    """An array in a recording file, read when indexed (``x[a:b]``) or converted
    (``np.asarray(x)``); the file is opened for each read, so none stays open."""

    def __init__(self, path, name: str, rows: int, shape: tuple, dtype):
        self.path, self.name = path, name
        self.shape, self.dtype = (rows, *shape), np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        return np.asarray(self)[index] if not _is_slice(index) else self._read(index)

    def _read(self, index):
        start, stop, step = index.indices(self.shape[0])
        with h5py().File(self.path, "r") as f:
            return f[self.name][start:stop:step] if start < stop else self._empty()

    def _empty(self):
        return np.zeros((0, *self.shape[1:]), self.dtype)

    def __array__(self, dtype=None, copy=None):
        x = self._read(slice(None))
        return x if dtype is None else x.astype(dtype)

    def __repr__(self):
        return f"StoredArray({self.path}:{self.name}, shape={self.shape}, dtype={self.dtype})"


def _is_slice(index) -> bool:
    return isinstance(index, slice) and index.step in (None, 1)


def read_recording(path, *, lazy: bool = False, check: bool = True):
    """The ``Recording`` stored in the file at ``path`` (written by ``bs.io.HDF5Sink``):
    the same arrays (and ``SpikeEvents``) as the run recorded in memory, over every
    committed chunk (a run killed mid-way: up to its last complete chunk).

    - ``path``: a file, or a list of the files of one run's processes
      (``bs.simulate_sharded(..., stream=)`` in each: its own neurons' spike events),
      read as one recording: every process's spikes (``bs.distributed.merge_events``).
    - ``lazy``: the arrays are ``StoredArray`` (read from the file when indexed or
      converted with ``np.asarray``) rather than loaded (one file only).
    - ``check``: verify every chunk's SHA-256 first (reading the file once, a chunk at
      a time). Raises ``RecordingFileError`` naming the file and the failed check."""
    from ..core import Recording  # io builds on the core: imported when called

    paths = list(path) if isinstance(path, list | tuple) else [path]
    if not paths:
        raise ValueError("read_recording: path is an empty list; give one file or more")
    if len(paths) > 1 and lazy:
        raise ValueError(f"read_recording: lazy=True reads one file, got {len(paths)}")
    parts = []
    for p in paths:
        try:
            parts.append(_read(p, check))
        except (KeyError, OSError) as e:  # damaged structure (h5py's errors)
            raise RecordingFileError(f"recording file {p}: damaged ({e})") from None
    data, every, n_steps, dt, t0, rasters = parts[0] if len(parts) == 1 else _merge(paths, parts)
    if not lazy:
        data = {
            pop: {
                v: SpikeEvents(np.asarray(x.steps), np.asarray(x.neurons), x.shape)
                if isinstance(x, SpikeEvents)
                else np.asarray(x)
                for v, x in d.items()
            }
            for pop, d in data.items()
        }
    return Recording(data, dt, 0.0, 0.0, n_steps, t0, tuple(every.items()), rasters)


def _merge(paths, parts):
    """The ``_read`` of several files of one run (one per process) as one: their layouts
    must agree and their variables be spike events, merged."""
    first = parts[0]
    for p, part in zip(paths[1:], parts[1:], strict=True):
        here = ({k: list(d) for k, d in part[0].items()}, *part[1:])
        there = ({k: list(d) for k, d in first[0].items()}, *first[1:])
        if here != there:
            raise RecordingFileError(
                f"recording file {p}: not a part of the same run as {paths[0]} "
                f"(populations, intervals, steps, dt, t0 differ: {here[1:]} vs {there[1:]})"
            )
    data = {}
    for pop, d in first[0].items():
        data[pop] = {}
        for var, x in d.items():
            if not isinstance(x, SpikeEvents):
                raise RecordingFileError(
                    f"recording file {paths[0]}: {pop}[{var!r}] is dense; only spike "
                    "events of several processes merge"
                )
            data[pop][var] = merge_events([part[0][pop][var] for part in parts])
    return data, *first[1:]


def _read(path, check: bool):
    """``(data, every, n_steps, dt, t0, rasters)`` of the file, its arrays
    ``StoredArray``."""
    with open_file(path) as f:
        if check:
            verify(f, path)
        n = int(f.attrs["n_chunks"])
        rows = sizes(f, n)
        n_steps = int(f["chunks/end_step"][n - 1]) if n else 0
        data, every = {}, {}
        for pop in _populations(f):
            g = f[pop]
            every[pop] = int(g.attrs["every"])
            shape = tuple(int(s) for s in g.attrs["shape"])
            data[pop] = {}
            for var in g.attrs["variables"]:
                stored = [
                    StoredArray(path, ds.name, rows[pop, var], ds.shape[1:], ds.dtype)
                    for ds in datasets(g, var)
                ]
                if is_events(g, var):
                    steps, neurons = stored or (np.zeros(0, np.int64), np.zeros(0, np.int32))
                    x = SpikeEvents(steps, neurons, (n_steps // every[pop], shape[-1]))
                else:
                    x = stored[0] if stored else np.zeros((0, *shape), np.float32)
                data[pop][var] = x
        rasters = tuple(p for p in data if bool(f[p].attrs.get("raster", False)))
        return data, every, n_steps, float(f.attrs["dt"]), float(f.attrs["t0"]), rasters
