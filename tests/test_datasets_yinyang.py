"""Yin-Yang data set against its published definition (Kriener, Göltz & Petrovici 2022)."""

import numpy as np
import pytest

import brainsim as bs

R, r = 0.5, 0.1


def _taijitu(x, y):
    """Independent construction of the published symbol from its parts, as regions:
    yin = (upper half ∪ left half-size disk) minus the right half-size disk; the two dots
    (radius r around the half-size disks' centres) are their own class."""
    in_left = np.hypot(x - 0.25, y - 0.5) <= 0.25
    in_right = np.hypot(x - 0.75, y - 0.5) <= 0.25
    dot = (np.hypot(x - 0.25, y - 0.5) < r) | (np.hypot(x - 0.75, y - 0.5) < r)
    yin = ((y > 0.5) | in_left) & ~in_right
    return np.where(dot, 2, np.where(yin, 0, 1))


def test_labels_match_the_published_regions():
    """On a grid over the disk (off the region boundaries, where ``<`` vs ``<=`` is a
    convention), the class formula equals the geometric construction."""
    g = np.linspace(0.0, 1.0, 401)
    x, y = (a.ravel() for a in np.meshgrid(g, g))
    d = [np.hypot(x - 0.5, y - 0.5), np.hypot(x - 0.25, y - 0.5), np.hypot(x - 0.75, y - 0.5)]
    off = (d[0] < R) & (np.abs(y - 0.5) > 1e-9)
    for dist in d[1:]:
        off &= (np.abs(dist - r) > 1e-9) & (np.abs(dist - 0.25) > 1e-9)
    got = bs.datasets.yinyang_class(x[off], y[off])
    np.testing.assert_array_equal(got, _taijitu(x[off], y[off]))
    # named points: the dots' centres, the top and bottom of the symbol
    np.testing.assert_array_equal(
        bs.datasets.yinyang_class([0.25, 0.75, 0.5, 0.5], [0.5, 0.5, 0.9, 0.1]), [2, 2, 0, 1]
    )


def test_samples_uniform_balanced_and_mirrored():
    """Balanced classes (binomial, n/3 ± 4 sd); inside the disk; features (x, y, 1-x, 1-y);
    yin-yang point symmetry (yin's mirror image is yang); and within yin the fraction in the
    upper half is the analytic area ratio (3R²/8 - r²/2) / (R²/2 - r²) = 0.7717."""
    n = 30000
    x, y = bs.datasets.yinyang(0, n)
    assert x.shape == (n, 4) and x.dtype == np.float32 and y.dtype == np.int32
    counts = np.bincount(y, minlength=3)
    assert np.all(np.abs(counts - n / 3) < 4 * np.sqrt(n * (1 / 3) * (2 / 3))), counts
    assert np.all(np.hypot(x[:, 0] - R, x[:, 1] - R) <= R)
    np.testing.assert_allclose(x[:, 2:], 1.0 - x[:, :2], atol=1e-6)
    np.testing.assert_array_equal(bs.datasets.yinyang_class(x[:, 0], x[:, 1]), y)
    mirrored = bs.datasets.yinyang_class(1.0 - x[:, 0], 1.0 - x[:, 1])
    np.testing.assert_array_equal(mirrored, np.array([1, 0, 2])[y])
    yin = x[y == 0]
    frac = np.mean(yin[:, 1] > R)
    ref = (3 * R**2 / 8 - r**2 / 2) / (R**2 / 2 - r**2)
    sd = np.sqrt(ref * (1 - ref) / len(yin))
    assert abs(frac - ref) < 4 * sd, (frac, ref)


def test_deterministic_and_bad_input():
    a, b = bs.datasets.yinyang(3, 50), bs.datasets.yinyang(3, 50)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="yinyang.n_samples"):
        bs.datasets.yinyang(0, 0)
    with pytest.raises(ValueError, match="r_small < r_big / 2"):
        bs.datasets.yinyang(0, 10, r_small=0.3)
