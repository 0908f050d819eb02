"""Plasticity rules against independent references: the analytic STDP window of
isolated pairs, explicit sums over spike pairs (all-to-all and nearest-neighbour,
triplets), the closed-form distal-reward integral, and the construction-time errors."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

P = bs.plasticity
FREE = P.Bounds(-math.inf, math.inf, dale=False)  # no bounds: the raw sums are exact


@eqx.filter_jit
def _scan(rule, idx, state, pre, post, dt):
    def body(s, x):
        return rule.step(s, x[0], x[1], layout=idx, dt=dt), None

    return jax.lax.scan(body, state, (pre, post))[0]


def _run(rule, layout, pre, post, w0, dt):
    """Scan ``rule`` over spike arrays ``pre (T, n_pre)``, ``post (T, n_post)``."""
    state = rule.init(w0, layout.n_pre, layout.n_post)
    return _scan(rule, bs.ops.index(layout), state, pre, post, dt)


def _pair(delta_steps, rule, dt=0.1):
    """Weight change of one synapse for one pre/post pair ``delta_steps`` apart
    (``|delta_steps| < 500``; one trace length for every lag: one compilation)."""
    pre, post = np.zeros((1001, 1)), np.zeros((1001, 1))
    pre[500, 0], post[500 + delta_steps, 0] = 1.0, 1.0
    layout = bs.conn.ELL(1, 1, jnp.zeros((1, 1), jnp.int32))
    return float(_run(rule, layout, pre, post, jnp.zeros(1), dt).w[0])


@pytest.mark.parametrize("symmetric", [False, True])
def test_window_of_isolated_pairs(symmetric, x64):
    rule = P.PairSTDP(0.01, 0.006, 17.0, 34.0, FREE, symmetric=symmetric)
    for k in (-400, -37, -1, 0, 1, 12, 250):
        dt_ms = 0.1 * k
        if symmetric:
            ref = (
                0.0
                if k == 0
                else 0.01 * math.exp(-abs(dt_ms) / 17) - 0.006 * math.exp(-abs(dt_ms) / 34)
            )
        else:
            ref = 0.01 * math.exp(-dt_ms / 17) if k > 0 else 0.0
            ref = -0.006 * math.exp(dt_ms / 34) if k < 0 else ref
        assert _pair(k, rule) == pytest.approx(ref, rel=1e-12, abs=1e-15)
        assert float(rule.window(dt_ms)) == pytest.approx(ref, rel=1e-12, abs=1e-15)


def _pair_sums(pre_t, post_t, a_plus, a_minus, tau_p, tau_m, nearest):
    """Reference by explicit pair sums (times in ms): every post spike with the earlier
    pre spikes (all of them, or the latest one only) and every pre with earlier posts."""
    dw = 0.0
    for tp in post_t:
        earlier = [t for t in pre_t if t < tp]
        for t in earlier[-1:] if nearest else earlier:
            dw += a_plus * math.exp(-(tp - t) / tau_p)
    for tq in pre_t:
        earlier = [t for t in post_t if t < tq]
        for t in earlier[-1:] if nearest else earlier:
            dw -= a_minus * math.exp(-(tq - t) / tau_m)
    return dw


def _poisson_trains(key, n_steps, n_pre, n_post, p=0.02):
    k1, k2 = jax.random.split(key)
    pre = jax.random.bernoulli(k1, p, (n_steps, n_pre))
    post = jax.random.bernoulli(k2, p, (n_steps, n_post))
    return np.asarray(pre, np.float64), np.asarray(post, np.float64)


@pytest.mark.parametrize("pairing", [P.AllToAll(), P.Nearest()], ids=["all", "nearest"])
def test_pair_stdp_equals_pair_sums_on_poisson_trains(pairing, x64):
    dt, n_steps = 0.5, 600
    layout, _ = bs.conn.FixedProb(0.3).build(jax.random.key(0), 12, 9)
    pre, post = _poisson_trains(jax.random.key(1), n_steps, 12, 9)
    rule = P.PairSTDP(0.01, 0.012, 15.0, 25.0, FREE, pairing)
    w = np.asarray(_run(rule, layout, pre, post, jnp.zeros(layout.n_synapses), dt).w)
    nearest = isinstance(pairing, P.Nearest)
    ptr, ind = np.asarray(layout.indptr), np.asarray(layout.indices)
    times = lambda col: list(np.nonzero(col)[0] * dt)
    for s in range(layout.n_synapses):
        i = np.searchsorted(ptr, s, side="right") - 1
        ref = _pair_sums(times(pre[:, i]), times(post[:, ind[s]]), 0.01, 0.012, 15, 25, nearest)
        assert w[s] == pytest.approx(ref, rel=1e-10, abs=1e-13)


def test_nearest_and_all_to_all_differ_as_defined(x64):
    """Two pre spikes then one post: all-to-all pairs the post with both, nearest with
    the later one only."""
    pre, post = np.zeros((40, 1)), np.zeros((40, 1))
    pre[2, 0] = pre[12, 0] = post[30, 0] = 1.0
    layout = bs.conn.ELL(1, 1, jnp.zeros((1, 1), jnp.int32))
    out = {}
    for name, pairing in (("all", P.AllToAll()), ("nearest", P.Nearest())):
        rule = P.PairSTDP(1.0, 1.0, 10.0, 10.0, FREE, pairing)
        out[name] = float(_run(rule, layout, pre, post, jnp.zeros(1), 1.0).w[0])
    assert out["all"] == pytest.approx(math.exp(-2.8) + math.exp(-1.8), rel=1e-12)
    assert out["nearest"] == pytest.approx(math.exp(-1.8), rel=1e-12)


def test_triplet_equals_triplet_sums(x64):
    dt, n_steps = 0.5, 500
    layout = bs.conn.ELL(2, 2, jnp.array([[0, 1], [1, 0]], jnp.int32))
    pre, post = _poisson_trains(jax.random.key(3), n_steps, 2, 2, p=0.05)
    a2p, a3p, a2m, a3m, tp, tm, tx, ty = 0.01, 0.02, 0.011, 0.003, 16.8, 33.7, 101.0, 125.0
    rule = P.TripletSTDP(a2p, a3p, a2m, a3m, tp, tm, tx, ty, FREE)
    w = np.asarray(_run(rule, layout, pre, post, jnp.zeros(4), dt).w).reshape(2, 2)
    for i in range(2):
        for k, j in enumerate(np.asarray(layout.indices[i])):
            pt, qt = np.nonzero(pre[:, i])[0] * dt, np.nonzero(post[:, j])[0] * dt
            kern = lambda t, ts, tau: sum(math.exp(-(t - u) / tau) for u in ts if u < t)
            ref = sum(kern(t, pt, tp) * (a2p + a3p * kern(t, qt, ty)) for t in qt)
            ref -= sum(kern(t, qt, tm) * (a2m + a3m * kern(t, pt, tx)) for t in pt)
            assert w[i, k] == pytest.approx(ref, rel=1e-10, abs=1e-13)


def test_distal_reward_equals_closed_form(x64):
    """One causal pair (+5 ms), reward r 300 ms later: the summed change
    sum_k dt c(t_k) d(t_k) with exponential c and d is a geometric series."""
    dt, tau_c, tau_d, r = 1.0, 1000.0, 200.0, 0.5
    window = P.PairSTDP(0.01, 0.015, 20.0, 20.0, P.Bounds(0.0, 10.0))
    rule = P.RewardSTDP(window, tau_c=tau_c, tau_d=tau_d)
    n = 3000
    pre, post, reward = np.zeros((n, 1)), np.zeros((n, 1)), np.zeros(n)
    pre[10, 0], post[15, 0], reward[315] = 1.0, 1.0, r
    layout = bs.conn.ELL(1, 1, jnp.zeros((1, 1), jnp.int32))
    idx = bs.ops.index(layout)

    def body(s, x):
        return rule.step(s, x[0], x[1], layout=idx, dt=dt, reward=x[2]), None

    state = rule.init(jnp.full(1, 1.0), 1, 1)
    state = jax.lax.scan(body, state, (pre, post, reward))[0]
    c = 0.01 * math.exp(-5 / 20) * math.exp(-300 / tau_c)  # eligibility when d jumps
    q = math.exp(-dt * (1 / tau_c + 1 / tau_d))  # per-step decay of c d
    total = dt * c * r * (1 - q ** (n - 315)) / (1 - q)
    assert total > 0.1  # well inside the bounds [0, 10] from w = 1
    assert float(state.w[0]) == pytest.approx(1.0 + total, rel=1e-10)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: P.Bounds(2.0, 1.0), "Bounds: w_min must be <= w_max"),
        (lambda: P.Bounds(-1.0, 1.0), "Dale's law"),
        (lambda: P.Bounds(0.0, math.inf, mu_plus=1.0), r"Bounds.mu_plus=1 \(soft bounds\)"),
        (lambda: P.Bounds(0.0, 1.0, mu_minus=-0.5), "Bounds.mu_minus must be >= 0"),
        (lambda: P.PairSTDP(A_plus=-0.01), "PairSTDP.A_plus must be >= 0"),
        (lambda: P.PairSTDP(A_minus=-0.01), "PairSTDP.A_minus must be >= 0"),
        (lambda: P.PairSTDP(tau_minus=-20.0), r"PairSTDP.tau_minus must be > 0 \(ms\)"),
        (lambda: P.TripletSTDP(A3_minus=-1e-3), "TripletSTDP.A3_minus must be >= 0"),
        (lambda: P.TripletSTDP(tau_y=0.0), "TripletSTDP.tau_y must be > 0"),
        (lambda: P.VogelsSprekeler(eta=-1.0), "VogelsSprekeler.eta must be >= 0"),
        (lambda: P.VogelsSprekeler(rho0=-5.0), r"VogelsSprekeler.rho0 must be >= 0 \(Hz\)"),
        (lambda: P.RewardSTDP(tau_c=-1.0), "RewardSTDP.tau_c must be > 0"),
        (lambda: P.SynapticScaling(g_min=2.0), "need 0 <= g_min <= 1 <= g_max"),
        (lambda: P.AdaptiveThreshold(tau_rate=0.0), "AdaptiveThreshold.tau_rate must be > 0"),
        (lambda: bs.ops.index(bs.conn.Dense(2, 2)), "plastic weights need a stored CSR or ELL"),
    ],
)
def test_bad_parameters_raise_named_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_soft_bounds_keep_weights_inside_and_dale_sign(x64):
    """Multiplicative rule with huge amplitudes: weights approach but never cross the
    bounds (inhibitory-sign bounds [-2, -0.5] keep the sign)."""
    layout, _ = bs.conn.FixedProb(0.5).build(jax.random.key(5), 10, 10)
    pre, post = _poisson_trains(jax.random.key(6), 300, 10, 10, p=0.1)
    bounds = P.Bounds(-2.0, -0.5, mu_plus=1.0, mu_minus=1.0)
    rule = P.PairSTDP(5.0, 5.0, 20.0, 20.0, bounds)
    w = np.asarray(_run(rule, layout, pre, post, jnp.full(layout.n_synapses, -1.0), 1.0).w)
    assert np.all(w >= -2.0) and np.all(w <= -0.5)
    assert np.ptp(w) > 0.5  # they did move


@pytest.mark.parametrize("lag", [10, -10])
def test_triplet_pairing_frequency_dependence(lag, x64):
    """Sjöström et al. 2001 protocol (pairs with post 10 ms after / before pre, at
    0.1 Hz and at 50 Hz) with Pfister & Gerstner's visual-cortex all-to-all parameters
    (the defaults): at 0.1 Hz pre-post pairs give ~no change and post-pre pairs
    depression; at 50 Hz both potentiate (P&G 2006 Fig. 5A; Sjöström 2001 Fig. 1)."""
    rule = P.TripletSTDP(bounds=FREE)
    layout = bs.conn.ELL(1, 1, jnp.zeros((1, 1), jnp.int32))
    out = {}
    for freq, n_pairs in ((0.1, 5), (50.0, 15)):
        period = int(round(1000.0 / freq))  # steps of 1 ms
        n = period * n_pairs + 50
        pre, post = np.zeros((n, 1)), np.zeros((n, 1))
        t = 20 + period * np.arange(n_pairs)
        pre[t, 0], post[t + lag, 0] = 1.0, 1.0
        out[freq] = float(_run(rule, layout, pre, post, jnp.zeros(1), 1.0).w[0]) / n_pairs
    if lag > 0:  # per pair: A2+ e^{-10/16.8} ~ 4e-10 at low frequency
        assert abs(out[0.1]) < 1e-8
    else:  # -A2- e^{-10/33.7} = -5.2e-3 per pair
        assert out[0.1] == pytest.approx(-7e-3 * math.exp(-10 / 33.7), rel=1e-6)
    assert out[50.0] > 1e-3  # potentiation for both orders at 50 Hz


def test_rules_vmap_over_batches_and_parameters():
    """A rule vmapped over a batch of spike trains and of amplitudes equals the
    separate runs (bit for bit: same operations per element)."""
    layout, _ = bs.conn.FixedProb(0.4).build(jax.random.key(8), 12, 10)
    trains = [_poisson_trains(jax.random.key(20 + b), 200, 12, 10, p=0.05) for b in range(3)]
    pre = jnp.stack([jnp.asarray(t[0], jnp.float32) for t in trains])
    post = jnp.stack([jnp.asarray(t[1], jnp.float32) for t in trains])
    a_plus = jnp.array([0.01, 0.02, 0.03])
    w0 = jnp.full(layout.n_synapses, 0.5)

    def run(a, x, y):
        rule = P.TripletSTDP(0.005, a, 0.007, 0.002, bounds=P.Bounds(0.0, 1.0))
        return _run(rule, layout, x, y, w0, 0.5).w

    batched = jax.vmap(run)(a_plus, pre, post)
    for b in range(3):
        np.testing.assert_array_equal(batched[b], run(a_plus[b], pre[b], post[b]))
    assert float(jnp.max(jnp.abs(batched[0] - batched[2]))) > 1e-3
