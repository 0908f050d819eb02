"""Brunel (2000) model A: a sparse network of excitatory and inhibitory LIF neurons with
delta synapses, a transmission delay and external Poisson drive.

Brunel N (2000) Dynamics of sparsely connected networks of excitatory and inhibitory
spiking neurons. J Comput Neurosci 8:183–208.
"""

from .._checks import check_positive, check_prob, check_size
from ..conn import FixedInDegree, OneToOne
from ..initializers import Uniform
from ..network import Network, Projection
from ..neurons import LIF, PoissonCounts
from ..synapses import Delta, VoltageJump

#: (g, eta = nu_ext / nu_thr) of the four states of Brunel (2000), Fig. 8 A–D.
STATES = {
    "SR": (3.0, 2.0),  # A: synchronous regular
    "SI_fast": (6.0, 4.0),  # B: synchronous irregular, fast oscillation
    "AI": (5.0, 2.0),  # C: asynchronous irregular
    "SI_slow": (4.5, 0.9),  # D: synchronous irregular, slow oscillation
}


def brunel2000(
    n_e: int = 10000,
    *,
    key,
    g: float = 5.0,
    eta: float = 2.0,
    epsilon: float = 0.1,
    j: float = 0.1,
    delay: float = 1.5,
    capacity: int | None = None,
) -> Network:
    r"""Brunel (2000) model A, populations "E" (``n_e``) and "I" (``n_e // 4``).

    LIF neurons: $\tau \dot V = -V + R I$, threshold θ = 20 mV, reset V_r = 10 mV,
    τ = 20 ms, refractory τ_rp = 2 ms (V_rest = 0), initial V ~ U(0, 20) mV. Each neuron
    receives exactly C_E = ε N_E excitatory and C_I = ε N_I inhibitory synapses (no
    self-connections): delta synapses of J (mV) and −gJ, delay D = ``delay`` ms. External
    drive: C_E independent Poisson inputs of rate ν_ext = η ν_thr per neuron, each of
    weight J, with ν_thr = θ / (J C_E τ) (populations "ext_E", "ext_I" of Poisson counts,
    one channel per neuron). ``STATES`` gives (g, η) of the SR, SI-fast, AI and SI-slow
    states of the paper's Fig. 8 (with N_E = 10 000, ε = 0.1, J = 0.1 mV, D = 1.5 ms).
    Input arriving during the refractory period is lost (V is clamped at V_r), as in
    NEST's ``iaf_psc_delta``; a spike sent at step n arrives at step n + D/dt.

    At the paper's size the AI state (g = 5, η = 2) fires at the mean-field rate (≈ 38 Hz)
    with a mean ISI CV ≈ 0.39 and a visible fast population oscillation (~100–130 Hz), as
    NEST's ``iaf_psc_delta`` network gives (tests/references/brunel_nest.json). The CV of
    ≈ 0.7 of the diffusion approximation holds for a neuron with uncorrelated input of the
    same mean and variance, not for this finite network with its collective oscillation.
    """
    check_size("brunel2000: n_e", n_e)
    check_prob("brunel2000: epsilon", epsilon)
    check_positive("brunel2000: g", g)
    check_positive("brunel2000: eta", eta)
    check_positive("brunel2000: j", j, "mV")
    n_i = max(1, n_e // 4)
    c_e, c_i = max(1, round(epsilon * n_e)), max(1, round(epsilon * n_i))
    theta, tau = 20.0, 20.0
    nu_thr = theta / (j * c_e * tau) * 1e3  # Hz
    ext_rate = c_e * eta * nu_thr
    neuron = lambda n: LIF(
        n,
        tau_m=tau,
        c_m=250.0,
        v_rest=0.0,
        v_th=theta,
        v_reset=10.0,
        t_ref=2.0,
        v_init=Uniform(0.0, theta),
    )
    syn = dict(synapse=Delta(), output=VoltageJump(), capacity=capacity)
    projections = [
        Projection(pre, post, FixedInDegree(k, allow_self=False), weight=w, delay=delay, **syn)
        for pre, k, w in (("E", c_e, j), ("I", c_i, -g * j))
        for post in ("E", "I")
    ]
    projections += [
        Projection(f"ext_{p}", p, OneToOne(), weight=j, synapse=Delta(), output=VoltageJump())
        for p in ("E", "I")
    ]
    pops = {
        "E": neuron(n_e),
        "I": neuron(n_i),
        "ext_E": PoissonCounts(n_e, ext_rate),
        "ext_I": PoissonCounts(n_i, ext_rate),
    }
    return Network(pops, projections, key=key)
