import numpy as np


def check_dataset(name: str, x, y, n_classes: int | None = None) -> None:
    """Non-empty, ``len(x) == len(y)``, finite ``x``, integer labels in ``[0, n_classes)``."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape[0] == 0 or y.size == 0:
        raise ValueError(f"{name}: dataset is empty (x {x.shape}, y {y.shape})")
    if y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name}: x and y must have the same number of samples, got x {x.shape}, y {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name}: labels must be integers, got dtype {y.dtype}")
    _check_finite(name, x)
    hi = n_classes if n_classes is not None else y.max() + 1
    if y.min() < 0 or y.max() >= hi:
        raise ValueError(
            f"{name}: labels must lie in [0, {hi - 1}], got min {y.min()}, max {y.max()}"
        )


def _check_finite(name: str, x, block: int = 1024) -> None:
    """Every value of ``x`` finite (checked ``block`` samples at a time: no full-size
    temporary)."""
    if not np.issubdtype(x.dtype, np.inexact):
        return
    for i in range(0, x.shape[0], block):
        bad = ~np.isfinite(x[i : i + block])
        if bad.any():
            where = tuple(int(j) for j in np.argwhere(bad)[0])
            where = (where[0] + i, *where[1:])
            raise ValueError(f"{name}: x must be finite, got {x[where]} at index {where}")
