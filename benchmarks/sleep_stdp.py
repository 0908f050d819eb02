"""Sleep-based homeostatic regularization of STDP (Massey, Hubin, Nichele & Sæbø 2026,
arXiv 2601.08447; REFERENCES §5) on scikit-learn's digits: an STDP E/I network and a
surrogate-gradient SNN trained with 0, 10, 20 and 30 % of the training time asleep.

**STDP arm** (``bs.Network`` + ``bs.Plastic(TraceSTDP, sleep=Sleep)``): 64 input LIF
neurons "X" (current 150 pA × pixel plus Gaussian noise of 300 pA per step, so their
rate grows with the pixel), ``--n-e`` excitatory LIF "E" and a quarter as many
inhibitory "I" (c_m = 20 pF, 5 ms exponential current synapses, dt = 1 ms). X→E
(all-to-all, initial weights U(0, 6) pA) and the recurrent E→E (p = 0.1, U(0, 2) pA)
learn with ``TraceSTDP`` (Massey's rule: τ = 20 ms, w_max = 10, μ = 0.6; ``--eta`` 5e-3:
Massey's 4-8e-4 barely moves the weights in one pass over the 1347 images); E→I (p =
0.2, 10 pA) and I→E (p = 0.5, -30 pA) are static. Each image is shown for 50 ms;
``--epochs`` passes over the training images. Sleep: a sleep of 250 ms (as Massey's
200-300 steps) after every wake of 250 (1 - f) / f ms (f = 0.1, 0.2, 0.3: 2250, 1000,
583 ms); asleep, the input is off, E gets Gaussian current noise (σ = 40 pA per step),
STDP stays on and the weights decay by ``--factor`` (0.5) over each sleep toward the
baseline (``--baseline static``: the mean initial weight; ``post``: each E neuron's
total input toward its initial total, its relative weights kept). The same wake data for
every arm (sleep adds time). Read-out of the learned network (weights frozen, every
image from rest, 50 ms): each E neuron is labelled by the class it answers most on the
training images, a test image gets the class whose neurons answer most (Diehl & Cook
2015's vote); also a logistic regression on the E spike counts (train → test); both
also for the untrained network (its initial weights).

**Surrogate-gradient arm**: ``bs.train.FeedForwardSNN(64, 128, 10)`` on a rate code
(T = 30), Adam 2e-3, batches of 64, ``--sg-epochs``; sleep: after every (1 - f) / f
batches (9, 4, 2) the weight matrices decay toward their mean initial weight by the
same factor (no local plasticity runs during a sleep, so the decay is all a sleep
does to it).

    python benchmarks/sleep_stdp.py                  # seeds 0-2, the full table
    python benchmarks/sleep_stdp.py --quick          # tiny: checks that it runs

Results: ``benchmarks/results/sleep_stdp.json`` (``sleep_stdp_post.json`` for
``--baseline post``, or ``--out NAME``) (accuracies, and the weight and
accuracy curves over training).
"""

import argparse
import math
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
from _harness import save, table  # noqa: E402

P = bs.plasticity
DT, T_IMG, SLEEP_MS = 1.0, 50.0, 250.0
I_PIXEL, SIGMA_X, SIGMA_SLEEP = 150.0, 300.0, 40.0


def _lif(n):
    return bs.neurons.LIF(n, c_m=20.0, t_ref=2.0, v_init=bs.initializers.Uniform(-60.0, -50.0))


def _phases(f):
    wake = SLEEP_MS * (1 - f) / f if f else 1e9
    return P.Sleep(
        wake=wake, sleep=SLEEP_MS if f else 0.0, factor=ARGS.factor, baseline=ARGS.baseline
    )


def stdp_network(seed, sleep, n_e, weights=None):
    """The E/I network; ``weights``: ``(w_xe, w_ee)`` to freeze (no plasticity)."""
    rng = np.random.default_rng(seed)
    n_i = max(1, n_e // 4)
    rule = P.TraceSTDP(eta=ARGS.eta, tau=20.0, mu=0.6, bounds=P.Bounds(0.0, 10.0))
    xe = bs.conn.ELL(64, n_e, jnp.tile(jnp.arange(n_e, dtype=jnp.int32), (64, 1)))
    key = jax.random.key(seed)
    ee = bs.conn.FixedProb(0.1).build(jax.random.fold_in(key, 7), n_e, n_e, recurrent=True)[0]
    if weights is None:
        w_xe = rng.uniform(0.0, 6.0, xe.weight_shape).astype(np.float32)
        w_ee = rng.uniform(0.0, 2.0, ee.weight_shape).astype(np.float32)
        plastic = (bs.Plastic(rule, sleep),)
    else:
        w_xe, w_ee = (
            np.asarray(w).reshape(c.weight_shape) for w, c in zip(weights, (xe, ee), strict=True)
        )
        plastic = ()
    proj = bs.Projection
    return bs.Network(
        {"X": bs.neurons.LIF(64, t_ref=2.0), "E": _lif(n_e), "I": _lif(n_i)},
        [
            proj("X", "E", xe, weight=jnp.asarray(w_xe), components=plastic),
            proj("E", "E", ee, weight=jnp.asarray(w_ee), components=plastic),
            proj("E", "I", bs.conn.FixedProb(0.2), weight=10.0),
            proj("I", "E", bs.conn.FixedProb(0.5), weight=-30.0),
        ],
        key=jax.random.fold_in(key, 1),
    )


def _pixels_input(pixels, key):
    """``{"X": current}`` for images ``pixels (..., 64)`` at step ``k`` (noise from key)."""

    def at(k):
        z = jax.random.normal(jax.random.fold_in(key, k), pixels.shape)
        return {"X": I_PIXEL * pixels + SIGMA_X * z}

    return at


def responses(seed, n_e, weights, x):
    """E spike counts ``(len(x), n_e)`` of the frozen network, every image from rest."""
    net = stdp_network(seed, None, n_e, weights)
    state = net.init(jax.random.key(seed + 5), dt=DT, batch_shape=(len(x),))
    return np.asarray(_counts(net, state, jnp.asarray(x), jax.random.key(seed + 6)))


@eqx.filter_jit
def _counts(net, state, x, key):
    drive = _pixels_input(x, key)

    def body(s, k):
        s, spikes = net.step(s, drive(k), t=k * DT, dt=DT)
        return s, spikes["E"]

    return jax.lax.scan(body, state, jnp.arange(int(T_IMG / DT)))[1].sum(axis=0)


def score(counts_tr, y_tr, counts_te, y_te):
    """(vote accuracy, logistic-regression accuracy) of E spike counts."""
    from sklearn.linear_model import LogisticRegression

    mean = np.stack([counts_tr[y_tr == c].mean(axis=0) for c in range(10)])  # (10, n_e)
    label = mean.argmax(axis=0)
    votes = np.stack(
        [
            counts_te[:, label == c].mean(axis=1) if np.any(label == c) else np.zeros(len(y_te))
            for c in range(10)
        ],
        axis=1,
    )
    vote = float(np.mean(votes.argmax(axis=1) == y_te))
    clf = LogisticRegression(max_iter=2000).fit(counts_tr, y_tr)
    return vote, float(clf.score(counts_te, y_te))


def stdp_arm(seed, f, data, n_e, epochs, checkpoints=4):
    x_tr, y_tr, x_te, y_te = data
    sleep = _phases(f)
    net = stdp_network(seed, sleep, n_e)
    state = net.init(jax.random.key(seed + 2), dt=DT)
    n_img = len(y_tr) * epochs
    order = np.concatenate(
        [np.random.default_rng(seed + e).permutation(len(y_tr)) for e in range(epochs)]
    )
    stream = jnp.asarray(x_tr[order])

    def wake(tw):  # the image shown at wake time tw, its input noise by the wake step
        k = jnp.round(tw / DT).astype(jnp.int32)
        i = jnp.minimum(k // int(T_IMG / DT), n_img - 1)
        z = jax.random.normal(jax.random.fold_in(jax.random.key(seed + 3), k), (64,))
        return {"X": I_PIXEL * stream[i] + SIGMA_X * z}

    inputs = sleep.inputs(net, wake, noise={"E": SIGMA_SLEEP}, key=jax.random.key(seed + 4), dt=DT)
    wake_total = n_img * T_IMG
    n_sleeps = math.ceil(wake_total / sleep.wake) - 1 if sleep.sleep else 0
    duration = wake_total + n_sleeps * sleep.sleep
    steps = int(round(duration / DT))
    bounds = np.linspace(0, steps, checkpoints + 1).round().astype(int)
    w_init = [np.asarray(state.components[k][0][0].w) for k in (0, 1)]
    untrained = score(
        responses(seed, n_e, w_init, x_tr), y_tr, responses(seed, n_e, w_init, x_te), y_te
    )
    curve, t0 = [], time.time()

    @eqx.filter_jit
    def run(state, first, n):  # n steps from step first (as bs.simulate, one compilation)
        def body(s, k):
            return net.step(s, inputs(k * DT), t=k * DT, dt=DT)[0], None

        return jax.lax.scan(body, state, first + jnp.arange(n))[0]

    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        state = run(state, a, int(b - a))
        w_xe, w_ee = (np.asarray(state.components[k][0][0].w) for k in (0, 1))
        counts_tr = responses(seed, n_e, (w_xe, w_ee), x_tr)
        counts_te = responses(seed, n_e, (w_xe, w_ee), x_te)
        vote, logreg = score(counts_tr, y_tr, counts_te, y_te)
        curve.append(
            dict(
                t_s=b * DT / 1e3,
                w_xe_mean=float(w_xe.mean()),
                w_xe_at_max=float(np.mean(w_xe > 9.0)),
                w_ee_mean=float(w_ee.mean()),
                w_ee_at_max=float(np.mean(w_ee > 9.0)),
                e_rate_hz=float(counts_te.mean() / (T_IMG * 1e-3)),
                vote=vote,
                logreg=logreg,
            )
        )
        print(f"  stdp seed {seed} sleep {f:.0%} t={b * DT / 1e3:.0f}s {curve[-1]}", flush=True)
    return dict(
        arm="stdp",
        seed=seed,
        sleep=f,
        seconds=time.time() - t0,
        curve=curve,
        untrained=dict(vote=untrained[0], logreg=untrained[1]),
        **{k: curve[-1][k] for k in ("vote", "logreg", "w_xe_mean", "w_ee_mean")},
    )


def sg_arm(seed, f, data, epochs, batch=64):
    x_tr, y_tr, x_te, y_te = data
    code = lambda x, k: jnp.moveaxis(bs.encoders.rate(jax.random.key(k), x, 30), 0, -2)
    enc_tr, enc_te = code(x_tr, seed + 100), code(x_te, seed + 101)
    spike = bs.spikes.Heaviside(bs.spikes.FastSigmoid(25.0))
    model = bs.train.FeedForwardSNN(64, 128, 10, key=jax.random.key(seed), spike=spike)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    is_matrix = lambda a: a is not None and a.ndim == 2
    baseline = jax.tree.map(lambda a: jnp.mean(a) if is_matrix(a) else None, params)
    opt = optax.adam(2e-3)
    opt_state = opt.init(params)

    @jax.jit
    def train_step(params, opt_state, xb, yb):
        loss = lambda p: losses.ce_max_membrane(eqx.combine(p, static), xb, yb)[0]
        grads = jax.grad(loss)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def decay(params):
        return jax.tree.map(
            lambda a, b: a if b is None else b + (a - b) * ARGS.factor,
            params,
            baseline,
            is_leaf=lambda x: x is None,
        )

    wake_batches = round((1 - f) / f) if f else None
    n_batches, t0 = len(y_tr) // batch, time.time()
    done, curve = 0, []
    for epoch in range(epochs):
        order = np.random.default_rng(seed * 1000 + epoch).permutation(len(y_tr))
        for b in range(n_batches):
            idx = order[b * batch : (b + 1) * batch]
            params, opt_state = train_step(params, opt_state, enc_tr[idx], y_tr[idx])
            done += 1
            if wake_batches and done % wake_batches == 0:
                params = decay(params)
        acc = bs.train.evaluate(eqx.combine(params, static), losses.ce_max_membrane, enc_te, y_te)
        curve.append(dict(epoch=epoch + 1, accuracy=float(acc[1])))
    return dict(
        arm="sg",
        seed=seed,
        sleep=f,
        seconds=time.time() - t0,
        curve=curve,
        accuracy=curve[-1]["accuracy"],
    )


def main():
    rows = []
    data = bs.datasets.digits(seed=0)
    if ARGS.quick:
        x_tr, y_tr, x_te, y_te = data
        data = (x_tr[:60], y_tr[:60], x_te[:40], y_te[:40])
    for seed in range(ARGS.seeds):
        for f in ARGS.fractions:
            if "stdp" in ARGS.arms:
                rows.append(stdp_arm(seed, f, data, ARGS.n_e, ARGS.epochs))
            if "sg" in ARGS.arms:
                rows.append(sg_arm(seed, f, data, ARGS.sg_epochs))
                print(f"  sg seed {seed} sleep {f:.0%}: {rows[-1]['accuracy']:.4f}", flush=True)
    summary = []
    arms = (("stdp", ("vote", "logreg", "w_xe_mean", "w_ee_mean")), ("sg", ("accuracy",)))
    for arm, keys in arms:
        for f in ARGS.fractions:
            got = [r for r in rows if r["arm"] == arm and r["sleep"] == f]
            if got:
                summary.append(
                    dict(
                        arm=arm,
                        sleep=f"{f:.0%}",
                        **{k: _mean_sd([r[k] for r in got]) for k in keys},
                    )
                )
    columns = [("arm", "arm", ""), ("sleep", "sleep", "")] + [
        (k, k, "") for k in ("vote", "logreg", "w_xe_mean", "w_ee_mean", "accuracy")
    ]
    print(table([{c[0]: s.get(c[0], "") for c in columns} for s in summary], columns))
    if not ARGS.quick:
        suffix = "" if ARGS.baseline == "static" else f"_{ARGS.baseline}"
        name = ARGS.out or f"sleep_stdp{suffix}"
        save(name, dict(args=vars(ARGS), summary=summary, rows=rows))


def _mean_sd(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    parser.add_argument("--arms", nargs="+", default=["stdp", "sg"])
    parser.add_argument("--n-e", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--sg-epochs", type=int, default=10)
    parser.add_argument("--factor", type=float, default=0.5)
    parser.add_argument("--eta", type=float, default=5e-3)
    parser.add_argument("--baseline", default="static", choices=["static", "layer", "post"])
    parser.add_argument("--out", default=None, help="results file name (without .json)")
    ARGS = parser.parse_args()
    if ARGS.quick:
        ARGS.seeds, ARGS.n_e, ARGS.sg_epochs = 1, 20, 1
    main()
