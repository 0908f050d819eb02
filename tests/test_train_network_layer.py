"""``bs.train.NetworkLayer``: a conductance-based E/I ``bs.Network`` as a training layer
gives the spikes ``bs.simulate`` gives for the same weights and input, and a readout on
it trains through ``bs.train.fit``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim.models._ei import ei_network

DT = 0.5  # ms


def _layer():
    """80 E / 20 I COBA LIF (in-degree 20, surrogate-gradient spikes, 2 ms refractory),
    10 inputs into E through ``w`` (units of 2 nA for one step: 5 mV)."""

    def neuron(n):
        return bs.neurons.LIF(
            n,
            tau_m=20.0,
            t_ref=2.0,
            i_ext=150.0,
            v_init=bs.initializers.Uniform(-60.0, -50.0),
            spike=bs.spikes.Heaviside(bs.spikes.Scaled(bs.spikes.FastSigmoid(25.0), 10.0)),
        )

    exc = dict(
        weight=1.0, synapse=bs.synapses.Exponential(5.0), output=bs.synapses.Conductance(0.0)
    )
    inh = dict(
        weight=6.7, synapse=bs.synapses.Exponential(10.0), output=bs.synapses.Conductance(-80.0)
    )
    net = ei_network(100, key=jax.random.key(0), neuron=neuron, exc=exc, inh=inh, in_degree=20)
    w = jax.random.normal(jax.random.key(1), (10, 80))
    return bs.train.NetworkLayer(w, net, "E", "E", jax.random.key(2), scale=2000.0, dt=DT)


def _inputs(key, n, steps, labels):
    """Poisson input ``(n, steps, 10)`` at 100 Hz on channels 0-4 (label 0) or 5-9
    (label 1), 10 Hz elsewhere."""
    hot = (jnp.arange(10)[None, :] < 5) == (labels[:, None] == 0)
    rate = jnp.where(hot, 100.0, 10.0)[:, None, :] * DT * 1e-3
    return (jax.random.uniform(key, (n, steps, 10)) < rate).astype(jnp.float32)


def test_same_spikes_as_simulate():
    """400 steps of Poisson input: the layer's E spikes equal those ``bs.simulate``
    records for the network from the same state with the input current ``x W``."""
    layer = _layer()
    x = _inputs(jax.random.key(3), 1, 400, jnp.array([0]))[0]
    spikes = layer(x)
    h = layer.scale * (x @ layer.w)
    inputs = lambda t: {"E": h[jnp.round(t / DT).astype(jnp.int32)]}
    _, rec = bs.simulate(
        layer.network, layer.init(), 400 * DT, DT, record={"E": ["spikes"]}, inputs=inputs
    )
    s = np.asarray(rec["E"]["spikes"], np.float32)
    assert s.shape == spikes.shape and 0.001 < s.mean() < 0.2  # active, not saturated
    np.testing.assert_array_equal(spikes, s)


def test_readout_on_network_trains_through_fit():
    """A two-class rate task (which half of the inputs fires at 100 Hz), 160 steps of
    0.5 ms: ``fit`` trains the input weights, the network's weights and the readout; the
    training loss falls below 80 % of its first-epoch value and the held-out accuracy
    exceeds chance by far."""
    layer = _layer()
    model = bs.train.SNN((layer,), bs.train.readout(jax.random.key(4), 80, 2, dt=DT))
    y = jnp.arange(80) % 2
    x = _inputs(jax.random.key(5), 80, 160, y)
    opt = bs.train.default_optimizer(1e-2, warmup_steps=5)
    model, _, hist = bs.train.fit(
        model,
        x[:64],
        y[:64],
        loss_fn=bs.train.losses.ce_max_membrane,
        optimizer=opt,
        epochs=4,
        batch_size=16,
        progress=False,
    )
    assert hist["loss"][-1] < 0.8 * hist["loss"][0], hist["loss"]
    acc = bs.train.evaluate(model, bs.train.losses.ce_max_membrane, x[48:], y[48:])[1]
    assert acc > 0.8


def test_bad_population_name():
    layer = _layer()
    with pytest.raises(ValueError, match="NetworkLayer.output"):
        bs.train.NetworkLayer(layer.w, layer.network, "E", "X", layer.key, dt=DT)
    with pytest.raises(ValueError, match=r"NetworkLayer.w must be \(n_in, 80\)"):
        bs.train.NetworkLayer(layer.w[:, :5], layer.network, "E", "E", layer.key, dt=DT)
