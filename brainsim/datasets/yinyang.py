r"""The Yin-Yang data set (Kriener, Göltz & Petrovici 2022, "The Yin-Yang dataset",
NICE 2022): three classes of 2-D points in a yin-yang symbol.

Points $(x, y)$ are uniform in the disk of radius $R$ centred at $(R, R)$ (sampled in
the square $[0, 2R]^2$, rejected outside the disk). With $d_r, d_l$ the distances to the
right and left dot centres $(1.5R, R)$ and $(0.5R, R)$ and dot radius $r$:

- **dot** (label 2): $d_r < r$ or $d_l < r$;
- **yin** (label 0): otherwise, $d_r \le r$, or $r < d_l \le R/2$, or
  ($y > R$ and $d_r > R/2$): the upper half, minus the right half-size disk, plus the
  left one;
- **yang** (label 1): the rest.

Each sample first draws its class uniformly, then rejection-samples a point of that
class (balanced classes; within a class, points are uniform over its region). Features
are $(x, y, 1 - x, 1 - y)$ (the published mirrored inputs, so a network needs no bias to
see "small" coordinates). The published splits use $R = 0.5$, $r = 0.1$ and 5000
training, 1000 validation and 1000 test samples.
"""

import numpy as np

from .._checks import check_positive, check_size


def yinyang_class(x, y, r_small: float = 0.1, r_big: float = 0.5) -> np.ndarray:
    """Label of each point ``(x, y)`` (arrays, same shape): 0 yin, 1 yang, 2 dot (points
    outside the disk get the label of the same formula; ``yinyang`` never draws them)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    yin = (
        (d_right <= r_small)
        | ((d_left > r_small) & (d_left <= 0.5 * r_big))
        | ((y > r_big) & (d_right > 0.5 * r_big))
    )
    dot = (d_right < r_small) | (d_left < r_small)
    return np.where(dot, 2, np.where(yin, 0, 1)).astype(np.int32)


def yinyang(
    seed: int, n_samples: int = 5000, r_small: float = 0.1, r_big: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` Yin-Yang points (balanced classes), deterministic given ``seed``.

    Args:
        seed: NumPy seed.
        n_samples: number of samples.
        r_small, r_big: dot and symbol radii (dimensionless), ``0 < r_small < r_big/2``.

    Returns:
        ``x (n_samples, 4)`` float32: ``(x, y, 2 r_big - x, 2 r_big - y)``, each in
        ``[0, 2 r_big]`` (``1 - x`` for the published ``r_big = 0.5``); ``labels
        (n_samples,)`` int32: 0 yin, 1 yang, 2 dot.
    """
    check_size("yinyang.n_samples", n_samples)
    check_positive("yinyang.r_small", r_small)
    check_positive("yinyang.r_big", r_big)
    if not r_small < 0.5 * r_big:
        raise ValueError(
            f"yinyang: need r_small < r_big / 2 (dots inside the half-size disks), got "
            f"r_small={r_small:g}, r_big={r_big:g}"
        )
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n_samples).astype(np.int32)
    points = np.empty((n_samples, 2))
    todo = np.arange(n_samples)
    while todo.size:  # rejection sampling, all pending samples at once
        xy = rng.uniform(0.0, 2.0 * r_big, (todo.size, 2))
        inside = np.hypot(xy[:, 0] - r_big, xy[:, 1] - r_big) <= r_big
        ok = inside & (yinyang_class(xy[:, 0], xy[:, 1], r_small, r_big) == labels[todo])
        points[todo[ok]] = xy[ok]
        todo = todo[~ok]
    x = np.concatenate([points, 2.0 * r_big - points], axis=1)
    return x.astype(np.float32), labels
