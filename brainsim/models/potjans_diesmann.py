"""The Potjans & Diesmann (2014) cortical microcircuit.

Potjans TC, Diesmann M (2014) The cell-type specific cortical microcircuit: relating
structure and activity in a full-scale spiking network model. Cereb Cortex 24:785–806.
Parameters as in NEST's PyNEST microcircuit example (``network_params.py``, which lists
the published tables).
"""

import math

import numpy as np

from .._checks import check_positive
from ..conn import FixedTotalNumber, NormalDelay, NormalWeights, OneToOne
from ..initializers import Normal
from ..network import Network, Projection
from ..neurons import LIF, PoissonCounts
from ..synapses import Current, Exponential

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
#: Full-scale population sizes (77 169 neurons).
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
#: Connection probabilities, ``CONN_PROBS[target, source]`` (Potjans & Diesmann 2014,
#: Table 5).
CONN_PROBS = np.array(
    [
        [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
        [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
        [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
        [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
        [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
        [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
        [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
        [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
    ]
)
#: External (background) in-degrees.
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
#: Firing rates (Hz) of the full-scale model as reported by NEST's example
#: (``full_mean_rates``; cf. Potjans & Diesmann 2014 Fig. 6), used for the DC
#: compensation of scaled in-degrees and as the reference in tests and benchmarks.
FULL_MEAN_RATES = np.array([0.971, 2.868, 4.746, 5.396, 8.142, 9.078, 0.991, 7.523])

C_M, TAU_M, TAU_SYN, T_REF = 250.0, 10.0, 0.5, 2.0  # pF, ms, ms, ms
E_L, V_TH, V_RESET = -65.0, -50.0, -65.0  # mV
PSP_E, PSP_REL_SD, G, BG_RATE = 0.15, 0.1, -4.0, 8.0  # mV, 1, 1, Hz
DELAY_E, DELAY_I, DELAY_REL_SD = 1.5, 0.75, 0.5  # ms, ms, 1


def psc_from_psp(psp: float) -> float:
    """PSC amplitude (pA) of an exponential current giving a PSP peak of ``psp`` mV in an
    iaf_psc_exp membrane (87.8 pA for 0.15 mV)."""
    tm, ts = TAU_M, TAU_SYN
    ratio = tm / ts
    peak = tm * ts / (C_M * (ts - tm)) * (ratio ** (-tm / (tm - ts)) - ratio ** (-ts / (tm - ts)))
    return psp / peak


def in_degrees() -> np.ndarray:
    """Full-scale in-degrees ``K[target, source]``: the synapse count of Potjans &
    Diesmann's eq. (random pairs with multapses), N = log(1-p)/log(1 - 1/(N_t N_s)),
    divided by the target size."""
    prod = np.outer(N_FULL, N_FULL).astype(float)
    with np.errstate(divide="ignore"):
        total = np.log1p(-CONN_PROBS) / np.log1p(-1.0 / prod)
    return total / N_FULL[:, None]


def mean_weights() -> np.ndarray:
    """Mean PSC amplitudes ``W[target, source]`` (pA): 87.8 from E, −4 × 87.8 from I, and
    L4E → L2/3E doubled."""
    w = psc_from_psp(PSP_E)
    out = np.tile(np.where(np.arange(8) % 2 == 0, w, G * w), (8, 1))
    out[0, 2] *= 2
    return out


def potjans_diesmann(
    scale: float = 1.0,
    *,
    key,
    k_scale: float = 1.0,
    poisson: bool = True,
    rel_std_delay: float = DELAY_REL_SD,
    dt: float = 0.1,
    capacity: int | None = None,
    network=Network,
) -> Network:
    r"""The 8-population microcircuit (L2/3, L4, L5, L6 × E, I), ``scale`` × 77 169 neurons.

    Neurons: iaf_psc_exp parameters (C = 250 pF, τ_m = 10 ms, τ_syn = 0.5 ms,
    t_ref = 2 ms, E_L = V_reset = −65 mV, V_th = −50 mV), initial V ~ N(−58, 10) mV.
    Connectivity: for each pair of populations a fixed total number ``k_scale`` × K ×
    N_target of random synapses (K from ``in_degrees``; multapses allowed, no autapses),
    ``bs.conn.FixedTotalNumber`` with per-synapse weights and delays drawn straight into
    the final arrays (9 bytes per synapse).
    Weights: normal around ``mean_weights`` with 10 % relative sd (sign kept), divided by
    √``k_scale``; the input lost by scaling in-degrees is restored by a DC current
    $I = 10^{-3}\,\tau_{syn}(1-\sqrt{k})\sum_s W K \nu_s^{full}$ (van Albada et al. 2015,
    as NEST's example does). Delays: per synapse, normal with mean 1.5 ms (E) / 0.75 ms
    (I) and relative sd ``rel_std_delay`` (0.5 published; 0 gives homogeneous delays),
    rounded to ``dt`` (the step the network is built for). Background: Poisson input of
    k × K_ext × 8 Hz per neuron with the excitatory weight (``poisson=True``) or its mean
    as a DC current (``poisson=False``).

    Discretisation: ``bs.synapses.Exponential`` passes each step's mean current to the
    membrane, so a spike delivers the exact charge $w\,\tau_{syn}$ of NEST's
    iaf_psc_exp; the weights are the published PSC amplitudes (no correction factor).

    ``network``: what builds the network from its populations, projections and ``key``
    (default ``bs.Network``; ``bs.distributed.network``: each process of a multi-process
    run builds only the synapses onto its own neurons).
    """
    check_positive("potjans_diesmann: scale", scale)
    check_positive("potjans_diesmann: k_scale", k_scale)
    if k_scale > 1:
        raise ValueError(f"k_scale must be in (0, 1], got {k_scale:g}")
    sizes = np.maximum(1, (N_FULL * scale).astype(int))
    k_full, w_mean = in_degrees(), mean_weights()
    w_ext = psc_from_psp(PSP_E)
    sq = math.sqrt(k_scale)
    dc = 1e-3 * TAU_SYN * (1 - sq) * (w_mean * k_full * FULL_MEAN_RATES).sum(axis=1)
    if poisson:
        dc += 1e-3 * TAU_SYN * (1 - sq) * w_ext * K_EXT * BG_RATE
    else:
        dc += 1e-3 * TAU_SYN * w_ext * K_EXT * BG_RATE
    pops, projections = {}, []
    for t, name in enumerate(POPULATIONS):
        pops[name] = LIF(
            int(sizes[t]),
            tau_m=TAU_M,
            c_m=C_M,
            v_rest=E_L,
            v_th=V_TH,
            v_reset=V_RESET,
            t_ref=T_REF,
            i_ext=float(dc[t]),
            v_init=Normal(-58.0, 10.0),
        )
        for s, src in enumerate(POPULATIONS):
            n_syn = int(round(k_full[t, s] * k_scale * sizes[t]))
            if n_syn == 0:
                continue
            w = float(w_mean[t, s] / sq)
            mean_d = DELAY_E if s % 2 == 0 else DELAY_I
            conn = FixedTotalNumber(
                n_syn,
                allow_self=s != t,
                weights=NormalWeights(w, PSP_REL_SD * abs(w), keep_sign=True),
                delays=NormalDelay(mean_d, rel_std_delay * mean_d, dt) if rel_std_delay else None,
            )
            projections.append(
                Projection(
                    src,
                    name,
                    conn,
                    weight=None,
                    synapse=Exponential(TAU_SYN),
                    output=Current(),
                    capacity=capacity,
                    delay=None if rel_std_delay else round(mean_d / dt) * dt,
                )
            )
        if poisson:
            pops[f"bg_{name}"] = PoissonCounts(int(sizes[t]), k_scale * K_EXT[t] * BG_RATE)
            projections.append(
                Projection(
                    f"bg_{name}",
                    name,
                    OneToOne(),
                    weight=w_ext / sq,
                    synapse=Exponential(TAU_SYN),
                    output=Current(),
                )
            )
    return network(pops, projections, key=key)
