import jax
import numpy as np
import pytest

import brainsim as bs


def _degrees(layout):
    dense = np.asarray(bs.ops.to_dense(layout, 1.0))
    return dense.sum(0), dense.sum(1), dense


def test_fixed_prob_degrees_are_binomial():
    """In-degrees of FixedProb(p) are Binomial(n_pre, p): mean n p, variance n p (1 - p).

    2000 postsynaptic samples: the sample mean has sd sqrt(np(1-p)/2000) ≈ 0.06, so 5 sd
    is 0.3; the sample variance has relative sd ≈ sqrt(2/2000) ≈ 3 %, so 15 % is 5 sd."""
    n, p = 2000, 0.02
    layout, _ = bs.conn.FixedProb(p).build(jax.random.key(0), n, n)
    indeg, outdeg, _ = _degrees(layout)
    mean, var = n * p, n * p * (1 - p)
    assert abs(indeg.mean() - mean) < 0.3
    assert abs(indeg.var() / var - 1) < 0.15
    assert abs(outdeg.var() / var - 1) < 0.15


def test_fixed_prob_pairs_are_independent():
    """Each pair is present with probability p: check p on the diagonal band too (no
    bias from the geometric skipping at row boundaries)."""
    n, p = 300, 0.3
    layout, _ = bs.conn.FixedProb(p).build(jax.random.key(1), n, n)
    dense = np.asarray(bs.ops.to_dense(layout, 1.0))
    assert dense.max() == 1.0  # no duplicate synapses
    for block in (dense[:, :1], dense[:, -1:], np.diag(dense)):
        assert abs(block.mean() - p) < 5 * np.sqrt(p * (1 - p) / block.size)


def test_allow_self_false():
    for builder in (
        bs.conn.FixedProb(0.5, allow_self=False),
        bs.conn.FixedInDegree(20, allow_self=False),
        bs.conn.FixedOutDegree(20, allow_self=False),
        bs.conn.AllToAll(allow_self=False),
    ):
        layout, _ = builder.build(jax.random.key(2), 50, 50, recurrent=True)
        assert np.all(np.diag(np.asarray(bs.ops.to_dense(layout, 1.0))) == 0), builder


def test_fixed_degrees_are_exact():
    layout, _ = bs.conn.FixedInDegree(13, allow_self=False).build(jax.random.key(3), 40, 40, True)
    indeg, _, dense = _degrees(layout)
    assert np.all(indeg == 13) and dense.max() == 1
    layout, _ = bs.conn.FixedOutDegree(17).build(jax.random.key(3), 40, 30)
    _, outdeg, dense = _degrees(layout)
    assert np.all(outdeg == 17) and dense.max() == 1
    layout, _ = bs.conn.FixedInDegree(40).build(jax.random.key(4), 40, 10)  # k == n: all
    assert np.all(_degrees(layout)[2] == 1)


def test_builders_are_deterministic():
    a, _ = bs.conn.FixedProb(0.1).build(jax.random.key(5), 100, 80)
    b, _ = bs.conn.FixedProb(0.1).build(jax.random.key(5), 100, 80)
    c, _ = bs.conn.FixedProb(0.1).build(jax.random.key(6), 100, 80)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.indices.shape != c.indices.shape or np.any(a.indices != c.indices)


def test_one_to_one():
    layout, _ = bs.conn.OneToOne().build(None, 5, 5)
    np.testing.assert_array_equal(bs.ops.to_dense(layout, 2.0), 2 * np.eye(5))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: bs.conn.FixedProb(1.5), "FixedProb.p"),
        (lambda: bs.conn.FixedProb(-0.1), "FixedProb.p"),
        (lambda: bs.conn.FixedInDegree(11).build(jax.random.key(0), 10, 5), "FixedInDegree.k"),
        (lambda: bs.conn.FixedOutDegree(-1).build(jax.random.key(0), 10, 5), "FixedOutDegree.k"),
        (lambda: bs.conn.OneToOne().build(None, 3, 4), "OneToOne"),
        (lambda: bs.conn.FromDense(np.ones((2, 3))).build(None, 3, 2), "FromDense.matrix"),
        (lambda: bs.conn.FromEdges([0, 5], [0, 1]).build(None, 3, 2), "FromEdges.pre"),
    ],
)
def test_bad_connectivity_raises(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("bound", [7, 20_000, 2**16, 70_000, 2**33])
def test_csr_sort_equals_numpy_stable_argsort(bound):
    """The radix argsort behind ``csr_from_edges`` (one 16-bit pass, two, or NumPy's own
    above 2^32) gives exactly ``np.argsort(kind="stable")``'s permutation, so edge lists
    with repeated presynaptic indices keep their order."""
    from brainsim.conn.blocks import stable_argsort

    keys = np.random.default_rng(bound % 1000).integers(0, bound, 100_000)
    np.testing.assert_array_equal(stable_argsort(keys, bound), np.argsort(keys, kind="stable"))


@pytest.mark.parametrize(
    "builder, n_pre, n_post",
    [
        (bs.conn.FixedProb(0.05, allow_self=False), 700, 700),
        (bs.conn.FixedProb(0.6), 90, 80),
        (bs.conn.FixedInDegree(30, allow_self=False), 400, 400),
        (bs.conn.FixedInDegree(25), 70_000, 300),  # two 16-bit radix passes by pre
    ],
)
def test_streamed_builders_do_not_depend_on_the_block_size(builder, n_pre, n_post, monkeypatch):
    """FixedProb (gaps drawn in chunks) and FixedInDegree (grouped by pre block by
    block) give the same synapses with blocks of 1 000 as with the default ones, and
    the CSR a stable sort by pre of the same draws gives (targets ascending in rows)."""
    from brainsim.conn import blocks

    key = jax.random.key(9)
    recurrent = n_pre == n_post
    ref, _ = builder.build(key, n_pre, n_post, recurrent)
    monkeypatch.setattr(blocks, "BLOCK", 1000)
    small, _ = builder.build(key, n_pre, n_post, recurrent)
    np.testing.assert_array_equal(ref.indptr, small.indptr)
    np.testing.assert_array_equal(ref.indices, small.indices)
    indptr, post = np.asarray(ref.indptr), np.asarray(ref.indices)
    pre = np.repeat(np.arange(n_pre), np.diff(indptr))
    assert np.all(np.diff(pre * n_post + post) > 0)  # sorted, no multapse


def test_fixed_prob_buffer_grows_past_its_bound():
    """The targets buffer is sized to the mean count + 6 sd; a draw beyond it (forced
    here: a generator whose gaps are all 1, so every pair is drawn at p = 0.01) grows
    the buffer and keeps every synapse."""
    from brainsim.conn.blocks import skip_positions

    class Dense:
        def geometric(self, p, size):
            return np.ones(size, np.int64)

    indptr, targets = skip_positions(Dense(), 0.01, 10, 100, no_self=False)
    np.testing.assert_array_equal(indptr, np.arange(11) * 100)
    np.testing.assert_array_equal(targets, np.tile(np.arange(100), 10))


def test_dense_fixed_prob_is_not_built_per_process():
    """``bs.distributed.network`` builds stored CSR rules per process: a dense
    ``FixedProb`` (a ``Dense`` layout) is refused rather than drawn as another network."""
    with pytest.raises(ValueError, match=r"FixedProb\(dense=True\) builds a Dense layout"):
        bs.conn.FixedProb(0.1, dense=True).build_window(jax.random.key(0), 10, 10, (0, 5))
