"""Per-synapse heterogeneous delays (postsynaptic ring buffer): exact arrival of every
synapse, the ring operator (native and pure JAX) against a dense product and a NumPy
synapse loop (values and VJPs), a network against the NumPy convolution of its raster,
validation."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import truncnorm

import brainsim as bs

DT = 0.1


D = 8  # ring depth (steps): larger than the largest delay (6), as with max_delay


@pytest.fixture(scope="module")
def delayed():
    """A random CSR projection (40 -> 30, p = 0.3) with delays of 1..6 steps and
    per-synapse weights, grouped by delay."""
    key = jax.random.key(3)
    layout, _ = bs.conn.FixedProb(0.3).build(key, 40, 30)
    rng = np.random.default_rng(0)
    steps = rng.integers(1, 7, layout.n_synapses)
    w = rng.normal(size=layout.n_synapses)
    d_layout, w_grouped = bs.conn.with_delays(layout, steps * DT, w)
    table = tuple(round(v / DT) for v in d_layout.delays)
    return layout, steps, w, d_layout, w_grouped, table


@pytest.fixture(params=["native", "pure"])
def path(request, monkeypatch):
    """The native CPU kernel (when it could be built) and the portable pure-JAX path."""
    if request.param == "pure":
        monkeypatch.setattr(bs.ops._native, "available", lambda: False)
    elif not bs.ops._native.available():
        pytest.skip("native kernel unavailable (no C++ compiler?)")
    return request.param


def _numpy_reference(layout, steps, w, spikes, ring, cursor):
    """``(ring, arriving)`` after one step, by a float64 loop over the synapses of the
    original (ungrouped) layout: synapse i -> j of delay d adds w s_i to slot
    (cursor + d - 1) % D; then slot cursor is read out and cleared."""
    indptr, post = np.asarray(layout.indptr), np.asarray(layout.indices)
    out = np.array(ring, np.float64)
    for i in range(layout.n_pre):
        for k in range(indptr[i], indptr[i + 1]):
            out[(cursor + steps[k] - 1) % D, post[k]] += w[k] * spikes[i]
    now = out[cursor].copy()
    out[cursor] = 0.0
    return out, now


def _spike_grad_reference(layout, steps, w, ct, cursor):
    """d(ct . ring before the read-out)/d spikes_i = sum over synapses i -> j of
    w ct[(cursor + d - 1) % D, j]."""
    indptr, post = np.asarray(layout.indptr), np.asarray(layout.indices)
    out = np.zeros(layout.n_pre)
    for i in range(layout.n_pre):
        for k in range(indptr[i], indptr[i + 1]):
            out[i] += w[k] * ct[(cursor + steps[k] - 1) % D, post[k]]
    return out


def test_delayed_propagate_vs_numpy_and_dense(delayed, path):
    """One ring step (scatter, read-out, clear) against the float64 synapse loop, with
    the event buffer large and tiny (the exact O(synapses) fallback of the pure path),
    cursor 0 and 5 (slots wrap around D = 8); VJPs in weights, spikes and ring (through
    both outputs) against the dense (D, n_pre, n_post) reference, and the spike gradient
    against the NumPy loop. float32 sums of < 40 O(1) terms: 1e-5."""
    layout, steps, w, d_layout, w_grouped, table = delayed
    rng = np.random.default_rng(1)
    spikes = jnp.asarray((rng.random(40) < 0.2) * rng.uniform(0.5, 1.5, 40), jnp.float32)
    ring = jnp.asarray(rng.normal(size=(D, 30)), jnp.float32)
    ct_ring = jax.random.normal(jax.random.key(2), (D, 30))
    ct_now = jax.random.normal(jax.random.key(3), (30,))

    def op(wg, s, r, c, cap=8):
        return bs.ops.delayed_propagate(d_layout, wg, s, r, c, steps=table, capacity=cap)

    def op_d(wg, s, r, c):
        return bs.ops.delayed_propagate_dense(d_layout, wg, s, r, c, steps=table)

    def loss(f):
        def fn(*a):
            r, now = f(*a)
            return jnp.vdot(r, ct_ring) + jnp.vdot(now, ct_now)

        return jax.jit(jax.grad(fn, (0, 1, 2)))

    big, tiny = jax.jit(functools.partial(op, cap=40)), jax.jit(functools.partial(op, cap=3))
    for cursor in (0, 5):
        expect = _numpy_reference(layout, steps, w, spikes, ring, cursor)
        for f in (big, tiny, jax.jit(op_d)):
            for a, b in zip(f(w_grouped, spikes, ring, cursor), expect, strict=True):
                np.testing.assert_allclose(a, b, atol=1e-5)
        g = loss(op)(w_grouped, spikes, ring, cursor)
        for a, b in zip(g, loss(op_d)(w_grouped, spikes, ring, cursor), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        ct = np.array(ct_ring)
        ct[cursor] = ct_now  # the read-out slot's cotangent is the arriving input's
        s_ref = _spike_grad_reference(layout, steps, w, ct, cursor)
        np.testing.assert_allclose(g[1], s_ref, atol=1e-5)
        np.testing.assert_allclose(g[2], ct)  # the ring passes through


def test_delayed_propagate_batches(delayed, path):
    """Leading batch axes and jax.vmap (over spikes, ring and cursor; over the weights)
    equal the per-sample results; a homogeneous (scalar) weight equals the per-synapse
    array filled with it."""
    _, _, _, d_layout, w_grouped, table = delayed
    rng = np.random.default_rng(2)
    spikes = jnp.asarray(rng.random((3, 40)) < 0.2, jnp.float32)
    ring = jnp.asarray(rng.normal(size=(3, D, 30)), jnp.float32)

    @jax.jit
    def op(w, s, r, c):
        out, now = bs.ops.delayed_propagate(d_layout, w, s, r, c, steps=table, capacity=8)
        return jnp.concatenate([out, now[..., None, :]], axis=-2)  # (..., D + 1, n_post)

    one = np.stack([op(w_grouped, spikes[b], ring[b], b) for b in range(3)])
    np.testing.assert_allclose(op(w_grouped, spikes, ring, 1)[1], one[1], rtol=1e-6, atol=1e-6)
    vm = jax.jit(jax.vmap(op, (None, 0, 0, 0)))(w_grouped, spikes, ring, jnp.arange(3))
    np.testing.assert_allclose(vm, one, rtol=1e-6, atol=1e-6)
    scales = jnp.asarray([1.0, 2.0, -1.0])
    vw = jax.jit(jax.vmap(op, (0, None, None, None)))(
        scales[:, None] * w_grouped[None], spikes[0], ring[0], 0
    )
    base = op(0.0 * w_grouped, spikes[0], ring[0], 0)  # the ring alone, read out
    np.testing.assert_allclose(vw[1] - base, 2 * (one[0] - base), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vw[2] - base, base - one[0], rtol=1e-5, atol=1e-5)
    full = jnp.full(d_layout.weight_shape, 0.7, jnp.float32)
    np.testing.assert_allclose(
        op(0.7, spikes, ring, 4), op(full, spikes, ring, 4), rtol=1e-6, atol=1e-6
    )


def test_group_dtypes(delayed, path):
    """``with_delays`` stores the delay index in the smallest integer type (uint8 up to
    256 values, int16 beyond), and the operator gives the same ring for uint8, int16 and
    int32 indices (the native kernel dispatches on the type)."""
    _, _, _, d_layout, w_grouped, table = delayed
    assert d_layout.group.dtype == jnp.uint8
    many, _ = bs.conn.with_delays(
        bs.conn.OneToOne().build(None, 300, 300)[0], np.arange(1, 301)[:, None]
    )
    assert many.group.dtype == jnp.int16
    spikes = jnp.asarray(np.random.default_rng(3).random(40) < 0.3, jnp.float32)
    ring = jnp.zeros((D, 30))
    outs = []
    for dtype in (jnp.uint8, jnp.int16, jnp.int32):
        layout = eqx.tree_at(lambda x: x.group, d_layout, d_layout.group.astype(dtype))
        outs.append(
            bs.ops.delayed_propagate(layout, w_grouped, spikes, ring, 3, steps=table, capacity=8)
        )
    for out in outs[1:]:
        for a, b in zip(out, outs[0], strict=True):
            np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(outs[0][0])).sum() > 0


def test_every_synapse_arrives_exactly_d_later():
    """40 presynaptic sources spike at distinct times; each has 3 synapses onto distinct
    postsynaptic neurons (120 in all) with delays of 1..25 steps drawn at random
    (including 0.1 ms = dt and values such as 0.7, 2.3 ms). With Delta kinetics the
    only nonzero g of post j is in step emission + d_j, and it equals the weight."""
    n_pre, n_post = 40, 120
    rng = np.random.default_rng(5)
    pre = np.repeat(np.arange(n_pre), 3)
    post = rng.permutation(n_post)
    d_steps = rng.integers(1, 26, n_post)
    w = rng.uniform(1, 2, n_post)
    emit = rng.permutation(60)[:n_pre] + 2  # emission step of each source
    src = bs.neurons.SpikeTimes(n_pre, times=emit * DT, indices=np.arange(n_pre))
    target = bs.neurons.LIF(n_post, v_th=1e3)
    proj = bs.Projection(
        "src",
        "post",
        bs.conn.FromEdges(pre, post, w),
        weight=None,
        synapse=bs.synapses.Delta(),
        output=bs.synapses.VoltageJump(),
        delays=d_steps * DT,
    )
    net = bs.Network({"src": src, "post": target}, [proj], key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=DT)

    def body(s, i):
        s, _ = net.step(s, None, t=i * DT, dt=DT)
        return s, s.synapses[0].g

    g = np.asarray(jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(100)))(state)[1])
    for k in range(n_post):
        j = post[k]
        hit = np.nonzero(g[:, j])[0]
        assert hit.tolist() == [emit[pre[k]] + d_steps[k]], (k, hit, emit[pre[k]], d_steps[k])
        assert abs(g[hit[0], j] - w[k]) < 1e-6


@pytest.mark.parametrize("batch_shape", [(), (2,)])
def test_network_event_path_equals_dense_reference(getkey, batch_shape):
    """Random Poisson-like raster (recorded from a PoissonSource) through a FixedProb
    projection with NormalDelay delays, unbatched and with a batch of 2 trials: the
    per-step input equals the NumPy convolution sum_syn w S[n - d, i] over the recorded
    raster (float32, 1e-5)."""
    n_pre, n_post, steps = 50, 40, 80
    src = bs.neurons.PoissonSource(n_pre, rate=300.0)
    target = bs.neurons.LIF(n_post, v_th=1e3)
    proj = bs.Projection(
        "src",
        "post",
        bs.conn.FixedProb(0.2),
        weight=0.5,
        synapse=bs.synapses.Delta(),
        output=bs.synapses.VoltageJump(),
        delays=bs.delays.NormalDelay(0.8, 0.5, DT),
        max_delay=3.0,
    )
    net = bs.Network({"src": src, "post": target}, [proj], key=getkey())
    layout = net.projections[0].conn
    assert isinstance(layout, bs.conn.Delayed) and len(layout.delays) > 5
    state = net.init(getkey(), dt=DT, batch_shape=batch_shape)

    def body(s, i):
        s, spikes = net.step(s, None, t=i * DT, dt=DT)
        return s, (spikes["src"], s.synapses[0].g)

    raster, g = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)[1]
    raster, g = np.asarray(raster), np.asarray(g)
    indptr, post = np.asarray(layout.csr.indptr), np.asarray(layout.csr.indices)
    group = np.asarray(layout.group)
    expect = np.zeros_like(g)
    for i in range(n_pre):
        for k in range(indptr[i], indptr[i + 1]):
            d = round(layout.delays[group[k]] / DT)
            expect[d:, ..., post[k]] += 0.5 * raster[: steps - d, ..., i]  # n -> n + d
    assert raster.sum() > 50
    if batch_shape:  # the trials differ, so each is checked on its own raster
        assert not np.array_equal(raster[:, 0], raster[:, 1])
    np.testing.assert_allclose(g, expect, rtol=1e-5, atol=1e-5)


def test_normal_delay_distribution():
    """NormalDelay: multiples of the resolution, >= resolution, and the mean/sd of a
    normal truncated at resolution/2 (redrawing = truncation; scipy.stats.truncnorm).
    200 000 draws: standard error of the mean 0.75/sqrt(2e5) = 0.002 ms; rounding to
    the 0.1 ms grid adds 0.1²/12 to the variance (sd +0.0006 ms)."""
    d = bs.delays.NormalDelay(1.5, 0.75, 0.1).sample(np.random.default_rng(0), 200_000)
    assert d.min() >= 0.1 - 1e-12
    np.testing.assert_allclose(d / 0.1, np.round(d / 0.1), atol=1e-9)
    ref = truncnorm((0.05 - 1.5) / 0.75, np.inf, loc=1.5, scale=0.75)
    assert abs(d.mean() - ref.mean()) < 0.01
    assert abs(d.std() - ref.std()) < 0.01


def _net(delays, max_delay=None, delay=None):
    src = bs.neurons.SpikeTimes(2, times=[0.0], indices=[0])
    proj = bs.Projection(
        "src",
        "post",
        bs.conn.OneToOne(),
        weight=1.0,
        delays=delays,
        max_delay=max_delay,
        delay=delay,
    )
    return bs.Network({"src": src, "post": bs.neurons.LIF(2)}, [proj], key=jax.random.key(0))


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: _net(np.array([[0.15], [0.2]])).init(jax.random.key(0), dt=0.1),
            "delay must be a whole multiple of dt",
        ),
        (
            lambda: _net(np.array([[0.05], [0.1]])).init(jax.random.key(0), dt=0.1),
            "delay must be >= dt",
        ),
        (lambda: _net(np.array([[0.5], [2.0]]), max_delay=1.0), "max_delay"),
        (
            lambda: _net(np.array([[0.5], [0.6]]), max_delay=0.55).init(jax.random.key(0), dt=0.1),
            "max_delay",
        ),
        (lambda: _net(np.array([0.5, 0.6, 0.7])), "delays must have"),
        (lambda: _net(np.array([[0.5], [-1.0]])), "delays must be > 0"),
        (lambda: _net(np.array([[0.5], [0.6]]), delay=0.5), "delay or delays"),
        (lambda: bs.delays.NormalDelay(1.0, -1.0), "std"),
    ],
)
def test_bad_delays(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_propagate_checks_steps(delayed):
    """The operator refuses delays longer than the ring or a table that does not give one
    delay per value of the layout."""
    _, _, _, d_layout, w_grouped, table = delayed
    spikes = jnp.zeros(40)
    with pytest.raises(ValueError, match="ring depth D=4"):
        bs.ops.delayed_propagate(
            d_layout, w_grouped, spikes, jnp.zeros((4, 30)), 0, steps=table, capacity=8
        )
    with pytest.raises(ValueError, match="one delay"):
        bs.ops.delayed_propagate(
            d_layout, w_grouped, spikes, jnp.zeros((D, 30)), 0, steps=table[:-1], capacity=8
        )


def test_simulate_checks_dt_of_ring():
    """``simulate`` accepts a state with per-synapse delay rings built for its dt and
    rejects one built for another dt (the ring depth depends on dt)."""
    net = _net(np.array([[0.2], [0.4]]))
    state = net.init(jax.random.key(0), dt=0.1)
    net.check_state(state, 0.1)
    with pytest.raises(ValueError, match="dt=0.05"):
        net.check_state(state, 0.05)
    bs.simulate(net, state, duration=1.0, dt=0.1, progress=False)


def test_with_delays_matches_numpy_unique_and_lexsort():
    """At 3 M synapses (large enough that the distinct delays are first looked for in a
    strided sample), ``with_delays`` finds exactly ``np.unique``'s values, including rare
    ones the sample misses, and orders synapses exactly as ``np.lexsort`` by (pre, delay,
    post); per-synapse weights follow the same permutation."""
    rng = np.random.default_rng(7)
    n, n_pre, n_post = 3_000_000, 500, 700
    pre, post = rng.integers(0, n_pre, n), rng.integers(0, n_post, n)
    layout, _ = bs.conn.FromEdges(pre, post).build(None, n_pre, n_post)
    delays = rng.integers(1, 20, n) * 0.1
    delays[[1, 3, 999_999, 2_999_999]] = [0.05, 7.3, 2.25, 0.1 + 1e-10]  # rare values
    w = rng.normal(size=n).astype(np.float32)
    out, w_out = bs.conn.with_delays(layout, delays, w)
    values, group = np.unique(np.round(delays, 9), return_inverse=True)
    np.testing.assert_array_equal(out.delays, values)
    flat_pre = np.repeat(np.arange(n_pre), np.diff(np.asarray(layout.indptr)))
    order = np.lexsort((np.asarray(layout.indices), group, flat_pre))
    np.testing.assert_array_equal(out.csr.indices, np.asarray(layout.indices)[order])
    np.testing.assert_array_equal(out.group, group[order])
    np.testing.assert_array_equal(w_out, w[order])
