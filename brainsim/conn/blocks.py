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

BLOCK = 1 << 16  # synapses per block: ~3 MiB of temporaries per thread


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


def aligned_empty(n: int, dtype) -> np.ndarray:
    """An uninitialised ``(n,)`` array aligned to 64 bytes: JAX's CPU client then takes
    it without a copy (``jax.device_put`` copies NumPy's 16-byte-aligned arrays, which
    would hold every synapse array twice while it runs)."""
    dtype = np.dtype(dtype)
    buf = np.empty(n * dtype.itemsize + 64, np.uint8)
    start = -buf.ctypes.data % 64
    return buf[start : start + n * dtype.itemsize].view(dtype)


def row_blocks(indptr: np.ndarray) -> np.ndarray:
    """Row boundaries ``cuts`` (``(n_blocks + 1,)``): block ``b`` is rows
    ``cuts[b]:cuts[b + 1]``, about ``BLOCK`` synapses (more where a row is longer)."""
    n, nnz, size = len(indptr) - 1, int(indptr[-1]), BLOCK
    cuts = np.searchsorted(indptr, np.arange(size, nnz, size, dtype=np.int64))
    return np.unique(np.concatenate([[0], cuts, [n]]).astype(np.int64))


def stable_argsort(keys, bound: int):
    """``np.argsort(keys, kind="stable")`` for integers in ``[0, bound)``: NumPy's radix
    sort on 16-bit digits (one pass below 2^16, two up to 2^32), ~4x faster than its
    timsort on random int64 keys."""
    if bound <= 2**16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    if bound <= 2**32:
        order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
        return order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]
    return np.argsort(keys, kind="stable")


def group_by_pre(pre: np.ndarray, n_pre: int):
    """The synapses ``pre[j, c] -> j`` (``pre (n_post, k)``) as a CSR by presynaptic
    neuron: ``(indptr (n_pre + 1,) int64, targets (n_post·k,) int32)``, targets
    ascending within each row, what a stable sort by ``pre`` gives, by a counting sort
    over blocks of targets (O(``BLOCK``) temporaries)."""
    n_post, k = pre.shape
    flat, chunk = pre.ravel(), max(BLOCK, n_pre)  # bincount makes int64 copies: chunks
    indptr = np.zeros(n_pre + 1, np.int64)
    for s in range(0, flat.size, chunk):
        indptr[1:] += np.bincount(flat[s : s + chunk], minlength=n_pre)
    np.cumsum(indptr, out=indptr)
    targets = aligned_empty(n_post * k, np.int32)
    cursor = indptr[:-1].copy()
    step = max(1, BLOCK // max(k, 1))
    for j0 in range(0, n_post, step):
        block = pre[j0 : j0 + step].ravel()
        order = stable_argsort(block, n_pre)
        rows = block[order]
        first = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
        size = np.diff(np.append(first, rows.size))
        rank = np.arange(rows.size) - np.repeat(first, size)
        targets[cursor[rows] + rank] = order // k + j0
        cursor[rows[first]] += size
    return indptr, targets


def skip_positions(rng, p: float, n_pre: int, cols: int, no_self: bool, window=None):
    """The synapses of ``n_pre`` rows of ``cols`` candidates each present independently
    with probability ``p``, by geometric skipping over the positions ``row·cols + col``:
    ``(indptr (n_pre + 1,) int64, targets int32)`` (with ``no_self``, column ``c >= row``
    is target ``c + 1``). The gaps are drawn in chunks of at most ``BLOCK``; each gap
    uses its own uniforms, so the chunking does not change the synapses. The targets
    fill a 64-byte-aligned buffer sized to the mean count + 6 sd (grown in the unlikely
    case it is exceeded). ``window=(lo, hi)``: keep only the synapses onto targets
    ``[lo, hi)`` (targets then counted from ``lo``): every gap is still drawn, but only
    the window's synapses are held."""
    n_post = cols + no_self
    lo, hi = (0, n_post) if window is None else window
    total = n_pre * cols
    mean = total * p * (hi - lo) / n_post
    targets = aligned_empty(int(mean + 6 * np.sqrt(mean) + 16) if p > 0 else 0, np.int32)
    counts = np.zeros(n_pre, np.int64)
    nnz, start = 0, -1
    while p > 0 and start < total - 1:
        left = (total - 1 - start) * p
        pos = np.cumsum(rng.geometric(p, min(BLOCK, int(left + 6 * np.sqrt(left) + 16))))
        pos += start
        start = int(pos[-1])
        pos = pos[: np.searchsorted(pos, total)]
        if pos.size == 0:
            continue
        r0, r1 = int(pos[0] // cols), int(pos[-1] // cols) + 1
        size = np.diff(np.searchsorted(pos, np.arange(r0, r1 + 1, dtype=np.int64) * cols))
        row = np.repeat(np.arange(r0, r1, dtype=np.int64), size)
        pos -= row * cols
        if no_self:
            pos += pos >= row
        if window is not None:
            keep = (pos >= lo) & (pos < hi)
            pos = pos[keep] - lo
            size = np.bincount(row[keep] - r0, minlength=r1 - r0)
        counts[r0:r1] += size
        if nnz + pos.size > targets.size:
            grown = aligned_empty(int(1.25 * targets.size) + pos.size, np.int32)
            grown[:nnz] = targets[:nnz]
            targets = grown
        targets[nnz : nnz + pos.size] = pos
        nnz += pos.size
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, targets[:nnz]


def _sort_rows(row, post, n_post, steps=None):
    """One block's ``(post, steps)`` sorted by (row, delay step, target): one sort of a
    combined key, int32 where it fits (NumPy's vectorised int32 sort is ~3x faster
    than its int64 one on AVX-512), or a lexsort where an int64 key would overflow."""
    if post.size == 0:
        return post, steps
    n_steps = 1 if steps is None else int(steps.max()) + 1
    span = (int(row[-1]) + 1) * n_steps * n_post
    if span >= 2**63:
        order = np.lexsort((post, row) if steps is None else (post, steps, row))
        return post[order], None if steps is None else steps[order]
    key = row.astype(np.int32 if span <= 2**31 else np.int64)
    if steps is not None:
        key *= n_steps
        key += steps
    key *= n_post
    key += post
    key.sort()
    post = key % n_post
    if steps is not None:
        key //= n_post
        steps = key % n_steps
    return post, steps


def group_dtype(n_values: int):
    """The smallest integer type indexing ``n_values`` delay values."""
    if n_values <= 256:
        return np.uint8
    return np.int16 if n_values <= 2**15 else np.int32


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


def _total_number_plan(seed, n_pre: int, n: int):
    """The out-degrees of ``n`` uniformly drawn synapses (multinomial), their ``indptr``,
    the row blocks ``cuts`` (``row_blocks``) and each block's seed sequence."""
    seq = np.random.SeedSequence(seed)
    counts = np.random.default_rng(seq).multinomial(n, np.full(n_pre, 1.0 / n_pre))
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    cuts = row_blocks(indptr)
    return counts, indptr, cuts, seq.spawn(len(cuts) - 1)


def _draw_targets(rng, counts, r0: int, r1: int, n_post: int, no_self: bool):
    """Rows ``[r0, r1)``'s first draw: ``(row - r0, targets)`` of every synapse, in the
    order drawn."""
    size = int(counts[r0:r1].sum())
    post = rng.integers(0, n_post - 1 if no_self else n_post, size, dtype=np.int32)
    row = np.repeat(np.arange(r1 - r0, dtype=np.int32), counts[r0:r1])
    if no_self:
        post += post >= row + r0
    return row, post


def _draw_rows(rng, counts, r0: int, r1: int, n_post: int, no_self: bool, delays):
    """Rows ``[r0, r1)``'s synapses: ``(row - r0, targets, delay steps or None, histogram
    of the steps or None)``, sorted by (row, delay step, target)."""
    row, post = _draw_targets(rng, counts, r0, r1, n_post, no_self)
    steps = None if delays is None else delays.sample_steps(rng, post.size).astype(np.int32)
    hist = None if steps is None else np.bincount(steps)
    post, steps = _sort_rows(row, post, n_post, steps)
    return row, post, steps, hist


def draw_total_number(seed, n_pre, n_post, n, *, no_self, weights=None, delays=None, window=None):
    """``n`` synapses, each an independent, uniformly drawn (pre, post) pair (without
    ``i -> i`` where ``no_self``), grouped by pre and within a row sorted by (delay,
    target).

    The out-degrees are drawn first (multinomial), then each block of rows draws its
    targets, delays (``delays.sample_steps``) and weights (``weights.sample``): the same
    distribution as ``n`` independent pairs. Returns ``(indptr (n_pre + 1,) int64,
    targets (n,) int32, weights (n,) float32 or None, group (n,) uint8/int16/int32 or
    None, delay values (ms) or None)``.

    ``window = (lo, hi)``: only the synapses onto those targets (counted from ``lo``),
    the others' random numbers drawn and dropped block by block: a first pass draws
    every block's targets to count each row's synapses in the window, then the blocks
    are drawn again straight into the window's arrays (its memory is its synapses plus
    O(block) per thread)."""
    counts, indptr, cuts, seeds = _total_number_plan(seed, n_pre, n)
    if window is not None:
        lo, hi = window

        def kept(b):
            r0, r1 = int(cuts[b]), int(cuts[b + 1])
            rng = np.random.default_rng(seeds[b])
            row, post = _draw_targets(rng, counts, r0, r1, n_post, no_self)
            return np.bincount(row[(post >= lo) & (post < hi)], minlength=r1 - r0)

        indptr = np.zeros(n_pre + 1, np.int64)
        np.cumsum(
            np.concatenate(parallel(kept, len(cuts) - 1) or [np.zeros(0, np.int64)]),
            out=indptr[1:],
        )
        n = int(indptr[-1])
    targets = aligned_empty(n, np.int32)
    w = None if weights is None else aligned_empty(n, np.float32)

    def block(b, group):
        r0, r1 = int(cuts[b]), int(cuts[b + 1])
        s0, s1 = int(indptr[r0]), int(indptr[r1])
        rng = np.random.default_rng(seeds[b])
        _, post, steps, hist = _draw_rows(rng, counts, r0, r1, n_post, no_self, delays)
        keep = slice(None) if window is None else (post >= lo) & (post < hi)
        targets[s0:s1] = post[keep] - (0 if window is None else lo)
        if group is not None and len(hist) - 1 <= np.iinfo(group.dtype).max + 1:
            steps -= 1
            group[s0:s1] = steps[keep]
        if w is not None and window is None:
            weights.sample(rng, w[s0:s1])
        elif w is not None:  # every synapse's weight drawn, the window's kept
            drawn = np.empty(post.size, np.float32)
            weights.sample(rng, drawn)
            w[s0:s1] = drawn[keep]
        return hist

    if delays is None:
        parallel(lambda b: block(b, None), len(cuts) - 1)
        return indptr, targets, w, None, None
    for dtype in (np.uint8, np.int16, np.int32):
        group = aligned_empty(n, dtype)
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
        if group.dtype != group_dtype(len(values)):  # few values spread over many steps
            narrow = aligned_empty(n, group_dtype(len(values)))
            narrow[:] = group
            group = narrow
    return indptr, targets, w, group, values


def total_number_window(seed, n_pre, n_post, n, window, *, no_self, weights=None, delays=None):
    """The synapses of ``draw_total_number`` (same arguments) onto the targets ``window =
    (lo, hi)`` only (its ``window``): ``(indptr (n_pre + 1,) int64, targets int32
    counted from ``lo``, weights float32 or None)``, and with ``delays`` also ``(group,
    delay values (ms))`` as ``draw_total_number`` labels them (from the histogram of
    every block's delays), in the full layout's order."""
    got = draw_total_number(
        seed, n_pre, n_post, n, no_self=no_self, weights=weights, delays=delays, window=window
    )
    return got if delays is not None else got[:3]
