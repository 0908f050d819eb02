"""Differentiable biophysics: gradient descent through a whole event-driven simulation of
a conductance-based E/I network (``bs.Network.step`` in ``lax.scan``) fits the
excitatory weight so the E population reaches a target rate."""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import brainsim as bs
from brainsim.models._ei import ei_network

DT, STEPS = 0.5, 400  # 200 ms


def _rate_fn():
    # Sigmoid(0.03/mV): max slope 0.0075/mV. The LIF reset V + (V_reset - V) s passes the
    # surrogate gradient, so |V_reset - V| * max s' (<= 0.1 here) must stay < 1 or the
    # BPTT product explodes; sharper surrogates (FastSigmoid) give inf/NaN gradients.
    spike = bs.spikes.Heaviside(bs.spikes.Sigmoid(0.03))

    def neuron(n):
        return bs.neurons.LIF(
            n,
            tau_m=20.0,
            v_rest=-60.0,
            v_th=-50.0,
            v_reset=-60.0,
            t_ref=2.0,
            v_init=bs.initializers.Uniform(-60.0, -50.0),
            spike=spike,
        )

    exc = dict(
        weight=1.0, synapse=bs.synapses.Exponential(5.0), output=bs.synapses.Conductance(0.0)
    )
    inh = dict(
        weight=6.7, synapse=bs.synapses.Exponential(10.0), output=bs.synapses.Conductance(-80.0)
    )
    net0 = ei_network(100, key=jax.random.key(0), neuron=neuron, exc=exc, inh=inh, in_degree=20)
    state0 = net0.init(jax.random.key(1), dt=DT)

    def rate_e(w_e):
        net = eqx.tree_at(
            lambda n: [p.weight for p in n.projections if p.pre == "E"], net0, [w_e, w_e]
        )

        def body(s, t):
            s, spk = net.step(s, {"E": 220.0, "I": 220.0}, t=t, dt=DT)
            return s, jnp.mean(spk["E"])

        _, r = jax.lax.scan(body, state0, jnp.arange(STEPS) * DT)
        return jnp.mean(r) / (DT * 1e-3)  # Hz

    return rate_e


def test_fit_excitatory_weight_to_target_rate():
    rate_e = _rate_fn()
    target = float(jax.jit(rate_e)(jnp.float32(1.5)))  # reachable by construction
    loss = lambda w: ((rate_e(w) - target) / target) ** 2
    vg = jax.jit(jax.value_and_grad(loss))
    opt = optax.adam(optax.cosine_decay_schedule(0.05, 60))
    w = jnp.float32(0.8)
    state = opt.init(w)
    l0, g0 = vg(w)
    assert jnp.isfinite(g0) and g0 < 0  # more excitation -> higher rate -> lower loss
    for _ in range(60):
        _, g = vg(w)
        updates, state = opt.update(g, state)
        w = optax.apply_updates(w, updates)
    final = float(jax.jit(rate_e)(w))
    # Start ~36 % below the target; the rate of one 200-ms trial of 80 E neurons is a
    # chaotic, piecewise-constant function of w (jumps of a few Hz), so 10 % is the
    # tolerance (measured: 58.1 vs 59.6 Hz). The weight itself is not identifiable
    # (r(w) is flat over ~1.5-1.9 nS for this trial), so only the rate is compared.
    assert float(l0) > 0.25**2
    assert abs(final - target) / target < 0.10
