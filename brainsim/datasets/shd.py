"""Spiking Heidelberg Digits (Cramer et al. 2020) from a LOCAL HDF5 file (no download).

The file holds ``spikes/times`` (per sample, spike times in s), ``spikes/units`` (per
sample, channel indices in [0, 700)) and ``labels`` (20 classes).
"""

import numpy as np

from .._checks import check_positive, check_size
from ._checks import check_dataset


def bin_events(times, units, n_steps: int, max_time: float, n_channels: int) -> np.ndarray:
    """Count events of one sample into ``(n_steps, n_channels)`` bins of width
    ``max_time / n_steps`` s; events at or after ``max_time`` are dropped."""
    times, units = np.asarray(times), np.asarray(units)
    if times.shape != units.shape:
        raise ValueError(f"shd: times {times.shape} and units {units.shape} differ in shape")
    if units.size and (units.min() < 0 or units.max() >= n_channels):
        raise ValueError(f"shd: units must lie in [0, {n_channels - 1}]")
    t = np.floor(times / max_time * n_steps).astype(np.int64)
    keep = (t >= 0) & (t < n_steps)
    out = np.zeros((n_steps, n_channels), np.float32)
    np.add.at(out, (t[keep], units[keep].astype(np.int64)), 1.0)
    return out


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
        times, units = f["spikes/times"][:], f["spikes/units"][:]
        labels = np.asarray(f["labels"][:])
    if len(times) != len(units):
        raise ValueError(f"load_shd: {len(times)} time arrays but {len(units)} unit arrays")
    y = labels.astype(np.int64) if labels.size else labels
    x = (
        np.stack(
            [
                bin_events(t, u, n_steps, max_time, n_channels)
                for t, u in zip(times, units, strict=True)
            ]
        )
        if len(times)
        else np.zeros((0,))
    )
    check_dataset("load_shd", x, y, n_classes)
    return x, y.astype(np.int32)
