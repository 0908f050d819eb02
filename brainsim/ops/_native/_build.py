"""Compile-on-first-use + load of the brainsim native CPU kernels.

The shared library is built from the C++ sources next to this file into a
per-user cache directory, keyed by a hash of (sources, jax/jaxlib version,
FFI headers, compiler, flags, machine, OS).  A file lock serialises concurrent
builders (e.g. pytest-xdist workers); the finished library is moved into place
atomically, so readers never see a half-written file.

Environment variables:
  BRAINSIM_NATIVE=0          disable the native kernels (available() -> False)
  BRAINSIM_NATIVE_THREADS=K  at most K threads per kernel call (default: XLA's
                             intra-op pool, one per core)
  BRAINSIM_NATIVE_LINGER_US=U  how long (us) the network kernel's helper threads
                             keep polling for the next step's call before going
                             back to the pool (default 200; 0: at once)
  BRAINSIM_NATIVE_CACHE=DIR  cache directory (default: $XDG_CACHE_HOME/brainsim
                             or ~/.cache/brainsim, then a temp dir fallback)
  CXX                        C++ compiler (default: first of c++, g++, clang++)
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

_HERE = Path(__file__).resolve().parent
SOURCES = (
    "csr_event.cc",
    "procedural.cc",
    "delayed_event.cc",
    "event_rows.cc",
    "lif_update.cc",
    "compact.cc",
)
HEADERS = ("event_common.h", "spike_append.h")  # hashed into the build key with the sources
LIB_NAME = "libbrainsim_native.so"
ABI_VERSION = 1

# Baseline ISA only (no -march): the cache may be shared between machines and
# the kernel is bound by scattered memory accesses, not arithmetic.
CXXFLAGS = (
    "-O3",
    "-std=c++17",
    "-fPIC",
    "-shared",
    "-fvisibility=hidden",
    "-fno-math-errno",
    "-Wno-return-type",  # noisy warnings inside the XLA FFI headers
)

# (name in XLA's FFI registry, exported symbol in the library)
TARGETS = (
    ("brainsim_csr_event_matvec", "BrainsimCsrEventMatvec"),
    ("brainsim_csr_event_multi", "BrainsimCsrEventMulti"),
    ("brainsim_procedural_event", "BrainsimProceduralEvent"),
    ("brainsim_procedural_gather", "BrainsimProceduralGather"),
    ("brainsim_delayed_event_step", "BrainsimDelayedEventStep"),
    ("brainsim_rows_matmul", "BrainsimRowsMatmul"),
    ("brainsim_rows_outer", "BrainsimRowsOuter"),
    ("brainsim_lif_scan", "BrainsimLifScan"),
    ("brainsim_lif_scan_bwd", "BrainsimLifScanBwd"),
    ("brainsim_rows_outer_lagged", "BrainsimRowsOuterLagged"),
    ("brainsim_spike_compact", "BrainsimSpikeCompact"),
    ("brainsim_spike_append", "BrainsimSpikeAppend"),
    ("brainsim_lif_update", "BrainsimLifUpdate"),
    ("brainsim_lif_network", "BrainsimLifNetwork"),
    ("brainsim_lif_network_run", "BrainsimLifNetworkRun"),
)

_lock = threading.Lock()
_state: dict = {"done": False, "ok": False, "error": None, "lib": None, "path": None}


def disabled_by_env() -> bool:
    return os.environ.get("BRAINSIM_NATIVE", "1").strip().lower() in ("0", "false", "no", "off")


def _find_compiler() -> str | None:
    cands = [os.environ["CXX"]] if os.environ.get("CXX") else []
    cands += ["c++", "g++", "clang++"]
    for c in cands:
        exe = shutil.which(c.split()[0]) if c else None
        if exe:
            return exe
    return None


def _compiler_id(cxx: str) -> str:
    try:
        r = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30)
        return r.stdout.splitlines()[0] if r.stdout else cxx
    except Exception:  # noqa: BLE001
        return cxx


def _cache_roots() -> list[Path]:
    roots = []
    if os.environ.get("BRAINSIM_NATIVE_CACHE"):
        roots.append(Path(os.environ["BRAINSIM_NATIVE_CACHE"]).expanduser())
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
        roots.append(base / "brainsim" / "native")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    roots.append(Path(tempfile.gettempdir()) / f"brainsim-native-{uid}")
    return roots


def _build_key(cxx: str) -> str:
    import jax
    import jaxlib

    h = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        h.update(name.encode())
        h.update((_HERE / name).read_bytes())
    inc = Path(jax.ffi.include_dir())
    for hdr in ("xla/ffi/api/ffi.h", "xla/ffi/api/api.h", "xla/ffi/api/c_api.h"):
        p = inc / hdr
        if p.exists():
            h.update(p.read_bytes())
    for part in (
        jax.__version__,
        jaxlib.__version__,
        _compiler_id(cxx),
        " ".join(CXXFLAGS),
        platform.machine(),
        sys.platform,
        str(ABI_VERSION),
    ):
        h.update(b"\0" + part.encode())
    return h.hexdigest()[:24]


@contextlib.contextmanager
def _file_lock(path: Path):
    try:
        import fcntl
    except ImportError:  # non-POSIX: no locking, rely on atomic rename
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _compile(cxx: str, out: Path) -> None:
    import jax

    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        cmd = [
            cxx,
            *CXXFLAGS,
            "-I",
            jax.ffi.include_dir(),
            *[str(_HERE / s) for s in SOURCES],
            "-o",
            tmp,
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(
                f"compiling brainsim native kernels failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}"
            )
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)  # atomic
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _library_path() -> Path:
    cxx = _find_compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX)")
    key = _build_key(cxx)
    errors = []
    for root in _cache_roots():
        d = root / key
        lib = d / LIB_NAME
        if lib.exists():
            return lib
        try:
            d.mkdir(parents=True, exist_ok=True)
            with _file_lock(d / ".lock"):
                if not lib.exists():  # another process may have built it
                    _compile(cxx, lib)
            return lib
        except OSError as e:  # unwritable cache dir: try the next root
            errors.append(f"{d}: {e}")
    raise RuntimeError("no writable cache directory: " + "; ".join(errors))


def load() -> bool:
    """Builds (if needed), loads and registers the kernels. Idempotent."""
    if _state["done"]:
        return _state["ok"]
    with _lock:
        if _state["done"]:
            return _state["ok"]
        try:
            if disabled_by_env():
                raise RuntimeError("disabled by BRAINSIM_NATIVE=0")
            import jax

            path = _library_path()
            lib = ctypes.CDLL(str(path))
            if lib.brainsim_native_abi_version() != ABI_VERSION:
                raise RuntimeError(f"ABI mismatch in {path}")
            for name, sym in TARGETS:
                jax.ffi.register_ffi_target(
                    name, jax.ffi.pycapsule(getattr(lib, sym)), platform="cpu"
                )
            _state.update(ok=True, lib=lib, path=str(path))
        except Exception as e:  # noqa: BLE001 - any failure => unavailable
            _state.update(ok=False, error=f"{type(e).__name__}: {e}")
        _state["done"] = True
        return _state["ok"]


def error() -> str | None:
    """Why the native kernels are unavailable (None if available/untried)."""
    return _state["error"]
