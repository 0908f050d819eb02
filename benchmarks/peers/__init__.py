"""Peer-simulator runners for the Brette et al. (2007) COBA, CUBA and COBAHH benchmarks
and two non-LIF networks on COBA's connectivity (AdEx COBA, Izhikevich).

Each runner module (``brian2_runner``, ``brainpy_runner``, ``nest_runner``) exposes::

    run(model, n, duration_ms=1000.0, dt_ms=0.1, seed=0, **opts) -> dict

and imports its simulator only inside ``run``, so this package imports without
Brian2 or NEST installed. The returned dict has the keys ``RESULT_KEYS``.

Network specification shared by all runners (and by brainsim's own version):

* N = n neurons; the first ``n_exc(n) = 0.8 n`` are excitatory (E), the rest
  inhibitory (I).
* Every ordered pair (pre, post) with pre != post is connected independently with
  probability p = 80 / n, for all four projections (mean in-degree 64 E + 16 I).
  No delay beyond the minimum (Brian2: none; NEST: one time step).
* LIF, C_m = 200 pF, g_L = 10 nS (tau_m = 20 ms), V_th = -50 mV, V_reset = -60 mV,
  refractory 5 ms with V clamped at V_reset, dt = 0.1 ms.
* COBA: E_L = -60 mV, E_exc = 0 mV, E_inh = -80 mV, exponential conductances
  tau_exc = 5 ms, tau_inh = 10 ms, jumps 6 nS / 67 nS, I_ext = 200 pA;
  V(0) ~ Normal(-55 mV, 5 mV).
* CUBA: E_L = -49 mV, no drive, exponential currents tau_exc = 5 ms,
  tau_inh = 10 ms, jumps 16.2 pA / -90 pA (= 1.62 mV / -9 mV times g_L);
  V(0) ~ Uniform(V_reset, V_th).
* Synaptic variables start at 0.
* COBAHH (benchmark 3, in the form of Brian2's ``COBAHH`` example): Traub–Miles
  Hodgkin–Huxley neurons (``COBAHH`` below: area 20 000 µm², so C_m = 200 pF,
  g_Na = 20 µS, g_K = 6 µS, g_L = 10 nS, E_Na = 50, E_K = -90, E_L = -60, V_T = -63 mV),
  no external drive; a spike is V crossing -20 mV, with 3 ms refractoriness (of the
  spike detection only: there is no reset). Exponential conductances as COBA
  (6 nS / 67 nS, 5 / 10 ms, 0 / -80 mV). V(0) ~ Normal(-65 mV, 5 mV), gating variables
  m = h = n = 0, g_exc(0) ~ Normal(40, 15) nS, g_inh(0) ~ Normal(200, 120) nS.
  With u = V - V_T (mV), rates in 1/ms:
  alpha_m = 0.32 (13 - u) / (exp((13 - u)/4) - 1), beta_m = 0.28 (u - 40) / (exp((u - 40)/5) - 1),
  alpha_h = 0.128 exp((17 - u)/18), beta_h = 4 / (1 + exp((40 - u)/5)),
  alpha_n = 0.032 (15 - u) / (exp((15 - u)/5) - 1), beta_n = 0.5 exp((10 - u)/40).
* ADEX (AdEx COBA): COBA's connectivity, synapses and 200 pA drive with adaptive
  exponential integrate-and-fire neurons (Brette & Gerstner 2005; ``ADEX`` below):
  C_m dV/dt = g_L (E_L - V) + g_L Delta_T exp((V - V_T)/Delta_T) - w + I_syn + I_ext,
  tau_w dw/dt = a (V - E_L) - w; spike when V > V_peak: V = V_reset (clamped for
  t_ref, w keeps evolving), w += b. V(0) ~ Normal(-55 mV, 5 mV), w(0) = 0. NEST:
  ``aeif_cond_exp`` (adaptive RKF45); Brian2 and brainsim: forward Euler.
* IZHIKEVICH: COBA's connectivity with Izhikevich (2003) neurons, regular spiking (E)
  and fast spiking (I): dv/dt = 0.04 v^2 + 5 v + 140 - u + I_ext, du/dt = a (b v - u);
  spike when v >= 30 mV: v = c, u += d; no refractoriness; delta synapses, a spike
  adds w_exc / w_inh (mV) to v one step later; constant I_ext; v(0) ~ Normal(-65, 5)
  mV, u(0) = b v(0). Forward Euler in all three (NEST ``izhikevich``,
  ``consistent_integration=True``).
"""

import numpy as np

MODELS = ("coba", "cuba", "cobahh", "adex", "izhikevich")

RESULT_KEYS = (
    "simulator",
    "version",
    "model",
    "n",
    "seed",
    "build_s",
    "run_s",
    "rate_E_hz",
    "rate_I_hz",
    "cv_isi_E",
    "n_spikes",
)

# Shared parameters (units: mV, ms, pF, nS, pA).
C_M = 200.0
G_L = 10.0
TAU_M = C_M / G_L
V_TH = -50.0
V_RESET = -60.0
T_REF = 5.0
TAU_EXC = 5.0
TAU_INH = 10.0
COBA = dict(E_L=-60.0, E_exc=0.0, E_inh=-80.0, dg_exc=6.0, dg_inh=67.0, I_ext=200.0)
CUBA = dict(E_L=-49.0, w_exc=16.2, w_inh=-90.0)  # pA; /G_L gives 1.62 mV, -9 mV
COBAHH = dict(
    C_m=200.0,
    g_Na=20000.0,
    g_K=6000.0,
    g_L=10.0,
    E_Na=50.0,
    E_K=-90.0,
    E_L=-60.0,
    V_T=-63.0,
    V_spike=-20.0,
    t_ref=3.0,
    E_exc=0.0,
    E_inh=-80.0,
    dg_exc=6.0,
    dg_inh=67.0,
    V0=(-65.0, 5.0),  # mean, sd (mV)
    g_exc0=(40.0, 15.0),  # mean, sd (nS)
    g_inh0=(200.0, 120.0),
)
ADEX = dict(
    C_m=C_M,
    g_L=G_L,
    E_L=-60.0,
    V_T=-50.0,
    Delta_T=2.0,
    V_peak=-40.0,
    t_ref=T_REF,
    a=2.0,  # nS
    b=40.0,  # pA
    tau_w=150.0,
    V0=(-55.0, 5.0),
)
IZHIKEVICH = dict(
    E=(0.02, 0.2, -65.0, 8.0),  # a (1/ms), b (1/ms), c (mV), d (mV/ms): regular spiking
    I=(0.1, 0.2, -65.0, 2.0),  # fast spiking
    V_peak=30.0,
    I_ext=5.0,  # mV/ms (NEST's I_e in pA with C_m = 1)
    w_exc=0.5,  # mV
    w_inh=-2.0,
    V0=(-65.0, 5.0),
)


def n_exc(n: int) -> int:
    """Number of excitatory neurons (the first ones)."""
    return int(round(0.8 * n))


def conn_prob(n: int) -> float:
    """Connection probability giving a mean in-degree of 80."""
    return 80.0 / n


def spike_stats(senders, times_ms, n: int, duration_ms: float) -> dict:
    """Rates and ISI CV from a spike list.

    ``senders`` are 0-based neuron indices, ``times_ms`` spike times in ms.
    Rates are averaged over all neurons of each population (silent ones included);
    ``cv_isi_E`` is the mean over E neurons with >= 3 spikes of std(ISI)/mean(ISI)
    (NaN if there are none).
    """
    senders = np.asarray(senders, dtype=np.int64)
    times_ms = np.asarray(times_ms, dtype=np.float64)
    ne = n_exc(n)
    t_s = duration_ms / 1000.0
    is_e = senders < ne
    order = np.lexsort((times_ms, senders))
    s, t = senders[order], times_ms[order]
    counts = np.bincount(s, minlength=n)
    cvs = []
    starts = np.concatenate(([0], np.cumsum(counts)))
    for k in np.nonzero(counts[:ne] >= 3)[0]:
        isi = np.diff(t[starts[k] : starts[k + 1]])
        cvs.append(isi.std() / isi.mean())
    return {
        "rate_E_hz": float(is_e.sum() / (ne * t_s)),
        "rate_I_hz": float((~is_e).sum() / ((n - ne) * t_s)),
        "cv_isi_E": float(np.mean(cvs)) if cvs else float("nan"),
        "n_spikes": int(len(senders)),
    }


def check_model(model: str) -> str:
    model = model.lower()
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    return model
