"""The third factor in a ``Network``: ``bs.Plastic(RewardSTDP, modulator=...)`` gets
its reward from a signal over time or from Izhikevich's distal-reward contingency."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

P = bs.plasticity


def test_reward_signal_reaches_the_rule_in_its_step():
    """A pre/post pair tags the synapse, a reward of 0.5 at step 300 follows: the
    neuromodulator is 0 before and 0.5 exp(-(k - 300) dt / tau_d) from step 300 on (hand
    formula), and the weight changes only from that step on."""
    dt, m, r = 1.0, 300, 0.5
    values = np.zeros(600)
    values[m] = r
    rule = P.RewardSTDP(P.PairSTDP(0.01, 0.015, 20.0, 20.0, P.Bounds(0.0, 4.0)), 1000.0, 200.0)
    one = lambda t: bs.neurons.SpikeTimes(1, [t], [0])
    net = bs.Network(
        {"pre": one(50.0), "post": one(60.0)},
        [
            bs.Projection(
                "pre",
                "post",
                bs.conn.ELL(1, 1, jnp.zeros((1, 1), jnp.int32)),
                weight=1.0,
                components=(bs.Plastic(rule, modulator=P.RewardSignal(jnp.asarray(values))),),
            )
        ],
    )

    def body(s, k):
        s, _ = net.step(s, t=k * dt, dt=dt)
        rule_state = s.components[0][0][0]
        return s, (rule_state.d, rule_state.w[0], rule_state.c[0])

    state = net.init(jax.random.key(0), dt=dt)
    _, (d, w, c) = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(600)))(state)
    k = np.arange(600)
    expected = np.where(k >= m, r * np.exp(-(k - m) * dt / 200.0), 0.0)
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-12)
    assert float(c[m]) > 0.001  # the causal pair tagged the synapse
    np.testing.assert_array_equal(np.asarray(w)[:m], 1.0)
    # from step m: w grows by dt c d each step (float32 w near 1.5: one ulp is 1.2e-7)
    np.testing.assert_allclose(
        np.diff(np.asarray(w))[m - 1 :], (dt * c * d)[m:], rtol=1e-5, atol=2e-7
    )


def _distal(pre_times, post_times, steps=4000):
    mod = P.DistalReward(pre=1, post=0)
    pre = np.zeros((steps, 3))
    post = np.zeros((steps, 2))
    pre[np.asarray(pre_times, int), 1] = 1.0
    post[np.asarray(post_times, int), 0] = 1.0

    def body(s, x):
        k, a, b = x
        return mod.step(s, a, b, t=k * 1.0, dt=1.0)

    xs = (jnp.arange(steps), jnp.asarray(pre), jnp.asarray(post))
    _, reward = jax.lax.scan(body, mod.init(jax.random.key(0)), xs)
    return np.asarray(reward)


def test_distal_reward_follows_the_contingency():
    # post 5 ms after pre: one reward of 0.5, 1-3 s after the post spike
    reward = _distal([100], [105])
    (when,) = np.nonzero(reward)
    assert len(when) == 1 and reward[when[0]] == 0.5 and 1105 <= when[0] <= 3105
    # post 20 ms after pre (outside the 10 ms window), or before it, or same step: none
    assert not _distal([100], [120]).any()
    assert not _distal([100], [95]).any()
    assert not _distal([100], [100]).any()
    # a second pairing while one is pending earns nothing more
    assert np.count_nonzero(_distal([100, 200], [105, 205])) == 1


def test_modulator_errors():
    stdp, reward = P.PairSTDP(), P.RewardSTDP()
    signal = P.RewardSignal(jnp.zeros(3))
    with pytest.raises(ValueError, match="a modulator goes with a modulated rule"):
        bs.Plastic(stdp, modulator=signal)
    with pytest.raises(ValueError, match="a modulator goes with a modulated rule"):
        bs.Plastic(reward)
    with pytest.raises(ValueError, match="Plastic.modulator must be a bs.plasticity modulator"):
        bs.Plastic(reward, modulator=0.5)
