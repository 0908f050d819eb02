"""Accuracy of the calibrated training setups (mean ± sd over seeds).

Randman (10 classes, D = 2, 20 units, per-class scaling, T = 100; 128 LIF, feed-forward
and recurrent), digits (latency and rate code, T = 30; and each surrogate), and UltraLIF
vs surrogate LIF at T = 1 on digits (pixel as current, 64 hidden; soft and hard spikes
at inference). Digits splits are ``bs.datasets.digits(seed)``: a seeded shuffle of the
1797 images, 25 % (450) test, scikit-learn's ``train_test_split`` default fraction; a
non-spiking MLP is trained on the same splits as the reference. Fast-sigmoid(25), CE on
the max-over-time readout, Adam 2e-3 through the library's default optimiser
(``bs.train.default_optimizer``: global-norm clipping at 1, 100-step linear warm-up,
then cosine decay to lr/20 over the run); the digits latency code uses longer time
constants (``DIGITS_RECIPE``). The UltraLIF T = 1 and surrogate-zoo runs keep plain
constant-lr Adam (the recipe their stored results were measured with).

    python benchmarks/train_accuracy.py [--only randman|digits|zoo|t1] [--seeds 3]
        [--randman-epochs 40] [--randman-per-class 1000] [--randman-only recurrent]
        [--randman-tau 20 10] [--tag _x]
    python benchmarks/train_accuracy.py --only digits-val [--folds 4] [--kind latency]
        [--cfg '{"weight_decay": 0.5}']   # a digits recipe on validation folds only
"""

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import brainsim as bs
from brainsim.train import losses

sys.path.insert(0, str(Path(__file__).parent))
from _harness import save  # noqa: E402


def _fit_eval(model, xtr, ytr, xte, yte, epochs, seed, lr=2e-3, schedule=True, batch_size=64):
    t0 = time.time()
    steps = epochs * (len(ytr) // batch_size)
    opt = bs.train.default_optimizer(lr, decay_steps=steps) if schedule else optax.adam(lr)
    model, _, _ = bs.train.fit(
        model,
        xtr,
        ytr,
        loss_fn=losses.ce_max_membrane,
        optimizer=opt,
        batch_size=batch_size,
        epochs=epochs,
        key=jax.random.key(seed),
        progress=False,
    )
    acc = bs.train.evaluate(model, losses.ce_max_membrane, xte, yte)[1]
    hard = bs.train.evaluate(bs.train.hard_spikes(model), losses.ce_max_membrane, xte, yte)[1]
    return model, acc, hard, time.time() - t0


def randman(seeds, epochs, per_class, which=("feedforward", "recurrent"), tau=None):
    """``tau``: hidden ``(tau_mem, tau_syn)`` ms (None: the library defaults)."""
    kw = {} if tau is None else dict(tau_mem=tau[0], tau_syn=tau[1])
    out = {}
    for rec in (False, True):
        if ("recurrent" if rec else "feedforward") not in which:
            continue
        accs, secs = [], []
        for seed in range(seeds):
            t, y = bs.datasets.randman(seed, n_classes=10, n_units=20, n_samples=per_class)
            x = bs.datasets.spike_raster(t, 100)
            n = int(0.8 * len(y))
            ctor = bs.train.RecurrentSNN if rec else bs.train.FeedForwardSNN
            model = ctor(20, 128, 10, key=jax.random.key(seed), **kw)
            _, acc, _, sec = _fit_eval(model, x[:n], y[:n], x[n:], y[n:], epochs, seed)
            accs.append(acc)
            secs.append(sec)
            print(
                f"randman {'rec' if rec else 'ff'} seed {seed}: {acc:.4f} ({sec:.0f} s)",
                flush=True,
            )
        out["recurrent" if rec else "feedforward"] = accs
        out[("recurrent" if rec else "feedforward") + "_seconds"] = secs
    return out


def _model_layers():
    """Recurrent ``bs.train.NeuronLayer`` models for Randman: ``neuron_layer`` derives the
    input scale (a unit weight's PSP at rest peaks as high, in rest-to-threshold
    distances, as in the LIF layer) and the surrogate (``FastSigmoid(25)`` per
    rest-to-threshold distance, centred on the threshold) from each model's
    ``spike_geometry``, and stops the gradient through the upstroke (``detach_upstroke``);
    steps of 1 ms, ``tau_syn`` 5 ms (until session 12). Reduced run (``--only models --seeds 1
    --randman-epochs 8 --randman-per-class 200 --models adex izhikevich --tag
    _psp_reduced``, loaded shared machine): LIF layer 85.8 %, AdEx 83.2 %, Izhikevich
    54.0 % (session 10, the one-step scale rule: LIF layer 87.2 %, NeuronLayer LIF
    85.5 %, AdEx 81.2 %, Izhikevich 48.0 %; before the derived surrogate and
    ``detach_upstroke``: AdEx 68-72 %, Izhikevich 40-50 %); ``train_accuracy_models.json``
    (full size, one seed) predates all three. Full size, 3 seeds, session 14
    (``--only models --seeds 3 --randman-epochs 10 --randman-per-class 1000 --models M
    --tag _full_M``): LIF layer 98.4 ± 0.1 %, NeuronLayer LIF 98.4 ± 0.1 %, AdEx 96.9 ±
    0.4 %, ``izhikevich_fs`` 97.1 ± 1.0 %, regular-spiking Izhikevich 69.9 ± 2.3 %.

    Izhikevich diagnosis (session 12, reduced size, seed 0 unless said, loaded machine;
    the LIF layer 87.0 %, both layers firing 0.020 spikes per step and neuron at
    initialisation): as here 51.3 % (seeds 1, 2: 53.3, 48.5 %); gradient through the
    upstroke kept (``detach_upstroke=False``) 37.5 %; stopped only above the threshold
    (−50 mV) instead of the runaway (−62.5 mV) 46.8 %; also stopped through ``u`` 46.8 %;
    the surrogate centred on the runaway 47.3 %; fast-spiking recovery (a 0.1, d 2: a
    sixth of RS's adaptation per spike) 58.3 %. The gradient detaching is at its best
    setting; the RS adaptation costs ~7 points; most of the gap is elsewhere. The
    membrane relaxes at rest with ~1.7 ms, so with ``tau_syn`` 5 ms a PSP is 5.7 ms wide
    (area over peak) where the LIF layer's is 20 ms; a ``tau_syn`` of 22.7 ms matches the
    width (PSP peak kept): Izhikevich 54.5, 52.0, 39.3 % (seeds 0-2; at 5 ms 51.3, 53.3,
    48.5 %; the hidden rate rises to 0.31-0.38 in training), no gain; AdEx at its matched
    7.3 ms: 88.8, 91.3, 87.8 % (at 5 ms: 80.3, 85.8, 88.5 %; the LIF layer 87.0, 88.0,
    80.3 %). ``neuron_layer`` derives ``tau_syn`` so (its default since then): the AdEx
    layer is within 2 points of the LIF layer at reduced size; Izhikevich is not.

    Session 13 (reduced size, seed 0 unless said, shared machine; one run per value, the
    layers built as here with the one change named; the LIF layer 88.0 % and
    0.021 -> 0.047 spikes per step and neuron before/after training): the Izhikevich
    layer is neither dead nor bursting at initialisation (0.026 spikes per step, no
    silent neuron, median 2 spikes per neuron and sample; the LIF layer 0.020, 0.8 %
    silent, median 2), but its rate runs away in training (0.026 -> 0.29) while its
    weights move as much as the LIF layer's (input std 0.222 -> 0.226, recurrent 0.0018
    -> 0.019 in both). Learning rate 1e-3 / 2e-3 / 5e-3: 63.5 / 57.3 / 39.0 % (rate
    after 0.10 / 0.29 / 0.48). A unit weight of ``f`` times the derived ``scale`` with
    ``1/f`` times larger initial weights (the same layer at initialisation, Adam's steps
    ``f`` times smaller in pA; ``WEIGHT_STEP`` below) ``f`` 1/2, 1/4: 63.8, 62.8 %
    (rate after 0.096, 0.049: the runaway is gone, the gap is not). Surrogate
    ``FastSigmoid(5)`` (5x wider) 46.8 %; the surrogate's peak on the spiking step
    (where ``v`` is past ``v_peak`` and ``FastSigmoid`` is ~1e-4 of its peak) 7 % (the
    whole upstroke) or 12 % (a LIF-like 1/36 of the peak: rate 0.52); upstroke gradient
    kept at ``f`` 1/4: 46.3 %; ``f`` 1/8 alone: 58.0 %. Fast-spiking recovery (a 0.1, d 2)
    with ``f`` 1, 1/2, 1/4, 1/8: 56.0 (rate after 0.34), 85.0, 86.0, 83.5 % (rate after
    0.12, 0.07, 0.07); at ``f`` 1/4 regular spiking with only d 2: 83.0 %, with only
    a 0.1: 74.5 %: the size of the recovery jump matters most (RS's d = 8 is twice the
    4 pA rheobase per spike, decaying with 1/a = 50 ms, half a sample). Neither change
    alone helps; together they close most of the gap: ``izhikevich_fs`` (``--models
    izhikevich_fs --seeds 3``, ``_izhfs_reduced``): 86.0, 85.5, 70.8 %, 80.8 ± 7.1 %
    against the LIF layer's 87.0, 88.0, 80.2 %, 85.1 ± 3.4 % in the same run: 4.3
    points below, target still missed. Also tried: the recovery jump fed the spike with
    its gradient stopped (as the reset of ``v`` is with ``detach_reset``): regular
    spiking 57.5 % (``f`` 1), 65.8 % (``f`` 1/4); fast spiking seed 2 73.0 %: within
    the seed-to-seed noise, not kept. ``f`` 1/4 is no default for every model: the AdEx
    layer, seed 0, 88.8 % at ``f`` 1, 84.5 % at 1/4."""
    exp_euler = bs.integrators.ExpEuler()
    return {
        # lif_layer's model: tau_m 10 ms, 10 mV to threshold (scale 2102 pA), per-neuron
        # trainable tau_m and threshold
        "lif": lambda n: bs.neurons.LIF(n, tau_m=jnp.full((n,), 10.0), v_th=jnp.full((n,), -50.0)),
        # v_peak at V_T + 5 Delta_T (Brette & Gerstner 2005); ExpEuler (differentiable)
        "adex": lambda n: bs.neurons.AdEx(n, v_peak=-40.4, integrator=exp_euler),
        # regular spiking (defaults), forward Euler as in the paper; c_m 1: I in the paper's units
        "izhikevich": lambda n: bs.neurons.Izhikevich(n),
        # fast spiking (Izhikevich 2003, Fig. 2): a 0.1, d 2; trained with WEIGHT_STEP 1/4
        "izhikevich_fs": lambda n: bs.neurons.Izhikevich(n, a=0.1, d=2.0),
    }


# A unit weight's current as a fraction of neuron_layer's derived scale (default 1),
# with the initial weights 1/f times larger: the layer at initialisation is unchanged,
# Adam's steps are f times smaller in pA (``_model_layers``, session 13).
WEIGHT_STEP = {"izhikevich_fs": 0.25}


def randman_models(seeds, epochs, per_class, names):
    """Randman (as ``randman``) with a recurrent ``NeuronLayer`` of 128 neurons of each
    model in ``names`` (``_model_layers``) and the LIF layer (``RecurrentSNN``) beside it."""
    recipes = _model_layers()
    surrogate = bs.spikes.FastSigmoid(25.0)
    out = {}
    for seed in range(seeds):
        t, y = bs.datasets.randman(seed, n_classes=10, n_units=20, n_samples=per_class)
        x = bs.datasets.spike_raster(t, 100)
        n = int(0.8 * len(y))
        k1, k2 = jax.random.split(jax.random.key(seed))
        models = {"lif_layer": bs.train.RecurrentSNN(20, 128, 10, key=jax.random.key(seed))}
        for name in names:
            nrn = recipes[name](128)
            layer = bs.train.neuron_layer(k1, 20, nrn, surrogate=surrogate, recurrent=True)
            f = WEIGHT_STEP.get(name, 1.0)
            if f != 1.0:  # the same draws, weights 1/f larger, a unit weight f times the current
                kw = dict(scale=layer.scale * f, w_scale=1.0 / f, rec_scale=0.02 / f)
                layer = bs.train.neuron_layer(
                    k1, 20, nrn, surrogate=surrogate, recurrent=True, **kw
                )
            models[name] = bs.train.SNN((layer,), bs.train.readout(k2, 128, 10))
        for name, model in models.items():
            _, acc, _, sec = _fit_eval(model, x[:n], y[:n], x[n:], y[n:], epochs, seed)
            out.setdefault(name, []).append(acc)
            out.setdefault(name + "_seconds", []).append(sec)
            print(f"randman {name} seed {seed}: {acc:.4f} ({sec:.0f} s)", flush=True)
    return out


def _digits(seed):
    return bs.datasets.digits(seed=seed)


def _fit_mlp(seed):
    return mlp_baseline(*_digits(seed), seed)


def _code(x, kind, seed, cfg=None):
    if kind == "latency":
        span = (cfg or {}).get("latency_span", 30)  # code within the first span steps
        s = bs.encoders.latency(x, span)
        s = jnp.concatenate([s, jnp.zeros((30 - span, *s.shape[1:]), s.dtype)])
    else:
        s = bs.encoders.rate(jax.random.key(seed + 100), x, 30)
    return np.asarray(jnp.moveaxis(s, 0, -2))


# A digits recipe (keys of DIGITS_BASE): FeedForwardSNN(64, hidden, 10,
# readout_kw=..., **layer_kw) with FastSigmoid(surrogate) spikes; the latency code
# compressed into the first latency_span of the 30 steps; default_optimizer(lr) with
# cosine decay over the run (AdamW when weight_decay > 0); batch_size, epochs;
# label_smoothing of the max-over-time CE; input_drop: a fresh Bernoulli dropout of
# the training input spikes each epoch; jitter: fresh latency spike-time jitter each
# epoch (_jittered_latency); avg_last > 0: the weights averaged over the ends of the
# last avg_last epochs; recurrent: a dense recurrent hidden layer (RecurrentSNN).
# DIGITS_RECIPE: the recipe each code is measured with.
DIGITS_BASE = dict(
    hidden=128,
    epochs=20,
    lr=2e-3,
    batch_size=64,
    layer_kw={},
    readout_kw=None,
    surrogate=25.0,
    latency_span=30,
    label_smoothing=0.0,
    weight_decay=0.0,
    input_drop=0.0,
    avg_last=0,
    jitter=0,
    recurrent=False,
)


def _jittered_latency(x, key, jitter, n_steps=30):
    """Latency code of ``x (N, 64)`` (as ``bs.encoders.latency``) with every spike moved by
    an independent uniform integer in [-jitter, jitter] steps (clipped to the window):
    ``(N, T, 64)``."""
    t = np.round((1.0 - np.asarray(x)) * (n_steps - 1)).astype(int)
    t = t + np.asarray(jax.random.randint(key, t.shape, -jitter, jitter + 1))
    t = np.clip(t, 0, n_steps - 1)
    s = (np.arange(n_steps)[None, :, None] == t[:, None, :]) & (np.asarray(x) > 0)[:, None]
    return s.astype(np.float32)


# Latency code: longer time constants than the library defaults (which suit Randman's
# 100-step timing task), so that a hidden neuron integrates pixels spread over all 30
# steps. Chosen on a validation split carved from each training set (the last quarter of
# digits(seed).x_train, seeds 0-4; the test images were not used): mean validation
# accuracy 96.6 % with the defaults, 97.4 % with these (a non-spiking MLP: 97.9 %);
# alternatives tried there: tau_syn 10 or 20, tau_mem 20, threshold 0.5, input scale 0.5,
# readout (30, 10) alone, (50, 20) or (10, 2), constant-lr Adam, batch 128 at 4e-3:
# 95.1-97.3 %; on top of these constants, 30 epochs, hidden tau_mem 30 or lr 3e-3 gave
# 97.4-97.7 % (within the split noise, sd ~0.6 %; not adopted).
#
# Session 5 search for the 97.5 % (--only digits-val; no test image used).
# Screen on the last quarter (5 runs, 337 validation images each, 1 image = 0.3 %;
# this recipe: 97.57 ± 0.51 %): hidden 256 97.69, 30/40 epochs 97.33/97.45, weights
# averaged over the last 5 epochs 97.69, AdamW weight decay 0.2/0.5/1.0 97.69/97.80/
# 97.51, lr 5e-3 97.21, batch 32 97.27, input-spike dropout 0.1/0.2/0.3 97.21/96.74/
# 95.43, FastSigmoid(10) 97.45, readout w_scale 0.3 96.91, hidden 256 + decay 0.5 +
# averaging 98.10 %. Then 4-fold cross-validation on x_train (--folds 4: 20 runs,
# every training image validated once per seed; this recipe 97.60 ± 0.61 %, the MLP on
# the same folds 97.63 ± 0.72 %), each change's paired difference ± its standard
# error: decay 0.5 +0.12 ± 0.16, decay 0.2 +0.03 ± 0.14, decay 0.5 + averaging -0.02 ±
# 0.14, averaging -0.02 ± 0.09, hidden 256 + decay 0.5 + averaging -0.03 ± 0.19, hidden
# 256 -0.13 ± 0.18, readout w_scale 0.03 -0.13 ± 0.13, lr 1e-3 -0.16 ± 0.10, label
# smoothing 0.1 -0.37 ± 0.16, the code in the first 20 steps -0.61 ± 0.14, input
# w_scale 2 -0.60 ± 0.14, two hidden layers (128, 128) -2.76 ± 0.25, every training
# spike time jittered by a fresh uniform ±1 / ±2 steps each epoch (jitter) -0.10 ±
# 0.09 / +0.07 ± 0.10 %; session 6: every training image moved by one pixel (one of 8
# directions, zero fill, afresh each epoch) with probability 0.5 / 0.15: 96.07 ± 1.14 /
# 97.36 ± 0.52 % against this recipe's 97.55 ± 1.00 % in the same run (code not kept);
# session 7: a dense recurrent hidden layer (recurrent: true, the library's recurrent
# init) 95.03 ± 1.31 % against 97.55 ± 1.00 %.
# None beats this recipe by more than its standard error (on
# validation the SNN already matches the MLP), so the recipe is unchanged; test: 97.3 ±
# 0.8 % (seeds 0-4) as measured in session 5, 97.8 ± 0.4 % (seeds 0-9) re-run in session
# 7: the readout's weight gradient moved to the event kernel after that measurement (other
# rounding; see docs/benchmarks.md).
DIGITS_RECIPE = {
    "latency": dict(
        layer_kw=dict(tau_mem=20.0, tau_syn=20.0), readout_kw=dict(tau_mem=30.0, tau_syn=10.0)
    ),
    "rate": {},
}


@functools.cache
def _ce_max_smooth(eps):
    """Cross-entropy on the max-over-time readout with label smoothing ``eps``."""
    if not eps:
        return losses.ce_max_membrane

    def loss(model, x, y, *, reg=None):
        logits = jnp.max(model(x)[0], axis=-2)
        target = optax.smooth_labels(jax.nn.one_hot(y, logits.shape[-1]), eps)
        return jnp.mean(optax.softmax_cross_entropy(logits, target)), logits

    return loss


def mlp_baseline(xtr, ytr, xte, yte, seed):
    """Non-spiking reference on the same split: scikit-learn's MLPClassifier (128 ReLU
    hidden units, Adam, L2 1e-4, up to 500 epochs) on the pixels."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPClassifier((128,), max_iter=500, random_state=seed).fit(xtr, ytr)
    return float(m.score(xte, yte))


def _optimizer(lr, steps, weight_decay=0.0):
    """``default_optimizer`` (warm-up, cosine decay, clipping), with decoupled weight decay
    (AdamW) when ``weight_decay`` > 0."""
    if not weight_decay:
        return bs.train.default_optimizer(lr, decay_steps=steps)
    sched = optax.warmup_cosine_decay_schedule(0.0, lr, 100, steps, lr / 20)
    return optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=weight_decay)
    )


def _digits_run(kind, xtr, ytr, xte, yte, seed, cfg):
    """Train one digits model with recipe ``cfg`` (see ``DIGITS_RECIPE``) on ``(xtr, ytr)``
    and return ``(accuracy on (xte, yte), seconds)``."""
    t0 = time.time()
    cfg = {**DIGITS_BASE, **cfg}
    spike = bs.spikes.Heaviside(bs.spikes.FastSigmoid(cfg["surrogate"]))
    ctor = bs.train.RecurrentSNN if cfg["recurrent"] else bs.train.FeedForwardSNN
    model = ctor(
        64,
        cfg["hidden"],
        10,
        key=jax.random.key(seed),
        spike=spike,
        readout_kw=cfg["readout_kw"],
        **cfg["layer_kw"],
    )
    enc_tr, enc_te = _code(xtr, kind, seed, cfg), _code(xte, kind, seed + 1, cfg)
    bsz, epochs = cfg["batch_size"], cfg["epochs"]
    opt = _optimizer(cfg["lr"], epochs * (len(ytr) // bsz), cfg["weight_decay"])
    avg_last, drop, jitter = cfg["avg_last"], cfg["input_drop"], cfg["jitter"]
    key = jax.random.key(seed)
    if not (avg_last or drop or jitter):
        model, _, _ = bs.train.fit(
            model,
            enc_tr,
            ytr,
            loss_fn=_ce_max_smooth(cfg["label_smoothing"]),
            optimizer=opt,
            batch_size=bsz,
            epochs=epochs,
            key=key,
            progress=False,
        )
    else:  # epoch by epoch: fresh input-spike dropout, weight averaging over the last epochs
        static = eqx.partition(model, eqx.is_inexact_array)[1]
        opt_state, total = None, None
        for epoch in range(epochs):
            x = enc_tr
            if jitter:  # latency code with each spike moved by a uniform -jitter..jitter
                x = _jittered_latency(xtr, jax.random.fold_in(key, 2000 + epoch), jitter)
            if drop:
                keep = jax.random.bernoulli(
                    jax.random.fold_in(key, 1000 + epoch), 1 - drop, x.shape
                )
                x = np.asarray(x * keep)
            model, opt_state, _ = bs.train.fit(
                model,
                x,
                ytr,
                loss_fn=_ce_max_smooth(cfg["label_smoothing"]),
                optimizer=opt,
                batch_size=bsz,
                epochs=1,
                key=jax.random.fold_in(key, epoch),
                progress=False,
                opt_state=opt_state,
            )
            if avg_last and epoch >= epochs - avg_last:
                params = eqx.filter(model, eqx.is_inexact_array)
                total = params if total is None else jax.tree.map(jnp.add, total, params)
        if avg_last:
            model = eqx.combine(jax.tree.map(lambda a: a / avg_last, total), static)
    acc = bs.train.evaluate(model, losses.ce_max_membrane, enc_te, yte)[1]
    return acc, time.time() - t0


def digits(seeds, cfg=None):
    cfg = DIGITS_RECIPE if cfg is None else cfg
    out = {"mlp": [_fit_mlp(seed) for seed in range(seeds)]}
    print(f"digits MLP: {out['mlp']}", flush=True)
    for kind in ("latency", "rate"):
        accs, secs = [], []
        for seed in range(seeds):
            xtr, ytr, xte, yte = _digits(seed)
            acc, sec = _digits_run(kind, xtr, ytr, xte, yte, seed, cfg.get(kind, {}))
            accs.append(acc)
            secs.append(sec)
            print(f"digits {kind} seed {seed}: {acc:.4f} ({sec:.0f} s)", flush=True)
        out[kind] = accs
        out[kind + "_seconds"] = secs
    return out


def digits_validation(cfg, kind="latency", seeds=5, folds=1):
    """Validation accuracy of a digits recipe: train on three quarters of
    ``digits(seed).x_train``, score on the remaining quarter (seeds 0-4; ``folds`` = 1:
    the last quarter, 4: each quarter in turn); no test image is used."""
    accs, cfg = [], {**DIGITS_RECIPE[kind], **cfg}
    for seed in range(seeds):
        xtr, ytr = _digits(seed)[:2]
        q = len(ytr) // 4
        for f in range(3, 3 - folds, -1):
            val = np.zeros(len(ytr), bool)
            val[f * q : (f + 1) * q if f < 3 else None] = True
            acc, sec = _digits_run(kind, xtr[~val], ytr[~val], xtr[val], ytr[val], seed, cfg)
            accs.append(acc)
            print(f"val {kind} seed {seed} fold {f}: {acc:.4f} ({sec:.0f} s)", flush=True)
    print(f"val {kind} {json.dumps(cfg)}: {100 * np.mean(accs):.2f} ± {100 * np.std(accs):.2f} %")
    return accs


ZOO = {
    "FastSigmoid(25)": bs.spikes.FastSigmoid(25.0),
    "Sigmoid(4)": bs.spikes.Sigmoid(4.0),
    "ArcTan(2)": bs.spikes.ArcTan(2.0),
    "Triangle(1)": bs.spikes.Triangle(1.0),
    "Gaussian(0.5)": bs.spikes.Gaussian(0.5),
    "MultiGaussian": bs.spikes.MultiGaussian(),
    "StraightThrough": bs.spikes.StraightThrough(),
    "Exponential(5)": bs.spikes.Exponential(5.0),
    "Erf(2)": bs.spikes.Erf(2.0),
    "SLAYER(1, 5)": bs.spikes.SLAYER(1.0, 5.0),
}


def zoo(seeds, epochs=20):
    out = {}
    for name, sur in ZOO.items():
        accs = []
        for seed in range(seeds):
            xtr, ytr, xte, yte = _digits(seed)
            model = bs.train.FeedForwardSNN(
                64, 128, 10, key=jax.random.key(seed), spike=bs.spikes.Heaviside(sur)
            )
            _, acc, _, _ = _fit_eval(
                model,
                _code(xtr, "latency", 0),
                ytr,
                _code(xte, "latency", 0),
                yte,
                epochs,
                seed,
                schedule=False,
            )
            accs.append(acc)
        out[name] = accs
        print(f"digits latency {name}: {np.mean(accs):.4f} ± {np.std(accs):.4f}", flush=True)
    return out


def t1(seeds, epochs=20):
    out = {"ultra_soft": [], "ultra_hard": [], "lif": [], "eps": []}
    for seed in range(seeds):
        xtr, ytr, xte, yte = _digits(seed)
        k = jax.random.key(seed)

        def fit(model):  # one Bernoulli step (T = 1), constant-lr Adam as measured before
            return _fit_eval(
                model, xtr[:, None], ytr, xte[:, None], yte, epochs, seed, lr=5e-3, schedule=False
            )

        m, soft, hard, _ = fit(bs.train.UltraSNN(64, 64, 10, key=k))
        out["ultra_soft"].append(soft)
        out["ultra_hard"].append(hard)
        out["eps"].append(float(m.layers[0].neuron.spike.temperature))
        _, lif, _, _ = fit(bs.train.FeedForwardSNN(64, 64, 10, key=k))
        out["lif"].append(lif)
        print(
            f"T=1 seed {seed}: ultra {soft:.4f}/{hard:.4f} (eps {out['eps'][-1]:.3f}), "
            f"lif {lif:.4f}",
            flush=True,
        )
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", default=None)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--randman-epochs", type=int, default=40)
    p.add_argument("--randman-per-class", type=int, default=1000)
    p.add_argument("--randman-only", default=None, help="feedforward or recurrent")
    p.add_argument(
        "--randman-tau", type=float, nargs=2, default=None, help="hidden tau_mem tau_syn (ms)"
    )
    p.add_argument("--models", nargs="+", default=["lif", "adex", "izhikevich", "izhikevich_fs"])
    p.add_argument("--cfg", default="{}", help="digits-val: recipe overrides (JSON)")
    p.add_argument("--folds", type=int, default=1, help="digits-val: 1 or 4")
    p.add_argument("--kind", default="latency", help="digits-val: latency or rate")
    p.add_argument("--tag", default="", help="suffix of the results file name")
    a = p.parse_args()
    if a.only == "digits-val":
        digits_validation(json.loads(a.cfg), a.kind, max(a.seeds, 5), a.folds)
        return
    runs = {
        "digits": lambda: digits(a.seeds),
        "t1": lambda: t1(max(a.seeds, 5)),
        "zoo": lambda: zoo(a.seeds),
        "models": lambda: randman_models(a.seeds, a.randman_epochs, a.randman_per_class, a.models),
        "randman": lambda: randman(
            a.seeds,
            a.randman_epochs,
            a.randman_per_class,
            (a.randman_only,) if a.randman_only else ("feedforward", "recurrent"),
            a.randman_tau,
        ),
    }
    results = {}
    for name, fn in runs.items():
        if a.only == name or (a.only is None and name != "models"):
            results[name] = fn()
    summary = {
        f"{k}/{kk}": f"{100 * np.mean(v):.1f} ± {100 * np.std(v):.1f} % (n={len(v)})"
        for k, d in results.items()
        for kk, v in d.items()
        if kk != "eps" and not kk.endswith("_seconds")
    }
    if "digits" in results and a.seeds > 3:  # the 3-seed figure is the first 3 seeds
        for kk, v in results["digits"].items():
            if not kk.endswith("_seconds"):
                summary[f"digits/{kk} (seeds 0-2)"] = (
                    f"{100 * np.mean(v[:3]):.1f} ± {100 * np.std(v[:3]):.1f} % (n=3)"
                )
    print(json.dumps(summary, indent=1))
    suffix = ("_" + a.only if a.only else "") + ("_" + a.randman_only if a.randman_only else "")
    suffix += f"_tau{a.randman_tau[0]:g}_{a.randman_tau[1]:g}" if a.randman_tau else ""
    suffix += a.tag
    print(
        save(
            f"train_accuracy{suffix}",
            {"results": results, "summary": summary, "args": vars(a)},
        )
    )


if __name__ == "__main__":
    main()
