"""scikit-learn's bundled 8×8 digits (1797 images, 10 classes; no download)."""

import numpy as np

from .._checks import check_prob


def digits(test_fraction: float = 0.25, seed: int = 0):
    """Pixels scaled to [0, 1] and a deterministic shuffled train/test split.

    Returns ``(x_train (n, 64), y_train (n,), x_test (m, 64), y_test (m,))``, float32 and
    int32. Requires scikit-learn (the data ship inside its wheel).
    """
    check_prob("digits.test_fraction", test_fraction)
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("digits() needs scikit-learn: pip install brainsim[data]") from err
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
