"""``Projection`` components (``brainsim/projection.py``): a stateful part of a projection
stepped by ``Network.step`` (the hook a plasticity rule uses), against a NumPy recursion
of the synaptic trace it should produce."""

import jax
import jax.numpy as jnp
import numpy as np

import brainsim as bs

DT = 0.1


class Fading(bs.AbstractProjectionComponent):
    """Multiplies the weight by a factor that decays by ``rate`` per step and counts the
    presynaptic spikes it has seen (state: ``(factor, count)``)."""

    rate: float = 0.99

    def init(self, key, projection, batch_shape, *, dt):
        return jnp.asarray(1.0), jnp.zeros((*batch_shape, projection.conn.n_pre))

    def step(self, state, x, *, t, dt):
        factor, count = state
        factor = factor * self.rate
        return (factor, count + x.pre), x._replace(weight=x.weight * factor)


def _net(components):
    times = np.arange(1, 40) * 0.7  # a spike every 7 steps
    source = bs.neurons.SpikeTimes(2, times, np.arange(times.size) % 2)
    post = bs.neurons.LIF(3, v_th=1e9)  # never spikes: only the trace matters
    w = np.array([[2.0, 0.0, 1.0], [0.5, 3.0, 0.0]], np.float32)
    proj = bs.Projection(
        "S", "P", bs.conn.FromDense(w), None, bs.synapses.Exponential(5.0),
        components=components,
    )  # fmt: skip
    return bs.Network({"S": source, "P": post}, [proj], key=jax.random.key(0)), w


def test_component_scales_the_weight_each_step():
    """With a component that multiplies the weight by 0.99^n in step n, the trace is
    g_n = a g_{n-1} + 0.99^n (s_{n-1} W): a NumPy recursion (float64) of the spikes the
    source emitted. The component's state counts the spikes it saw. Float32 against
    float64 over 300 steps of a contracting recursion (a = e^{-0.02}): a few ulp of the
    trace's size, 1e-5 relative."""
    net, w = _net((Fading(0.99),))
    state = net.init(jax.random.key(1), dt=DT)

    def body(st, i):
        st, spikes = net.step(st, None, t=i * DT, dt=DT)
        return st, (spikes["S"], st.synapses[0].g)

    final, (s, g) = jax.jit(lambda st: jax.lax.scan(body, st, jnp.arange(300)))(state)
    s, g = np.asarray(s, np.float64), np.asarray(g, np.float64)
    a, ref, prev = np.exp(-DT / 5.0), np.zeros(3), np.zeros(2)
    want = []
    for n in range(300):
        ref = a * ref + 0.99 ** (n + 1) * (prev @ w)
        want.append(ref)
        prev = s[n]
    assert s.sum() > 30 and np.abs(g).max() > 1.0  # not vacuous
    np.testing.assert_allclose(g, np.array(want), rtol=1e-5, atol=1e-6)
    factor, count = final.components[0][0]
    np.testing.assert_allclose(factor, 0.99**300, rtol=1e-5)
    np.testing.assert_array_equal(count, s[:-1].sum(axis=0))  # the last step's not yet sent


def test_without_components_the_state_is_unchanged():
    """No component: the same trace as a network built without the field."""
    net, _ = _net(())
    state = net.init(jax.random.key(1), dt=DT)
    assert state.components == ((),)
    st, _ = net.step(state, None, t=0.0, dt=DT)
    assert st.components == ((),)


class Plastic(bs.AbstractProjectionComponent):
    """A ``bs.plasticity`` rule as a projection component: bound to the built layout
    (indexed on the host), its state is the rule's; the projection propagates with the
    rule's weights."""

    rule: bs.plasticity.AbstractPlasticity
    indexed: object = None

    def bind(self, projection):
        return Plastic(self.rule, bs.ops.index(projection.conn))

    def init(self, key, projection, batch_shape, *, dt):
        conn = projection.conn
        w = jnp.broadcast_to(projection.weight, conn.weight_shape).ravel()
        return self.rule.init(w, conn.n_pre, conn.n_post)

    def step(self, state, x, *, t, dt):
        state = self.rule.step(state, x.pre, x.post, layout=self.indexed, dt=dt)
        return state, x._replace(weight=state.w)


def test_plasticity_rule_as_a_component():
    """Pair STDP on a Poisson -> LIF projection through the component hook: the final
    weights equal the rule stepped by hand on the recorded spikes (each step sees the
    spikes both populations emitted in the step before), the weights moved, and the
    network propagated with them (its trace differs from a run with the rule off)."""
    rule = bs.plasticity.PairSTDP()
    pops = {
        "S": bs.neurons.PoissonSource(40, rate=40.0),
        "P": bs.neurons.LIF(10, i_ext=150.0, v_init=bs.initializers.Uniform(-60.0, -50.0)),
    }
    proj = lambda comps: bs.Projection(
        "S", "P", bs.conn.FixedProb(0.5), 20.0, bs.synapses.Exponential(5.0),
        components=comps,
    )  # fmt: skip
    net = bs.Network(pops, [proj((Plastic(rule),))], key=jax.random.key(0))
    fixed = bs.Network(pops, [proj(())], key=jax.random.key(0))

    def run(net):
        state = net.init(jax.random.key(1), dt=DT)

        def body(st, i):
            st, spikes = net.step(st, None, t=i * DT, dt=DT)
            return st, (spikes["S"], spikes["P"], st.synapses[0].g)

        return jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(2000)))(state)

    final, (s, p, g) = run(net)
    _, (_, _, g_fixed) = run(fixed)
    w0 = jnp.broadcast_to(net.projections[0].weight, net.projections[0].conn.weight_shape)
    indexed = bs.ops.index(net.projections[0].conn)
    replay = rule.init(w0.ravel(), 40, 10)
    pre, post = jnp.zeros(40), jnp.zeros(10)
    step = jax.jit(lambda r, a, b: rule.step(r, a, b, layout=indexed, dt=DT))
    for n in range(2000):
        replay = step(replay, pre, post)
        pre, post = s[n], p[n]
    got = final.components[0][0].w
    assert int(s.sum()) > 100 and int(p.sum()) > 20  # both sides spike
    assert float(jnp.abs(got - w0.ravel()).max()) > 0.1  # the weights moved
    np.testing.assert_allclose(got, replay.w, rtol=1e-6, atol=1e-6)
    assert float(jnp.abs(g - g_fixed).max()) > 0.1  # and were used
