"""Keep compiled programs on disk, so a second run of the same shapes skips compilation.

A network's simulation loop and ``Network.init`` compile once per process (0.5-2 s on a
CPU). ``enable_compilation_cache()`` turns on JAX's own persistent compilation cache
(``jax_compilation_cache_dir``) for every compiled program, whatever its compile time:
later processes that build networks of the same shapes load the executables instead of
compiling them. Nothing else changes; the programs are keyed by JAX on their full HLO,
the JAX version and the backend, so a stale entry is never used.
"""

import os
from pathlib import Path

import jax


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/brainsim/xla``, or ``~/.cache/brainsim/xla`` (the XDG
    convention for per-user caches)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "brainsim" / "xla"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Cache every compiled program under ``path`` (default ``default_cache_dir()``);
    returns the directory. Process-wide (it sets JAX configuration options), so call it
    once, before the first simulation."""
    path = Path(path).expanduser() if path is not None else default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
