"""Plastic projections with per-synapse delays (``bs.Plastic`` on a ``bs.conn.Delayed``
layout), NEST's convention: synapse ``s`` sees the presynaptic spikes as emitted and the
postsynaptic spikes its own delay ``d_s`` later (the whole delay dendritic, as
``stdp_synapse``).

References: (1) the analytic pair window shifted by each synapse's delay; (2) the same
synapses split into one projection per delay value, each with that homogeneous delay
(the path tests/test_plasticity_network.py checks against NEST ``stdp_synapse``),
driven by the same Poisson spike trains over many steps: the weights must be equal bit
for bit (each synapse goes through the same operations in the same order).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim.projection import ProjectionInput, build

DT = 0.1
DELAYS = (0.1, 0.3, 0.6)  # ms: lags of 1, 3 and 6 steps


def _component(conn, weight, rule, delay=None):
    proj = bs.Projection(
        "a", "b", conn, weight=weight, delay=delay, components=(bs.Plastic(rule),)
    )
    proj = build(proj, None, conn.n_pre, conn.n_post)
    c = proj.components[0]
    return c, c.init(None, proj, (), dt=DT)


def _run(component, state, pre, post):
    def body(state, spikes):
        x = ProjectionInput(spikes[0], spikes[1], None)
        state, _ = component.step(state, x, t=0.0, dt=DT)
        return state, None

    return jax.lax.scan(body, state, (pre, post))[0]


def _delayed(key, n_pre, n_post):
    csr = bs.conn.FixedProb(0.3).build(key, n_pre, n_post)[0]
    rng = np.random.default_rng(0)
    delays = rng.choice(DELAYS, csr.n_synapses)
    w0 = rng.uniform(0.2, 0.8, csr.n_synapses)
    return bs.conn.with_delays(csr, delays, w0)


def test_pair_window_shifted_by_each_synapse_delay():
    """One presynaptic neuron onto one postsynaptic neuron through three synapses of
    delays 0.1, 0.3, 0.6 ms; pre spike in step 10, post in step 20 (1 ms later): each
    weight grows by A+ exp(-(1 ms + d)/tau+) (float32 rounding: rtol 1e-5)."""
    csr = bs.conn.CSR(1, 1, np.array([0, 3]), np.zeros(3, np.int32))
    conn, _ = bs.conn.with_delays(csr, np.array(DELAYS))
    rule = bs.plasticity.PairSTDP(0.01, 0.0, 20.0, 20.0, bs.plasticity.Bounds(0.0, 1.0))
    component, state = _component(conn, 0.5, rule)
    pre = jnp.zeros((200, 1)).at[10].set(1.0)
    post = jnp.zeros((200, 1)).at[20].set(1.0)
    w = np.asarray(_run(component, state, pre, post)[0].w)
    want = 0.5 + 0.01 * np.exp(-(1.0 + np.array(DELAYS)) / 20.0)
    np.testing.assert_allclose(w, want, rtol=1e-5)
    assert len(set(w.tolist())) == 3  # the delays shift the pairs apart


@pytest.mark.parametrize(
    "rule",
    [
        bs.plasticity.PairSTDP(0.02, 0.021, 20.0, 20.0, bs.plasticity.Bounds(0.0, 1.0)),
        bs.plasticity.TripletSTDP(bounds=bs.plasticity.Bounds(0.0, 1.0)),
    ],
    ids=["pair", "triplet"],
)
def test_equals_one_projection_per_delay(rule):
    """40 -> 30 synapses with delays of 1, 3 and 6 steps, 20 Hz Poisson pre and post
    spikes over 3000 steps: the weights equal those of three projections of homogeneous
    delay holding the same synapses, bit for bit."""
    conn, w0 = _delayed(jax.random.key(0), 40, 30)
    k1, k2 = jax.random.split(jax.random.key(1))
    pre = jax.random.bernoulli(k1, 20.0 * DT * 1e-3, (3000, 40)).astype(jnp.float32)
    post = jax.random.bernoulli(k2, 20.0 * DT * 1e-3, (3000, 30)).astype(jnp.float32)
    component, state = _component(conn, w0, rule)
    w = np.asarray(_run(component, state, pre, post)[0].w)
    indptr = np.asarray(conn.csr.indptr)
    rows = np.repeat(np.arange(conn.n_pre), np.diff(indptr))
    group = np.asarray(conn.group)
    for g, d in enumerate(conn.delays):
        mask = group == g
        sub_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows[mask], minlength=40))])
        sub = bs.conn.CSR(40, 30, sub_ptr, np.asarray(conn.csr.indices)[mask])
        c, s = _component(sub, jnp.asarray(np.asarray(w0)[mask]), rule, delay=d)
        np.testing.assert_array_equal(w[mask], np.asarray(_run(c, s, pre, post)[0].w))
    assert np.abs(w - np.asarray(w0)).max() > 0.05  # the weights learned


def test_sleep_with_per_synapse_delays_raises():
    """Sleep pools over postsynaptic neurons: it needs one delay (named error)."""
    conn, w0 = _delayed(jax.random.key(0), 10, 8)
    sleep = bs.plasticity.Sleep(wake=9.0, sleep=1.0)
    plastic = bs.Plastic(bs.plasticity.PairSTDP(), sleep=sleep)
    proj = bs.Projection("a", "b", conn, weight=w0, components=(plastic,))
    with pytest.raises(ValueError, match="per-synapse delays"):
        build(proj, None, 10, 8)


def test_network_wiring_matches_replay():
    """In a ``Network`` (Poisson input, 20 Hz, onto LIF neurons, normally distributed
    per-synapse delays: many groups), the rule sees the presynaptic spikes as emitted
    and the postsynaptic spikes of the network: replaying the recorded spike trains
    through the component gives the same weights (rtol 1e-6: the same operations,
    compiled in another program, where XLA may contract differently)."""
    lif = bs.neurons.LIF(60, v_init=bs.initializers.Uniform(-60.0, -50.0), i_ext=150.0)
    rule = bs.plasticity.PairSTDP(0.2, 0.21, 20.0, 20.0, bs.plasticity.Bounds(0.0, 6.0))
    proj = bs.Projection(
        "in",
        "E",
        bs.conn.FixedProb(0.2),
        weight=3.0,
        delays=bs.delays.NormalDelay(1.0, 0.5),
        synapse=bs.synapses.Exponential(5.0),
        output=bs.synapses.Conductance(0.0),
        components=(bs.Plastic(rule),),
    )
    inp = bs.neurons.PoissonSource(100, rate=20.0)
    net = bs.Network({"in": inp, "E": lif}, [proj], key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=DT)
    final, rec = bs.simulate(net, state, 150.0, DT, record={"in": ["spikes"], "E": ["spikes"]})
    spikes = [jnp.asarray(rec[p]["spikes"], jnp.float32) for p in ("in", "E")]
    pre, post = (jnp.concatenate([jnp.zeros((1, s.shape[1])), s[:-1]]) for s in spikes)
    assert len(net.projections[0].conn.delays) > 5 and float(post.sum()) > 100
    component = net.projections[0].components[0]
    want = _run(component, state.components[0][0], pre, post)[0].w
    got = final.components[0][0][0].w
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    assert np.abs(np.asarray(got) - 3.0).max() > 0.5  # learned
