"""The kernel configuration: ``bs.ops.configure`` (a documented call, not environment
variables). The defaults need no configuration: kernels where built, every thread of
XLA's CPU pool, no polling between calls."""

from __future__ import annotations

import dataclasses
import numbers

from . import _library


@dataclasses.dataclass(frozen=True)
class KernelSettings:
    """What ``configure`` sets.

    - ``kernels``: run the native CPU kernels where they apply (``False``: every op
      takes its pure-JAX path, the reference).
    - ``threads``: the most threads one kernel call may use; ``None``: XLA's intra-op
      pool (one per core). Results do not depend on it.
    - ``spin_us``: how long (µs) a kernel's helper threads keep polling for the next
      call before returning to XLA's pool; ``0`` (default): they do not poll, so no
      thread spins while brainsim is idle. A few hundred µs can save the ~7 µs
      wake-up of a helper per call when one step of a simulation is one short call,
      at the cost of a core kept busy during the run.
    """

    kernels: bool = True
    threads: int | None = None
    spin_us: int = 0


_current = [KernelSettings()]
_UNSET = object()


class _Restore:
    """Returned by ``configure``: as a context manager, restores the settings that were
    in force before the call when the ``with`` block ends."""

    def __init__(self, previous: KernelSettings):
        self._previous = previous

    def __enter__(self) -> KernelSettings:
        return settings()

    def __exit__(self, *exc) -> None:
        _apply(self._previous)


def settings() -> KernelSettings:
    """The settings in force."""
    return _current[0]


def _apply(new: KernelSettings) -> None:
    _current[0] = new
    _library.set_runtime(new.threads or 0, new.spin_us * 1000)


def configure(*, kernels=_UNSET, threads=_UNSET, spin_us=_UNSET) -> _Restore:
    """Set the kernel options given (see ``KernelSettings``); the others keep their
    values. Applies to computations traced afterwards (``kernels``) and to every
    kernel call from now on (``threads``, ``spin_us``). Returns a context manager that
    restores the previous settings::

        bs.ops.configure(threads=1)            # from now on
        with bs.ops.configure(kernels=False):  # inside the block only
            ...

    Raises ``TypeError``/``ValueError`` naming the argument for a value out of range.
    """
    previous = settings()
    changes = {}
    if kernels is not _UNSET:
        if not isinstance(kernels, bool):
            raise TypeError(f"configure: kernels must be True or False, got {kernels!r}")
        changes["kernels"] = kernels
    if threads is not _UNSET:
        ok = threads is None or (
            isinstance(threads, numbers.Integral) and not isinstance(threads, bool)
        )
        if not ok or (threads is not None and threads < 1):
            raise ValueError(f"configure: threads must be None or an int >= 1, got {threads!r}")
        changes["threads"] = None if threads is None else int(threads)
    if spin_us is not _UNSET:
        ok = isinstance(spin_us, numbers.Integral) and not isinstance(spin_us, bool)
        if not ok or not 0 <= spin_us <= 1_000_000:
            raise ValueError(
                f"configure: spin_us must be an int in [0, 1000000] (µs), got {spin_us!r}"
            )
        changes["spin_us"] = int(spin_us)
    _apply(dataclasses.replace(previous, **changes))
    return _Restore(previous)
