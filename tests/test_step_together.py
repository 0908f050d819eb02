"""Populations of one model stepped as one computation (``AbstractNeuron.step_together``,
used by ``Network.step``): the Poisson sources of a network drawn together give bit for
bit the counts of each source stepped alone with its own key, in a network with
per-synapse delays whose spikes they drive, and the compiled step holds one draw."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import brainsim as bs
from brainsim.network import NetworkState
from brainsim.neurons import PoissonCounts
from brainsim.neurons.sources import poisson_counts_block

DT = 0.1
STEPS = 300


def _sources():
    """Three sources of different sizes; mean counts per step 0.05 to 3 (a scalar rate,
    a rate per channel), so draws of 0 to ~10 spikes occur and every size is padded."""
    rng = np.random.default_rng(0)
    return {
        "a": PoissonCounts(5, 30_000.0),
        "b": PoissonCounts(300, jnp.asarray(rng.uniform(500.0, 20_000.0, 300))),
        "c": PoissonCounts(37, 12_800.0),
    }


def _network():
    """The sources drive two LIF populations through one-to-one and random projections
    with per-synapse delays (0.1 to 2 ms)."""
    lif = dict(tau_m=10.0, v_rest=-65.0, v_th=-50.0, v_reset=-65.0, c_m=250.0)
    pops = {**_sources(), "e": bs.neurons.LIF(5, **lif), "i": bs.neurons.LIF(37, **lif)}
    delays = bs.delays.NormalDelay(1.0, 0.5, DT)
    projections = [
        bs.Projection("a", "e", bs.conn.OneToOne(), weight=90.0),
        bs.Projection("c", "i", bs.conn.OneToOne(), weight=90.0),
        bs.Projection("b", "e", bs.conn.FixedProb(0.2), weight=30.0, delays=delays),
        bs.Projection("e", "i", bs.conn.FixedProb(0.5), weight=200.0, delays=delays),
    ]
    return bs.Network(pops, projections, key=jax.random.key(0))


def _run(net, state, steps=STEPS):
    def body(s, i):
        s, spikes = net.step(s, t=i * DT, dt=DT)
        return s, spikes

    return jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)[1]


def test_poisson_sources_together_equal_each_alone(monkeypatch):
    """The reference: each source's own ``step`` with its own key (``step_together``
    switched off), and the LIF spikes they cause through delayed projections."""
    net = _network()
    state = net.init(jax.random.key(1), dt=DT)
    together = _run(net, state)
    monkeypatch.setattr(PoissonCounts, "step_together", lambda *a, **k: None)
    alone = _run(net, state)
    for name in net.populations:
        np.testing.assert_array_equal(together[name], alone[name], err_msg=name)
    # Not vacuous: counts above 1 per step and LIF spikes occur.
    assert together["a"].max() >= 3 and together["b"].sum() > 1000
    assert together["e"].sum() > 10 and together["i"].sum() > 10


def test_poisson_counts_block_is_its_part_of_each_alone():
    """``poisson_counts_block`` (what a shard of ``bs.simulate_sharded`` draws): the
    channels ``[first, first + n)`` of each source, blocks of different sizes and
    offsets (one a traced offset, as a shard's ``axis_index`` gives it), equal bit for
    bit the same channels of the source's own ``step`` with its own key (the
    reference), over many steps and with counts above 1; the keys advance alike."""
    pops = [PoissonCounts(300, 30_000.0), PoissonCounts(37, 12_800.0)]
    keys = jax.random.split(jax.random.key(3))
    states = [p.init(k) for p, k in zip(pops, keys, strict=True)]
    blocks = [(120, 90), (30, 7)]  # (first, n) per source
    local = [
        eqx.tree_at(lambda s, n=n: s.spike, st, st.spike[:n])
        for st, (_, n) in zip(states, blocks, strict=True)
    ]
    draw = jax.jit(lambda st, f: poisson_counts_block(pops, st, DT, [f, blocks[1][0]]))
    drawn_any = 0
    for _ in range(50):
        got = draw(local, jnp.uint32(blocks[0][0]))
        alone = [p.step(st, t=0.0, dt=DT) for p, st in zip(pops, states, strict=True)]
        for (g_state, g), (a_state, a), (first, n) in zip(got, alone, blocks, strict=True):
            np.testing.assert_array_equal(g, a[first : first + n])
            np.testing.assert_array_equal(
                jax.random.key_data(g_state.key), jax.random.key_data(a_state.key)
            )
            drawn_any = max(drawn_any, int(np.max(g)))
        local = [s for s, _ in got]
        states = [s for s, _ in alone]
    assert drawn_any >= 3


def test_poisson_sources_one_draw_in_the_step():
    """The step's program hashes the three sources' uniforms in straight-line code: no
    ``random_split``/``random_bits`` (whose threefry lowers to a loop on a CPU; six
    without ``step_together``), and one loop per source, for counts past the unrolled
    CDF terms."""
    net = _network()
    state = net.init(jax.random.key(1), dt=DT)
    jaxpr = str(jax.make_jaxpr(lambda s: net.step(s, t=0.0, dt=DT))(state))
    assert jaxpr.count("random_bits") + jaxpr.count("random_split") == 0
    assert jaxpr.count("while[") == 3


def test_batched_state_steps_each_alone():
    """A state with batch axes (where a padded draw would not extend the shorter ones)
    steps each source alone: same counts as a network of one source."""
    net = bs.Network(_sources())
    state = net.init(jax.random.key(1), dt=DT, batch_shape=(2,))
    got = _run(net, state, steps=20)
    for name, pop in _sources().items():
        alone = bs.Network({name: pop})
        one = NetworkState({name: state.populations[name]}, (), (), (), ())
        np.testing.assert_array_equal(got[name], _run(alone, one, steps=20)[name])


def _term_by_term(u, lam):
    """The inversion as one loop from the first term (the sampler before its first 16
    terms were unrolled): count the CDF terms below ``u`` until no channel has any."""

    def cond(c):
        return jnp.any(u > c[2]) & (c[0] < 1000)

    def body(c):
        k, p, cdf, n = c
        n = n + (u > cdf)
        p = p * lam / (k + 1)
        return k + 1, p, cdf + p, n

    p = jnp.exp(-lam)
    return jax.lax.while_loop(cond, body, (0, p, p, jnp.zeros_like(lam)))[3]


def test_unrolled_inversion_counts_as_the_loop():
    """Means 0 to 60 per step (counts past the 16 unrolled terms take the loop), and
    uniforms up to the largest float32 below 1 (the CDF's float rounding decides)."""
    from brainsim.neurons.sources import _poisson_by_inversion

    rng = np.random.default_rng(1)
    lam = jnp.asarray(rng.choice([0.0, 0.08, 1.28, 2.32, 7.0, 60.0], 50_000), jnp.float32)
    u = jnp.asarray(rng.uniform(0, 1, 50_000), jnp.float32)
    u = u.at[:500].set(np.float32(1 - 2**-24))
    got = jax.jit(_poisson_by_inversion)(u, lam)
    np.testing.assert_array_equal(got, jax.jit(_term_by_term)(u, lam))
    assert got.max() > 16 and got[lam == 60].mean() > 55
    # A population's one mean: its CDF computed once, the same bits as per channel
    # (traced, not constant-folded). Up to 30: from ~60 on, the float32 CDF's last terms
    # round differently in a scalar and a vector, so a uniform within an ulp of 1 may
    # count one more.
    for mean in (1.28, 2.32, 30.0):
        one = jax.jit(_poisson_by_inversion)(u, jnp.float32(mean))
        np.testing.assert_array_equal(one, jax.jit(_term_by_term)(u, jnp.full_like(u, mean)))


def test_fused_draw_is_poisson():
    """``step_together``'s fused draw: 200 000 channels at λ = 2 and 20 000 at λ = 40
    (the loop past the unrolled terms): means and variances within 5 standard errors
    (λ = 2: s.e. 0.003 and 0.009; λ = 40: 0.045 and 0.57), P(N = 0) = e^{-2} (s.e.
    0.0008)."""
    pops = [PoissonCounts(200_000, 20_000.0), PoissonCounts(20_000, 400_000.0)]
    states = [p.init(k) for p, k in zip(pops, jax.random.split(jax.random.key(2)), strict=True)]
    (_, a), (_, b) = pops[0].step_together(pops, states, None, t=0.0, dt=DT)
    a, b = np.asarray(a), np.asarray(b)
    assert abs(a.mean() - 2) < 0.016 and abs(a.var() - 2) < 0.045
    assert abs((a == 0).mean() - np.exp(-2)) < 0.004
    assert abs(b.mean() - 40) < 0.23 and abs(b.var() - 40) < 2.9


def test_inversion_at_the_float_limit_of_the_cdf():
    """A uniform near the float32 CDF's limit (the sum of the terms stops a little below
    or above 1; the largest uniform is 1 - 2^-24) counts as the exact CDF says, up to the
    float32 sum's rounding, and never runs to the loop's cap of ~1000 (what it counted
    when the sum stopped below the uniform). Against a float64 CDF (math.fsum of the
    terms): the count n has F(k) < u - K 2^-24 for every k < n - 1, K the terms summed
    (Higham's bound for a recursive sum of positive terms of total <= 1), and is at most
    one past the last term p_k >= 2^-25 (half an ulp below 1: a smaller term cannot move
    the sum). Means on a grid from 0.5 to 75 per step, per channel and as one
    population's scalar (constant-folded by XLA)."""
    import math

    from brainsim.neurons.sources import _poisson_by_inversion

    top = np.float32(1 - 2**-24)
    means = np.round(np.linspace(0.5, 75.0, 150), 2).astype(np.float32)
    u = jnp.full(means.size, top)
    per_channel = np.asarray(jax.jit(_poisson_by_inversion)(u, jnp.asarray(means)))
    for mean, got in zip(means, per_channel, strict=True):
        lam = float(mean)
        terms = [math.exp(-lam)]
        while len(terms) < 400:
            terms.append(terms[-1] * lam / len(terms))
        cdf = np.array([math.fsum(terms[: k + 1]) for k in range(len(terms))])
        last = max(k for k, p in enumerate(terms) if p >= 2.0**-25)
        scalar = int(_poisson_by_inversion(jnp.full(1, top), jnp.float32(mean))[0])
        for n in (int(got), scalar):
            low = int(np.sum(float(top) - (n + 1) * 2.0**-24 > cdf))
            assert low <= n <= last + 1, (lam, n, low, last)
