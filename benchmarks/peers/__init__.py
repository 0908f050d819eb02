"""Peer-simulator runners for the Brette et al. (2007) COBA and CUBA benchmarks.

Each runner module (``brian2_runner``, ``nest_runner``) exposes::

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
"""

import numpy as np

MODELS = ("coba", "cuba")

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
