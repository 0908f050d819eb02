"""Learning works: Randman (Zenke & Vogels 2021) and scikit-learn digits, reduced sizes
of the benchmark runs in benchmarks/train_accuracy.py (fixed seeds, deterministic)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import brainsim as bs
from brainsim.train import losses


def test_randman_feedforward_learns():
    """10 classes, D = 2, 20 units, T = 100, per-class scaling (the demanding variant),
    reduced to 500 samples/class (4000 train / 1000 test) and 8 epochs; the issue's test
    threshold is 92 % (chance: 10 %). Two changes from the benchmark recipe make so short
    a run learn: hidden time constants 20/10 ms (instead of the defaults 10/5 ms) and
    ``default_optimizer(5e-3, warmup_steps=20)`` with cosine decay over the 8 epochs.
    Measured (loaded 2-core machine, 20-30 s per run): 99.1 % here (seed 0), 95.9 and
    97.5 % on seeds 1 and 2 (same recipe, not run here); the previous recipe (default
    time constants, constant-lr Adam 2e-3) gave 90.0 / ~90 / ~90 %, i.e. the 92 % bound
    now has >= 3 points of margin on every seed measured."""
    times, y = bs.datasets.randman(0, n_classes=10, n_units=20, n_samples=500, dim=2)
    x = bs.datasets.spike_raster(times, 100)
    n_tr, epochs = 4000, 8
    key = jax.random.key(0)
    model = bs.train.FeedForwardSNN(20, 128, 10, key=key, tau_mem=20.0, tau_syn=10.0)
    opt = bs.train.default_optimizer(5e-3, warmup_steps=20, decay_steps=epochs * (n_tr // 64))
    model, _, hist = bs.train.fit(
        model,
        x[:n_tr],
        y[:n_tr],
        loss_fn=losses.ce_max_membrane,
        optimizer=opt,
        epochs=epochs,
        key=key,
        progress=False,
    )
    _, acc = bs.train.evaluate(model, losses.ce_max_membrane, x[n_tr:], y[n_tr:])
    assert hist["loss"][-1] < hist["loss"][0]
    # >= 920 of the 1000 test samples (acc is a float32 mean: 920/1000 may read 0.91999)
    assert round(acc * 1000) >= 920, acc


def test_digits_latency_learns():
    """Latency code, T = 30, 128 LIF, 20 epochs: measured 97.1 % test (seed 0); the issue's
    test threshold is 94 % (a non-spiking MLP gets ~98 %)."""
    xtr, ytr, xte, yte = bs.datasets.digits(seed=0)
    enc = lambda x: np.asarray(jnp.moveaxis(bs.encoders.latency(x, 30), 0, -2))
    key = jax.random.key(0)
    model = bs.train.FeedForwardSNN(64, 128, 10, key=key)
    model, _, _ = bs.train.fit(
        model,
        enc(xtr),
        ytr,
        loss_fn=losses.ce_max_membrane,
        optimizer=optax.adam(2e-3),
        epochs=20,
        key=key,
        progress=False,
    )
    _, acc = bs.train.evaluate(model, losses.ce_max_membrane, enc(xte), yte)
    assert acc >= 0.94, acc


def test_digits_rate_code_learns_with_default_optimizer():
    """Rate (Bernoulli) code, T = 30, 128 LIF, 20 epochs, the library's default optimiser
    (warm-up + cosine). Seed 2 is the split on which constant-lr Adam 2e-3 let one class's
    max-over-time readout die (85.7 % test, one class at ~5 %); with the warm-up it
    measured 96.9 %. Threshold: the issue's 94 %."""
    xtr, ytr, xte, yte = bs.datasets.digits(seed=2)
    enc = lambda x, k: np.asarray(jnp.moveaxis(bs.encoders.rate(jax.random.key(k), x, 30), 0, -2))
    key = jax.random.key(2)
    model = bs.train.FeedForwardSNN(64, 128, 10, key=key)
    epochs = 20
    model, _, _ = bs.train.fit(
        model,
        enc(xtr, 102),
        ytr,
        loss_fn=losses.ce_max_membrane,
        optimizer=bs.train.default_optimizer(2e-3, decay_steps=epochs * (len(ytr) // 64)),
        epochs=epochs,
        key=key,
        progress=False,
    )
    _, acc = bs.train.evaluate(model, losses.ce_max_membrane, enc(xte, 103), yte)
    assert acc >= 0.94, acc


def test_ultralif_learns_digits_at_t1():
    """UltraLIF, one step (pixel as input current), 64 hidden: the paper's setting
    (Miñoza 2026). Measured 96.9 % soft / 97.1 % hard at 20 epochs (seed 0, session 9
    defaults); with this test's 10 epochs 96.7 % / 96.2 % (session 10 defaults, eps learnt
    down to its bound 0.1); threshold 90 %, evaluated with soft and with hard (Heaviside)
    spikes; eps is learnt and stays inside its range [0.1, 20]."""
    xtr, ytr, xte, yte = bs.datasets.digits(seed=0)
    key = jax.random.key(0)
    model = bs.train.UltraSNN(64, 64, 10, key=key)
    model, _, _ = bs.train.fit(
        model,
        xtr[:, None],
        ytr,
        loss_fn=losses.ce_max_membrane,
        optimizer=optax.adam(5e-3),
        epochs=10,
        key=key,
        progress=False,
    )
    eps = float(model.layers[0].neuron.spike.temperature)
    assert 0.1 <= eps <= 20.0 and eps != 1.0
    for m in (model, bs.train.hard_spikes(model)):
        _, acc = bs.train.evaluate(m, losses.ce_max_membrane, xte[:, None], yte)
        assert acc >= 0.90, acc
