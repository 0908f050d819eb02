"""Plastic projections in a ``Network``: the weights are state, the rule sees the
presynaptic spikes as emitted and the postsynaptic ones ``delay`` later (NEST's
convention), checked against NEST's ``stdp_synapse`` / ``stdp_triplet_synapse``
trajectories; the transmitted weights are the plastic ones on every path."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_plasticity_nest import nest_rule

import brainsim as bs

REF = json.loads((Path(__file__).parent / "references" / "plasticity_nest.json").read_text())


@pytest.mark.parametrize("name", ["stdp_multiplicative", "stdp_additive_bound", "triplet"])
def test_network_projection_reproduces_nest(name, x64):
    case = REF["cases"][name]
    dt, delay = REF["dt"], REF["delay"]
    n_steps = int(round((REF["duration"] + 50.0) / dt))
    zeros = lambda t: np.zeros(len(t), int)
    net = bs.Network(
        {
            "pre": bs.neurons.SpikeTimes(1, case["pre_spikes"], zeros(case["pre_spikes"])),
            "post": bs.neurons.SpikeTimes(1, case["post_spikes"], zeros(case["post_spikes"])),
        },
        [
            bs.Projection(
                "pre",
                "post",
                bs.conn.ELL(1, 1, jnp.zeros((1, 1), jnp.int32)),
                weight=case["synapse"]["weight"],
                delay=delay,
                components=(bs.Plastic(nest_rule(case)),),
            )
        ],
    )
    state = net.init(jax.random.key(0), dt=dt)

    def body(s, k):
        s, _ = net.step(s, t=k * dt, dt=dt)
        return s, s.components[0][0][0].w[0]

    _, w = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(n_steps)))(state)
    # the rule processes a step's spikes at the start of the next step
    pre_steps = np.rint(np.asarray(case["pre_spikes"]) / dt).astype(int)
    # float64; same operations as the standalone rule, which equals NEST to 1e-9
    np.testing.assert_allclose(np.asarray(w)[pre_steps + 1], case["weights"], rtol=1e-9)


def _lif_net(rule, key=0):
    lif = lambda n: bs.neurons.LIF(n, v_init=bs.initializers.Uniform(-60.0, -50.0), i_ext=250.0)
    proj = lambda pre, post, w, **kw: bs.Projection(
        pre, post, bs.conn.FixedProb(0.1), weight=w, synapse=bs.synapses.Exponential(5.0), **kw
    )
    return bs.Network(
        {"E": lif(80), "I": lif(20)},
        [
            proj("E", "E", 60.0, components=(bs.Plastic(rule),) if rule else ()),
            proj("E", "I", 60.0),
            proj("I", "E", -200.0),
            proj("I", "I", -200.0),
        ],
        key=jax.random.key(key),
    )


def _spikes(net, steps=1500, dt=0.1):
    state = net.init(jax.random.key(1), dt=dt)

    def body(s, k):
        s, sp = net.step(s, t=k * dt, dt=dt)
        return s, sp["E"]

    return jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)


def test_transmitted_weights_are_the_plastic_ones():
    """A rule with zero amplitudes gives exactly the static network's spikes (the fused
    LIF step transmits the state's weights); a learning rule changes them."""
    static = _lif_net(None)
    frozen = _lif_net(bs.plasticity.PairSTDP(0.0, 0.0, bounds=bs.plasticity.Bounds(0.0, 500.0)))
    learning = _lif_net(
        bs.plasticity.PairSTDP(20.0, 21.0, bounds=bs.plasticity.Bounds(0.0, 500.0))
    )
    _, s_static = _spikes(static)
    _, s_frozen = _spikes(frozen)
    state, s_learning = _spikes(learning)
    assert float(jnp.sum(s_static)) > 100
    np.testing.assert_array_equal(s_static, s_frozen)
    assert not np.array_equal(s_static, s_learning)
    w0 = np.broadcast_to(60.0, state.components[0][0][0].w.shape)
    assert np.ptp(np.asarray(state.components[0][0][0].w)) > 1.0 and not np.allclose(
        state.components[0][0][0].w, w0
    )
    # simulate carries the plastic state the same way as stepping by hand
    out, _ = bs.simulate(learning, learning.init(jax.random.key(1), dt=0.1), 150.0, 0.1)
    np.testing.assert_array_equal(out.components[0][0][0].w, state.components[0][0][0].w)


def test_plastic_projection_errors():
    plastic = (bs.Plastic(bs.plasticity.PairSTDP()),)
    lif = {"A": bs.neurons.LIF(10)}
    with pytest.raises(ValueError, match="A->A: Plastic needs a stored CSR or ELL"):
        bs.Network(lif, [bs.Projection("A", "A", bs.conn.Dense(10, 10), components=plastic)])
    with pytest.raises(ValueError, match="Plastic.rule must be a bs.plasticity rule"):
        bs.Plastic(bs.plasticity.Bounds())
    proj = bs.Projection("A", "A", bs.conn.FixedProb(0.5), components=plastic)
    net = bs.Network(lif, [proj], key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"jax.vmap\(net.init\), not batch_shape=\(2,\)"):
        net.init(jax.random.key(0), batch_shape=(2,))


def test_stacked_plastic_networks_learn_separately():
    """States stacked by jax.vmap(net.init) run as a batch: each element's weights equal
    its own run (same spikes whichever path runs)."""
    net = _lif_net(bs.plasticity.PairSTDP(20.0, 21.0, bounds=bs.plasticity.Bounds(0.0, 500.0)))
    keys = jax.random.split(jax.random.key(3), 2)
    stacked = jax.vmap(lambda k: net.init(k, dt=0.1))(keys)
    out, _ = bs.simulate(net, stacked, 50.0, 0.1)
    for b in range(2):
        one, _ = bs.simulate(net, net.init(keys[b], dt=0.1), 50.0, 0.1)
        np.testing.assert_array_equal(out.components[0][0][0].w[b], one.components[0][0][0].w)
    assert not np.array_equal(out.components[0][0][0].w[0], out.components[0][0][0].w[1])
