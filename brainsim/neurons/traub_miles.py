import equinox as eqx
import jax.numpy as jnp

from ..initializers import AbstractInitializer
from ..integrators import ETDRK4, AbstractIntegrator
from ..spikes import AbstractSpike, Heaviside
from ._conductance import AbstractHH, vtrap


class TraubMiles(AbstractHH):
    r"""Hodgkin–Huxley neuron with Traub & Miles (1991) kinetics, the neuron of the
    COBAHH benchmark (Brette et al. 2007, benchmark 3; NEST ``hh_cond_exp_traub``).

    $$c_m \frac{dV}{dt} = -\bar g_{Na} m^3 h (V - E_{Na}) - \bar g_K n^4 (V - E_K)
    - g_L (V - E_L) + \frac{I_{ext} + I_{syn}(V)}{A}$$

    with $u = V - V_T$ (mV) and rates in 1/ms:
    $\alpha_m = 0.32 (13 - u)/(e^{(13-u)/4} - 1)$, $\beta_m = 0.28 (u - 40)/(e^{(u-40)/5} - 1)$,
    $\alpha_h = 0.128 e^{(17-u)/18}$, $\beta_h = 4/(1 + e^{(40-u)/5})$,
    $\alpha_n = 0.032 (15 - u)/(e^{(15-u)/5} - 1)$, $\beta_n = 0.5 e^{(10-u)/40}$.

    Parameters (REFERENCES §1): area 20 000 µm², $c_m$ = 1 µF/cm² (C = 200 pF),
    $\bar g_{Na}$ = 100, $\bar g_K$ = 30, $g_L$ = 0.05 mS/cm² (20 µS, 6 µS, 10 nS),
    $E_{Na}$ = 50, $E_K$ = −90, $E_L$ = −60, $V_T$ = −63 mV. No reset: a spike is an
    upward crossing of ``v_th`` (default −20 mV, Brian2's COBAHH threshold). Default
    integrator: ``ETDRK4`` (see ``_conductance``; ``bs.models.cobahh`` uses
    exponential Euler, as Brian2's example).
    """

    size: int = eqx.field(static=True)
    c_m: float | jnp.ndarray = 1.0
    area: float | jnp.ndarray = 20000.0
    g_na: float | jnp.ndarray = 100.0
    g_k: float | jnp.ndarray = 30.0
    g_l: float | jnp.ndarray = 0.05
    e_na: float | jnp.ndarray = 50.0
    e_k: float | jnp.ndarray = -90.0
    e_l: float | jnp.ndarray = -60.0
    v_t: float | jnp.ndarray = -63.0
    v_th: float | jnp.ndarray = -20.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer = -60.0
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = ETDRK4()

    def __check_init__(self):
        self.check_common("TraubMiles", ("g_na", "g_k", "g_l"), ("e_na", "e_k", "e_l", "v_t"))

    def rates(self, v):
        u = v - self.v_t
        return {
            "m": (0.32 * vtrap(u - 13.0, 4.0), 0.28 * vtrap(40.0 - u, 5.0)),
            "h": (0.128 * jnp.exp((17.0 - u) / 18.0), 4.0 / (1.0 + jnp.exp((40.0 - u) / 5.0))),
            "n": (0.032 * vtrap(u - 15.0, 5.0), 0.5 * jnp.exp((10.0 - u) / 40.0)),
        }

    def ionic_current(self, v, x):
        i_na = self.g_na * x["m"] ** 3 * x["h"] * (self.e_na - v)
        i_k = self.g_k * x["n"] ** 4 * (self.e_k - v)
        return i_na + i_k + self.g_l * (self.e_l - v)
