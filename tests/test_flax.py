"""brainsim.flax: a brainsim spiking layer trained inside a flax.nnx model, and a flax
module trained inside a brainsim SNN."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainsim as bs

nnx = pytest.importorskip("flax.nnx")
bflax = pytest.importorskip("brainsim.flax")


def _task(key, n=128, t_steps=40):
    """Two classes of Poisson input: class 1 drives inputs 0-9 at 20 % per step and
    10-19 at 2 %, class 0 the reverse (learnable from spike counts)."""
    k1, k2 = jax.random.split(jax.random.key(key))
    y = jax.random.bernoulli(k1, 0.5, (n,)).astype(jnp.int32)
    hi, lo = jnp.full(10, 0.2), jnp.full(10, 0.02)
    p = jnp.where(y[:, None] == 1, jnp.r_[hi, lo], jnp.r_[lo, hi])
    x = (jax.random.uniform(k2, (n, t_steps, 20)) < p[:, None, :]).astype(jnp.float32)
    return x, y


def test_wrapped_layer_matches_the_brainsim_layer():
    # a sparse recurrent layer: its CSR index arrays are held fixed (Buffers)
    key = jax.random.key(0)
    layout, _ = bs.conn.FixedProb(0.2).build(key, 16, 16, recurrent=True)
    layer = bs.train.lif_layer(key, 20, 16, recurrent=layout, w_scale=2.0, rec_scale=3.0)
    wrapped = bflax.ToNNX(layer)
    x, _ = _task(0, n=4)
    assert 0.02 < float(layer(x).mean()) < 0.5
    np.testing.assert_array_equal(wrapped(x), layer(x))
    assert len(jax.tree.leaves(nnx.state(wrapped, bflax.Buffer))) == 2
    # every trainable array of the layer (w, w_rec, tau_mem, tau_syn, ...) is an nnx.Param
    params = jax.tree.leaves(nnx.state(wrapped, nnx.Param))
    expected = jax.tree.leaves(eqx.filter(layer, eqx.is_inexact_array))
    assert len(params) == len(expected) == 6
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_array_equal(p, e)


def test_brainsim_layer_trains_inside_an_nnx_model():
    class Model(nnx.Module):
        def __init__(self, rngs):
            self.lif = bflax.ToNNX(bs.train.lif_layer(jax.random.key(0), 20, 32, w_scale=2.0))
            self.out = nnx.Linear(32, 2, rngs=rngs)

        def __call__(self, x):
            return self.out(self.lif(x).mean(axis=-2))  # rates -> logits

    model = Model(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    def loss_fn(m, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    @nnx.jit
    def step(m, opt, x, y):
        loss, grads = nnx.value_and_grad(loss_fn)(m, x, y)
        opt.update(m, grads)
        return loss

    x, y = _task(1)
    w0 = np.asarray(model.lif.to_equinox().w)
    losses = [float(step(model, opt, x, y)) for _ in range(25)]
    assert losses[-1] < 0.2 * losses[0], losses
    # the spiking layer's own weights were trained (surrogate gradients through it)
    assert np.abs(np.asarray(model.lif.to_equinox().w) - w0).max() > 1e-2
    x_test, y_test = _task(2)
    assert float(jnp.mean(jnp.argmax(model(x_test), -1) == y_test)) > 0.9


def test_nnx_module_trains_inside_a_brainsim_snn():
    enc = bflax.FromNNX(nnx.Linear(20, 20, rngs=nnx.Rngs(1)))
    np.testing.assert_array_equal(enc(jnp.ones((3, 20))), enc.to_nnx()(jnp.ones((3, 20))))
    # a module with non-parameter state (batch statistics, used in evaluation mode):
    # it gets no gradient, so the optimiser leaves it as it is
    norm = bflax.FromNNX(nnx.BatchNorm(20, use_running_average=True, rngs=nnx.Rngs(2)))
    assert len(jax.tree.leaves(norm.rest)) == 2 and len(jax.tree.leaves(norm.params)) == 2
    snn = bs.train.SNN(
        (enc, norm, bs.train.lif_layer(jax.random.key(2), 20, 32, w_scale=2.0)),
        bs.train.readout(jax.random.key(3), 32, 2),
    )
    x, y = _task(1, n=256)
    k0 = np.asarray(enc.params["kernel"][...])
    opt = optax.adam(1e-2)
    model, _, hist = bs.train.fit(
        snn,
        np.asarray(x),
        np.asarray(y),
        loss_fn=bs.train.losses.ce_max_membrane,
        optimizer=opt,
        epochs=6,
        batch_size=32,
        progress=False,
    )
    assert hist["loss"][-1] < 0.2 * hist["loss"][0], hist["loss"]
    assert np.abs(np.asarray(model.layers[0].params["kernel"][...]) - k0).max() > 1e-3
    trained = model.layers[1]
    for a, b in zip(jax.tree.leaves(trained.rest), jax.tree.leaves(norm.rest), strict=True):
        np.testing.assert_array_equal(a, b)  # running mean and variance
    assert any(
        np.any(a != b)
        for a, b in zip(*map(jax.tree.leaves, (trained.params, norm.params)), strict=True)
    )
    x_test, y_test = _task(2)
    _, acc = bs.train.evaluate(model, bs.train.losses.ce_max_membrane, x_test, y_test)
    assert acc > 0.9


def test_missing_flax_names_the_extra(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "flax.nnx", None)
    monkeypatch.delitem(sys.modules, "brainsim.flax")
    with pytest.raises(ImportError, match=r"brainsim\[flax\]"):
        importlib.import_module("brainsim.flax")
