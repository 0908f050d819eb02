"""Loads the native CPU kernels that the package build compiled.

``libbrainsim_native.so`` is built from the C++ sources next to this file by the
package build (``CMakeLists.txt``, through scikit-build-core): a wheel carries it, an
editable install or a developer's CMake build writes it next to the sources. Nothing is
compiled at run time. When the library cannot be used (brainsim was installed where no
C++ compiler existed, a source tree was not built, or its sources changed since the
build), brainsim warns once with the cause (``KernelsUnavailableWarning``) and every op
takes its pure-JAX path.
"""

from __future__ import annotations

import ctypes
import threading
import warnings
from pathlib import Path

_HERE = Path(__file__).resolve().parent
LIB_NAME = "libbrainsim_native.so"
ABI_VERSION = 13  # brainsim_native_abi_version() of the sources next to this file

# (name in XLA's FFI registry, exported symbol in the library)
TARGETS = (
    ("brainsim_csr_event_matvec", "BrainsimCsrEventMatvec"),
    ("brainsim_csr_event_multi", "BrainsimCsrEventMulti"),
    ("brainsim_procedural_event", "BrainsimProceduralEvent"),
    ("brainsim_procedural_gather", "BrainsimProceduralGather"),
    ("brainsim_delayed_event_step", "BrainsimDelayedEventStep"),
    ("brainsim_delayed_event_multi", "BrainsimDelayedEventMulti"),
    ("brainsim_rows_matmul", "BrainsimRowsMatmul"),
    ("brainsim_rows_outer", "BrainsimRowsOuter"),
    ("brainsim_lif_scan", "BrainsimLifScan"),
    ("brainsim_lif_scan_bwd", "BrainsimLifScanBwd"),
    ("brainsim_rows_outer_lagged", "BrainsimRowsOuterLagged"),
    ("brainsim_spike_compact", "BrainsimSpikeCompact"),
    ("brainsim_spike_append", "BrainsimSpikeAppend"),
    ("brainsim_lif_update_f32", "BrainsimLifUpdateF32"),
    ("brainsim_lif_update_f64", "BrainsimLifUpdateF64"),
    ("brainsim_izhikevich_update_f32", "BrainsimIzhikevichUpdateF32"),
    ("brainsim_izhikevich_update_f64", "BrainsimIzhikevichUpdateF64"),
    ("brainsim_lif_network", "BrainsimLifNetwork"),
    ("brainsim_lif_network_run", "BrainsimLifNetworkRun"),
    ("brainsim_izhikevich_network_run", "BrainsimIzhikevichNetworkRun"),
    ("brainsim_plastic_bounded", "BrainsimPlasticBounded"),
)

_REBUILD = (
    "build it with `pip install -e .` (an editable install) or "
    "`cmake -S . -B build/dev && cmake --build build/dev` in the source tree"
)


class KernelsUnavailableWarning(UserWarning):
    """The native CPU kernels could not be loaded: brainsim runs its pure-JAX path."""


_lock = threading.Lock()
_state: dict = {"done": False, "lib": None, "error": None, "warned": False}
_runtime = {"max_threads": 0, "linger_ns": 0}  # brainsim_native_configure's arguments


def path() -> Path:
    """Where the library is looked for: next to this file."""
    return _HERE / LIB_NAME


def _stale_source(lib: Path) -> Path | None:
    """A C++ source next to the library that is newer than it (a source tree edited
    since its build), or ``None``. An installed wheel carries no sources."""
    built = lib.stat().st_mtime
    newer = [p for p in (*_HERE.glob("*.cc"), *_HERE.glob("*.h")) if p.stat().st_mtime > built]
    return max(newer, key=lambda p: p.stat().st_mtime) if newer else None


def _open() -> ctypes.CDLL:
    import jax

    lib_path = path()
    if not lib_path.exists():
        if any(_HERE.glob("*.cc")):
            raise RuntimeError(
                f"{lib_path} does not exist: this source tree is not built; {_REBUILD}"
            )
        raise RuntimeError(
            f"{lib_path} does not exist: brainsim was installed without its native "
            "kernels (no C++ compiler at install time? reinstall with one, e.g. g++)"
        )
    stale = _stale_source(lib_path)
    if stale is not None:
        raise RuntimeError(f"{lib_path} is older than its source {stale.name}: re-{_REBUILD}")
    lib = ctypes.CDLL(str(lib_path))
    abi = lib.brainsim_native_abi_version()
    if abi != ABI_VERSION:
        raise RuntimeError(
            f"{lib_path} has ABI version {abi}, this brainsim expects {ABI_VERSION}: re-{_REBUILD}"
        )
    lib.brainsim_native_configure.argtypes = (ctypes.c_int64, ctypes.c_int64)
    lib.brainsim_native_configure.restype = None
    lib.brainsim_native_configure(_runtime["max_threads"], _runtime["linger_ns"])
    for name, sym in TARGETS:
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, sym)), platform="cpu")
    return lib


def load() -> ctypes.CDLL | None:
    """The loaded library, its kernels registered for the ``"cpu"`` platform; ``None``
    (after one ``KernelsUnavailableWarning`` naming the cause) if it cannot be used."""
    if _state["done"]:
        return _state["lib"]
    with _lock:
        if not _state["done"]:
            try:
                _state["lib"] = _open()
            except Exception as e:  # noqa: BLE001 - reported, then the pure-JAX path
                _state["error"] = f"{type(e).__name__}: {e}"
            _state["done"] = True
    if _state["lib"] is None and not _state["warned"]:
        _state["warned"] = True
        warnings.warn(
            "brainsim's native CPU kernels are unavailable, running the pure-JAX path "
            f"(slower on CPU): {_state['error']}",
            KernelsUnavailableWarning,
            stacklevel=3,
        )
    return _state["lib"]


def set_runtime(max_threads: int, linger_ns: int) -> None:
    """The library's thread cap (0: XLA's pool) and helper linger (ns), now if it is
    loaded and when it is loaded."""
    with _lock:
        _runtime.update(max_threads=int(max_threads), linger_ns=int(linger_ns))
        if _state["lib"] is not None:
            _state["lib"].brainsim_native_configure(int(max_threads), int(linger_ns))


def error() -> str | None:
    """Why the library could not be used (``None`` if it was, or was not tried yet)."""
    return _state["error"]
