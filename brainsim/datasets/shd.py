"""Spiking Heidelberg Digits (Cramer et al. 2020) from a LOCAL HDF5 file (no download).

The file holds ``spikes/times`` (per sample, spike times in s), ``spikes/units`` (per
sample, channel indices in [0, 700)) and ``labels`` (20 classes).
"""

import numpy as np

from .._checks import check_nonnegative, check_positive, check_size
from ._checks import check_dataset


def bin_events(times, units, n_steps: int, max_time: float, n_channels: int) -> np.ndarray:
    """Count events of one sample into ``(n_steps, n_channels)`` bins of width
    ``max_time / n_steps`` s; events at or after ``max_time`` are dropped. Times must be
    finite and >= 0."""
    times, units = np.asarray(times), np.asarray(units)
    check_nonnegative("shd: times", times, "s")
    if times.shape != units.shape:
        raise ValueError(f"shd: times {times.shape} and units {units.shape} differ in shape")
    if units.size and (units.min() < 0 or units.max() >= n_channels):
        raise ValueError(f"shd: units must lie in [0, {n_channels - 1}]")
    t = np.floor(times / max_time * n_steps).astype(np.int64)
    keep = (t >= 0) & (t < n_steps)
    out = np.zeros((n_steps, n_channels), np.float32)
    np.add.at(out, (t[keep], units[keep].astype(np.int64)), 1.0)
    return out


_DATASETS = ("spikes/times", "spikes/units", "labels")


def _bin(k, times, units, n_steps, max_time, n_channels):
    try:
        return bin_events(times, units, n_steps, max_time, n_channels)
    except ValueError as e:
        raise ValueError(f"load_shd: sample {k}: {e}") from None


def _integer_labels(labels) -> np.ndarray:
    """``labels`` as int64; float labels only where every value is a whole number."""
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        flat = labels.ravel()
        bad = flat[flat != np.round(flat)] if np.issubdtype(flat.dtype, np.floating) else flat
        if bad.size:
            raise ValueError(
                f"load_shd: labels must be integers, got dtype {labels.dtype} with value "
                f"{bad[0]!r}"
            )
    return labels.astype(np.int64)


def load_shd(
    path, n_steps: int = 100, max_time: float = 1.4, n_channels: int = 700, n_classes: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Dense binned spike counts ``(n, n_steps, n_channels)`` and labels ``(n,)``.

    Requires h5py (``pip install brainsim[data]``)."""
    check_size("load_shd.n_steps", n_steps)
    check_positive("load_shd.max_time", max_time, "s")
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("load_shd() needs h5py: pip install brainsim[data]") from err
    with h5py.File(path, "r") as f:
        for name in _DATASETS:
            if name not in f:
                raise ValueError(
                    f"load_shd: {path} has no dataset {name!r} (an SHD file holds "
                    f"{', '.join(_DATASETS)})"
                )
        times, units = f["spikes/times"][:], f["spikes/units"][:]
        labels = np.asarray(f["labels"][:])
    if len(times) != len(units):
        raise ValueError(f"load_shd: {len(times)} time arrays but {len(units)} unit arrays")
    y = _integer_labels(labels)
    x = np.zeros((0,))
    if len(times):
        x = np.stack(
            [
                _bin(k, t, u, n_steps, max_time, n_channels)
                for k, (t, u) in enumerate(zip(times, units, strict=True))
            ]
        )
    check_dataset("load_shd", x, y, n_classes)
    return x, y.astype(np.int32)
