"""NEST runner for the COBA / CUBA / COBAHH benchmarks (spec in ``benchmarks.peers``).

COBA uses ``iaf_cond_exp`` (NEST integrates it with adaptive RKF45 from GSL)::

    C_m dV/dt = g_L (E_L - V) + g_ex (E_ex - V) + g_in (E_in - V) + I_e   [mV, pF, nS, pA]
    dg_ex/dt = -g_ex / tau_syn_ex,  dg_in/dt = -g_in / tau_syn_in          [nS]
    weights: +6 nS from E, -67 nS from I (the sign selects the inhibitory channel)

CUBA uses ``iaf_psc_exp`` (exact integration)::

    C_m dV/dt = -(C_m / tau_m) (V - E_L) + I_ex + I_in                     [mV, pF, pA]
    dI_x/dt = -I_x / tau_syn_x
    weights: +16.2 pA from E, -90 pA from I

COBAHH uses ``hh_cond_exp_traub`` (adaptive RKF45 from GSL): the same equations, rate
functions and parameters as Brian2's COBAHH example (checked against NEST's source),
but (i) a spike is a local maximum of V above V_T + 30 = -33 mV (Brian2: V > -20 mV),
so it is emitted at the peak, a fraction of a millisecond later; here NEST's
``t_ref`` (spike-detection dead time, default 2 ms) is set to Brian2's 3 ms;
(ii) its synaptic conductances cannot be set as state, so their random initial values
(spec) arrive as one input spike per neuron from a ``spike_generator`` at
t = 2 dt, with weights drawn per neuron (truncated at 0: a conductance weight's sign
selects the channel, so the ~5 % of Brian2's g_inh(0) draws below zero become 0).

AdEx COBA uses ``aeif_cond_exp`` (adaptive RKF45 from GSL) with COBA's synapses, ``V_th``
= V_T and spike detection at ``V_peak``. Izhikevich uses ``izhikevich`` (forward Euler,
``consistent_integration=True``): a spike's weight (mV) is added to V; ``U_m`` is set to
b V_m after V_m is drawn.

Spike at V >= V_th, then V = V_reset clamped for t_ref = 5 ms (COBA, CUBA). All delays are one
time step (NEST's minimum). Connectivity: ``pairwise_bernoulli`` with p = 80/n and
``allow_autapses=False``, E->all and I->all.

Options: ``threads=k`` (``local_num_threads``; the drawn network depends on it).
NEST's ``rng_seed`` must be positive, so seed s is passed as ``rng_seed = s + 1``.

Timings: ``build_s`` covers ResetKernel, Create, Connect and ``nest.Prepare()``;
``run_s`` is ``nest.Run(duration)`` only.
"""

import os
import time

import numpy as np

from . import (
    ADEX,
    C_M,
    COBA,
    COBAHH,
    CUBA,
    G_L,
    IZHIKEVICH,
    T_REF,
    TAU_EXC,
    TAU_INH,
    TAU_M,
    V_RESET,
    V_TH,
    check_model,
    conn_prob,
    n_exc,
    spike_stats,
)


def run(
    model: str,
    n: int,
    duration_ms: float = 1000.0,
    dt_ms: float = 0.1,
    seed: int = 0,
    *,
    threads: int = 1,
    stdp: dict | None = None,
) -> dict:
    """``stdp`` (COBA only): ``stdp_synapse`` on every E->E connection, ``dict(A_plus,
    A_minus, tau_plus, tau_minus, w_max)`` (nS, ms): additive (``mu_plus = mu_minus = 0``),
    ``lambda = A_plus / w_max``, ``alpha = A_minus / A_plus``, the neurons' ``tau_minus``."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    model = check_model(model)
    if stdp is not None and model != "coba":
        raise ValueError(f"stdp: COBA only, got model {model!r}")
    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus(
        {
            "resolution": dt_ms,
            "local_num_threads": int(threads),
            "rng_seed": int(seed) + 1,
            "print_time": False,
        }
    )
    common = dict(
        C_m=C_M, V_th=V_TH, V_reset=V_RESET, t_ref=T_REF, tau_syn_ex=TAU_EXC, tau_syn_in=TAU_INH
    )
    if model == "cobahh":
        p = COBAHH
        neurons = nest.Create(
            "hh_cond_exp_traub",
            n,
            params={k: p[k] for k in ("C_m", "g_Na", "g_K", "g_L", "E_Na", "E_K", "E_L", "V_T")}
            | dict(
                t_ref=p["t_ref"],
                E_ex=p["E_exc"],
                E_in=p["E_inh"],
                tau_syn_ex=TAU_EXC,
                tau_syn_in=TAU_INH,
                I_e=0.0,
                Act_m=0.0,
                Inact_h=0.0,
                Act_n=0.0,
            ),
        )
        neurons.V_m = nest.random.normal(mean=p["V0"][0], std=p["V0"][1])
        w_exc, w_inh = p["dg_exc"], -p["dg_inh"]
        kick = nest.Create("spike_generator", params={"spike_times": [dt_ms]})
        for sign, (mean, sd) in ((1.0, p["g_exc0"]), (-1.0, p["g_inh0"])):
            w = nest.math.max(nest.random.normal(mean=mean, std=sd), 1e-9)
            nest.Connect(kick, neurons, "all_to_all", {"weight": sign * w, "delay": dt_ms})
    elif model == "coba":
        neurons = nest.Create(
            "iaf_cond_exp",
            n,
            params=dict(
                common,
                g_L=G_L,
                E_L=COBA["E_L"],
                E_ex=COBA["E_exc"],
                E_in=COBA["E_inh"],
                I_e=COBA["I_ext"],
                g_ex=0.0,
                g_in=0.0,
            ),
        )
        neurons.V_m = nest.random.normal(mean=-55.0, std=5.0)
        w_exc, w_inh = COBA["dg_exc"], -COBA["dg_inh"]
    elif model == "adex":
        neurons, w_exc, w_inh = _adex(nest, n)
    elif model == "izhikevich":
        neurons, w_exc, w_inh = _izhikevich(nest, n)
    else:
        neurons = nest.Create(
            "iaf_psc_exp", n, params=dict(common, tau_m=TAU_M, E_L=CUBA["E_L"], I_e=0.0)
        )
        neurons.V_m = nest.random.uniform(min=V_RESET, max=V_TH)
        w_exc, w_inh = CUBA["w_exc"], CUBA["w_inh"]

    ne = n_exc(n)
    conn = {"rule": "pairwise_bernoulli", "p": conn_prob(n), "allow_autapses": False}
    if stdp is None:
        nest.Connect(neurons[:ne], neurons, conn, {"weight": w_exc, "delay": dt_ms})
    else:
        neurons.tau_minus = stdp["tau_minus"]
        plastic = dict(
            synapse_model="stdp_synapse",
            weight=w_exc,
            delay=dt_ms,
            Wmax=stdp["w_max"],
            tau_plus=stdp["tau_plus"],
            alpha=stdp["A_minus"] / stdp["A_plus"],
            mu_plus=0.0,
            mu_minus=0.0,
            **{"lambda": stdp["A_plus"] / stdp["w_max"]},
        )
        nest.Connect(neurons[:ne], neurons[:ne], conn, plastic)
        nest.Connect(neurons[:ne], neurons[ne:], conn, {"weight": w_exc, "delay": dt_ms})
    nest.Connect(neurons[ne:], neurons, conn, {"weight": w_inh, "delay": dt_ms})
    rec = nest.Create("spike_recorder")
    nest.Connect(neurons, rec)
    nest.Prepare()
    t1 = time.perf_counter()
    nest.Run(duration_ms)
    t2 = time.perf_counter()
    nest.Cleanup()

    ev = rec.get("events")
    first_id = neurons[0].global_id
    out = {
        "simulator": "nest" + (f"-{threads}threads" if threads != 1 else ""),
        "version": nest.__version__,
        "model": model,
        "n": n,
        "seed": seed,
        "build_s": t1 - t0,
        "run_s": t2 - t1,
    }
    out.update(spike_stats(ev["senders"] - first_id, ev["times"], n, duration_ms))
    return out


def _adex(nest, n: int):
    """The AdEx COBA neurons (``aeif_cond_exp``) and the E / I weights (nS)."""
    p = ADEX
    params = dict(
        C_m=p["C_m"],
        g_L=p["g_L"],
        E_L=p["E_L"],
        V_th=p["V_T"],
        Delta_T=p["Delta_T"],
        V_peak=p["V_peak"],
        V_reset=V_RESET,
        t_ref=p["t_ref"],
        a=p["a"],
        b=p["b"],
        tau_w=p["tau_w"],
        E_ex=COBA["E_exc"],
        E_in=COBA["E_inh"],
        tau_syn_ex=TAU_EXC,
        tau_syn_in=TAU_INH,
        I_e=COBA["I_ext"],
        g_ex=0.0,
        g_in=0.0,
        w=0.0,
    )
    neurons = nest.Create("aeif_cond_exp", n, params=params)
    neurons.V_m = nest.random.normal(mean=p["V0"][0], std=p["V0"][1])
    return neurons, COBA["dg_exc"], -COBA["dg_inh"]


def _izhikevich(nest, n: int):
    """The Izhikevich network's neurons (``izhikevich``, E then I) and weights (mV)."""
    p, ne = IZHIKEVICH, n_exc(n)
    groups = []
    for size, (a, b, c, d) in ((ne, p["E"]), (n - ne, p["I"])):
        params = dict(a=a, b=b, c=c, d=d, I_e=p["I_ext"], V_th=p["V_peak"])
        group = nest.Create("izhikevich", size, params=dict(params, consistent_integration=True))
        group.V_m = nest.random.normal(mean=p["V0"][0], std=p["V0"][1])
        group.U_m = list(b * np.atleast_1d(group.get("V_m")))
        groups.append(group)
    return groups[0] + groups[1], p["w_exc"], p["w_inh"]
