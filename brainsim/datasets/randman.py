r"""Random manifolds (Randman; Zenke & Vogels 2021, Neural Computation 33:899).

Each class is a random smooth $D$-dimensional manifold embedded in ``n_units``
dimensions. Coordinate $i$ of the embedding at intrinsic point $x\in[0,1]^D$ is

$$f_i(x) = \prod_{d=1}^{D} \sum_{k=0}^{K-1} a_{idk}\,(k+1)^{-\alpha}
\sin\big(2\pi (k\, x_d\, b_{idk} + c_{idk})\big), \qquad a, b, c \sim U(0, 1),$$

with smoothness $\alpha$ (2) and $K$ (32) terms. Each unit's value, min–max scaled to
$[0, 1]$ (per class by default, over that class's samples), is that unit's single spike
time as a fraction of the trial. The information is purely in spike timing.
"""

import numpy as np

from .._checks import check_positive, check_size


def _manifold(rng, n_units, dim, n_terms, alpha):
    a, b, c = rng.uniform(0.0, 1.0, (3, n_units, dim, n_terms))
    return a * (np.arange(n_terms) + 1.0) ** -alpha, b, c


def _evaluate(coef, x):
    """``x (n, D)`` -> ``(n, n_units)``."""
    amp, b, c = coef
    k = np.arange(amp.shape[-1])
    phase = k * x[:, None, :, None] * b[None] + c[None]  # (n, units, D, K)
    terms = np.sum(amp[None] * np.sin(2 * np.pi * phase), axis=-1)
    return np.prod(terms, axis=-1)


def _minmax(v):
    lo, hi = v.min(axis=0), v.max(axis=0)
    return (v - lo) / np.where(hi > lo, hi - lo, 1.0)


def randman(
    seed: int,
    n_classes: int = 10,
    n_units: int = 20,
    n_samples: int = 100,
    dim: int = 2,
    alpha: float = 2.0,
    n_terms: int = 32,
    per_class_scaling: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Spike times and labels drawn from ``n_classes`` random manifolds.

    Args:
        seed: NumPy seed (manifolds and samples are deterministic given it).
        n_samples: samples per class.
        per_class_scaling: min–max scale each unit over one class's samples (else over
            all samples).

    Returns:
        ``times (n_classes * n_samples, n_units)`` in [0, 1] (fraction of the trial),
        shuffled, and ``labels (n_classes * n_samples,)`` int32.
    """
    for name, v in [
        ("n_classes", n_classes),
        ("n_units", n_units),
        ("n_samples", n_samples),
        ("dim", dim),
        ("n_terms", n_terms),
    ]:
        check_size(f"randman.{name}", v)
    check_positive("randman.alpha", alpha)
    rng = np.random.default_rng(seed)
    times, labels = [], []
    for cls in range(n_classes):
        coef = _manifold(rng, n_units, dim, n_terms, alpha)
        v = _evaluate(coef, rng.uniform(0.0, 1.0, (n_samples, dim)))
        times.append(_minmax(v) if per_class_scaling else v)
        labels.append(np.full(n_samples, cls, np.int32))
    times, labels = np.concatenate(times), np.concatenate(labels)
    if not per_class_scaling:
        times = _minmax(times)
    order = rng.permutation(len(labels))
    return times[order].astype(np.float32), labels[order]


def spike_raster(times, n_steps: int) -> np.ndarray:
    """Dense spikes ``(n, n_steps, n_units)`` from normalised spike *times* in [0, 1]
    (Randman's code, ``time = 0`` at step 0): one spike per unit at step
    ``round(time (n_steps - 1))``. Not an intensity code: ``bs.encoders.latency(x)``
    fires at ``round((1 - x)(n_steps - 1))`` (strong inputs early), i.e. at the time
    ``1 - x``."""
    check_size("spike_raster.n_steps", n_steps)
    times = np.asarray(times)
    if times.ndim != 2 or times.shape[0] == 0:
        raise ValueError(f"spike_raster: times must be (n > 0, n_units), got {times.shape}")
    idx = np.round(np.clip(times, 0.0, 1.0) * (n_steps - 1)).astype(np.int64)
    out = np.zeros((times.shape[0], n_steps, times.shape[1]), np.float32)
    n, u = np.meshgrid(np.arange(times.shape[0]), np.arange(times.shape[1]), indexing="ij")
    out[n, idx, u] = 1.0
    return out
