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
# # 04 — Synaptic plasticity
#
# A plasticity rule in brainsim is a small `eqx.Module` of parameters with `init` and
# `step`; the plastic weights and the spike traces live in the **state**. Weights are
# updated event-driven: a presynaptic spike rewrites that neuron's outgoing row, a
# postsynaptic spike its incoming column (through a column index built once by
# `bs.ops.index`).
#
# 1. the STDP window of each variant, measured from isolated spike pairs;
# 2. all-to-all vs nearest-neighbour pairing;
# 3. Song, Miller & Abbott (2000): additive STDP makes the weights of 1000 Poisson
#    inputs bimodal;
# 4. differentiating through plasticity: the gradient of a loss with respect to the
#    rule's own parameters.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import brainsim as bs

P = bs.plasticity
# The test suite runs this notebook small (BRAINSIM_NB_N=400 BRAINSIM_NB_DURATION=100).
SMALL = int(os.environ.get("BRAINSIM_NB_N", 4000)) < 1000
SONG_SECONDS = 2 if SMALL else 100
FREE = P.Bounds(-np.inf, np.inf, dale=False)  # no bounds: the raw window
one = bs.conn.ELL(1, 1, jnp.zeros((1, 1), jnp.int32))  # a single synapse
idx = bs.ops.index(one)

# %% [markdown]
# ## 1. The STDP window
#
# One pre and one post spike, $\Delta t = t_\text{post} - t_\text{pre}$ apart, on a
# 0.1 ms grid; the weight change is compared with the analytic window
# $A_+e^{-\Delta t/\tau_+}$ ($\Delta t > 0$), $-A_-e^{\Delta t/\tau_-}$ ($\Delta t < 0$),
# and the symmetric window $A_+e^{-|\Delta t|/\tau_+} - A_-e^{-|\Delta t|/\tau_-}$.


# %%
def pair_change(rule, lag, dt=0.1, n=1200):
    """Weight change of one synapse for a pre spike at step 600 and a post spike
    ``lag`` steps later (negative: before)."""
    pre = jnp.zeros((n, 1)).at[600, 0].set(1.0)
    post = jnp.zeros((n, 1)).at[600 + lag, 0].set(1.0)

    def body(s, x):
        return rule.step(s, x[0], x[1], layout=idx, dt=dt), None

    final, _ = jax.lax.scan(body, rule.init(jnp.zeros(1), 1, 1), (pre, post))
    return final.w[0]


lags = jnp.arange(-500, 501, 10)
fig, ax = plt.subplots(figsize=(6, 3.5))
for symmetric in (False, True):
    rule = P.PairSTDP(0.01, 0.006, 17.0, 34.0, FREE, symmetric=symmetric)
    measured = jax.jit(jax.vmap(lambda k, r=rule: pair_change(r, k)))(lags)
    label = "symmetric" if symmetric else "asymmetric"
    ax.plot(0.1 * lags, rule.window(0.1 * lags), lw=3, alpha=0.4, label=f"{label}: analytic")
    ax.plot(0.1 * lags, measured, ".", label=f"{label}: simulated")
    print(
        label,
        "max |simulated - analytic|:",
        float(jnp.max(jnp.abs(measured - rule.window(0.1 * lags)))),
    )
ax.set(xlabel="Δt = t_post − t_pre (ms)", ylabel="Δw")
ax.legend(fontsize=8)

# %% [markdown]
# ## 2. All-to-all vs nearest-neighbour pairing
#
# Three presynaptic spikes 10 ms apart, then one postsynaptic spike 5 ms after the last:
# with all-to-all pairing the post spike pairs with all three, with nearest-neighbour
# pairing (the trace resets to 1 at a spike) only with the last.

# %%
pre = jnp.zeros((500, 1)).at[jnp.array([100, 200, 300]), 0].set(1.0)
post = jnp.zeros((500, 1)).at[350, 0].set(1.0)
for pairing in (P.AllToAll(), P.Nearest()):
    rule = P.PairSTDP(1.0, 1.0, 20.0, 20.0, FREE, pairing)
    final, _ = jax.lax.scan(
        lambda s, x, r=rule: (r.step(s, x[0], x[1], layout=idx, dt=0.1), None),
        rule.init(jnp.zeros(1), 1, 1),
        (pre, post),
    )
    print(type(pairing).__name__, float(final.w[0]))
print(
    "analytic: all-to-all",
    float(sum(np.exp(-d / 20) for d in (5, 15, 25))),
    " nearest",
    float(np.exp(-5 / 20)),
)

# %% [markdown]
# ## 3. Song, Miller & Abbott (2000)
#
# 1000 inputs firing at 15 Hz onto one conductance-based neuron through additive STDP
# with $A_- = 1.05\,A_+$: inputs compete, and the weights leave the middle for the two
# bounds. `bs.models.song2000` runs the model (see `tests/test_plasticity_models.py` for
# the comparison with Brian2); here with $A_+ = 0.05\,g_{max}$ to converge quickly.

# %%
w, counts = bs.models.song2000(jax.random.key(0), duration=SONG_SECONDS * 1e3, a_plus=0.05)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3))
a1.hist(np.asarray(w) / 0.01, bins=20, range=(0, 1))
a1.set(xlabel="w / gmax", ylabel="synapses", title=f"after {SONG_SECONDS} s")
a2.plot(np.asarray(counts), "o-")
a2.set(xlabel="time (s)", ylabel="output rate (Hz)")
print(
    "fraction below 0.1 gmax:",
    float(jnp.mean(w < 0.001)),
    " above 0.9 gmax:",
    float(jnp.mean(w > 0.009)),
)

# %% [markdown]
# ## 4. Differentiating through plasticity
#
# The weights after a simulation depend smoothly on the rule's amplitudes and time
# constants, so a learning rule can itself be fitted by gradient descent. Here: how
# the mean final weight of the 20 synapses of a small layer changes with $A_+$ and
# $\tau_+$, for fixed random spike trains.

# %%
layout, _ = bs.conn.FixedProb(0.5).build(jax.random.key(1), 8, 5)
lay_idx = bs.ops.index(layout)
k1, k2 = jax.random.split(jax.random.key(2))
pre = jax.random.bernoulli(k1, 0.05, (400, 8)).astype(jnp.float32)
post = jax.random.bernoulli(k2, 0.05, (400, 5)).astype(jnp.float32)


def mean_weight(a_plus, tau_plus):
    rule = P.PairSTDP(a_plus, 0.01, tau_plus, 20.0, P.Bounds(0.0, 1.0))
    state = rule.init(jnp.full(layout.n_synapses, 0.5), 8, 5)
    state, _ = jax.lax.scan(
        lambda s, x: (rule.step(s, x[0], x[1], layout=lay_idx, dt=0.5), None), state, (pre, post)
    )
    return jnp.mean(state.w)


value, grads = jax.value_and_grad(mean_weight, argnums=(0, 1))(0.01, 20.0)
print(
    f"mean weight {float(value):.4f}; d/dA+ = {float(grads[0]):.3f}, "
    f"d/dtau+ = {float(grads[1]):.5f} per ms"
)
