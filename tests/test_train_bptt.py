"""Fast training paths: event-driven row products (``bs.ops.rows_matmul``/``rows_outer``)
against the dense oracle, and the hand-written BPTT of the LIF layer against autodiff of
the plain scan (``LIFLayer.reference``)."""

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs


@pytest.fixture(params=["native", "pure"])
def path(request, monkeypatch):
    """The native CPU kernels (when they could be built) and the portable dense path."""
    if request.param == "pure":
        monkeypatch.setattr(bs.ops._native, "available", lambda: False)
    elif not bs.ops._native.available():
        pytest.skip("native kernels unavailable (no C++ compiler?)")
    return request.param


def _sparse_rows(key, shape, p=0.1):
    k1, k2 = jax.random.split(key)
    on = jax.random.uniform(k1, shape) < p
    return jnp.where(on, jax.random.uniform(k2, shape, minval=0.5, maxval=1.5), 0.0)


def test_rows_matmul_and_outer_match_dense(path):
    """Values and both VJPs equal ``x @ w`` (float32 sums of <= 41 terms of O(1): 1e-5),
    also for a row count that is not a multiple of the kernel's blocks, -0.0 inputs and
    an all-zero row; ``rows_outer`` equals ``xᵀ g``."""
    x = _sparse_rows(jax.random.key(0), (3, 7, 41)).at[0, 0].set(0.0).at[1, 2, 5].set(-0.0)
    # 40 output columns: at least ``NARROW``, so the native path runs the kernels.
    w = jax.random.normal(jax.random.key(1), (41, 40))
    ct = jax.random.normal(jax.random.key(2), (3, 7, 40))
    np.testing.assert_allclose(bs.ops.rows_matmul(x, w), x @ w, rtol=1e-5, atol=1e-5)
    f = lambda op: jax.grad(lambda x, w: jnp.sum(op(x, w) * ct), (0, 1))(x, w)
    for a, b in zip(f(bs.ops.rows_matmul), f(jnp.matmul), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    xr, gr = x.reshape(21, 41), ct.reshape(21, 40)
    np.testing.assert_allclose(bs.ops.rows_outer(x, ct), xr.T @ gr, rtol=1e-5, atol=1e-5)


def test_rows_matmul_vmap_and_float64(path, x64):
    """Under vmap (shared and batched weights) and in float64 (1e-12: same sums, other
    order)."""
    x = _sparse_rows(jax.random.key(3), (4, 5, 30)).astype(jnp.float64)
    w = jax.random.normal(jax.random.key(4), (4, 30, 40), jnp.float64)  # >= NARROW columns
    shared = jax.vmap(bs.ops.rows_matmul, (0, None))(x, w[0])
    np.testing.assert_allclose(shared, x @ w[0], rtol=1e-12, atol=1e-12)
    batched = jax.jit(jax.vmap(bs.ops.rows_matmul))(x, w)
    np.testing.assert_allclose(batched, jnp.einsum("bri,bij->brj", x, w), rtol=1e-12, atol=1e-12)
    g = jax.vmap(jax.grad(lambda w, x: jnp.sum(bs.ops.rows_matmul(x, w) ** 2)))(w, x)
    g_ref = jax.vmap(jax.grad(lambda w, x: jnp.sum((x @ w) ** 2)))(w, x)
    np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-12)


def _to64(tree):
    return jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, tree)


@pytest.fixture(scope="module")
def layers():
    """Feed-forward, dense-recurrent and CSR-recurrent layers strong enough to spike
    often (so resets and the recurrence matter), event and dense input."""
    key = jax.random.key(7)
    layout, _ = bs.conn.FixedProb(0.2).build(key, 24, 24, recurrent=True)
    kw = dict(w_scale=4.0, rec_scale=3.0, tau_mem=8.0, tau_syn=3.0)
    ff = bs.train.lif_layer(key, 20, 24, event_input=True, **kw)
    rec = bs.train.lif_layer(key, 20, 24, recurrent=True, **kw)
    sparse = bs.train.lif_layer(key, 20, 24, recurrent=layout, event_input=True, **kw)
    noise = lambda k: jax.random.uniform(jax.random.key(k), (24,), minval=0.7, maxval=1.3)
    rec = eqx.tree_at(lambda m: (m.tau_mem, m.threshold), rec, (8 * noise(1), noise(2)))
    return {"feedforward": ff, "recurrent": rec, "sparse": sparse}


@pytest.mark.parametrize("name", ["feedforward", "recurrent", "sparse"])
def test_bptt_equals_autodiff_of_plain_scan(layers, name, x64):
    """Hand-written BPTT vs ``jax.grad`` of the plain scan in float64: identical spikes,
    gradients of every parameter, of the input and of a given initial state equal to
    1e-10 relative (the same sums in another order: ~1e-15 expected)."""
    layer = _to64(layers[name])
    k = jax.random.split(jax.random.key(11), 5)
    x = _sparse_rows(k[0], (3, 30, 20), p=0.2).astype(jnp.float64)
    ct = jax.random.normal(k[1], (3, 30, 24), jnp.float64)
    state = bs.train.NeuronLayerState(
        jax.random.normal(k[2], (3, 24), jnp.float64),
        bs.neurons.LIFState(
            jax.random.normal(k[3], (3, 24), jnp.float64),
            (jax.random.uniform(k[4], (3, 24)) < 0.3).astype(jnp.float64),
            jnp.zeros((3, 24), jnp.int32),
        ),
    )
    s, s_ref = eqx.filter_jit(lambda m: (m(x, state), m.reference(x, state)))(layer)
    assert 0.05 < float(s.mean()) < 0.6  # resets and recurrence are exercised
    np.testing.assert_array_equal(s, s_ref)

    def grads(call):
        f = lambda m, x, st: jnp.sum(call(m, x, st) * ct)
        g_in = eqx.filter_grad(lambda xs, m: f(m, *xs))  # the int refractory counts: None
        g = eqx.filter_jit(lambda m, *xs: (eqx.filter_grad(f)(m, *xs), g_in(xs, m)))
        return g(layer, x, state)

    got = grads(lambda m, x, st: m(x, st))
    ref = grads(lambda m, x, st: m.reference(x, st))
    leaves = jax.tree_util.tree_leaves_with_path(ref)
    for (where, b), a in zip(leaves, jax.tree.leaves(got), strict=True):
        scale = float(jnp.max(jnp.abs(b))) or 1.0
        err = float(jnp.max(jnp.abs(a - b))) / scale
        assert err < 1e-10, (jax.tree_util.keystr(where), err)


def test_bptt_float32_matches_autodiff(layers):
    """The float32 kernels (the training dtype; the float64 test above runs the double
    ones): the recurrent layer's hand-written BPTT, which recomputes $I_{t-1}$ and
    $V_{t-1}$ from the stored pre-reset membrane, against ``jax.grad`` of the plain
    float32 scan: identical spikes, every gradient within 1e-4 of its largest entry.
    The bound is float32's own spread for this layer: the reference run with its hidden
    neurons permuted (the same sums in another order) differs from itself by 1.3e-5 to
    3.6e-5 over 5 permutations; the forward kernel sums the recurrent input of a group of
    batch rows bucket by bucket (``lif_scan.cc``), another order again (measured
    2.4e-5). Exactness is the float64 test above (1e-10)."""
    layer = layers["recurrent"]
    k = jax.random.split(jax.random.key(11), 2)
    x = _sparse_rows(k[0], (3, 30, 20), p=0.2)
    ct = jax.random.normal(k[1], (3, 30, 24))
    s, s_ref = eqx.filter_jit(lambda m: (m(x), m.reference(x)))(layer)
    assert 0.05 < float(s.mean()) < 0.6
    np.testing.assert_array_equal(s, s_ref)

    def grads(call):
        f = lambda m, x: jnp.sum(call(m, x) * ct)
        return eqx.filter_jit(lambda *a: (eqx.filter_grad(f)(*a), jax.grad(f, 1)(*a)))(layer, x)

    got = grads(lambda m, x: m(x))
    ref = grads(lambda m, x: m.reference(x))
    leaves = jax.tree_util.tree_leaves_with_path(ref)
    for (where, b), a in zip(leaves, jax.tree.leaves(got), strict=True):
        scale = float(jnp.max(jnp.abs(b))) or 1.0
        err = float(jnp.max(jnp.abs(a - b))) / scale
        assert err < 1e-4, (jax.tree_util.keystr(where), err)


def test_fast_path_only_where_it_applies(layers):
    """The non-adaptive layer with a Heaviside spike is a ``bs.neurons.LIF`` with an
    ``AffineForm`` (the hand-written BPTT); the adaptive one (``ALIF``) and other spike
    functions have none (the plain scan). The fast path gives the same float32 spikes as
    the reference."""
    rec = layers["recurrent"]
    form = lambda m: m.neuron_layer().neuron.affine_form(m.dt)
    assert form(rec) is not None
    assert form(bs.train.lif_layer(jax.random.key(0), 4, 5, adaptive=True)) is None
    soft = bs.train.lif_layer(jax.random.key(0), 4, 5, spike=bs.spikes.UltraSpike(1.0))
    assert form(soft) is None
    x = _sparse_rows(jax.random.key(12), (2, 30, 20), p=0.2)
    np.testing.assert_array_equal(*eqx.filter_jit(lambda m: (m(x), m.reference(x)))(rec))


def test_rows_swap_layout_matches_dense(path):
    """``swap``: batch-major ``x (A, B, K)`` against a time-major result/cotangent
    ``(B, A, N)``: equals the transposed dense products (float32: 1e-5)."""
    x = _sparse_rows(jax.random.key(20), (5, 9, 70))
    w = jax.random.normal(jax.random.key(21), (70, 300))
    g = jax.random.normal(jax.random.key(22), (9, 5, 300))
    xt = jnp.swapaxes(x, 0, 1)
    out = bs.ops.rows_matmul(x, w, swap=True)
    np.testing.assert_allclose(out, xt @ w, rtol=1e-5, atol=1e-5)
    dw = bs.ops.rows_outer(x, g, swap=True)
    np.testing.assert_allclose(dw, xt.reshape(-1, 70).T @ g.reshape(-1, 300), rtol=1e-5, atol=1e-4)
    dx = jax.grad(lambda x: jnp.sum(bs.ops.rows_matmul(x, w, swap=True) * g))(x)
    np.testing.assert_allclose(dx, jnp.swapaxes(g @ w.T, 0, 1), rtol=1e-5, atol=1e-5)


def test_readout_impulse_response_matches_recurrence(x64):
    """The readout as one matmul with its impulse-response matrix vs a NumPy loop of
    $I_t = \\alpha I_{t-1} + h_t$, $V_t = \\beta V_{t-1} + I_t$ (float64: 1e-12), per-neuron
    time constants (one with tau_syn = tau_mem, where the closed form is singular), and
    its gradients vs autodiff of the step-by-step scan (1e-10)."""
    r = bs.train.readout(jax.random.key(0), 6, 3)
    r = eqx.tree_at(
        lambda m: (m.w, m.tau_mem, m.tau_syn),
        r,
        (
            jax.random.normal(jax.random.key(1), (6, 3), jnp.float64),
            jnp.array([20.0, 10.0, 4.0]),
            jnp.array([5.0, 10.0, 30.0]),
        ),
    )
    x = jax.random.normal(jax.random.key(2), (2, 60, 6), jnp.float64)
    h = np.asarray(x) @ np.asarray(r.w)
    al, be = np.exp(-1 / np.array([5.0, 10.0, 30.0])), np.exp(-1 / np.array([20.0, 10.0, 4.0]))
    i = v = np.zeros((2, 3))
    ref = []
    for t in range(60):
        i = al * i + h[:, t]
        v = be * v + i
        ref.append(v)
    np.testing.assert_allclose(r(x), np.stack(ref, 1), rtol=1e-12, atol=1e-12)
    ct = jax.random.normal(jax.random.key(3), (2, 60, 3), jnp.float64)
    grads = lambda f: eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(f(m) * ct)))(r)
    for a, b in zip(
        jax.tree.leaves(grads(lambda m: m(x))),
        jax.tree.leaves(grads(lambda m: m.reference(x))),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows_kernel_blocks_chunks_and_packing(path, dtype, x64):
    """Shapes that exercise every kernel path: 2100 rows (22 chunks of ``rows_outer``,
    enough nonzeros per input for ``rows_matmul`` to pack ``w``), 150
    columns (full 64-float / 32-double column blocks plus a partial one), swapped
    layout, and ``fixed_rows_matmul`` (``w`` packed once, few rows per call) against
    the dense products. float32: sums of <= ~250 terms of O(1) in another order,
    1e-5 relative / 1e-4 absolute; float64: 1e-12."""
    dt = jnp.dtype(dtype)
    tol = dict(rtol=1e-5, atol=1e-4) if dt == jnp.float32 else dict(rtol=1e-12, atol=1e-12)
    x = _sparse_rows(jax.random.key(30), (30, 70, 40)).astype(dt)
    w = jax.random.normal(jax.random.key(31), (40, 150), dt)
    g = jax.random.normal(jax.random.key(32), (70, 30, 150), dt)
    xt = jnp.swapaxes(x, 0, 1)
    np.testing.assert_allclose(bs.ops.rows_matmul(x, w), x @ w, **tol)
    np.testing.assert_allclose(bs.ops.rows_matmul(x, w, swap=True), xt @ w, **tol)
    dense_outer = xt.reshape(-1, 40).T @ g.reshape(-1, 150)
    np.testing.assert_allclose(bs.ops.rows_outer(x, g, swap=True), dense_outer, **tol)
    np.testing.assert_allclose(bs.ops.rows_outer(xt, g), dense_outer, **tol)
    f = bs.ops.fixed_rows_matmul(w)
    steps = jax.jit(lambda x: jax.lax.scan(lambda c, xs: (c, f(xs)), 0.0, x)[1])(xt)
    np.testing.assert_allclose(steps, xt @ w, **tol)
    np.testing.assert_allclose(f(x[0]), x[0] @ w, **tol)


def test_rows_dense_branch_above_density_threshold(path):
    """More than ``DENSE_ABOVE`` nonzeros (``fixed_rows_matmul``'s run-time ``lax.cond``
    takes the dense product): values, VJPs still equal the dense oracle (float32, sums
    of <= 40 terms: 1e-5)."""
    x = _sparse_rows(jax.random.key(40), (6, 9, 40), p=0.6)
    assert float(jnp.mean(x != 0)) > bs.ops.rows.DENSE_ABOVE
    w = jax.random.normal(jax.random.key(41), (40, 70))
    g = jax.random.normal(jax.random.key(42), (6, 9, 70))
    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bs.ops.rows_matmul(x, w), x @ w, **tol)
    np.testing.assert_allclose(bs.ops.fixed_rows_matmul(w)(x), x @ w, **tol)
    np.testing.assert_allclose(
        bs.ops.rows_outer(x, g), x.reshape(-1, 40).T @ g.reshape(-1, 70), **tol
    )
    dw = jax.grad(lambda w: jnp.sum(bs.ops.rows_matmul(x, w) * g))(w)
    np.testing.assert_allclose(dw, x.reshape(-1, 40).T @ g.reshape(-1, 70), **tol)


@pytest.mark.parametrize("recurrent", [True, False])
def test_native_lif_scans_match_portable_scans(recurrent, x64):
    """The whole-scan native kernels (``ops.rows.lif_scan_native`` forward,
    ``lif_scan_bwd_native`` reverse) against the portable ``lax.scan`` versions in
    ``train._bptt`` (the dense-oracle recurrence), float64, 2 x 3 rows (a batch shape
    of rank 2), 70 neurons (one full 32-double block plus a partial one, several
    kernel panels), nonzero initial state: identical spikes, every output equal to
    1e-12 relative (the same sums in another order)."""
    if not bs.ops._native.available():
        pytest.skip("native kernels unavailable (no C++ compiler?)")
    from brainsim.train import _bptt

    f64 = jnp.float64
    n, k = 70, jax.random.split(jax.random.key(50), 8)
    w = jax.random.normal(k[0], (n, n), f64) * 0.3 if recurrent else None
    al = jax.random.uniform(k[1], (n,), f64, 0.7, 0.95)
    be = jax.random.uniform(k[2], (n,), f64, 0.8, 0.98)
    th = jax.random.uniform(k[3], (n,), f64, 0.8, 1.2)
    h = jax.random.normal(k[4], (40, 2, 3, n), f64) * 0.6 + 0.1
    i0 = jax.random.normal(k[5], (2, 3, n), f64)
    v0 = jax.random.normal(k[6], (2, 3, n), f64) * 0.5
    s0 = (jax.random.uniform(k[7], (2, 3, n)) < 0.2).astype(f64)
    fwd = jax.jit(
        lambda: (
            bs.ops.rows.lif_scan_native(w, al, be, th, h, i0, v0, s0),
            _bptt._forward_scan(w, al, be, th, h, i0, v0, s0),
        )
    )
    got, ref = fwd()
    assert 0.05 < float(ref[0].mean()) < 0.5  # resets and the recurrence are exercised
    np.testing.assert_array_equal(got[0], ref[0])
    for a, b in zip(got[1:], ref[1:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    vt = ref[1]
    sg = 1.0 / (1.0 + 25.0 * jnp.abs(vt - jnp.broadcast_to(th, vt.shape))) ** 2
    ct = jax.random.normal(jax.random.key(51), h.shape, f64)
    bwd = jax.jit(
        lambda: (
            bs.ops.rows.lif_scan_bwd_native(w, al, be, th, ct, sg, vt, i0, v0),
            _bptt._reverse_scan(w, al, be, th, ct, sg, vt, i0, v0),
        )
    )
    for a, b in zip(*bwd(), strict=True):
        scale = float(jnp.max(jnp.abs(b)))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale)


def test_rows_outer_lagged_matches_dense(path, x64):
    """``rows_outer_lagged(x0, x, g)`` = $\\sum_t x_{t-1}^T g_t$ with $x_{-1} = x_0$
    against the dense sum (float64, 1e-12), for 2100 rows per step pair (several of the
    kernel's row chunks) and a single step."""
    x = _sparse_rows(jax.random.key(60), (5, 7, 300, 40)).astype(jnp.float64)
    g = jax.random.normal(jax.random.key(61), (5, 7, 300, 90), jnp.float64)
    x0 = _sparse_rows(jax.random.key(62), (7, 300, 40)).astype(jnp.float64)
    prev = jnp.concatenate([x0[None], x[:-1]])
    ref = jnp.einsum("tbri,tbrj->ij", prev, g)
    got = jax.jit(bs.ops.rows.rows_outer_lagged)(x0, x, g)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    one = bs.ops.rows.rows_outer_lagged(x0, x[:1], g[:1])
    np.testing.assert_allclose(one, jnp.einsum("bri,brj->ij", x0, g[0]), rtol=1e-12, atol=1e-12)


def test_rows_outer_of_spikes_matches_dense(path, x64):
    """0/1 entries (spikes: the native kernel buckets each row chunk per group of 4
    inputs and sums every bucket once) over 2100 rows (22 chunks), 41 inputs (a
    partial group) and 150 columns, then the same with one entry 0.5 (every chunk back
    on the per-input lists), against the float64 einsum: 1e-12 (the same sums in
    another order)."""
    spikes = (_sparse_rows(jax.random.key(80), (30, 70, 41), p=0.35) != 0).astype(jnp.float64)
    g = jax.random.normal(jax.random.key(81), (30, 70, 150), jnp.float64)
    for x in (spikes, spikes.at[29, 69, 40].set(0.5)):
        ref = jnp.einsum("abi,abj->ij", x, g)
        np.testing.assert_allclose(bs.ops.rows_outer(x, g), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_out", [1, 5, 20])
def test_rows_outer_narrow_g_matches_dense(path, n_out, x64):
    """``rows_outer`` with fewer than 32 columns of ``g`` (a readout's weight gradient;
    the native kernel's zero-padded partial block, also with ``swap``) against the
    float64 einsum: the same sums in another order, 1e-12."""
    x = _sparse_rows(jax.random.key(70), (9, 5, 40)).astype(jnp.float64)
    g = jax.random.normal(jax.random.key(71), (9, 5, n_out), jnp.float64)
    ref = jnp.einsum("abi,abj->ij", x, g)
    np.testing.assert_allclose(bs.ops.rows_outer(x, g), ref, rtol=1e-12, atol=1e-12)
    got = bs.ops.rows_outer(x, jnp.swapaxes(g, 0, 1), swap=True)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("swap", [False, True])
def test_rows_matmul_narrow_vjp_matches_dense(path, swap, x64):
    """Both VJPs of ``rows_matmul`` with 20 output columns (a readout: ``∂x = g wᵀ`` in
    the native row kernel on CPU, ``∂w`` event-driven) against autodiff of the dense
    product, float64: the same sums in another order, 1e-12."""
    x = _sparse_rows(jax.random.key(72), (6, 7, 40)).astype(jnp.float64)
    w = jax.random.normal(jax.random.key(73), (40, 20), jnp.float64)
    ct = jax.random.normal(jax.random.key(74), (6, 7, 20), jnp.float64)
    ct = jnp.swapaxes(ct, 0, 1) if swap else ct
    dense = lambda x, w: jnp.swapaxes(x, 0, 1) @ w if swap else x @ w
    f = lambda op: jax.grad(lambda x, w: jnp.sum(op(x, w) * ct), (0, 1))(x, w)
    got = f(lambda x, w: bs.ops.rows_matmul(x, w, swap=swap))
    for a, b in zip(got, f(dense), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_native_forward_scan_does_not_depend_on_thread_count():
    """The forward kernel sums the recurrent input of groups of 4 batch rows together,
    in an order set by the group's spikes: 30 rows split over the default threads must
    give the same bits as one thread (``bs.ops.configure(threads=1)``), i.e. the groups
    do not follow the thread split."""
    if not bs.ops._native.available():
        pytest.skip("native kernels unavailable (not built)")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: XLA's pool has a single thread, nothing to compare")
    rng = np.random.default_rng(0)
    n, rows, steps = 128, 30, 40
    w = jnp.asarray(rng.normal(0.0, 0.3, (n, n)), jnp.float32)
    h = jnp.asarray(rng.normal(0.3, 0.6, (steps, rows, n)), jnp.float32)
    coef = [jnp.full(n, c, jnp.float32) for c in (0.8, 0.9, 1.0)]
    zero = jnp.zeros((rows, n), jnp.float32)
    run = lambda: [np.asarray(x) for x in bs.ops.rows.lif_scan_native(w, *coef, h, *[zero] * 3)]
    with bs.ops.configure(threads=1):
        one = run()
    every = run()
    assert 0.1 < one[0].mean() < 0.9  # spikes and resets are exercised
    for a, b in zip(one, every, strict=True):
        np.testing.assert_array_equal(a, b)
