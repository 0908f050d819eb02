"""UltraLIF on multi-step tasks vs the surrogate LIF layer (issue 16), mean ± sd over seeds.

Models (each: one hidden layer, the library's leaky readout, CE on the max-over-time
readout, ``bs.train.default_optimizer(2e-3)`` with cosine decay over the run):

- ``lif``: ``FeedForwardSNN`` (fast-sigmoid surrogate, the library defaults);
- ``ultra``: ``UltraSNN`` with its defaults (rest-normalising bias, the 5 ms current
  integrated with 10 ms into the membrane input, theta 2, input weights x2);
- ``ultra_s9``: the defaults of session 9 (``tau_psp=None, theta=1, w_scale=8``: the
  5 ms current alone);
- ``ultra_long``: ``UltraSNN(tau_psp=None, theta=1, tau_syn=15, w_scale=4)``: a longer
  current instead of the integrated one;
- ``ultra_bare``: ``UltraSNN(eps=1, rest=None, tau_syn=None, tau_psp=None, theta=1,
  w_scale=1)``: the formulation before issue 16 (bare projection, eps = 1, no current).

Tasks:

- ``yinyang``: ``bs.datasets.yinyang`` (train seed 42, test seed 40: 1000 points as
  published), the 4 features as single-spike times over ``T = 20`` steps
  (``spike_raster``, a time code: the network must integrate over steps); ``--current``
  adds the same task with the features as constant input currents over the 20 steps;
- ``randman``: 10 classes, 20 units, D = 2, T = 100, 80/20 split (notebook 03's task).

    python benchmarks/ultralif_accuracy.py [--task yinyang|randman] [--seeds 3]
        [--epochs 30] [--n-train 5000] [--per-class 1000] [--hidden 64]
        [--models lif ultra ultra_s9 ultra_long ultra_bare] [--current] [--tag _x]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

import brainsim as bs
from brainsim.train import losses

sys.path.insert(0, str(Path(__file__).parent))
from _harness import save  # noqa: E402

MODELS = {
    "lif": lambda n_in, h, n_out, key: bs.train.FeedForwardSNN(n_in, h, n_out, key=key),
    "ultra": lambda n_in, h, n_out, key: bs.train.UltraSNN(n_in, h, n_out, key=key),
    "ultra_s9": lambda n_in, h, n_out, key: bs.train.UltraSNN(
        n_in, h, n_out, key=key, tau_psp=None, theta=1.0, w_scale=8.0
    ),
    "ultra_long": lambda n_in, h, n_out, key: bs.train.UltraSNN(
        n_in, h, n_out, key=key, tau_psp=None, theta=1.0, tau_syn=15.0, w_scale=4.0
    ),
    "ultra_bare": lambda n_in, h, n_out, key: bs.train.UltraSNN(
        n_in,
        h,
        n_out,
        key=key,
        eps=1.0,
        rest=None,
        tau_syn=None,
        tau_psp=None,
        theta=1.0,
        w_scale=1.0,
    ),
}


def _fit(model, xtr, ytr, xte, yte, epochs, seed):
    steps = max(epochs * (len(ytr) // 64), 200)
    model, _, _ = bs.train.fit(
        model,
        xtr,
        ytr,
        loss_fn=losses.ce_max_membrane,
        optimizer=bs.train.default_optimizer(2e-3, decay_steps=steps),
        epochs=epochs,
        key=jax.random.key(seed),
        progress=False,
    )
    soft = bs.train.evaluate(model, losses.ce_max_membrane, xte, yte)[1]
    hard = bs.train.evaluate(bs.train.hard_spikes(model), losses.ce_max_membrane, xte, yte)[1]
    return model, float(soft), float(hard)


def _data(task, seed, a):
    if task.startswith("yinyang"):
        xtr, ytr = bs.datasets.yinyang(42 + 100 * seed, a.n_train)
        xte, yte = bs.datasets.yinyang(40 + 100 * seed, 1000)
        if task == "yinyang_current":
            enc = lambda x: np.repeat(x[:, None], 20, axis=1)
        else:
            enc = lambda x: bs.datasets.spike_raster(x, 20)
        return enc(xtr), ytr, enc(xte), yte, 3
    t, y = bs.datasets.randman(seed, n_classes=10, n_units=20, n_samples=a.per_class)
    x, n = bs.datasets.spike_raster(t, 100), int(0.8 * len(y))
    return x[:n], y[:n], x[n:], y[n:], 10


def run(task, a):
    out = {}
    for name in a.models:
        res = {"soft": [], "hard": [], "seconds": [], "eps": []}
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            xtr, ytr, xte, yte, n_out = _data(task, seed, a)
            t0 = time.time()
            model = MODELS[name](xtr.shape[-1], a.hidden, n_out, jax.random.key(seed))
            model, soft, hard = _fit(model, xtr, ytr, xte, yte, a.epochs, seed)
            res["soft"].append(soft)
            res["hard"].append(hard)
            res["seconds"].append(time.time() - t0)
            if name != "lif":
                res["eps"].append(float(model.layers[0].neuron.spike.temperature))
            print(f"{task} {name} seed {seed}: {soft:.4f} soft, {hard:.4f} hard", flush=True)
        out[name] = res
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--task", default="yinyang", choices=["yinyang", "randman"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--first-seed", type=int, default=0, help="first seed of the run")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--per-class", type=int, default=1000)
    p.add_argument("--hidden", type=int, default=None, help="default 64 yinyang, 128 randman")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--current", action="store_true", help="yinyang: also the current code")
    p.add_argument("--tag", default="", help="suffix of the results file name")
    a = p.parse_args()
    a.hidden = a.hidden or (64 if a.task == "yinyang" else 128)
    tasks = [a.task] + (["yinyang_current"] if a.current and a.task == "yinyang" else [])
    results = {task: run(task, a) for task in tasks}
    summary = {
        f"{task}/{name}/{kind}": f"{100 * np.mean(r[kind]):.1f} ± {100 * np.std(r[kind]):.1f} %"
        for task, d in results.items()
        for name, r in d.items()
        for kind in ("soft", "hard")
    }
    print(json.dumps(summary, indent=1))
    print(
        save(
            f"ultralif_accuracy_{a.task}{a.tag}",
            {"results": results, "summary": summary, "args": vars(a)},
        )
    )


if __name__ == "__main__":
    main()
