"""The host-side chunk loop every runner shares (``bs.simulate``, ``bs.simulate_sharded``).

A run of ``n_steps`` steps is cut into chunks of at most ``chunk_steps`` steps, each one
call of a compiled program; between chunks the host collects the recordings (so device
memory stays bounded), checks them and may ask for the same chunk to run again (an event
buffer that overflowed, grown).
"""

from collections.abc import Callable

CHUNK_BYTES = 256 * 2**20  # recordings of one chunk kept on the device, at most
MAX_CHUNK_STEPS = 10_000


def chunk_steps(n_steps: int, block: int, bytes_per_step: float) -> int:
    """Steps per chunk: a multiple of ``block``, at most ``MAX_CHUNK_STEPS`` and
    ``CHUNK_BYTES / bytes_per_step``, preferably a divisor of ``n_steps`` (equal chunks
    compile once; a remainder chunk compiles a second time)."""
    max_steps = CHUNK_BYTES / max(bytes_per_step, 1)
    n_blocks = max(n_steps // block, 1)
    limit = max(1, min(n_blocks, int(min(MAX_CHUNK_STEPS, max_steps)) // block))
    best = next(d for d in range(limit, 0, -1) if n_blocks % d == 0)
    return block * (best if best * 2 > limit else limit)


def run_chunks(
    n_steps: int,
    chunk_steps: int,
    run_chunk: Callable[[int, int], bool],
    *,
    progress: bool | None = None,
    desc: str = "simulate",
) -> None:
    """Call ``run_chunk(done, length)`` for consecutive chunks of ``length <= chunk_steps``
    steps from step ``done`` until ``n_steps`` steps are done. ``run_chunk`` returns
    ``True`` when it kept the chunk, ``False`` to be called again for the same chunk.
    ``progress``: a tqdm bar per chunk (default: when there is more than one chunk)."""
    n_chunks = -(-n_steps // chunk_steps) if n_steps else 0
    bar = None
    if (n_chunks > 1) if progress is None else progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_chunks, unit="chunk", desc=desc)
    done = 0
    while done < n_steps:
        length = min(chunk_steps, n_steps - done)
        if not run_chunk(done, length):
            continue
        done += length
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
