# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 — Training spiking networks by gradient descent
#
# A spike is a step function, so its derivative is zero almost everywhere. brainsim
# offers two ways around it:
#
# - **surrogate gradients**: the forward pass keeps the hard threshold $H(V - \vartheta)$,
#   the backward pass uses a smooth pseudo-derivative (here the fast sigmoid
#   $1/(25|x| + 1)^2$, Zenke & Ganguli 2018);
# - **ultradiscretized spikes** (UltraLIF, Miñoza 2026): the LIF recursion is rewritten in
#   the max-plus algebra and relaxed with a log-sum-exp of temperature $\varepsilon$; the
#   spike is the logistic $\sigma((\tilde V - \vartheta)/\varepsilon)$ in the forward and
#   backward pass, and hard spikes can be switched on for inference.
#
# We train on two offline tasks: **Randman** (random manifolds, information purely in
# spike timing; Zenke & Vogels 2021) and scikit-learn's **digits** (8×8 images,
# latency-coded). Then we differentiate through a whole conductance-based E/I simulation.

# %%
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax

import brainsim as bs
from brainsim.train import losses

# The test suite runs this notebook small (BRAINSIM_NB_N=400 BRAINSIM_NB_DURATION=100).
SMALL = int(os.environ.get("BRAINSIM_NB_N", 4000)) < 1000
RANDMAN_PER_CLASS = 40 if SMALL else 1000
RANDMAN_EPOCHS = 2 if SMALL else 20
DIGITS_EPOCHS = 2 if SMALL else 20
DIGITS_TRAIN = 300 if SMALL else None  # None: all 1348 training images
T = 100  # steps of 1 ms for Randman
SEED = 0
key = jax.random.key(SEED)
print("small run" if SMALL else "full run", "on", jax.devices()[0].platform)

# %% [markdown]
# ## 1. Randman: spike timing only
#
# Each of 10 classes is a random smooth 2-D manifold embedded in 20 dimensions; a sample
# is a point on it, and unit $i$ fires one spike at a time given by coordinate $i$.

# %%
times, labels = bs.datasets.randman(
    SEED, n_classes=10, n_units=20, n_samples=RANDMAN_PER_CLASS, dim=2
)
x = bs.datasets.spike_raster(times, T)  # (N, T, 20)
n_train = int(0.8 * len(labels))
x_tr, y_tr, x_te, y_te = x[:n_train], labels[:n_train], x[n_train:], labels[n_train:]

fig, axes = plt.subplots(1, 3, figsize=(10, 2.5), sharey=True)
for ax, cls in zip(axes, range(3), strict=True):
    t, u = np.nonzero(x[np.argmax(labels == cls)])
    ax.plot(t, u, "|k")
    ax.set(title=f"class {cls}", xlabel="step (ms)")
axes[0].set_ylabel("input unit")
plt.tight_layout()


# %% [markdown]
# A feed-forward network: 20 inputs → 128 LIF (current synapse $\tau_{syn}$ = 5 ms,
# membrane $\tau_{mem}$ = 10 ms, learnable per neuron) → 10 leaky readout units. The loss
# is the cross-entropy of the readout membrane's maximum over time. Each layer projects
# its input for all time steps in one matrix product, then scans the neuron dynamics.


# %%
def hidden_raster(model, sample, ax, title):
    _, spikes = model(sample[None])
    t, n = np.nonzero(np.asarray(spikes[0][0]))
    ax.plot(t, n, "|k", ms=3)
    ax.set(title=title, xlabel="step (ms)", ylabel="hidden neuron")


surrogate_model = bs.train.FeedForwardSNN(20, 128, 10, key=key)
trained, _, hist_lif = bs.train.fit(
    surrogate_model,
    x_tr,
    y_tr,
    loss_fn=losses.ce_max_membrane,
    optimizer=optax.adam(2e-3),
    epochs=RANDMAN_EPOCHS,
    key=key,
    progress=False,
)
acc_lif = bs.train.evaluate(trained, losses.ce_max_membrane, x_te, y_te)[1]

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
hidden_raster(surrogate_model, x_te[0], axes[0], "hidden spikes before training")
hidden_raster(trained, x_te[0], axes[1], "after training")
plt.tight_layout()
print(f"Randman test accuracy (surrogate LIF): {acc_lif:.3f}")

# %% [markdown]
# The same task with an UltraLIF hidden layer ($\varepsilon$ learnable, initialised at 1,
# kept in [0.1, 20]).

# %%
ultra = bs.train.UltraSNN(20, 128, 10, key=key)
ultra_trained, _, hist_ultra = bs.train.fit(
    ultra,
    x_tr,
    y_tr,
    loss_fn=losses.ce_max_membrane,
    optimizer=optax.adam(5e-3),
    epochs=RANDMAN_EPOCHS,
    key=key,
    progress=False,
)
acc_ultra = bs.train.evaluate(ultra_trained, losses.ce_max_membrane, x_te, y_te)[1]
acc_ultra_hard = bs.train.evaluate(
    bs.train.hard_spikes(ultra_trained), losses.ce_max_membrane, x_te, y_te
)[1]
eps = float(ultra_trained.layers[0].neuron.spike.temperature)
print(f"UltraLIF: {acc_ultra:.3f} soft, {acc_ultra_hard:.3f} with hard spikes; eps = {eps:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for name, h in [("surrogate LIF", hist_lif), ("UltraLIF", hist_ultra)]:
    axes[0].plot(h["loss"], label=name)
    axes[1].plot(h["accuracy"], label=name)
axes[0].set(xlabel="epoch", ylabel="training loss")
axes[1].set(xlabel="epoch", ylabel="training accuracy")
axes[1].legend()
plt.tight_layout()

# %% [markdown]
# ## 2. Digits, latency-coded
#
# A pixel of intensity $x \in [0, 1]$ fires once at step $\mathrm{round}((1 - x)(T-1))$:
# bright pixels fire early, black ones never. $T$ = 30.

# %%
xd_tr, yd_tr, xd_te, yd_te = bs.datasets.digits(seed=SEED)
if DIGITS_TRAIN:
    xd_tr, yd_tr = xd_tr[:DIGITS_TRAIN], yd_tr[:DIGITS_TRAIN]


def latency(images):
    return np.asarray(jnp.moveaxis(bs.encoders.latency(images, 30), 0, -2))


model = bs.train.FeedForwardSNN(64, 128, 10, key=key)
model, _, hist_digits = bs.train.fit(
    model,
    latency(xd_tr),
    yd_tr,
    loss_fn=losses.ce_max_membrane,
    optimizer=optax.adam(2e-3),
    epochs=DIGITS_EPOCHS,
    key=key,
    progress=False,
)
acc_digits = bs.train.evaluate(model, losses.ce_max_membrane, latency(xd_te), yd_te)[1]
print(f"digits (latency, T = 30), surrogate LIF: {acc_digits:.3f}")

# %% [markdown]
# UltraLIF at a single time step ($T$ = 1, the pixel is the input current): the setting
# where the UltraLIF paper reports its edge over surrogate LIF.

# %%
ultra_d = bs.train.UltraSNN(64, 64, 10, key=key)
ultra_d, _, _ = bs.train.fit(
    ultra_d,
    xd_tr[:, None],
    yd_tr,
    loss_fn=losses.ce_max_membrane,
    optimizer=optax.adam(5e-3),
    epochs=DIGITS_EPOCHS,
    key=key,
    progress=False,
)
for name, m in [("soft", ultra_d), ("hard", bs.train.hard_spikes(ultra_d))]:
    acc = bs.train.evaluate(m, losses.ce_max_membrane, xd_te[:, None], yd_te)[1]
    print(f"digits T = 1, UltraLIF with {name} spikes: {acc:.3f}")

# %% [markdown]
# ## 3. Differentiable biophysics
#
# The same code path that simulates a conductance-based E/I network (`bs.Network.step`,
# event-driven projections with custom VJPs) can be differentiated. We fit the
# excitatory conductance $w_E$ (nS) so the E population fires at a target rate. The LIF
# reset passes the surrogate gradient, so the surrogate must be gentle in mV units
# (sigmoid of slope 0.03/mV).

# %%
DT, STEPS = 0.5, (100 if SMALL else 400)
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


N_E, N_I = 80, 20
syn = lambda tau, e: dict(synapse=bs.synapses.Exponential(tau), output=bs.synapses.Conductance(e))
net0 = bs.Network(
    {"E": neuron(N_E), "I": neuron(N_I)},
    [
        bs.Projection(
            pre,
            post,
            bs.conn.FixedProb(0.2, allow_self=False),
            weight=1.0 if pre == "E" else 6.7,
            **(syn(5.0, 0.0) if pre == "E" else syn(10.0, -80.0)),
        )
        for pre in ("E", "I")
        for post in ("E", "I")
    ],
    key=jax.random.key(0),
)
state0 = net0.init(jax.random.key(1), dt=DT)


def rate_e(w_e):
    net = eqx.tree_at(
        lambda n: [p.weight for p in n.projections if p.pre == "E"], net0, [w_e, w_e]
    )

    def body(s, t):
        s, spk = net.step(s, {"E": 220.0, "I": 220.0}, t=t, dt=DT)
        return s, jnp.mean(spk["E"])

    return jnp.mean(jax.lax.scan(body, state0, jnp.arange(STEPS) * DT)[1]) / (DT * 1e-3)


target = 60.0  # Hz


def loss_fn(w):
    r = rate_e(w)
    return ((r - target) / target) ** 2, r


vg = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
opt = optax.adam(optax.cosine_decay_schedule(0.05, 60))
w, trace = jnp.float32(0.8), []
ost = opt.init(w)
for _ in range(5 if SMALL else 60):
    (loss, rate), g = vg(w)
    trace.append((float(w), float(rate)))
    upd, ost = opt.update(g, ost)
    w = optax.apply_updates(w, upd)
print(f"w_E = {trace[-1][0]:.2f} nS -> E rate {trace[-1][1]:.1f} Hz (target {target} Hz)")
fig, axes = plt.subplots(1, 2, figsize=(8, 2.5))
axes[0].plot([t[0] for t in trace])
axes[0].set(xlabel="gradient step", ylabel="w_E (nS)")
axes[1].plot([t[1] for t in trace])
axes[1].axhline(target, ls="--", c="k")
axes[1].set(xlabel="gradient step", ylabel="E rate (Hz)")
plt.tight_layout()
