"""Wake/sleep phases (``bs.plasticity.Sleep``) and the trace rule of the sleep
experiments (``TraceSTDP``), against hand-computed values and a NumPy loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

P = bs.plasticity


def _full(n_pre, n_post):
    return bs.conn.ELL(n_pre, n_post, jnp.tile(jnp.arange(n_post, dtype=jnp.int32), (n_pre, 1)))


@pytest.mark.parametrize(
    "baseline, expected",
    [
        # b = mean(w0) = 1: 1 + (w - 1) / 4
        ("static", [1.25, 1.0, 1.75, 1.5]),
        # S0 = 4, S = 10 -> 4 + 6 / 4 = 5.5: every weight times 0.55
        ("layer", [1.1, 0.55, 2.2, 1.65]),
        # post 0 (synapses 0, 2): 6 -> 2 + 4 / 4 = 3, x 1/2; post 1 (1, 3): 4 -> 2.5, x 5/8
        ("post", [1.0, 0.625, 2.0, 1.875]),
    ],
)
def test_renormalization_by_hand(baseline, expected):
    idx = bs.ops.index(_full(2, 2))  # synapses in order 0->0, 0->1, 1->0, 1->1
    sleep = P.Sleep(wake=3.0, sleep=1.0, factor=0.25, baseline=baseline).bind(jnp.ones(4), idx)
    w = jnp.array([2.0, 1.0, 4.0, 3.0])
    # one step of dt = sleep: the whole factor; t = 3 is asleep, t = 2 awake
    got = sleep.renormalize(w, layout=idx, t=3.0, dt=1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_array_equal(sleep.renormalize(w, layout=idx, t=2.0, dt=1.0), w)


def test_sleep_in_a_network_follows_the_schedule():
    """Through ``Network`` and ``simulate``: with a rule that does not learn, every
    asleep step (and only those) moves each weight toward the mean initial weight by
    m^(dt/sleep), so after n asleep steps w = b + (w0 - b) m^(n dt / sleep)."""
    dt, wake, sleep_ms, m = 0.5, 3.0, 2.0, 0.2
    w0 = jnp.array([[0.5, 1.5], [2.0, 4.0]])
    sleep = P.Sleep(wake=wake, sleep=sleep_ms, factor=m)
    lif = lambda n: bs.neurons.LIF(n)
    rule = P.TraceSTDP(eta=0.0)
    net = bs.Network(
        {"X": lif(2), "Y": lif(2)},
        [bs.Projection("X", "Y", _full(2, 2), weight=w0, components=(bs.Plastic(rule, sleep),))],
    )
    state = net.init(jax.random.key(0), dt=dt)

    def body(s, k):
        s, _ = net.step(s, t=k * dt, dt=dt)
        return s, s.components[0][0][0].w

    # 12 ms: asleep in [3, 5) and [8, 10)
    _, ws = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(24)))(state)
    ws = np.asarray(ws)
    asleep = np.array([(k * dt) % 5.0 >= 3.0 for k in range(24)])
    n = np.cumsum(asleep)
    b = float(w0.mean())
    expected = b + (np.ravel(w0) - b)[None] * m ** (n * dt / sleep_ms)[:, None]
    np.testing.assert_allclose(np.array(ws), expected, rtol=1e-5)
    # simulate carries the same state (and schedule) as stepping by hand
    out, _ = bs.simulate(net, net.init(jax.random.key(0), dt=dt), 12.0, dt)
    np.testing.assert_allclose(out.components[0][0][0].w, ws[-1], rtol=1e-6)


def test_sleep_inputs_replace_the_wake_input_with_noise():
    dt, sigma = 0.5, 3.0
    sleep = P.Sleep(wake=4.0, sleep=1.0)
    net = bs.Network({"X": bs.neurons.LIF(3), "Y": bs.neurons.LIF(4000)})
    inputs = sleep.inputs(
        net, lambda tw: {"X": tw * jnp.ones(3)}, noise={"Y": sigma}, key=jax.random.key(1), dt=dt
    )
    for t, awake_time in [(0.0, 0.0), (3.5, 3.5), (5.0, 4.0), (7.0, 6.0), (13.5, 11.5)]:
        got = inputs(t)  # awake: the stream at its wake clock, no noise
        np.testing.assert_allclose(got["X"], awake_time)
        np.testing.assert_array_equal(got["Y"], 0.0)
    asleep = [inputs(t) for t in (4.0, 4.5, 9.0)]
    for got in asleep:
        np.testing.assert_array_equal(got["X"], 0.0)
        # 4000 samples: the standard error of the sample std is 1.1 %; 5 % is > 4 sigma
        assert abs(float(jnp.std(got["Y"])) / sigma - 1) < 0.05
        assert abs(float(jnp.mean(got["Y"]))) < 5 * sigma / np.sqrt(4000)
    np.testing.assert_array_equal(inputs(4.5)["Y"], asleep[1]["Y"])  # same step, same draw
    assert not np.array_equal(asleep[0]["Y"], asleep[1]["Y"])
    # the phases as simulate inputs: X silent while asleep, driven while awake
    drive = sleep.inputs(net, {"X": 2000.0 * jnp.ones(3)}, key=jax.random.key(1), dt=dt)
    _, rec = bs.simulate(
        net, net.init(jax.random.key(0), dt=dt), 50.0, dt, record={"X": ["spikes"]}, inputs=drive
    )
    spikes = np.asarray(rec["X"]["spikes"]).sum(axis=1)
    t = np.arange(100) * dt
    assert spikes[t % 5.0 < 4.0].sum() > 10
    # LIF spikes a step after its input ends at most (refractory/reset aside)
    assert spikes[(t % 5.0 >= 4.5)].sum() == 0


def test_trace_stdp_matches_a_numpy_loop(x64):
    """Poisson pre/post trains on a random sparse layout, 400 steps: the event-driven
    rule equals a dense NumPy transcription of its definition (float64)."""
    if True:
        rng = np.random.default_rng(0)
        n_pre, n_post, dt = 30, 12, 0.5
        mask = rng.random((n_pre, n_post)) < 0.4
        layout = bs.conn.FromDense(np.where(mask, 1.0, 0.0)).build(None, n_pre, n_post)[0]
        rule = P.TraceSTDP(eta=0.05, tau=15.0, mu=0.6, bounds=P.Bounds(0.0, 10.0))
        w0 = rng.uniform(1.0, 9.0, mask.sum())
        pre = (rng.random((400, n_pre)) < 0.05).astype(float)
        post = (rng.random((400, n_post)) < 0.03).astype(float)
        idx = bs.ops.index(layout)
        s = rule.init(jnp.asarray(w0), n_pre, n_post)
        step = jax.jit(lambda s, a, b: rule.step(s, a, b, layout=idx, dt=dt))
        for k in range(400):
            s = step(s, pre[k], post[k])
        # reference: dense matrix in row-major (pre, post) order = the layout's order
        W, x = np.zeros((n_pre, n_post)), np.zeros(n_pre)
        W[mask] = w0
        for k in range(400):
            x = x * np.exp(-dt / 15.0)
            for j in np.flatnonzero(post[k]):
                i = np.flatnonzero(mask[:, j])
                dw = 0.05 * (x[i] - x.mean()) * (10.0 - W[i, j]) ** 0.6
                W[i, j] = np.clip(W[i, j] + dw, 0.0, 10.0)
            x = x + pre[k]
        assert np.ptp(W[mask] - w0) > 0.1  # the weights did move
        np.testing.assert_allclose(np.asarray(s.w), W[mask], rtol=1e-12, atol=1e-12)


def test_sleep_errors():
    with pytest.raises(ValueError, match="Sleep.factor must be > 0"):
        P.Sleep(wake=1.0, sleep=1.0, factor=0.0)
    with pytest.raises(ValueError, match="Sleep.baseline must be one of"):
        P.Sleep(wake=1.0, sleep=1.0, baseline="global")
    with pytest.raises(ValueError, match="Plastic.sleep must be a bs.plasticity.Sleep"):
        bs.Plastic(P.TraceSTDP(), sleep=0.5)
    net = bs.Network({"X": bs.neurons.LIF(3)})
    sleep = P.Sleep(wake=1.0, sleep=1.0)
    with pytest.raises(ValueError, match="unknown population 'Z' in noise"):
        sleep.inputs(net, noise={"Z": 1.0}, key=jax.random.key(0), dt=0.1)
    with pytest.raises(ValueError, match=r"noise\['X'\] must be >= 0 \(pA\), got -1"):
        sleep.inputs(net, noise={"X": -1.0}, key=jax.random.key(0), dt=0.1)


def test_normalized_trace_stdp_matches_a_numpy_loop(x64):
    """``Normalized(TraceSTDP)``: Poisson pre/post trains on a random sparse layout, 300
    steps, against a dense NumPy loop of the rule followed by dividing each column by
    its sum (float64); the column sums stay at ``total`` and the weights do move."""
    rng = np.random.default_rng(1)
    n_pre, n_post, dt, total = 25, 10, 0.5, 12.0
    mask = rng.random((n_pre, n_post)) < 0.5
    mask[0] = True  # no empty column
    layout = bs.conn.FromDense(np.where(mask, 1.0, 0.0)).build(None, n_pre, n_post)[0]
    inner = P.TraceSTDP(eta=0.05, tau=15.0, mu=0.6, bounds=P.Bounds(0.0, 10.0))
    rule = P.Normalized(inner, total=total)
    w0 = rng.uniform(0.5, 4.0, mask.sum())
    pre = (rng.random((300, n_pre)) < 0.05).astype(float)
    post = (rng.random((300, n_post)) < 0.03).astype(float)
    idx = bs.ops.index(layout)
    s = rule.init(jnp.asarray(w0), n_pre, n_post)
    step = jax.jit(lambda s, a, b: rule.step(s, a, b, layout=idx, dt=dt))
    for k in range(300):
        s = step(s, pre[k], post[k])
    W, x = np.zeros((n_pre, n_post)), np.zeros(n_pre)
    W[mask] = w0
    for k in range(300):
        x = x * np.exp(-dt / 15.0)
        for j in np.flatnonzero(post[k]):
            i = np.flatnonzero(mask[:, j])
            dw = 0.05 * (x[i] - x.mean()) * np.maximum(10.0 - W[i, j], 0.0) ** 0.6
            W[i, j] = np.clip(W[i, j] + dw, 0.0, 10.0)
        W = W * (total / W.sum(axis=0))
        x = x + pre[k]
    np.testing.assert_allclose(W.sum(axis=0), total, rtol=1e-12)
    first = W.copy()  # the weights after the first normalization alone (no post spike)
    first[mask] = w0
    first = first * (total / first.sum(axis=0))
    assert np.ptp(W[mask] - first[mask]) > 0.1  # the rule moved them beyond that
    np.testing.assert_allclose(np.asarray(s.w), W[mask], rtol=1e-10, atol=1e-12)


def test_normalized_leaves_empty_columns_and_checks():
    idx = bs.ops.index(_full(2, 2))
    got = P.normalized_weights(jnp.array([0.0, 1.0, 0.0, 3.0]), idx, 2.0)
    np.testing.assert_allclose(got, [0.0, 0.5, 0.0, 1.5])  # post 0 sums to 0: unchanged
    with pytest.raises(ValueError, match="Normalized.total must be > 0"):
        P.Normalized(P.TraceSTDP(), total=0.0)
    with pytest.raises(ValueError, match="Normalized.rule must be a bs.plasticity rule"):
        P.Normalized(0.5, total=1.0)
    assert P.Normalized(P.RewardSTDP(), total=1.0).modulated
    plastic = bs.Plastic(P.Normalized(P.TraceSTDP(), total=1.0))
    proj = bs.Projection(
        "X",
        "Y",
        bs.conn.FixedProb(0.5),
        weight=1.0,
        delays=bs.delays.NormalDelay(2.0, 0.5),
        components=(plastic,),
    )
    with pytest.raises(ValueError, match="Normalized needs a CSR or ELL layout"):
        bs.Network({"X": bs.neurons.LIF(8), "Y": bs.neurons.LIF(8)}, [proj], key=jax.random.key(0))


def test_recurrent_plastic_sleep_matches_a_numpy_loop(x64):
    """Sleep in a recurrent network through the public API: one population E with
    plastic all-to-all E->E synapses (``TraceSTDP`` + ``Sleep(baseline="post")``, delay
    1 ms at dt = 0.5), Poisson current pulses while awake and ``Sleep.inputs``' noise
    while asleep, 300 steps. The weights equal a dense NumPy loop of the rule's
    definition fed with the network's own spikes (the rule sees E's spikes of the last
    step as presynaptic and those of the step the delay before as postsynaptic:
    NEST's dendritic-delay convention), followed while asleep by the per-neuron
    rescaling of each column's total toward its initial total (float64)."""
    rng = np.random.default_rng(2)
    n, dt, steps, d = 12, 0.5, 300, 2  # d: the 1 ms delay in steps
    mask = ~np.eye(n, dtype=bool)
    others = np.array([np.flatnonzero(mask[i]) for i in range(n)], np.int32)
    w0 = rng.uniform(0.5, 4.0, (n, n - 1))
    rule = P.TraceSTDP(eta=0.05, tau=15.0, mu=0.6, bounds=P.Bounds(0.0, 10.0))
    phases = P.Sleep(wake=40.0, sleep=10.0, factor=0.3, baseline="post")
    net = bs.Network(
        {"E": bs.neurons.LIF(n, c_m=10.0, t_ref=2.0)},
        [
            bs.Projection(
                "E",
                "E",
                bs.conn.ELL(n, n, jnp.asarray(others)),
                weight=jnp.asarray(w0),
                delay=1.0,
                components=(bs.Plastic(rule, phases),),
            )
        ],
    )
    pulses = jnp.asarray(400.0 * (rng.random((steps, n)) < 0.08))
    wake = lambda tw: {"E": pulses[jnp.round(tw / dt).astype(jnp.int32)]}
    inputs = phases.inputs(net, wake, noise={"E": 300.0}, key=jax.random.key(3), dt=dt)

    def body(s, k):
        s, spikes = net.step(s, inputs(k * dt), t=k * dt, dt=dt)
        return s, spikes["E"]

    state = net.init(jax.random.key(4), dt=dt)
    state, spikes = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)
    spikes = np.asarray(spikes, float)
    asleep = np.array([(k * dt + dt / 2) % 50.0 >= 40.0 for k in range(steps)])
    assert spikes[asleep].sum() > 20 and spikes[~asleep].sum() > 20  # both phases fire

    W, x = np.zeros((n, n)), np.zeros(n)
    W[mask] = w0.ravel()
    totals0 = W.sum(axis=0)
    k_sleep = 0.3 ** (dt / 10.0)
    seen = lambda k: spikes[k] if k >= 0 else np.zeros(n)
    for k in range(steps):
        pre, post = seen(k - 1), seen(k - 1 - d)
        x = x * np.exp(-dt / 15.0)
        for j in np.flatnonzero(post):
            i = np.flatnonzero(mask[:, j])
            dw = 0.05 * (x[i] - x.mean()) * np.maximum(10.0 - W[i, j], 0.0) ** 0.6
            W[i, j] = np.clip(W[i, j] + dw, 0.0, 10.0)
        if asleep[k]:
            totals = W.sum(axis=0)
            W = W * ((totals0 + (totals - totals0) * k_sleep) / totals)
        x = x + pre
    w = np.asarray(state.components[0][0][0].w)
    assert np.ptp(W[mask] - w0.ravel()) > 0.5  # the recurrent weights did learn
    np.testing.assert_allclose(w, W[mask], rtol=1e-9, atol=1e-12)
