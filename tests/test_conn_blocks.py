"""Connectivity drawn block by block (``bs.conn.blocks``): FixedTotalNumber's pair,
degree, weight and delay distributions against their analytic definitions, the (pre,
delay, target) order of the ``Delayed`` layout, determinism whatever the number of
threads, the Potjans–Diesmann model built with it, and the peak memory of building."""

import jax
import numpy as np
import pytest
from scipy import stats

import brainsim as bs
from brainsim.conn import NormalDelay, blocks, builders


def _pairs(layout):
    csr = layout.csr if isinstance(layout, bs.conn.Delayed) else layout
    indptr = np.asarray(csr.indptr)
    return np.repeat(np.arange(csr.n_pre), np.diff(indptr)), np.asarray(csr.indices)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of ~4096 synapses, so that every test draws many blocks."""
    monkeypatch.setattr(blocks, "BLOCK", 4096)
    monkeypatch.setattr(builders, "IN_DEGREE_BLOCK", 4096)


def test_pairs_are_independent_and_uniform(small_blocks):
    """n = 398 000 pairs over the 200·199 pairs i != j of a recurrent projection: each
    pair's count is then Multinomial with p = 1/39 800 (expected 10 each). Pearson's
    chi-square over the 39 800 cells has mean dof = 39 799 and sd sqrt(2 dof) = 282:
    bound 5 sd. Out-degrees and in-degrees are Binomial(n, 1/200): mean 1990, variance
    1980; their sample variances over 200 rows have relative sd sqrt(2/199) = 10 %:
    bound 40 % (4 sd). No i -> i."""
    n_pre = n_post = 200
    n = 398_000
    layout, w = bs.conn.FixedTotalNumber(n, allow_self=False).build(
        jax.random.key(0), n_pre, n_post, recurrent=True
    )
    assert isinstance(layout, bs.conn.CSR) and w is None and layout.n_synapses == n
    pre, post = _pairs(layout)
    counts = np.bincount(pre * n_post + post, minlength=n_pre * n_post).reshape(n_pre, n_post)
    assert np.all(np.diag(counts) == 0)
    cells = counts[~np.eye(n_pre, dtype=bool)]
    expect = n / cells.size
    chi2 = ((cells - expect) ** 2 / expect).sum()
    dof = cells.size - 1
    assert abs(chi2 - dof) < 5 * np.sqrt(2 * dof), chi2
    var = n * (1 / 200) * (1 - 1 / 200)
    for degrees in (counts.sum(1), counts.sum(0)):
        assert degrees.sum() == n
        assert abs(degrees.var() / var - 1) < 0.4, degrees.var()


def test_weights_and_delays_follow_their_rules(small_blocks):
    """300 000 synapses with NormalWeights(87.8, 8.78) and NormalDelay(1.5, 0.75, 0.1).

    - Weights: Kolmogorov–Smirnov against N(87.8, 8.78²), p > 1e-3 (float32 rounding is
      ~1e-5 relative, far below the KS resolution 1/sqrt(n)).
    - Delays: the count of each step k against the analytic probability of the rule,
      P(k) = [Φ((k + ½) r) − Φ((k − ½) r)] / (1 − Φ(r/2)) (a normal redrawn below
      r/2, rounded to r = 0.1 ms): chi-square over the steps expected >= 20 times,
      p > 1e-3.
    - Within each row the synapses are ordered by (delay, target) (``Delayed``'s order)."""
    n, mean_w, mean_d, sd_d, res = 300_000, 87.8, 1.5, 0.75, 0.1
    rule = bs.conn.FixedTotalNumber(
        n,
        weights=bs.conn.NormalWeights(mean_w, 0.1 * mean_w),
        delays=bs.conn.NormalDelay(mean_d, sd_d, res),
    )
    layout, w = rule.build(jax.random.key(1), 300, 500)
    assert isinstance(layout, bs.conn.Delayed) and layout.group.dtype == np.uint8
    assert w.dtype == np.float32 and w.shape == (n,)
    w = np.asarray(w, np.float64)
    assert stats.kstest(w, stats.norm(mean_w, 0.1 * mean_w).cdf).pvalue > 1e-3
    values = np.asarray(layout.delays)
    np.testing.assert_allclose(values / res, np.round(values / res), atol=1e-9)
    steps = np.round(values / res).astype(int)[np.asarray(layout.group)]
    k = np.arange(1, steps.max() + 1)
    norm = stats.norm(mean_d, sd_d)
    p = (norm.cdf((k + 0.5) * res) - norm.cdf((k - 0.5) * res)) / norm.sf(res / 2)
    seen = np.bincount(steps, minlength=k[-1] + 1)[1:]
    big = n * p >= 20
    expect = seen[big].sum() * p[big] / p[big].sum()
    chi2 = ((seen[big] - expect) ** 2 / expect).sum()
    assert stats.chi2(big.sum() - 1).sf(chi2) > 1e-3, chi2
    pre, post = _pairs(layout)
    order = np.lexsort((post, np.asarray(layout.group), pre))
    np.testing.assert_array_equal(order, np.arange(n))


def test_keep_sign_truncates_at_zero():
    """NormalWeights(1, 1, keep_sign=True) is N(1, 1) truncated to (0, inf): sampled
    (200 000 draws: KS p > 1e-3 against scipy's truncnorm) and tabulated for procedural
    connectivity (the table's mean within 1e-3 of the truncated mean; the 2^16 quantiles
    keep the mean to ~1e-4). A negative mean truncates to (-inf, 0)."""
    for mean in (1.0, -1.0):
        rule = bs.conn.NormalWeights(mean, 1.0, keep_sign=True)
        lo, hi = (-mean, np.inf) if mean > 0 else (-np.inf, -mean)
        ref = stats.truncnorm(lo, hi, loc=mean, scale=1.0)
        out = np.empty(200_000, np.float32)
        rule.sample(np.random.default_rng(0), out)
        assert np.all(out * mean > 0)
        assert stats.kstest(out, ref.cdf).pvalue > 1e-3
        assert abs(rule.table().mean() - ref.mean()) < 1e-3
    with pytest.raises(ValueError, match="keep_sign"):
        bs.conn.NormalWeights(0.0, 1.0, keep_sign=True)


def test_same_network_whatever_the_threads(small_blocks, monkeypatch):
    """The blocks draw from their own generators: one thread or three give the same
    arrays; another key gives another network."""
    rule = bs.conn.FixedTotalNumber(
        50_000,
        allow_self=False,
        weights=bs.conn.NormalWeights(-3.0, 0.3, keep_sign=True),
        delays=bs.conn.NormalDelay(0.75, 0.375, 0.1),
    )
    out = []
    for n_threads, seed in ((1, 2), (3, 2), (1, 3)):
        monkeypatch.setattr(blocks, "threads", lambda n=n_threads: n)
        layout, w = rule.build(jax.random.key(seed), 120, 120, recurrent=True)
        out.append([np.asarray(a) for a in (layout.csr.indices, layout.group, w)])
        out[-1].append(np.asarray(layout.delays))
    for a, b in zip(out[0], out[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(out[0][0], out[2][0])


def test_delay_index_type_and_only_present_values():
    """The delay table lists only the delays that occur (relabelled), each synapse keeping
    its own, and the index type is the smallest for the number of values: delays of
    60 +- 10 ms at 0.1 ms (~600 distinct values) take int16; 30 +- 1 ms (~300 steps
    but ~70 values) a uint8. Mean and sd of 20 000 draws within 5 standard errors
    (0.07 and 0.05 ms for sd 10; the truncation at 0.05 ms is 6 sd away)."""
    for mean, sd, dtype in ((60.0, 10.0, np.int16), (30.0, 1.0, np.uint8)):
        layout, _ = bs.conn.FixedTotalNumber(
            20_000, delays=bs.conn.NormalDelay(mean, sd, 0.1)
        ).build(jax.random.key(4), 50, 60)
        assert layout.group.dtype == dtype
        values, group = np.asarray(layout.delays), np.asarray(layout.group)
        assert np.array_equal(np.unique(group), np.arange(values.size))  # all used
        d = values[group]
        assert abs(d.mean() - mean) < 5 * sd / np.sqrt(20_000)
        assert abs(d.std() - sd) < 5 * sd / np.sqrt(2 * 20_000) + 1e-3  # rounding: 4e-4


def test_bad_total_number():
    with pytest.raises(ValueError, match="FixedTotalNumber.n"):
        bs.conn.FixedTotalNumber(-1)
    with pytest.raises(ValueError, match="FixedTotalNumber.n"):
        bs.conn.FixedTotalNumber(3, allow_self=False).build(jax.random.key(0), 1, 1, True)
    layout, _ = bs.conn.FixedTotalNumber(0).build(jax.random.key(0), 3, 4)
    assert layout.n_synapses == 0


def test_potjans_diesmann_connectivity():
    """Scale 0.02 (1 543 neurons, full in-degrees): each pair's synapse count is
    round(K·N_target), no autapses, weights normal around the published means with
    10 % sd, signs kept (mean and sd within 5 standard
    errors: 0.1|μ|/√n and 0.1/√(2n) relative), per-synapse delays in a uint8 index: 9
    bytes per synapse."""
    from brainsim.models.potjans_diesmann import (
        N_FULL,
        POPULATIONS,
        in_degrees,
        mean_weights,
    )

    net = bs.models.potjans_diesmann(0.02, key=jax.random.key(0))
    sizes = np.maximum(1, (N_FULL * 0.02).astype(int))
    k, mu = in_degrees(), mean_weights()
    nbytes = n_syn = 0
    for proj in net.projections:
        if proj.pre.startswith("bg_"):
            continue
        t, s = POPULATIONS.index(proj.post), POPULATIONS.index(proj.pre)
        n = proj.conn.n_synapses
        assert n == round(k[t, s] * sizes[t])
        assert proj.conn.group.dtype == np.uint8
        w = np.asarray(proj.weight, np.float64)
        assert np.all(np.sign(w) == np.sign(mu[t, s]))
        assert abs(w.mean() - mu[t, s]) < 5 * 0.1 * abs(mu[t, s]) / np.sqrt(n)
        assert abs(w.std() / abs(mu[t, s]) - 0.1) < 5 * 0.1 / np.sqrt(2 * n)
        if s == t:
            pre, post = _pairs(proj.conn)
            assert not np.any(pre == post)
        n_syn += n
        nbytes += sum(a.nbytes for a in (proj.conn.csr.indices, proj.conn.group, proj.weight))
    assert nbytes == 9 * n_syn


@pytest.mark.parametrize(
    "builder, n_pre, n_post, bound",
    [
        (
            bs.conn.FixedTotalNumber(
                2_000_000,
                weights=bs.conn.NormalWeights(87.8, 8.78, keep_sign=True),
                delays=bs.conn.NormalDelay(1.5, 0.75, 0.1),
            ),
            3000,
            3000,
            1.5,
        ),
        (bs.conn.FixedProb(0.25, allow_self=False), 3000, 3000, 1.5),
        # the draws, (n_post, k) int32, are kept until grouped by pre: 2 x the targets
        (bs.conn.FixedInDegree(700, allow_self=False), 3000, 3000, 2.5),
    ],
)
def test_build_peak_memory(builder, n_pre, n_post, bound):
    """Building ~2 M synapses allocates at most ``bound`` x the final arrays at its
    peak (NumPy's allocations, traced), and the final arrays are those allocations
    (JAX took them without a copy: what remains traced is the final arrays)."""
    import tracemalloc

    tracemalloc.start()
    try:
        layout, w = builder.build(jax.random.key(0), n_pre, n_post, recurrent=True)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    leaves = jax.tree_util.tree_leaves((layout, w))
    final = sum(a.nbytes for a in leaves if isinstance(a, jax.Array))
    assert layout.n_synapses > 1_900_000
    assert current > 0.95 * final, (current, final)
    assert peak < bound * final, peak / final


@pytest.mark.parametrize("n_post", [1000, 2**30, 2**60])
def test_block_sort_matches_lexsort(n_post):
    """A block's synapses sorted by (row, delay step, target) exactly as ``np.lexsort``
    orders them, whichever key the span of the block needs: int32 (1000 targets), int64
    (2^30) or, where an int64 key would overflow (2^60), the lexsort itself."""
    rng = np.random.default_rng(5)
    n = 50_000
    row = np.sort(rng.integers(0, 300, n)).astype(np.int32)
    post = rng.integers(0, min(n_post, 2**31 - 1), n, dtype=np.int32)
    steps = rng.integers(1, 40, n).astype(np.int32)
    got_post, got_steps = blocks._sort_rows(row, post, n_post, steps)
    order = np.lexsort((post, steps, row))
    np.testing.assert_array_equal(got_post, post[order])
    np.testing.assert_array_equal(got_steps, steps[order])
    got_post, _ = blocks._sort_rows(row, post, n_post)
    np.testing.assert_array_equal(got_post, post[np.lexsort((post, row))])


@pytest.mark.parametrize(
    "builder, recurrent",
    [
        (bs.conn.FixedProb(0.1, allow_self=False), True),
        (bs.conn.FixedProb(0.05), False),
        (bs.conn.FixedTotalNumber(60_000, weights=bs.conn.NormalWeights(0.5, 0.3)), True),
        (bs.conn.FixedTotalNumber(9_000, allow_self=False), True),
        (bs.conn.FixedInDegree(30, allow_self=False), True),
        (bs.conn.FixedInDegree(200), False),  # k > n_pre / 2: drawn by sorting uniforms
        (
            bs.conn.FixedTotalNumber(
                40_000, weights=bs.conn.UniformWeights(1.0, 2.0), delays=NormalDelay(1.5, 0.75)
            ),
            False,
        ),
    ],
)
def test_a_window_is_the_cut_of_the_full_build(small_blocks, builder, recurrent):
    """``build_window`` (one process's synapses in a multi-process run, drawn without
    holding the others) gives exactly the synapses of ``build`` onto the window's
    targets, in the same order, with the same weights and delays: for windows at the edges, in the
    middle, of one target and empty, over many random blocks (4096 synapses each)."""
    key = jax.random.key(11)
    layout, w = builder.build(key, 300, 300, recurrent=recurrent)
    csr = layout.csr if isinstance(layout, bs.conn.Delayed) else layout
    indptr, targets = np.asarray(csr.indptr), np.asarray(csr.indices)
    for lo, hi in [(0, 300), (0, 150), (150, 300), (75, 225), (299, 300), (10, 10)]:
        got_indptr, got_targets, got_w, *delayed = builder.build_window(
            key, 300, 300, (lo, hi), recurrent=recurrent
        )
        keep = (targets >= lo) & (targets < hi)
        rows = np.repeat(np.arange(300), np.diff(indptr))[keep]
        np.testing.assert_array_equal(got_indptr, np.searchsorted(rows, np.arange(301)))
        np.testing.assert_array_equal(got_targets, targets[keep] - lo)
        assert got_targets.dtype == np.int32
        if w is None:
            assert got_w is None
        else:
            np.testing.assert_array_equal(got_w, np.asarray(w)[keep])
        if isinstance(builder, bs.conn.FixedTotalNumber):  # drawn into aligned arrays,
            # which JAX's CPU client takes without a copy (aligned_empty)
            arrays = (got_targets, got_w, *delayed[:1])
            assert all(x.ctypes.data % 64 == 0 for x in arrays if x is not None and x.size)
        if isinstance(layout, bs.conn.Delayed):  # every delay value, as the whole has
            group, values = delayed
            assert values == layout.delays and len(values) > 10
            np.testing.assert_array_equal(group, np.asarray(layout.group)[keep])
            assert group.dtype == layout.group.dtype
        else:
            assert delayed == []


def test_from_edges_and_one_to_one_windows_and_rules_without_one():
    rng = np.random.default_rng(0)
    pre, post = rng.integers(0, 50, 2000), rng.integers(0, 40, 2000)
    rule = bs.conn.FromEdges(pre, post, rng.normal(size=2000))
    layout, w = rule.build(None, 50, 40)
    indptr, targets, got_w = rule.build_window(None, 50, 40, (10, 30))
    full_t = np.asarray(layout.indices)
    keep = (full_t >= 10) & (full_t < 30)
    np.testing.assert_array_equal(targets, full_t[keep] - 10)
    np.testing.assert_array_equal(got_w, np.asarray(w)[keep])
    assert indptr[-1] == keep.sum()
    indptr, targets, none = bs.conn.OneToOne().build_window(None, 40, 40, (10, 30))
    assert none is None and targets.tolist() == list(range(20))
    assert np.diff(indptr).tolist() == [0] * 10 + [1] * 20 + [0] * 10
    with pytest.raises(ValueError, match="FixedOutDegree cannot build one process's synapses"):
        bs.conn.FixedOutDegree(5).build_window(jax.random.key(0), 50, 40, (0, 20))
