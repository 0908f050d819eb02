"""Which path each op takes: ``backend_info()``, and the kernel configuration
(``configure``, re-exported from ``ops/_native/_settings.py``).

Every op has a pure-JAX path (any platform, and the reference the kernels are tested
against) and, on CPU, a native kernel (``ops/_native``) used where the conditions below
hold. Both give the same spikes (``tests/test_path_independence.py``).
"""

from __future__ import annotations

import jax

from . import _native
from ._native._library import KernelsUnavailableWarning, path
from ._native._settings import KernelSettings, configure, settings

__all__ = [
    "KernelSettings",
    "KernelsUnavailableWarning",
    "backend_info",
    "configure",
    "settings",
]

# op -> where its native kernel runs (on a CPU, float32/float64, unless said otherwise);
# elsewhere the op's pure-JAX path runs.
NATIVE_WHEN = {
    "event_matvec": "CSR/ELL layouts",
    "event_matvec_many": "two or more CSR/ELL projections, spikes of one batch shape",
    "procedural_matvec": "procedural layouts (forward and its VJP's gather)",
    "delayed_propagate": "heterogeneous-delay rings",
    "compact": "any spike dtype",
    "append_spikes": "bool/float32/float64 spikes",
    "rows_matmul": "at least ops.rows.NARROW output columns; rows_outer always",
    "fixed_rows_matmul": "at most ops.rows.DENSE_ABOVE of the spikes nonzero",
    "lif_scan": "bs.train's LIF recurrence, forward and reverse scans",
    "lif_update": "states of at least ops.lif.NATIVE_MIN_SIZE elements (native=None)",
    "lif_network_update": "LIF populations with CSR/ELL projections (Network.step)",
    "lif_network_run": "the same, many steps per call, in processes with only CPUs",
    "plastic_bounded": "additive (hard-bound) plastic updates, not under jax.vmap",
}


def backend_info() -> dict:
    """Which path the ops take in this process, and why.

    Returns ``{"kernels": "native" | "pure", "reason": str, "library": str,
    "settings": KernelSettings, "platforms": [...], "ops": {op: {"path": ..., "when":
    ...}}}``: ``path`` is ``"native"`` where the op's kernel is used on CPU under the
    condition ``when`` (its pure-JAX path otherwise, and on other platforms), or
    ``"pure"`` everywhere, with ``reason`` saying why (turned off by ``configure``, or
    the library could not be loaded: not built, stale, ...). Loads the library (and
    warns once if it cannot)."""
    cfg = settings()
    if not cfg.kernels:
        native, reason = False, "turned off by bs.ops.configure(kernels=False)"
    elif _native.available():
        native, reason = True, f"native CPU kernels loaded from {path()}"
    else:
        native, reason = False, f"native CPU kernels unavailable: {_native._library.error()}"
    platforms = sorted({d.platform for d in jax.devices()})
    if native and platforms != ["cpu"]:
        reason += " (CPU computations only; the pure-JAX path runs on " + ", ".join(
            p for p in platforms if p != "cpu"
        ) + ")"
    ops = {
        op: {"path": "native" if native else "pure", "when": when if native else "never"}
        for op, when in NATIVE_WHEN.items()
    }
    return {
        "kernels": "native" if native else "pure",
        "reason": reason,
        "library": str(path()),
        "settings": cfg,
        "platforms": platforms,
        "ops": ops,
    }
