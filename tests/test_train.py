"""Training: scans with remat/truncation, sparse recurrence, delays, losses, the loop,
learning on Randman and digits."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainsim as bs
from brainsim.train import losses


def _cumsum_step(c, x):
    c = 0.9 * c + x
    return c, c**2


@pytest.mark.parametrize("k", [4, 7])
def test_checkpointed_scan_equals_plain_scan(k):
    """Rematerialized (chunked, also with a padded last chunk) == plain scan, values and
    gradients (float32, same operations: tight 1e-6)."""
    xs = jax.random.normal(jax.random.key(0), (30, 3))

    def loss(xs, **kw):
        return bs.train.scan_time(_cumsum_step, jnp.zeros(3), xs, **kw)[1].sum()

    np.testing.assert_allclose(loss(xs, checkpoint_every=k), loss(xs), rtol=1e-6)
    np.testing.assert_allclose(
        jax.grad(lambda x: loss(x, checkpoint_every=k))(xs), jax.grad(loss)(xs), rtol=1e-6
    )


def test_truncated_bptt_cuts_gradient():
    """With windows of 10, d y_29 / d x_t is zero for t < 20 and equals the analytic
    chain 2 c_29 0.9^(29-t) inside the last window."""
    xs = jax.random.normal(jax.random.key(1), (30, 1))

    def last(xs):
        return bs.train.scan_time(
            _cumsum_step, jnp.zeros(1), xs, checkpoint_every=5, truncate_every=10
        )[1][-1, 0]

    g = np.asarray(jax.grad(last)(xs))[:, 0]
    c = 0.0
    for x in np.asarray(xs)[:, 0]:
        c = 0.9 * c + x
    ref = 2 * c * 0.9 ** (29 - np.arange(30))
    np.testing.assert_array_equal(g[:20], 0.0)
    np.testing.assert_allclose(g[20:], ref[20:], rtol=1e-5)


@pytest.fixture(scope="module")
def sparse_pair():
    key = jax.random.key(3)
    layout, _ = bs.conn.FixedProb(0.1).build(key, 64, 64, recurrent=True)
    dense = bs.train.lif_layer(key, 16, 64, recurrent=True, rec_scale=3.0)
    w_sp = jax.random.normal(jax.random.key(4), layout.weight_shape) * 0.5
    sparse = bs.train.LIFLayer(
        w=dense.w,
        tau_mem=dense.tau_mem,
        tau_syn=dense.tau_syn,
        threshold=dense.threshold,
        w_rec=w_sp,
        rec_layout=layout,
    )
    dense = bs.train.LIFLayer(
        w=dense.w,
        tau_mem=dense.tau_mem,
        tau_syn=dense.tau_syn,
        threshold=dense.threshold,
        w_rec=bs.ops.to_dense(layout, w_sp),
        rec_layout=bs.conn.Dense(64, 64),
    )
    x = (jax.random.uniform(jax.random.key(5), (4, 40, 16)) < 0.2).astype(jnp.float32) * 3
    return sparse, dense, layout, x


def test_sparse_recurrent_event_gradients_equal_dense(sparse_pair):
    """Event-driven CSR recurrence (bs.ops custom VJP) vs the dense matrix: same spikes,
    same gradients for input weights and, at the synapses, recurrent weights."""
    sparse, dense, layout, x = sparse_pair
    ct = jax.random.normal(jax.random.key(6), (4, 40, 64))
    f = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.sum(m(x) * ct)))
    s_sp, s_de = sparse(x), dense(x)
    assert 0 < float(s_sp.mean()) < 0.5  # the recurrence is active
    np.testing.assert_array_equal(s_sp, s_de)
    g_sp, g_de = f(sparse), f(dense)
    # float32 sums over <= 40 steps x 64 terms: 1e-4 relative
    np.testing.assert_allclose(g_sp.w, g_de.w, rtol=1e-4, atol=1e-5)
    pre = np.repeat(np.arange(64), np.diff(np.asarray(layout.indptr)))
    np.testing.assert_allclose(
        g_sp.w_rec,
        np.asarray(g_de.w_rec)[pre, np.asarray(layout.indices)],
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(g_sp.tau_mem, g_de.tau_mem, rtol=1e-4, atol=1e-6)


def test_delayed_dense_integer_delays_and_gradient(x64):
    """Integer delays shift exactly; gradients w.r.t. real delays match finite
    differences (piecewise-linear kernel, evaluated away from integer kinks)."""
    x = jax.random.normal(jax.random.key(0), (2, 12, 3))
    w = jax.random.normal(jax.random.key(1), (3, 2))
    d_int = jnp.array([[0.0, 2.0], [1.0, 4.0], [3.0, 0.0]])
    out = bs.train.DelayedDense(w, d_int, 4)(x)
    xn, wn, dn = np.asarray(x), np.asarray(w), np.asarray(d_int).astype(int)
    ref = np.zeros((2, 12, 2))
    for i in range(3):
        for j in range(2):
            ref[:, dn[i, j] :, j] += wn[i, j] * xn[:, : 12 - dn[i, j], i]
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    d = d_int + 0.3
    from jax.test_util import check_grads

    check_grads(
        lambda w, d: bs.train.DelayedDense(w, d, 5)(x),
        (w, d),
        order=1,
        modes=["rev"],
        atol=1e-6,
        rtol=1e-6,
    )


def test_van_rossum_two_spikes_analytic():
    """D^2 = 1 - exp(-Delta/tau) (van Rossum 2001 normalisation); rectangle rule at
    dt/tau = 1e-3 leaves an O(dt/tau) relative error: 1 % tolerance."""
    T, dt, tau = 20000, 0.01, 10.0
    a = jnp.zeros((T, 1)).at[1000, 0].set(1.0)
    b = jnp.zeros((T, 1)).at[1500, 0].set(1.0)
    d2 = float(losses.van_rossum(a, b, tau, dt))
    np.testing.assert_allclose(d2, 1 - np.exp(-5.0 / tau), rtol=1e-2)
    np.testing.assert_allclose(float(losses.van_rossum(a, 0 * a, tau, dt)), 0.5, rtol=1e-2)


def test_losses_and_regularizers_against_hand_values():
    logits = jnp.array([[2.0, 0.0], [0.0, 1.0]])
    y = jnp.array([0, 0])
    ref = -np.mean([2 - np.log(np.exp(2) + 1), -np.log(1 + np.e)])
    np.testing.assert_allclose(losses.cross_entropy(logits, y), ref, rtol=1e-6)
    s = jnp.zeros((1, 10, 2)).at[0, :5, 0].set(1.0)  # rates 0.5 and 0.0
    rb = bs.train.regularizers.RateBounds(lower=0.1, upper=0.3)
    np.testing.assert_allclose(rb((s,)), (0.1**2 + 0.2**2) / 2, rtol=1e-6)
    np.testing.assert_allclose(bs.train.regularizers.Sparsity(0.1)((s,)), 0.1 * 0.25)


@pytest.fixture(scope="module")
def tiny():
    model = bs.train.FeedForwardSNN(5, 8, 3, key=jax.random.key(0))
    x = (jax.random.uniform(jax.random.key(1), (16, 10, 5)) < 0.3).astype(jnp.float32)
    y = jnp.arange(16) % 3
    return model, np.asarray(x), np.asarray(y)


def test_vmap_batching_equals_batch_axis(tiny):
    model, x, y = tiny
    opt = optax.adam(1e-2)
    runs = [
        bs.train.fit(
            model,
            x,
            y,
            loss_fn=losses.ce_max_membrane,
            optimizer=opt,
            epochs=2,
            batch_size=8,
            batch_mode=mode,
            progress=False,
        )[0]
        for mode in ("axis", "vmap")
    ]
    np.testing.assert_allclose(runs[0].layers[0].w, runs[1].layers[0].w, rtol=1e-4, atol=1e-6)


def test_save_restore_round_trip(tiny, tmp_path):
    model, x, y = tiny
    opt = optax.adam(1e-2)
    m, st, _ = bs.train.fit(
        model,
        x,
        y,
        loss_fn=losses.ce_max_membrane,
        optimizer=opt,
        epochs=1,
        batch_size=8,
        progress=False,
    )
    bs.train.save(tmp_path / "ckpt", m, st, {"epoch": 1, "lr": 1e-2})
    template = bs.train.FeedForwardSNN(5, 8, 3, key=jax.random.key(9))
    st_like = opt.init(eqx.filter(template, eqx.is_inexact_array))
    m2, st2, meta = bs.train.restore(tmp_path / "ckpt", template, st_like)
    assert meta == {"epoch": 1, "lr": 1e-2}
    for a, b in zip(jax.tree.leaves((m, st)), jax.tree.leaves((m2, st2)), strict=True):
        np.testing.assert_array_equal(a, b)
    # continuing from the restored state == continuing from the original
    kw = dict(
        loss_fn=losses.ce_max_membrane,
        optimizer=opt,
        epochs=1,
        batch_size=8,
        progress=False,
        key=jax.random.key(5),
    )
    a = bs.train.fit(m, x, y, opt_state=st, **kw)[0]
    b = bs.train.fit(m2, x, y, opt_state=st2, **kw)[0]
    np.testing.assert_array_equal(a.layers[0].w, b.layers[0].w)


def test_bad_shapes_raise(tiny):
    model, x, y = tiny
    kw = dict(loss_fn=losses.ce_max_membrane, progress=False)
    with pytest.raises(ValueError, match="same number of samples"):
        bs.train.fit(model, x, y[:5], **kw)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]"):
        bs.train.fit(model, x, y + 1, **kw)
    with pytest.raises(ValueError, match="empty"):
        bs.train.fit(model, x[:0], y[:0], **kw)
    with pytest.raises(ValueError, match="x must be"):
        bs.train.fit(model, x[:, 0], y, **kw)
    with pytest.raises(ValueError, match="cross_entropy"):
        losses.cross_entropy(jnp.zeros((4, 3)), jnp.zeros(5, jnp.int32))
    with pytest.raises(ValueError, match="truncate_every"):
        bs.train.scan_time(
            _cumsum_step, jnp.zeros(3), jnp.zeros((20, 3)), checkpoint_every=4, truncate_every=6
        )


def test_event_input_projection_equals_dense():
    """Event-driven input projection (bs.ops native/pure event path) vs x @ w: values and
    both VJPs (float32 sums of <= 40 terms: 1e-5)."""
    x = (jax.random.uniform(jax.random.key(0), (3, 7, 40)) < 0.05).astype(jnp.float32)
    w = jax.random.normal(jax.random.key(1), (40, 6))
    ct = jax.random.normal(jax.random.key(2), (3, 7, 6))
    np.testing.assert_allclose(bs.train.event_project(x, w), x @ w, rtol=1e-5, atol=1e-6)
    g = jax.grad(lambda x, w: jnp.sum(bs.train.event_project(x, w) * ct), (0, 1))(x, w)
    g_ref = jax.grad(lambda x, w: jnp.sum((x @ w) * ct), (0, 1))(x, w)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_adaptive_lif_layer_matches_equations():
    """LSNN layer vs a NumPy loop of the documented recurrence (float32 vs float64 on
    O(1) values: 1e-5); adaptation lowers the spike count of a constant drive."""
    layer = bs.train.lif_layer(
        jax.random.key(0), 1, 2, adaptive=True, tau_mem=10.0, tau_syn=5.0, threshold=1.0
    )
    layer = eqx.tree_at(lambda m: m.w, layer, jnp.array([[0.3, 0.3]]))
    layer = eqx.tree_at(lambda m: m.beta_adapt, layer, jnp.array([0.0, 1.8]))
    x = jnp.ones((60, 1))
    s = np.asarray(layer(x))
    al, be, rho = np.exp(-1 / 5), np.exp(-1 / 10), np.exp(-1 / 200)
    i = v = a = np.zeros(2)
    ref = []
    for _ in range(60):
        i = al * i + 0.3
        v = be * v + i
        sp = (v - 1.0 - np.array([0.0, 1.8]) * a > 0).astype(float)
        a = rho * a + sp
        v = v * (1 - sp)
        ref.append(sp)
    np.testing.assert_array_equal(s, np.array(ref))
    assert s[:, 1].sum() < s[:, 0].sum()


@pytest.mark.parametrize("decay", [None, 300])
def test_default_optimizer_schedule(decay):
    """With a constant gradient, Adam's bias-corrected update is exactly ``-lr_k`` (m̂ = g,
    v̂ = g², up to eps = 1e-8), so the updates read out the schedule; compared with the
    warm-up/cosine formula written here (float32: rtol 1e-5)."""
    lr, warm = 2e-3, 100
    opt = bs.train.default_optimizer(lr, warmup_steps=warm, decay_steps=decay)
    p = jnp.zeros(())
    st = opt.init(p)
    got = []
    for _ in range(400):
        u, st = opt.update(jnp.ones(()), st, p)
        got.append(-float(u))
    k = np.arange(400)
    want = np.where(k < warm, lr * k / warm, lr)
    if decay is not None:
        c = np.clip((k - warm) / (decay - warm), 0.0, 1.0)
        cos = lr / 20 + (lr - lr / 20) * 0.5 * (1 + np.cos(np.pi * c))
        want = np.where(k < warm, want, cos)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)


def test_default_optimizer_bad_arguments():
    with pytest.raises(ValueError, match="default_optimizer.lr must be > 0"):
        bs.train.default_optimizer(0.0)
    with pytest.raises(ValueError, match="warmup_steps must be an integer >= 1"):
        bs.train.default_optimizer(warmup_steps=0)
    with pytest.raises(ValueError, match="decay_steps must exceed warmup_steps"):
        bs.train.default_optimizer(warmup_steps=100, decay_steps=50)
