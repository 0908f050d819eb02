"""Encoders and offline datasets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs


def test_rate_encoder_statistics(getkey):
    """Bernoulli counts: mean n p, sd sqrt(n p (1-p)); 5 sd bound on the mean count."""
    p = jnp.array([0.0, 0.1, 0.5, 1.0])
    n = 4000
    s = bs.encoders.rate(getkey(), p, n)
    assert s.shape == (n, 4)
    counts = np.asarray(s.sum(0))
    sd = np.sqrt(n * p * (1 - p))
    assert np.all(np.abs(counts - n * np.asarray(p)) <= 5 * sd + 1e-9)


def test_latency_encoder_spike_times():
    x = jnp.array([[1.0, 0.5, 0.0, 0.2]])
    s = np.asarray(bs.encoders.latency(x, 11))
    # one spike at round((1 - x) * 10) -> steps 0, 5, none (x <= 0), 8
    assert s.shape == (11, 1, 4)
    np.testing.assert_array_equal(s.sum(0), [[1, 1, 0, 1]])
    np.testing.assert_array_equal(np.argmax(s[:, 0, [0, 1, 3]], axis=0), [0, 5, 8])


def test_latency_and_spike_raster_conventions():
    """The two documented conventions: ``latency`` codes intensity (x = 1 first),
    ``spike_raster`` places given times (time 0 first); latency(x) is the raster of the
    times 1 - x (time-major) for every unit above the threshold."""
    x = np.array([[1.0, 0.75, 0.3, 0.05], [0.2, 0.9, 0.6, 0.5]], np.float32)
    t = 9
    lat = np.asarray(bs.encoders.latency(jnp.asarray(x), t))  # (T, 2, 4)
    ras = bs.datasets.spike_raster(1.0 - x, t)  # (2, T, 4)
    np.testing.assert_array_equal(lat, np.moveaxis(ras, 1, 0))
    # x = 1 fires at step 0; the time 1 falls on the last step
    assert lat[0, 0, 0] == 1 and bs.datasets.spike_raster(x, t)[0, -1, 0] == 1


def test_delta_encoder_matches_loop():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(0, 0.3, (50, 3)), axis=0)
    thr = 0.5
    ref, level = np.zeros((50, 6)), x[0].copy()
    for t in range(50):  # send-on-delta, written independently
        for i in range(3):
            if x[t, i] - level[i] > thr:
                ref[t, i], level[i] = 1, x[t, i]
            elif level[i] - x[t, i] > thr:
                ref[t, 3 + i], level[i] = 1, x[t, i]
    np.testing.assert_array_equal(bs.encoders.delta(jnp.asarray(x, jnp.float32), thr), ref)


def test_encoder_bad_input():
    with pytest.raises(ValueError, match=r"rate: x must lie in \[0, 1\]"):
        bs.encoders.rate(jax.random.key(0), jnp.array([1.5]), 5)
    with pytest.raises(ValueError, match="latency: input is empty"):
        bs.encoders.latency(jnp.zeros((0,)), 5)
    with pytest.raises(ValueError, match="n_steps"):
        bs.encoders.latency(jnp.zeros((3,)), 0)


def test_randman_manifold_formula_and_scaling():
    """The generator matches the formula of Zenke & Vogels (2021) evaluated by loops
    here, and per-class min-max scaling puts every unit's times in [0, 1] per class."""
    from brainsim.datasets.randman import _evaluate, _manifold

    rng = np.random.default_rng(3)
    coef = _manifold(rng, 4, 2, 8, 2.0)
    x = rng.uniform(0, 1, (5, 2))
    a, b, c = np.random.default_rng(3).uniform(0, 1, (3, 4, 2, 8))
    ref = np.ones((5, 4))
    for n in range(5):
        for i in range(4):
            for d in range(2):
                ref[n, i] *= sum(
                    a[i, d, k]
                    * (k + 1) ** -2.0
                    * np.sin(2 * np.pi * (k * x[n, d] * b[i, d, k] + c[i, d, k]))
                    for k in range(8)
                )
    np.testing.assert_allclose(_evaluate(coef, x), ref, rtol=1e-12)
    t, y = bs.datasets.randman(0, n_classes=3, n_units=5, n_samples=50)
    assert t.shape == (150, 5) and np.bincount(y).tolist() == [50, 50, 50]
    for cls in range(3):
        np.testing.assert_allclose(t[y == cls].min(0), 0.0)
        np.testing.assert_allclose(t[y == cls].max(0), 1.0)
    t2, y2 = bs.datasets.randman(0, n_classes=3, n_units=5, n_samples=50)
    np.testing.assert_array_equal(t, t2)  # deterministic


def test_spike_raster_one_spike_per_unit():
    r = bs.datasets.spike_raster(np.array([[0.0, 1.0, 0.5]]), 11)
    np.testing.assert_array_equal(np.argmax(r[0], axis=0), [0, 10, 5])
    assert r.sum() == 3


def test_digits_split():
    xtr, ytr, xte, yte = bs.datasets.digits(test_fraction=0.25, seed=0)
    assert xtr.shape[1] == 64 and len(ytr) + len(yte) == 1797 and len(yte) == 449
    assert xtr.min() >= 0 and xtr.max() <= 1 and set(np.unique(ytr)) == set(range(10))


def _write_shd(path, times, units, labels):
    import h5py

    with h5py.File(path, "w") as f:
        vf = h5py.vlen_dtype(np.float32)
        vi = h5py.vlen_dtype(np.uint16)
        t = f.create_dataset("spikes/times", (len(times),), dtype=vf)
        u = f.create_dataset("spikes/units", (len(units),), dtype=vi)
        for k in range(len(times)):
            t[k], u[k] = times[k], units[k]
        f.create_dataset("labels", data=np.asarray(labels, np.uint8))


def test_shd_loader_bins_events(tmp_path):
    pytest.importorskip("h5py")
    times = [np.array([0.0, 0.05, 0.95, 1.5], np.float32), np.array([0.51], np.float32)]
    units = [np.array([0, 699, 3, 5], np.uint16), np.array([2], np.uint16)]
    _write_shd(tmp_path / "shd.h5", times, units, [4, 19])
    x, y = bs.datasets.load_shd(tmp_path / "shd.h5", n_steps=10, max_time=1.0)
    assert x.shape == (2, 10, 700) and y.tolist() == [4, 19]
    # bins of 0.1 s: 0.0->0, 0.05->0, 0.95->9, 1.5 dropped; 0.51->5
    assert x[0, 0, 0] == 1 and x[0, 0, 699] == 1 and x[0, 9, 3] == 1 and x[0].sum() == 3
    assert x[1, 5, 2] == 1 and x[1].sum() == 1


def test_shd_loader_bad_files(tmp_path):
    pytest.importorskip("h5py")
    t = [np.array([0.1], np.float32)]
    _write_shd(tmp_path / "bad_label.h5", t, [np.array([1], np.uint16)], [20])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 19\]"):
        bs.datasets.load_shd(tmp_path / "bad_label.h5")
    _write_shd(tmp_path / "empty.h5", [], [], [])
    with pytest.raises(ValueError, match="empty"):
        bs.datasets.load_shd(tmp_path / "empty.h5")
    with pytest.raises(ValueError, match="differ in shape"):
        bs.datasets.bin_events([0.1, 0.2], [1], 10, 1.0, 700)
    with pytest.raises(ValueError, match="same number of samples"):
        bs.datasets.check_dataset("x", np.zeros((3, 2)), np.zeros(2, int))


def test_shd_loader_refuses_bad_values(tmp_path):
    """NaN or negative spike times, fractional labels and a missing dataset are named
    errors, never dropped or truncated."""
    h5py = pytest.importorskip("h5py")
    u = [np.array([1, 2], np.uint16)]
    cases = [
        ("nan", [np.array([0.1, np.nan], np.float32)], [3], r"sample 0: shd: times must be >= 0"),
        ("neg", [np.array([-0.2, 0.1], np.float32)], [3], r"sample 0: shd: times must be >= 0"),
    ]
    for name, t, labels, message in cases:
        _write_shd(tmp_path / f"{name}.h5", t, u, labels)
        with pytest.raises(ValueError, match=message):
            bs.datasets.load_shd(tmp_path / f"{name}.h5")
    _write_shd(tmp_path / "labels.h5", [np.array([0.1, 0.2], np.float32)], u, [3])
    with h5py.File(tmp_path / "labels.h5", "a") as f:
        del f["labels"]
        f.create_dataset("labels", data=np.array([2.5]))
    with pytest.raises(ValueError, match=r"labels must be integers, got dtype float64 with.*2.5"):
        bs.datasets.load_shd(tmp_path / "labels.h5")
    with h5py.File(tmp_path / "labels.h5", "a") as f:
        f["labels"][...] = 2.0  # whole numbers stored as floats are read as they are
    assert bs.datasets.load_shd(tmp_path / "labels.h5")[1].tolist() == [2]
    with h5py.File(tmp_path / "labels.h5", "a") as f:
        del f["labels"]
    with pytest.raises(ValueError, match=r"has no dataset 'labels' \(an SHD file holds"):
        bs.datasets.load_shd(tmp_path / "labels.h5")
