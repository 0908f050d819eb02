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
constants (``DIGITS_LATENCY``). The UltraLIF T = 1 and surrogate-zoo runs keep plain
constant-lr Adam (the recipe their stored results were measured with).

    python benchmarks/train_accuracy.py [--only randman|digits|zoo|t1] [--seeds 3]
        [--randman-epochs 40] [--randman-per-class 1000] [--randman-only recurrent]
        [--randman-tau 20 10]
"""

import argparse
import json
import sys
import time
from pathlib import Path

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


def _digits(seed):
    return bs.datasets.digits(seed=seed)


def _fit_mlp(seed):
    return mlp_baseline(*_digits(seed), seed)


def _code(x, kind, seed):
    if kind == "latency":
        s = bs.encoders.latency(x, 30)
    else:
        s = bs.encoders.rate(jax.random.key(seed + 100), x, 30)
    return np.asarray(jnp.moveaxis(s, 0, -2))


# Latency code: longer time constants than the library defaults (which suit Randman's
# 100-step timing task), so that a hidden neuron integrates pixels spread over all 30
# steps. Chosen on a validation split carved from each training set (the last quarter of
# digits(seed).x_train, seeds 0-4; the test images were not used): mean validation
# accuracy 96.6 % with the defaults, 97.4 % with these (a non-spiking MLP: 97.9 %);
# alternatives tried there: tau_syn 10 or 20, tau_mem 20, threshold 0.5, input scale 0.5,
# readout (30, 10) alone, (50, 20) or (10, 2), constant-lr Adam, batch 128 at 4e-3:
# 95.1-97.3 %; on top of these constants, 30 epochs, hidden tau_mem 30 or lr 3e-3 gave
# 97.4-97.7 % (within the split noise, sd ~0.6 %; not adopted).
DIGITS_LATENCY = dict(tau_mem=20.0, tau_syn=20.0, readout_kw=dict(tau_mem=30.0, tau_syn=10.0))


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


def digits(seeds, epochs=20):
    out = {"mlp": [_fit_mlp(seed) for seed in range(seeds)]}
    print(f"digits MLP: {out['mlp']}", flush=True)
    for kind in ("latency", "rate"):
        accs, secs = [], []
        for seed in range(seeds):
            xtr, ytr, xte, yte = _digits(seed)
            kw = DIGITS_LATENCY if kind == "latency" else {}
            model = bs.train.FeedForwardSNN(64, 128, 10, key=jax.random.key(seed), **kw)
            _, acc, _, sec = _fit_eval(
                model, _code(xtr, kind, seed), ytr, _code(xte, kind, seed + 1), yte, epochs, seed
            )
            accs.append(acc)
            secs.append(sec)
            print(f"digits {kind} seed {seed}: {acc:.4f} ({sec:.0f} s)", flush=True)
        out[kind] = accs
        out[kind + "_seconds"] = secs
    return out


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
    a = p.parse_args()
    runs = {
        "digits": lambda: digits(a.seeds),
        "t1": lambda: t1(max(a.seeds, 5)),
        "zoo": lambda: zoo(a.seeds),
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
        if a.only in (None, name):
            results[name] = fn()
    summary = {
        f"{k}/{kk}": f"{100 * np.mean(v):.1f} ± {100 * np.std(v):.1f} % (n={len(v)})"
        for k, d in results.items()
        for kk, v in d.items()
        if kk != "eps" and not kk.endswith("_seconds")
    }
    print(json.dumps(summary, indent=1))
    suffix = ("_" + a.only if a.only else "") + ("_" + a.randman_only if a.randman_only else "")
    suffix += f"_tau{a.randman_tau[0]:g}_{a.randman_tau[1]:g}" if a.randman_tau else ""
    print(
        save(
            f"train_accuracy{suffix}",
            {"results": results, "summary": summary, "args": vars(a)},
        )
    )


if __name__ == "__main__":
    main()
