"""Procedural ("just-in-time") connectivity: the event op against the dense product of
the materialised network (values and VJPs), native == pure JAX bit for bit,
determinism, and the degree and weight statistics of the rules."""

import statistics
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim.ops import procedural as proc

N_PRE, N_POST, K = 70, 50, 9
RULES = {
    "constant": bs.conn.ConstantWeights(),
    "uniform": bs.conn.UniformWeights(0.5, 1.5),
    "normal": bs.conn.NormalWeights(1.0, 0.4),
}


def _layout(rule="constant", *, key=3, n_pre=N_PRE, n_post=N_POST, k=K, allow_self=True):
    builder = bs.conn.ProceduralFixedOutDegree(k, weights=RULES[rule], allow_self=allow_self)
    return builder.build(jax.random.key(key), n_pre, n_post, recurrent=not allow_self)[0]


def _dense_numpy(layout):
    """``(n_pre, n_post)`` float64 matrix of the materialised CSR, assembled in NumPy."""
    csr, r = bs.ops.materialize(layout)
    indptr, idx = np.asarray(csr.indptr), np.asarray(csr.indices)
    w = np.zeros((layout.n_pre, layout.n_post))
    for i in range(layout.n_pre):
        np.add.at(w[i], idx[indptr[i] : indptr[i + 1]], r[indptr[i] : indptr[i + 1]])
    return w


@pytest.fixture(params=["native", "pure"])
def path(request):
    """The native CPU kernel (when it could be built) and the portable pure-JAX path."""
    if request.param == "pure":
        with mock.patch.object(bs.ops._native, "available", lambda: False):
            yield "pure"
        return
    if not bs.ops._native.available():
        pytest.skip("native kernel unavailable (no C++ compiler?)")
    yield "native"


def _spikes(key, n, p=0.2):
    k1, k2 = jax.random.split(jax.random.key(key))
    s = (jax.random.uniform(k1, (n,)) < p).astype(jnp.float32)
    return s * jax.random.uniform(k2, (n,), minval=0.5, maxval=1.5)  # graded values too


@pytest.mark.parametrize(
    "rule, allow_self", [("constant", True), ("uniform", False), ("normal", True)]
)
def test_event_matches_dense_of_materialized(rule, allow_self, path):
    """Values (single, batched, vmapped; capacity 4 < active rows, so the pure path takes
    several passes) and VJPs (spikes, scalar weight) equal the dense product of the
    materialised CSR. float32 sums of <= ~30 O(1) terms: rtol 1e-5 is ~100 ulp."""
    n_post = N_PRE if not allow_self else N_POST
    layout = _layout(rule, n_post=n_post, allow_self=allow_self)
    w_dense = _dense_numpy(layout)
    weight = 0.7
    spikes = _spikes(0, N_PRE)
    batch = jnp.stack([spikes, _spikes(1, N_PRE, 0.5), jnp.zeros(N_PRE)])
    f = lambda w, s: bs.ops.matvec(layout, w, s, 4)
    ct = np.asarray(jax.random.normal(jax.random.key(7), (3, n_post)))
    loss = lambda w, s: jnp.vdot(f(w, s), ct)

    @jax.jit  # one compilation for every variant
    def everything(w, batch):
        return (
            f(w, batch[0]),
            f(w, batch),
            jax.vmap(f, (None, 0))(w, batch),
            jax.grad(loss, argnums=(0, 1))(w, batch),
        )

    single, batched, vmapped, (g_w, g_s) = everything(jnp.float32(weight), batch)
    expect = np.asarray(batch, np.float64) @ (weight * w_dense)
    np.testing.assert_allclose(single, expect[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batched, expect, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vmapped, expect, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g_s, weight * ct @ w_dense.T, rtol=1e-5, atol=1e-5)
    expect_w = np.sum(ct * (np.asarray(batch, np.float64) @ w_dense))
    np.testing.assert_allclose(g_w, expect_w, rtol=1e-5, atol=1e-4)
    if not allow_self:
        assert np.all(np.diag(w_dense) == 0)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_native_equals_pure_bit_for_bit(rule):
    """One-hot spikes give every row of the network: the native kernel and the pure-JAX
    path regenerate the same targets and weight factors, bit for bit, and accumulate in
    the same order (so graded, overlapping spikes agree bitwise too)."""
    if not bs.ops._native.available():
        pytest.skip("native kernel unavailable")
    layout = _layout(rule, n_pre=300, n_post=257, k=40)
    spikes = jnp.concatenate([jnp.eye(300), _spikes(5, 300, 0.5)[None]])
    ct = jax.random.normal(jax.random.key(2), (2, 257))
    run = jax.jit(lambda s: proc._forward(s, layout=layout, capacity=300))
    gather = jax.jit(lambda c: proc._gather(c, layout=layout))
    native, native_g = run(spikes), gather(ct)
    with mock.patch.object(bs.ops._native, "available", lambda: False):
        pure, pure_g = (
            jax.jit(lambda s: proc._forward(s, layout=layout, capacity=300))(spikes),
            jax.jit(lambda c: proc._gather(c, layout=layout))(ct),
        )
    np.testing.assert_array_equal(native, pure)
    # Against the materialised rows (float64 sums of multapses: 1 float32 rounding).
    np.testing.assert_allclose(native[:300], _dense_numpy(layout), rtol=2e-7)
    # The transpose sums k = 40 products in a backend-chosen order: ~40 ulp.
    np.testing.assert_allclose(native_g, pure_g, rtol=1e-5, atol=1e-5)


def test_deterministic_for_a_key():
    """The seed is fixed at build time from the key: the same key gives the same network
    (and the same outputs under separate traces); another key another network."""
    a, b, c = _layout(key=11), _layout(key=11), _layout(key=12)
    assert np.array_equal(a.seed, b.seed) and not np.array_equal(a.seed, c.seed)
    ia, ib, ic = (np.asarray(bs.ops.materialize(x)[0].indices) for x in (a, b, c))
    np.testing.assert_array_equal(ia, ib)
    assert np.mean(ia != ic) > 0.9
    s = _spikes(3, N_PRE)
    out1 = jax.jit(lambda s: bs.ops.matvec(a, 1.0, s))(s)
    out2 = jax.jit(lambda s: bs.ops.matvec(b, 1.0, s) + 0.0)(s)
    np.testing.assert_array_equal(out1, out2)


@pytest.mark.parametrize("rule", ["constant", "normal"])
def test_vmap_over_seeds_matches_dense_of_each(rule, path):
    """A layout whose seed is batched by ``jax.vmap`` (networks built from traced keys):
    each entry, forward and transpose (VJP w.r.t. the spikes), equals the float64 dense
    product of that seed's materialised network (sums of at most ``K`` float32 terms:
    1e-5 relative, as the unbatched test), on both paths; the seeds differ."""
    keys = jax.random.split(jax.random.key(9), 3)
    builder = bs.conn.ProceduralFixedOutDegree(K, weights=RULES[rule])
    build = lambda key: builder.build(key, N_PRE, N_POST)[0]
    spikes = jnp.stack([_spikes(s, N_PRE) for s in range(3)])
    ct = jax.random.normal(jax.random.key(4), (3, N_POST))

    def one(key, s, c):
        out, vjp = jax.vjp(lambda s: bs.ops.matvec(build(key), 1.5, s), s)
        return out, vjp(c)[0]

    out, grad = jax.vmap(one)(keys, spikes, ct)
    for j, key in enumerate(keys):
        w = 1.5 * _dense_numpy(build(key))
        np.testing.assert_allclose(out[j], np.asarray(spikes[j], np.float64) @ w, rtol=1e-5)
        np.testing.assert_allclose(
            grad[j], w @ np.asarray(ct[j], np.float64), rtol=1e-5, atol=1e-5
        )
    assert not np.array_equal(np.asarray(build(keys[0]).seed), np.asarray(build(keys[1]).seed))


def test_degree_statistics():
    """Out-degree exactly k; every target independent and uniform, so the in-degree is
    Binomial(n_pre·k, 1/m): mean k·n_pre/n_post, variance n_pre·k·(1/m)(1 - 1/m).

    n_pre = n_post = 4000, k = 80: the mean over 4000 neurons has sd 0.14 (bound 0.7 =
    5 sd); the sample variance has relative sd sqrt(2/4000) ≈ 2.2 % (bound 11 % = 5 sd).
    Excess multapses would inflate the pair count: pairs expected n_pre·C(k,2)/m = 3160,
    Poisson sd ≈ 56 (bound 5 sd). A bias by row (hash of i) or by column shows as a
    chi-square far from its mean (sd sqrt(2·dof))."""
    n, k = 4000, 80
    layout = _layout(n_pre=n, n_post=n, k=k, allow_self=False)
    csr, _ = bs.ops.materialize(layout)
    assert np.all(np.diff(np.asarray(csr.indptr)) == k)
    targets = np.asarray(csr.indices).reshape(n, k)
    assert np.all(targets != np.arange(n)[:, None])  # no self-synapse
    m = n - 1
    indeg = np.bincount(targets.ravel(), minlength=n)
    assert abs(indeg.mean() - k) < 0.7
    var = n * k * (1 / m) * (1 - 1 / m)
    assert abs(indeg.var() / var - 1) < 0.11, indeg.var() / var
    pairs = sum(int(np.sum(c * (c - 1) // 2)) for c in map(np.bincount, targets))
    expect = n * k * (k - 1) / 2 / m
    assert abs(pairs - expect) < 5 * np.sqrt(expect), (pairs, expect)
    # Uniformity of target positions within rows: the k draws of a row, binned by
    # target decile, pooled over rows (dof 9 → chi-square mean 9, sd 4.2).
    counts = np.bincount(targets.ravel() * 10 // n, minlength=10)
    chi2 = np.sum((counts - counts.mean()) ** 2 / counts.mean())
    assert chi2 < 9 + 5 * np.sqrt(18), chi2


@pytest.mark.parametrize("rule", ["uniform", "normal"])
def test_weight_rule_statistics(rule):
    """Sample mean, sd and quantiles of 4000·80 regenerated weight factors against the
    distributions' own (uniform U(0.5, 1.5): mean 1, sd 1/sqrt(12); normal N(1, 0.4²)).
    n = 320 000 draws: the mean has sd <= 7e-4 (bound 5 sd = 3.5e-3); the sd relative
    error ~ 1/sqrt(2n) = 0.13 % (bound 1 %); the KS distance of n draws is < 1.63/sqrt(n)
    = 2.9e-3 with 99 % probability (the 2^16-level discretisation adds < 1.6e-5)."""
    layout = _layout(rule, n_pre=4000, n_post=4000, k=80)
    _, r = bs.ops.materialize(layout)
    r = np.sort(r.astype(np.float64))
    if rule == "uniform":
        mean, sd = 1.0, 1 / np.sqrt(12)
        cdf = np.clip(r - 0.5, 0, 1)
    else:
        mean, sd = 1.0, 0.4
        cdf = np.array([statistics.NormalDist(mean, sd).cdf(x) for x in r[::97]])
        r_sub = r[::97]
    assert abs(r.mean() - mean) < 3.5e-3
    assert abs(r.std() / sd - 1) < 0.01
    if rule == "uniform":
        ecdf = np.arange(1, r.size + 1) / r.size
        assert np.max(np.abs(ecdf - cdf)) < 1.63 / np.sqrt(r.size)
    else:  # every 97th order statistic: its rank is known exactly
        ecdf = (np.arange(r_sub.size) * 97 + 1) / r.size
        assert np.max(np.abs(ecdf - cdf)) < 1.63 / np.sqrt(r.size) + 97 / r.size


def test_coba_procedural_in_degrees():
    """bs.models.coba(procedural=True): out-degree 64 to E, 16 to I per neuron, so the
    mean in-degree is exactly 64 from E and 16 from I (as FixedProb(80/n) in mean)."""
    net = bs.models.coba(4000, key=jax.random.key(3), procedural=True)
    for p in net.projections:
        assert isinstance(p.conn, bs.conn.Procedural)
        assert p.conn.k == (64 if p.post == "E" else 16)
        assert p.conn.skip_self == (p.pre == p.post)
        indeg = np.bincount(
            np.asarray(bs.ops.materialize(p.conn)[0].indices), minlength=p.conn.n_post
        )
        assert indeg.mean() == (64 if p.pre == "E" else 16)


def test_validation_messages():
    with pytest.raises(ValueError, match=r"UniformWeights.high must be >= low=2, got 1"):
        bs.conn.UniformWeights(2.0, 1.0)
    with pytest.raises(ValueError, match=r"NormalWeights.sd must be >= 0, got -1"):
        bs.conn.NormalWeights(0.0, -1.0)
    with pytest.raises(ValueError, match=r"ProceduralFixedOutDegree.k must be an integer"):
        bs.conn.ProceduralFixedOutDegree(-3)
    with pytest.raises(ValueError, match=r"skip_self needs n_pre == n_post"):
        bs.conn.Procedural(5, 6, 2, (1, 2), skip_self=True)
    with pytest.raises(ValueError, match=r"seed must be two uint32 words"):
        bs.conn.Procedural(5, 6, 2, (1, 2**32))
    with pytest.raises(ValueError, match=r"weight must be a scalar or have shape \(\)"):
        bs.Network(
            {"A": bs.neurons.LIF(5)},
            [bs.Projection("A", "A", bs.conn.ProceduralFixedOutDegree(2), weight=np.ones(10))],
            key=jax.random.key(0),
        )
    with pytest.raises(ValueError, match="key is required"):
        bs.conn.ProceduralFixedOutDegree(2).build(None, 5, 5)
