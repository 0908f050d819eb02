"""The kernel layer's contract: the library built with the package is loaded (or brainsim
says once why not and runs the pure-JAX path), ``bs.ops.configure`` checks and applies
its options, ``bs.ops.backend_info`` reports the path each op takes."""

import os
import shutil
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim.ops._native import _library


def test_kernels_built_where_a_compiler_exists():
    """An install (or editable build) on a machine with a C++ compiler carries the
    library: the native path must be available, not silently replaced."""
    if shutil.which(os.environ.get("CXX") or "c++") is None:
        pytest.skip("no C++ compiler on this machine: the pure-JAX install is expected")
    info = bs.ops.backend_info()
    assert info["kernels"] == "native", info["reason"]
    assert all(op["path"] == "native" for op in info["ops"].values())


@pytest.fixture
def unloaded(monkeypatch, tmp_path):
    """A fresh loader state whose library lives in ``tmp_path`` (nothing loaded yet)."""
    monkeypatch.setattr(_library, "_HERE", tmp_path)
    monkeypatch.setattr(
        _library, "_state", {"done": False, "lib": None, "error": None, "warned": False}
    )
    return tmp_path


def _matvec():
    """A small event product through ``bs.ops.matvec`` and its dense reference."""
    rng = np.random.default_rng(0)
    w = (rng.normal(size=(30, 20)) * (rng.random((30, 20)) < 0.3)).astype(np.float32)
    pre, post = np.nonzero(w)  # row-major: CSR order
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=30))])
    layout = bs.conn.CSR(30, 20, indptr, post)
    weight = jnp.asarray(w[pre, post])
    spikes = jnp.asarray(rng.random(30) < 0.3, jnp.float32)
    got = bs.ops.matvec(layout, weight, spikes)
    return np.asarray(got), np.asarray(spikes) @ w


def test_missing_library_warns_once_naming_the_cause_and_runs_pure(unloaded):
    with pytest.warns(bs.ops.KernelsUnavailableWarning, match="does not exist") as rec:
        assert not bs.ops._native.available()
    assert str(unloaded / _library.LIB_NAME) in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once: no second warning
        assert not bs.ops._native.available()
        got, want = _matvec()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    info = bs.ops.backend_info()
    assert info["kernels"] == "pure" and "does not exist" in info["reason"]
    assert {op["path"] for op in info["ops"].values()} == {"pure"}


def test_library_older_than_its_sources_is_not_loaded(unloaded):
    lib = unloaded / _library.LIB_NAME
    lib.write_bytes(b"")
    src = unloaded / "lif_update.cc"
    src.write_text("// edited after the build\n")
    t = time.time()
    os.utime(lib, (t - 10, t - 10))
    os.utime(src, (t, t))
    with pytest.warns(bs.ops.KernelsUnavailableWarning, match="older than its source"):
        assert not bs.ops._native.available()


def test_configure_kernels_off_takes_the_pure_path_and_restores():
    before = bs.ops.settings()
    with bs.ops.configure(kernels=False) as cfg:
        assert cfg.kernels is False and not bs.ops._native.available()
        info = bs.ops.backend_info()
        assert info["kernels"] == "pure" and "configure(kernels=False)" in info["reason"]
        got, want = _matvec()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert bs.ops.settings() == before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kernels": 1}, "kernels must be True or False, got 1"),
        ({"threads": 0}, "threads must be None or an int >= 1, got 0"),
        ({"threads": 2.5}, "threads must be None or an int >= 1, got 2.5"),
        ({"spin_us": -1}, r"spin_us must be an int in \[0, 1000000\] \(µs\), got -1"),
    ],
)
def test_configure_rejects_bad_values_naming_them(kwargs, match):
    before = bs.ops.settings()
    with pytest.raises((TypeError, ValueError), match=match):
        bs.ops.configure(**kwargs)
    assert bs.ops.settings() == before


def test_threads_and_spin_apply_to_later_calls():
    """``threads``/``spin_us`` are read by every kernel call: the same compiled product
    runs under each setting (and gives the same values)."""
    if not bs.ops._native.available():
        pytest.skip("native kernels unavailable (not built)")
    rng = np.random.default_rng(1)
    x = jnp.asarray((rng.random((64, 300)) < 0.1) * rng.normal(size=(64, 300)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(300, 256)), jnp.float32)
    f = jax.jit(bs.ops.rows_matmul)
    ref = np.asarray(f(x, w))
    for kwargs in ({"threads": 1}, {"spin_us": 200}, {"threads": 1, "spin_us": 0}):
        with bs.ops.configure(**kwargs):
            np.testing.assert_array_equal(np.asarray(f(x, w)), ref)
    assert bs.ops.settings() == bs.ops.KernelSettings()
