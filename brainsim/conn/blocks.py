"""Random synapses drawn block by block straight into their final arrays.

A projection's rows (presynaptic neurons) are cut into blocks of consecutive rows
holding about ``BLOCK`` synapses each. Every block draws with its own NumPy generator,
the block's child of the projection's seed sequence (``np.random.SeedSequence.spawn``),
so the network depends on the seed only: not on how many threads draw the blocks or in
which order they finish. A block writes its slices of the final arrays (int32 targets,
float32 weights, the uint8/int16 index of each synapse's delay) and holds O(``BLOCK``)
temporaries, so a build needs the final arrays plus a few MiB per thread.
"""

import concurrent.futures
import os

import numpy as np

BLOCK = 1 << 18  # synapses per block: ~10 MiB of temporaries per thread


def threads() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parallel(fn, n: int) -> list:
    """``[fn(0), ..., fn(n - 1)]`` on up to ``threads()`` threads (NumPy's generators,
    sorts and ufuncs on large arrays release the GIL)."""
    workers = min(threads(), n)
    if workers <= 1:
        return [fn(b) for b in range(n)]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, range(n)))


def empty(n: int, dtype) -> np.ndarray:
    """An uninitialised ``(n,)`` array aligned to 64 bytes: JAX's CPU client then takes
    it without a copy (``jax.device_put`` copies NumPy's 16-byte-aligned arrays, which
    would hold every synapse array twice while it runs)."""
    dtype = np.dtype(dtype)
    buf = np.empty(n * dtype.itemsize + 64, np.uint8)
    start = -buf.ctypes.data % 64
    return buf[start : start + n * dtype.itemsize].view(dtype)


def row_blocks(indptr: np.ndarray) -> np.ndarray:
    """Row boundaries ``cuts`` (``(n_blocks + 1,)``): block ``b`` is rows
    ``cuts[b]:cuts[b + 1]``, about ``BLOCK`` synapses (a longer row is a block alone)."""
    n, nnz, size = len(indptr) - 1, int(indptr[-1]), BLOCK
    cuts = np.searchsorted(indptr, np.arange(size, nnz, size, dtype=np.int64))
    return np.unique(np.concatenate([[0], cuts, [n]]).astype(np.int64))


def _sort_rows(row, post, n_post, steps=None):
    """Sort one block's synapses by (row, delay step, target), in place of ``post`` and
    ``steps``: one sort of a combined int64 key (``row`` is consumed), or a lexsort
    where the key would overflow."""
    if post.size == 0:
        return
    n_steps = 1 if steps is None else int(steps.max()) + 1
    if (int(row[-1]) + 1) * n_steps * n_post >= 2**63:
        order = np.lexsort((post, row) if steps is None else (post, steps, row))
        post[:] = post[order]
        if steps is not None:
            steps[:] = steps[order]
        return
    key = row
    if steps is not None:
        key *= n_steps
        key += steps
    key *= n_post
    key += post
    key.sort()
    np.remainder(key, n_post, out=post)
    if steps is not None:
        key //= n_post
        np.remainder(key, n_steps, out=steps)


def group_table(counts: np.ndarray, resolution: float):
    """From the synapse count per delay step (``counts[s]``, steps ``s >= 1``): the
    delays present (ms, ascending, rounded to 1e-9 ms like ``bs.conn.with_delays``) and
    the map from ``step - 1`` to their index (``None`` when it is ``step - 1`` itself)."""
    present = np.flatnonzero(counts)
    values = tuple(float(v) for v in np.round(present * resolution, 9))
    if present.size == 0 or (present[0] == 1 and present[-1] == present.size):
        return values, None
    lut = np.zeros(len(counts), np.int64)
    lut[present - 1] = np.arange(present.size)
    return values, lut


def draw_total_number(seed, n_pre, n_post, n, *, no_self, weights=None, delays=None):
    """``n`` synapses, each an independent, uniformly drawn (pre, post) pair (without
    ``i -> i`` where ``no_self``), grouped by pre and within a row sorted by (delay,
    target).

    The out-degrees are drawn first (multinomial), then each block of rows draws its
    targets, delays (``delays.sample_steps``) and weights (``weights.sample``): the same
    distribution as ``n`` independent pairs. Returns ``(indptr (n_pre + 1,) int64,
    targets (n,) int32, weights (n,) float32 or None, group (n,) uint8/int16/int32 or
    None, delay values (ms) or None)``."""
    seq = np.random.SeedSequence(seed)
    counts = np.random.default_rng(seq).multinomial(n, np.full(n_pre, 1.0 / n_pre))
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    cuts = row_blocks(indptr)
    seeds = seq.spawn(len(cuts) - 1)
    cols = n_post - 1 if no_self else n_post
    targets = empty(n, np.int32)
    w = None if weights is None else empty(n, np.float32)

    def block(b, group):
        r0, r1 = int(cuts[b]), int(cuts[b + 1])
        s0, s1 = int(indptr[r0]), int(indptr[r1])
        rng = np.random.default_rng(seeds[b])
        post = rng.integers(0, cols, s1 - s0)
        row = np.repeat(np.arange(r1 - r0, dtype=np.int64), counts[r0:r1])
        if no_self:
            post += post >= row + r0
        steps = None
        if delays is not None:
            steps = delays.sample_steps(rng, s1 - s0).astype(np.int64)
        hist = np.bincount(steps) if steps is not None else None
        _sort_rows(row, post, n_post, steps)
        targets[s0:s1] = post
        if group is not None and len(hist) - 1 <= np.iinfo(group.dtype).max + 1:
            steps -= 1
            group[s0:s1] = steps
        if w is not None:
            weights.sample(rng, w[s0:s1])
        return hist

    if delays is None:
        parallel(lambda b: block(b, None), len(cuts) - 1)
        return indptr, targets, w, None, None
    for dtype in (np.uint8, np.int16, np.int32):
        group = empty(n, dtype)
        hists = parallel(lambda b, g=group: block(b, g), len(cuts) - 1)
        hist = np.zeros(max(map(len, hists), default=1), np.int64)
        for h in hists:
            hist[: len(h)] += h
        if len(hist) - 1 <= np.iinfo(dtype).max + 1:
            break
    values, lut = group_table(hist, delays.resolution)
    if lut is not None:

        def relabel(b):
            s0, s1 = indptr[cuts[b]], indptr[cuts[b + 1]]
            group[s0:s1] = lut[group[s0:s1]]

        parallel(relabel, len(cuts) - 1)
    return indptr, targets, w, group, values
