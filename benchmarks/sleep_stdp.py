"""Sleep-based homeostatic regularization of STDP (Massey, Hubin, Nichele & Sæbø 2026,
arXiv 2601.08447; REFERENCES §5) on scikit-learn's digits: an STDP E/I network and a
surrogate-gradient SNN trained with 0, 10, 20 and 30 % of the training time asleep.

**STDP arm**: Diehl & Cook's (2015) unsupervised digit learner through the public API
(``bs.Network``, ``bs.Plastic(Normalized(TraceSTDP), sleep=Sleep)``), dt = 1 ms. 64
input LIF neurons "X" (300 pA × pixel plus 50 pA of Gaussian noise per step: 0 to ~100
Hz with the pixel) project all-to-all onto ``--n-e`` excitatory neurons "E" (LIF, c_m =
10 pF, 5 ms exponential current synapses, t_ref = 5 ms) whose threshold rises by
``THETA_PLUS`` = 0.2 mV per spike (``ALIF`` with τ_a = 1e7 ms: Diehl & Cook's adaptive
threshold), with lateral inhibition (every E inhibits every other E, -40 pA). X→E learns
with ``TraceSTDP`` (Diehl & Cook's / Massey's rule: τ = 20 ms, w_max = 10, μ = 0.6,
``--eta`` 0.05), normalized after every step so that each E neuron's inputs sum to
``--total`` (160 = 64 × 2.5; ``bs.plasticity.Normalized``, Diehl & Cook's weight
normalization; 0: off), from U(0, 5) scaled to that total. Each image is shown for
100 ms, then 50 ms of rest (no input); ``--epochs`` passes over the training images
(``--train-images``: the first N only). Sleep: a sleep of 250 ms (as Massey's 200-300
steps) after every wake of 250 (1 - f) / f ms (f = 0.1, 0.2, 0.3: 2250, 1000, 583 ms);
asleep, the input is off, E gets Gaussian current noise (σ = 40 pA per step), STDP
stays on and the weights decay by ``--factor`` (0.5) over each sleep toward the
baseline (``--baseline static``: the mean initial weight; ``post``: each E neuron's
total input toward its initial total, its relative weights kept; with the
normalization on, ``post`` changes nothing). The same wake data for every arm (sleep
adds time). Read-out of the learned network (weights and thresholds frozen, every image
from rest, 100 ms): each E neuron is labelled by the class it answers most on the
training images, a test image gets the class whose neurons answer most (Diehl & Cook's
vote); also a logistic regression on the E spike counts (train → test); both also for
the untrained network (its initial weights). ``--recurrent W``: also plastic
excitation among the E neurons (every E onto every other, U(0, 2W) pA, on top of the
lateral inhibition), learning with the same ``TraceSTDP`` (no normalization) under the
same sleep, frozen with the rest for the read-out (Massey's networks are recurrent).

**Surrogate-gradient arm**: ``bs.train.FeedForwardSNN(64, 128, 10)`` on a rate code
(T = 30), Adam 2e-3, batches of 64, ``--sg-epochs``; sleep: after every (1 - f) / f
batches (9, 4, 2) the weight matrices decay toward their mean initial weight by the
same factor (no local plasticity runs during a sleep, so the decay is all a sleep
does to it).

    python benchmarks/sleep_stdp.py                  # seeds 0-2, the full table
    python benchmarks/sleep_stdp.py --quick          # tiny: checks that it runs

Results: ``benchmarks/results/sleep_stdp_dc.json`` (``sleep_stdp_dc_post.json`` for
``--baseline post``, or ``--out NAME``): accuracies, and the weight and accuracy curves
over training. (``sleep_stdp.json`` and ``sleep_stdp_post.json`` hold an earlier STDP
network that learned nothing.)
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
DT, T_IMG, T_REST, SLEEP_MS = 1.0, 100.0, 50.0, 250.0
I_PIXEL, SIGMA_X, SIGMA_SLEEP = 300.0, 50.0, 40.0
W_INH, THETA_PLUS = 40.0, 0.2
V_TH = -50.0
STDP_KEYS = ("vote", "logreg", "w_xe_mean", "w_xe_at_max", "w_ee_mean", "w_ee_at_max")


def _e_neurons(n_e, theta=None):
    """E: LIF whose threshold rises by ``THETA_PLUS`` mV per spike (``ALIF`` with a
    time constant of 1e7 ms, Diehl & Cook's adaptive threshold); ``theta (n_e,)``: the
    learned offsets, frozen (a plain LIF with threshold ``V_TH + theta``)."""
    kw = dict(c_m=10.0, t_ref=5.0, v_th=V_TH, v_init=bs.initializers.Uniform(-60.0, -55.0))
    if theta is None:
        return bs.neurons.ALIF(n_e, tau_a=1e7, beta=THETA_PLUS, **kw)
    return bs.neurons.LIF(n_e, **{**kw, "v_th": V_TH + jnp.asarray(theta)})


def _phases(f):
    wake = SLEEP_MS * (1 - f) / f if f else 1e9
    return P.Sleep(
        wake=wake, sleep=SLEEP_MS if f else 0.0, factor=ARGS.factor, baseline=ARGS.baseline
    )


def stdp_network(seed, sleep, n_e, frozen=None):
    """The network; ``frozen``: ``(w_xe, theta, w_ee)`` to freeze (no plasticity, fixed
    thresholds; ``w_ee`` None without ``--recurrent``)."""
    rng = np.random.default_rng(seed)
    rule = P.TraceSTDP(eta=ARGS.eta, tau=20.0, mu=0.6, bounds=P.Bounds(0.0, 10.0))
    if ARGS.total:
        rule = P.Normalized(rule, total=ARGS.total)
    xe = bs.conn.ELL(64, n_e, jnp.tile(jnp.arange(n_e, dtype=jnp.int32), (64, 1)))
    others = np.array([[j for j in range(n_e) if j != i] for i in range(n_e)], np.int32)
    lateral = bs.conn.ELL(n_e, n_e, jnp.asarray(others))  # every E inhibits every other E
    if frozen is None:
        w_xe = rng.uniform(0.0, 5.0, xe.weight_shape)
        if ARGS.total:  # start normalized: every E neuron's inputs sum to total
            w_xe = w_xe * (ARGS.total / w_xe.sum(axis=0))
        w_xe = jnp.asarray(w_xe.astype(np.float32))
        w_ee = rng.uniform(0.0, 2 * ARGS.recurrent, lateral.weight_shape).astype(np.float32)
        plastic, e = (bs.Plastic(rule, sleep),), _e_neurons(n_e)
    else:
        w_xe = jnp.asarray(np.asarray(frozen[0]).reshape(xe.weight_shape))
        w_ee = None if frozen[2] is None else np.asarray(frozen[2]).reshape(lateral.weight_shape)
        plastic, e = (), _e_neurons(n_e, frozen[1])
    projections = [
        bs.Projection("X", "E", xe, weight=w_xe, components=plastic),
        bs.Projection("E", "E", lateral, weight=-W_INH),
    ]
    if ARGS.recurrent:  # plastic excitation among the E neurons, its own rule and sleep
        ee_rule = P.TraceSTDP(eta=ARGS.eta, tau=20.0, mu=0.6, bounds=P.Bounds(0.0, 10.0))
        ee_plastic = () if frozen is not None else (bs.Plastic(ee_rule, sleep),)
        projections.append(
            bs.Projection("E", "E", lateral, weight=jnp.asarray(w_ee), components=ee_plastic)
        )
    return bs.Network(
        {"X": bs.neurons.LIF(64, t_ref=2.0), "E": e}, projections, key=jax.random.key(seed)
    )


def _image_current(pixels, k, key):
    """The X current (pA) at step ``k`` of an image shown for ``T_IMG`` ms, then
    ``T_REST`` ms of rest (no input): pixels ``(..., 64)`` in [0, 1]."""
    z = jax.random.normal(jax.random.fold_in(key, k), pixels.shape)
    on = jnp.mod(k, int((T_IMG + T_REST) / DT)) < int(T_IMG / DT)
    return jnp.where(on, I_PIXEL * pixels + SIGMA_X * z, 0.0)


def responses(seed, n_e, frozen, x):
    """E spike counts ``(len(x), n_e)`` of the frozen network, every image from rest."""
    net = stdp_network(seed, None, n_e, frozen)
    state = net.init(jax.random.key(seed + 5), dt=DT, batch_shape=(len(x),))
    return np.asarray(_counts(net, state, jnp.asarray(x), jax.random.key(seed + 6)))


@eqx.filter_jit
def _counts(net, state, x, key):
    def body(s, k):
        s, spikes = net.step(s, {"X": _image_current(x, k, key)}, t=k * DT, dt=DT)
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


def _learned(state):
    """``(w_xe, theta, w_ee)``: the plastic X->E weights, the threshold offsets (mV)
    and the plastic E->E weights (None without ``--recurrent``)."""
    return (
        np.asarray(state.components[0][0][0].w),
        THETA_PLUS * np.asarray(state.populations["E"].a),
        np.asarray(state.components[2][0][0].w) if ARGS.recurrent else None,
    )


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
    per_img = int((T_IMG + T_REST) / DT)

    def wake(tw):  # the image shown at wake time tw, its input noise by the wake step
        k = jnp.round(tw / DT).astype(jnp.int32)
        i = jnp.minimum(k // per_img, n_img - 1)
        return {"X": _image_current(stream[i], k, jax.random.key(seed + 3))}

    inputs = sleep.inputs(net, wake, noise={"E": SIGMA_SLEEP}, key=jax.random.key(seed + 4), dt=DT)
    wake_total = n_img * per_img * DT
    n_sleeps = math.ceil(wake_total / sleep.wake) - 1 if sleep.sleep else 0
    duration = wake_total + n_sleeps * sleep.sleep
    steps = int(round(duration / DT))
    bounds = np.linspace(0, steps, checkpoints + 1).round().astype(int)
    learned = _learned(state)
    untrained = score(
        responses(seed, n_e, learned, x_tr), y_tr, responses(seed, n_e, learned, x_te), y_te
    )
    curve, t0 = [], time.time()

    @eqx.filter_jit
    def run(state, first, n):  # n steps from step first (as bs.simulate, one compilation)
        def body(s, k):
            return net.step(s, inputs(k * DT), t=k * DT, dt=DT)[0], None

        return jax.lax.scan(body, state, first + jnp.arange(n))[0]

    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        state = run(state, a, int(b - a))
        w_xe, theta, w_ee = learned = _learned(state)
        counts_tr = responses(seed, n_e, learned, x_tr)
        counts_te = responses(seed, n_e, learned, x_te)
        vote, logreg = score(counts_tr, y_tr, counts_te, y_te)
        curve.append(
            dict(
                t_s=b * DT / 1e3,
                w_xe_mean=float(w_xe.mean()),
                w_xe_sd=float(w_xe.std()),
                w_xe_at_max=float(np.mean(w_xe > 9.0)),
                w_xe_at_zero=float(np.mean(w_xe < 1.0)),
                theta_mean_mv=float(theta.mean()),
                e_rate_hz=float(counts_te.mean() / (T_IMG * 1e-3)),
                vote=vote,
                logreg=logreg,
                **({} if w_ee is None else _ee_stats(w_ee)),
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
        **{k: curve[-1][k] for k in STDP_KEYS if k in curve[-1]},
    )


def _ee_stats(w_ee):
    """The E->E weights' mean and the fractions near w_max (> 9) and near 0 (< 1)."""
    return dict(
        w_ee_mean=float(w_ee.mean()),
        w_ee_at_max=float(np.mean(w_ee > 9.0)),
        w_ee_at_zero=float(np.mean(w_ee < 1.0)),
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
    elif ARGS.train_images:
        x_tr, y_tr, x_te, y_te = data
        data = (x_tr[: ARGS.train_images], y_tr[: ARGS.train_images], x_te, y_te)
    for seed in range(ARGS.first_seed, ARGS.first_seed + ARGS.seeds):
        for f in ARGS.fractions:
            if "stdp" in ARGS.arms:
                rows.append(stdp_arm(seed, f, data, ARGS.n_e, ARGS.epochs))
            if "sg" in ARGS.arms:
                rows.append(sg_arm(seed, f, data, ARGS.sg_epochs))
                print(f"  sg seed {seed} sleep {f:.0%}: {rows[-1]['accuracy']:.4f}", flush=True)
    summary = []
    arms = (("stdp", STDP_KEYS), ("sg", ("accuracy",)))
    for arm, keys in arms:
        for f in ARGS.fractions:
            got = [r for r in rows if r["arm"] == arm and r["sleep"] == f]
            if got:
                summary.append(
                    dict(
                        arm=arm,
                        sleep=f"{f:.0%}",
                        **{k: _mean_sd([r[k] for r in got]) for k in keys if k in got[0]},
                    )
                )
    columns = [("arm", "arm", ""), ("sleep", "sleep", "")] + [
        (k, k, "") for k in (*STDP_KEYS, "accuracy")
    ]
    print(table([{c[0]: s.get(c[0], "") for c in columns} for s in summary], columns))
    if not ARGS.quick:
        suffix = "" if ARGS.baseline == "static" else f"_{ARGS.baseline}"
        name = ARGS.out or f"sleep_stdp_dc{suffix}"
        save(name, dict(args=vars(ARGS), summary=summary, rows=rows))


def _mean_sd(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    parser.add_argument("--arms", nargs="+", default=["stdp", "sg"])
    parser.add_argument("--n-e", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-images", type=int, default=None, help="first N only")
    parser.add_argument("--sg-epochs", type=int, default=10)
    parser.add_argument("--total", type=float, default=160.0, help="X->E sum per E; 0: off")
    parser.add_argument("--factor", type=float, default=0.5)
    parser.add_argument("--eta", type=float, default=0.05)
    parser.add_argument("--baseline", default="static", choices=["static", "layer", "post"])
    parser.add_argument("--out", default=None, help="results file name (without .json)")
    parser.add_argument(
        "--recurrent", type=float, default=0.0, help="plastic E->E, mean initial pA; 0: off"
    )
    ARGS = parser.parse_args()
    if ARGS.quick:
        ARGS.seeds, ARGS.n_e, ARGS.sg_epochs = 1, 20, 1
    main()
