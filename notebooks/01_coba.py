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
# # 01 — A conductance-based E/I network (COBA), built by hand
#
# This notebook builds the **COBA** benchmark network of Brette et al. (2007), which is
# based on Vogels & Abbott (2005). It is a sparse, randomly connected network of
# leaky integrate-and-fire (LIF) neurons: 80 % excitatory (E) and 20 % inhibitory (I),
# coupled by conductance-based synapses. Excitation and inhibition balance each other,
# and the network settles into irregular, asynchronous firing.
#
# `bs.models.coba` builds this network in one line. Here we assemble it from its parts
# instead, explaining the equation behind each one, then simulate it and look at
# what it does.
#
# Units throughout: ms, mV, nS, pA, pF, Hz. With these, nS·mV = pA and pA/pF = mV/ms,
# so no conversion factors appear.

# %%
import os

import equinox as eqx
import jax
import matplotlib.pyplot as plt
import numpy as np

import brainsim as bs

# Size and length of the run. The test suite runs this notebook small, with
# BRAINSIM_NB_N=400 BRAINSIM_NB_DURATION=100.
N = int(os.environ.get("BRAINSIM_NB_N", 4000))  # neurons (80 % E, 20 % I)
DURATION = float(os.environ.get("BRAINSIM_NB_DURATION", 1000.0))  # ms of biological time
DT = 0.1  # ms, integration step
SEED = 0

print(f"N = {N} neurons, {DURATION:g} ms at dt = {DT} ms, on {jax.devices()[0].platform}")

# %% [markdown]
# ## 1. The neuron: leaky integrate-and-fire
#
# Each neuron has one state variable, its membrane potential $V$ (mV), which obeys
#
# $$
# C_m \frac{dV}{dt} = g_L\,(V_{rest} - V) + I_{ext} + I_{syn}(V),
# \qquad g_L = \frac{C_m}{\tau_m}.
# $$
#
# When $V$ crosses the threshold $V_{th}$, the neuron emits a spike and $V$ is reset
# to $V_{reset}$. It then stays clamped there for a refractory period
# $t_{ref}$.
#
# COBA's values are $C_m = 200$ pF and $\tau_m = 20$ ms, so $g_L = 10$ nS;
# $V_{rest} = V_{reset} = -60$ mV, $V_{th} = -50$ mV and $t_{ref} = 5$ ms. Alone, a
# neuron would rest 10 mV below threshold. Brian2's and BrainPy's versions of the
# benchmark keep the network active with a constant bias
# $I_{ext} = 200$ pA $= 20\text{ mV} \times g_L$. This raises the resting point
# to $-40$ mV, above threshold, so every neuron would fire regularly if it were not
# for the inhibition it receives.
# The initial potentials are drawn from $\mathcal N(-55, 5^2)$ mV.
#
# `bs.neurons.LIF` integrates the equation with exponential Euler. Over one step the
# synaptic conductances are held fixed, so the equation is linear in $V$ and the update
# is exact:
#
# $$
# V(t+\Delta t) = V_\infty + \big(V(t) - V_\infty\big)\, e^{-\Delta t\, g_{tot}/C_m},
# \quad g_{tot} = g_L + \textstyle\sum_k g_k,
# \quad V_\infty = \frac{g_L V_{rest} + I_{ext} + \sum_k g_k E_k}{g_{tot}}.
# $$
#
# That costs one exponential per neuron and step, because $g_{tot}$ differs between
# neurons. The reference implementations of this benchmark (Brian2's, with
# `method='euler'`) use forward Euler, $V \leftarrow V + \Delta t\, \dot V$, which at
# $\Delta t = 0.1$ ms $\ll C_m/g_{tot}$ is accurate enough and about twice as fast on a
# CPU; `bs.models.coba` does the same, and so do we here.

# %%
n_e = round(0.8 * N)
n_i = N - n_e
lif = dict(
    tau_m=20.0,  # ms
    c_m=200.0,  # pF
    v_rest=-60.0,  # mV
    v_th=-50.0,  # mV
    v_reset=-60.0,  # mV
    t_ref=5.0,  # ms
    i_ext=200.0,  # pA
    v_init=bs.initializers.Normal(-55.0, 5.0),  # mV
    integrator=bs.integrators.Euler(),
)
pop_e = bs.neurons.LIF(n_e, **lif)
pop_i = bs.neurons.LIF(n_i, **lif)
print(pop_e)

# %% [markdown]
# ## 2. The synapse: an exponential conductance
#
# Each postsynaptic neuron has one conductance $g_e$ for its excitatory inputs and one,
# $g_i$, for its inhibitory inputs. Each spike arriving at a synapse of weight $w$ (nS)
# makes the conductance jump by $w$, and between spikes it decays exponentially:
#
# $$
# \frac{dg}{dt} = -\frac{g}{\tau_{syn}} + \sum_{k} w_k\, \delta(t - t_k),
# \qquad
# g(t + \Delta t) = g(t)\, e^{-\Delta t/\tau_{syn}} + \sum_{\text{arrivals}} w .
# $$
#
# The conductance drives the membrane towards the synapse's reversal potential $E$:
#
# $$
# I_{syn}(V) = g_e\,(E_e - V) + g_i\,(E_i - V).
# $$
#
# COBA's values are excitatory $w_e = 6$ nS, $\tau_e = 5$ ms, $E_e = 0$ mV and
# inhibitory $w_i = 67$ nS, $\tau_i = 10$ ms, $E_i = -80$ mV. In brainsim, the
# *kinetics* (`Exponential(tau)`) and the *output* (`Conductance(e_rev)`, which turns
# $g$ into a current) are separate pieces. With a `Conductance` output, the weight is in
# nS.

# %%
excitatory = dict(
    weight=6.0,  # nS
    synapse=bs.synapses.Exponential(tau=5.0),  # ms
    output=bs.synapses.Conductance(e_rev=0.0),  # mV
)
inhibitory = dict(
    weight=67.0,  # nS
    synapse=bs.synapses.Exponential(tau=10.0),  # ms
    output=bs.synapses.Conductance(e_rev=-80.0),  # mV
)

# %% [markdown]
# ## 3. Connectivity
#
# Every ordered pair of neurons is connected independently with probability $p$,
# without self-connections, for all four projections E→E, E→I, I→E and I→I. Each
# neuron then receives on average $p N$ synapses, 80 % of them from E and 20 % from
# I. The benchmark uses $p = 0.02$ at $N = 4000$, i.e. a mean in-degree of 80. As in
# `bs.models.coba`, we keep the **in-degree** at 80 when $N$ changes, so that a
# smaller network receives the same synaptic drive per neuron: $p = 80 / N$.
#
# `bs.conn.FixedProb(p)` is only a rule. `bs.Network` draws the synapses once, from
# the key it is given, and stores them as a CSR layout: for each presynaptic neuron,
# the list of its targets.

# %%
p = 80.0 / N
projections = [
    bs.Projection(
        pre,
        post,
        bs.conn.FixedProb(p, allow_self=False),
        **(excitatory if pre == "E" else inhibitory),
    )
    for pre in ("E", "I")
    for post in ("E", "I")
]
net = bs.Network({"E": pop_e, "I": pop_i}, projections, key=jax.random.key(SEED))

for proj in net.projections:
    n_post = net.populations[proj.post].size
    print(
        f"{proj.name}: {type(proj.conn).__name__}, {proj.conn.n_synapses} synapses, "
        f"mean in-degree {proj.conn.n_synapses / n_post:.1f}"
    )

# %% [markdown]
# Every piece of the network is now fixed, and it is the same network that
# `bs.models.coba` returns for the same size and key:

# %%
reference = bs.models.coba(N, key=jax.random.key(SEED))
assert eqx.tree_equal(net, reference), "hand-built network differs from bs.models.coba"
print("identical to bs.models.coba")

# %% [markdown]
# ## 4. State and simulation
#
# The network object holds only parameters and connectivity. Everything that changes
# over time (membrane potentials, refractory counters, conductances) lives in a separate
# **state** pytree, which `net.init` creates. `dt` is passed to `init` because it sets
# the size of the spike-delay buffers.
#
# `bs.simulate` repeats `state, spikes = net.step(state, t=t, dt=dt)` for
# `DURATION / DT` steps inside a compiled `jax.lax.scan`, and keeps the variables
# listed in `record`. Within each step, the spikes of the previous step arrive at the
# synapses, the conductances update, and then the neurons integrate and spike.

# %%
state = net.init(jax.random.key(SEED + 1), dt=DT)
state, rec = bs.simulate(
    net, state, duration=DURATION, dt=DT, record={"E": ["spikes"], "I": ["spikes"]}
)
print(rec)
print(
    f"compile {rec.compile_time:.2f} s, run {rec.run_time:.2f} s "
    f"for {DURATION:g} ms of biological time"
)

# %% [markdown]
# ## 5. Activity
#
# The **raster** shows each spike as a dot at (time, neuron). The **population rate**
# below it is the fraction of neurons that spike per unit time, smoothed over 5 ms.
# At $t = 0$, every neuron whose random initial potential is above threshold fires at
# once. After this short transient, the network fires irregularly and asynchronously,
# at about 20 Hz.

# %%
fig = bs.plot.raster(rec, max_neurons=400)
fig.axes[0].set_title(f"COBA, N = {N}")
plt.show()

# %% [markdown]
# Next, the population rates on their own, smoothed over 10 ms:

# %%
fig = bs.plot.rate(rec, window=10.0)
plt.show()

# %% [markdown]
# ## 6. Statistics
#
# The **firing rate** of a neuron is its number of spikes divided by the duration. The
# **coefficient of variation of the inter-spike intervals** (ISI CV) measures how
# regular its firing is:
#
# $$
# \mathrm{CV} = \frac{\operatorname{std}(\mathrm{ISI})}{\operatorname{mean}(\mathrm{ISI})}.
# $$
#
# A clock-like neuron has CV = 0, and a Poisson process has CV = 1. In the balanced
# regime, the ISI CV is about 1 or more: firing is as irregular as a Poisson process,
# or burstier, even though each neuron on its own is deterministic. Driven by its bias
# alone, a neuron would fire regularly, with CV = 0. CVs computed from only a few
# spikes (short runs) are noisy.

# %%
rate_e = bs.analysis.firing_rate(rec["E"]["spikes"], dt=DT)  # Hz, per neuron
rate_i = bs.analysis.firing_rate(rec["I"]["spikes"], dt=DT)
cv_e = bs.analysis.isi_cv(rec["E"]["spikes"], dt=DT)  # NaN for < 3 spikes
print(f"E rate: {rate_e.mean():.2f} Hz   I rate: {rate_i.mean():.2f} Hz")
print(f"ISI CV (E): {np.nanmean(cv_e):.2f} over {np.sum(~np.isnan(cv_e))} neurons")

# %% [markdown]
# ## 7. Membrane potentials
#
# To look inside the neurons, we continue the simulation from its final state for a
# little longer. This time we record the membrane potential `"v"` of three E neurons,
# with `bs.Record(variables, indices=...)`. We pass `t0` so that the time axis continues
# from where the first run stopped. The traces never cross $V_{th} = -50$ mV. The step in
# which a neuron spikes ends with its reset, so the recorded potential drops to
# $-60$ mV and stays there for the 5 ms refractory period.

# %%
more = min(DURATION, 200.0)
state, rec_v = bs.simulate(
    net,
    state,
    duration=more,
    dt=DT,
    t0=DURATION,
    record={"E": bs.Record(["v"], indices=[0, 1, 2])},
)
fig = bs.plot.traces(rec_v, "E", "v", neurons=(0, 1, 2))
ax = fig.axes[0]
ax.axhline(-50.0, color="k", ls="--", lw=0.8)  # threshold
ax.set_ylabel("V (mV)")
plt.show()

# %% [markdown]
# ## Where next
#
# - Change the inhibitory weight (67 nS) or the drive `i_ext` and watch the network
#   move from asynchronous firing to synchronous bursts, or fall silent.
# - `docs/concepts/init-step.md` shows how to write the loop yourself with `net.step`,
#   and how to take gradients through it.
# - `docs/concepts/event-driven.md` explains why a step costs (active neurons ×
#   fan-out), not (number of synapses).
