# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
# ---

# %% [markdown]
# # 02 — The neuron zoo
#
# brainsim's point-neuron models side by side: responses to current steps, f–I curves,
# Izhikevich's firing patterns, and the Hodgkin–Huxley action potential with its gating
# variables. Every model is an `equinox.Module` with `init(key)` and
# `step(state, drive, t=, dt=)`, takes any spike function and any integrator, and reads
# its input from the same `Drive` as LIF, so it can be dropped into a `Network`.
#
# Units: ms, mV, pA, pF, nS (HH-type models take densities per cm² and an area in µm²).

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import brainsim as bs

N = bs.neurons
# The test suite runs this notebook with BRAINSIM_NB_N=400 BRAINSIM_NB_DURATION=100.
DURATION = float(os.environ.get("BRAINSIM_NB_DURATION", 500.0))  # ms per protocol
N_FI = max(6, min(int(os.environ.get("BRAINSIM_NB_N", 4000)) // 50, 40))  # f-I points
DT = 0.1  # ms (exponential Euler keeps the HH-type models stable here)
print(f"protocols of {DURATION:g} ms at dt = {DT} ms, {N_FI} currents per f-I curve")


# %% [markdown]
# One helper drives a population with a current `current(t)` (pA) and records V and the
# spikes. It is a plain `jax.lax.scan` over `neuron.step` — the "manual stepping" that
# `bs.simulate` does for whole networks.


# %%
def run(neuron, current, duration=DURATION, dt=DT, state=None):
    state = neuron.init(jax.random.key(0)) if state is None else state

    @jax.jit
    def go(state):
        def body(s, k):
            s, spk = neuron.step(s, N.Drive(current=current(k * dt)), t=k * dt, dt=dt)
            return s, (s.v, spk)

        return jax.lax.scan(body, state, jnp.arange(round(duration / dt)))[1]

    v, s = go(state)
    return np.arange(1, v.shape[0] + 1) * dt, np.asarray(v), np.asarray(s)


def step_current(amplitude, start=0.1 * DURATION, stop=0.9 * DURATION):
    return lambda t: jnp.where((t >= start) & (t < stop), amplitude, 0.0)


# %% [markdown]
# ## Responses to a current step
#
# Each model with its default parameters and a step chosen above its rheobase.

# %%
ZOO = {
    "LIF": (N.LIF(1, t_ref=2.0), 300.0),
    "ALIF": (N.ALIF(1, beta=2.0, tau_a=100.0), 300.0),
    "ExpIF": (N.ExpIF(1), 700.0),
    "AdEx": (N.AdEx(1), 700.0),
    "QIF": (N.QIF(1), 150.0),
    "Izhikevich (RS)": (N.Izhikevich(1), 10.0),
    "GIF": (N.GIF(1, a2=-30.0), 300.0),
    "Hodgkin–Huxley": (N.HH(1), 1000.0),
    "Traub–Miles": (N.TraubMiles(1, v_init=-64.0), 400.0),
    "Wang–Buzsáki": (N.WangBuzsaki(1), 100.0),
}
fig, axes = plt.subplots(5, 2, figsize=(10, 11), sharex=True)
for ax, (name, (neuron, amp)) in zip(axes.flat, ZOO.items(), strict=True):
    t, v, s = run(neuron, step_current(amp))
    ax.plot(t, v[:, 0], lw=0.8)
    ax.set_title(f"{name}: {amp:g} pA, {int(s.sum())} spikes", fontsize=9)
    ax.set_ylabel("V (mV)")
for ax in axes[-1]:
    ax.set_xlabel("t (ms)")
fig.tight_layout()

# %% [markdown]
# ## f–I curves
#
# One population per model, one neuron per current (`i_ext` is an array): a whole curve
# is one simulation. Rates are counted over the second half of the protocol.

# %%
FI = {
    "LIF": (lambda i: N.LIF(len(i), t_ref=2.0, i_ext=i), 600.0),
    "ExpIF": (lambda i: N.ExpIF(len(i), i_ext=i), 1500.0),
    "AdEx": (lambda i: N.AdEx(len(i), i_ext=i), 1500.0),
    "QIF": (lambda i: N.QIF(len(i), i_ext=i), 600.0),
    "Hodgkin–Huxley": (lambda i: N.HH(len(i), i_ext=i), 2000.0),
    "Wang–Buzsáki": (lambda i: N.WangBuzsaki(len(i), i_ext=i), 400.0),
}
fig, ax = plt.subplots(figsize=(6, 4))
for name, (make, i_max) in FI.items():
    currents = np.linspace(0.0, i_max, N_FI)
    _, _, s = run(make(currents), lambda t: 0.0)
    rate = s[s.shape[0] // 2 :].sum(0) / (DURATION / 2) * 1000.0
    ax.plot(currents / i_max, rate, "o-", ms=3, label=f"{name} (I max {i_max:g} pA)")
ax.set_xlabel("I / I max")
ax.set_ylabel("rate (Hz)")
ax.legend(fontsize=8)

# %% [markdown]
# The integrate-and-fire models start firing from zero rate at their rheobase (class I
# excitability: LIF with a logarithmic onset, QIF and ExpIF like the square root of the
# distance to rheobase), whereas Hodgkin–Huxley jumps to a finite rate (~50 Hz at 6.3 °C)
# at its Hopf bifurcation (class II). In short runs the curves are coarse: the rate is
# counted over half of `DURATION`.
#
# ## Izhikevich's firing patterns (Izhikevich 2003, Fig. 2)
#
# Six cortical cell classes from one equation, $v' = 0.04 v^2 + 5 v + 140 - u + I$,
# $u' = a (b v - u)$, with the published $(a, b, c, d)$. Each cell starts at rest.

# %%
IZH = {
    "RS": (0.02, 0.2, -65.0, 8.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
    "LTS": (0.02, 0.25, -65.0, 2.0),
    "RZ": (0.1, 0.26, -65.0, 2.0),
}
p = np.array(list(IZH.values()))
izh = N.Izhikevich(len(IZH), a=p[:, 0], b=p[:, 1], c=p[:, 2], d=p[:, 3])
b = p[:, 1]
v_rest = (-(5 - b) - np.sqrt((5 - b) ** 2 - 0.16 * 140)) / 0.08  # stable fixed point
state = izh.init(jax.random.key(0))
state = N.IzhikevichState(
    jnp.asarray(v_rest, jnp.float32),
    jnp.asarray(b * v_rest, jnp.float32),
    state.spike,
    state.refractory,
)
t, v, s = run(izh, step_current(10.0), state=state)
fig, axes = plt.subplots(3, 2, figsize=(10, 6), sharex=True)
for j, (ax, name) in enumerate(zip(axes.flat, IZH, strict=True)):
    ax.plot(t, v[:, j], lw=0.8)
    ax.set_title(f"{name} (a, b, c, d) = {IZH[name]}", fontsize=9)
fig.tight_layout()

# %% [markdown]
# ## The Hodgkin–Huxley action potential and its gates
#
# The squid axon at 6.3 °C, a 1-ms pulse of 10 µA/cm² (1 000 pA for the default area of
# 10⁴ µm²). Sodium activation $m$ is fast, sodium inactivation $h$ and potassium
# activation $n$ are slow: $m$ rises and starts the spike, $h$ falls and $n$ rises to end
# it, and their slow recovery makes the refractory period.

# %%
hh = N.HH(1)
state = hh.init(jax.random.key(0))
pulse = step_current(1000.0, start=2.0, stop=3.0)


@jax.jit
def hh_run(state):
    def body(s, k):
        s, _ = hh.step(s, N.Drive(current=pulse(k * DT)), t=k * DT, dt=DT)
        return s, (s.v, s.m, s.h, s.n)

    return jax.lax.scan(body, state, jnp.arange(round(20.0 / DT)))[1]


v, m, h, n = (np.asarray(x[:, 0]) for x in hh_run(state))
t = np.arange(1, len(v) + 1) * DT
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
ax1.plot(t, v)
ax1.set_ylabel("V (mV)")
for x, label in ((m, "m (Na act.)"), (h, "h (Na inact.)"), (n, "n (K act.)")):
    ax2.plot(t, x, label=label)
ax2.set_xlabel("t (ms)")
ax2.set_ylabel("gate")
ax2.legend()
print(f"peak {v.max():.1f} mV at t = {t[v.argmax()]:.2f} ms")

# %% [markdown]
# The default integrator of the HH-type models is exponential Euler: with $V$ frozen
# each gate is linear in itself, and with the gates frozen $V$ is linear too, so each
# variable is advanced exactly over the step. It stays stable at dt = 0.1 ms, where
# RK4 blows up, but it is only first order: spike times drift by ~1 % of the elapsed
# time at dt = 0.01 ms and ~10 % at 0.1 ms. For accurate spike times use
# `integrator=bs.integrators.RK4()` with dt <= 0.05 ms.
