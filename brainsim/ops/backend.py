"""Which path each op takes: ``backend_info()``, and the kernel configuration
(``configure``, re-exported from ``ops/_native/_settings.py``).

Every op has a pure-JAX path (any platform, and the reference the kernels are tested
against) and, on CPU, a native kernel (``ops/_native``) used where the conditions below
hold: every registered kernel (``ops._kernel.KERNELS``, its condition in words). Both
give the same spikes (``tests/test_path_independence.py``,
``tests/test_kernel_values.py``).
"""

from __future__ import annotations

import jax

from . import _native
from ._kernel import KERNELS
from ._native._library import KernelsUnavailableWarning, path
from ._native._settings import KernelSettings, configure, settings

__all__ = [
    "KernelSettings",
    "KernelsUnavailableWarning",
    "backend_info",
    "configure",
    "settings",
]


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
        reason += (
            " (CPU computations only; the pure-JAX path runs on "
            + ", ".join(p for p in platforms if p != "cpu")
            + ")"
        )
    when = {name: op.when for name, op in KERNELS.items()}
    ops = {
        op: {"path": "native" if native else "pure", "when": w if native else "never"}
        for op, w in sorted(when.items())
    }
    return {
        "kernels": "native" if native else "pure",
        "reason": reason,
        "library": str(path()),
        "settings": cfg,
        "platforms": platforms,
        "ops": ops,
    }
