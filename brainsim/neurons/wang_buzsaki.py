import equinox as eqx
import jax.numpy as jnp

from ..initializers import AbstractInitializer
from ..integrators import RK4, AbstractIntegrator
from ..spikes import AbstractSpike, Heaviside
from ._conductance import AbstractHH, gate_steady_state, vtrap


class WangBuzsaki(AbstractHH):
    r"""Wang & Buzsáki (1996) fast-spiking hippocampal interneuron (J Neurosci 16:6402).

    $$c_m \frac{dV}{dt} = -\bar g_{Na} m_\infty^3(V) h (V - E_{Na})
    - \bar g_K n^4 (V - E_K) - g_L (V - E_L) + \frac{I_{ext} + I_{syn}(V)}{A}$$

    $m_\infty = \alpha_m/(\alpha_m + \beta_m)$ is instantaneous; $h$ and $n$ follow the
    gate equation with rates multiplied by $\phi = 5$. Rates (1/ms):
    $\alpha_m = 0.1 (V+35)/(1 - e^{-(V+35)/10})$, $\beta_m = 4 e^{-(V+60)/18}$,
    $\alpha_h = 0.07 e^{-(V+58)/20}$, $\beta_h = 1/(1 + e^{-(V+28)/10})$,
    $\alpha_n = 0.01 (V+34)/(1 - e^{-(V+34)/10})$, $\beta_n = 0.125 e^{-(V+44)/80}$.

    Parameters: $c_m$ = 1 µF/cm², $\bar g_{Na}$ = 35, $\bar g_K$ = 9, $g_L$ = 0.1 mS/cm²,
    $E_{Na}$ = 55, $E_K$ = −90, $E_L$ = −65 mV. Default area 10⁴ µm² (1 µA/cm² =
    100 pA). No reset: a spike is an upward crossing of ``v_th`` (mV). Default
    integrator: RK4, stable at dt <= 0.1 ms. Exponential Euler is not suitable here:
    the instantaneous $m_\infty(V)^3$ makes the membrane's own linearisation positive
    during the upstroke, and the spike overshoots past $E_{Na}$ at dt = 0.1 ms.
    """

    gates = ("h", "n")

    size: int = eqx.field(static=True)
    c_m: float | jnp.ndarray = 1.0
    area: float | jnp.ndarray = 1e4
    g_na: float | jnp.ndarray = 35.0
    g_k: float | jnp.ndarray = 9.0
    g_l: float | jnp.ndarray = 0.1
    e_na: float | jnp.ndarray = 55.0
    e_k: float | jnp.ndarray = -90.0
    e_l: float | jnp.ndarray = -65.0
    phi: float | jnp.ndarray = 5.0
    v_th: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer = -65.0
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = RK4()

    def __check_init__(self):
        self.check_common("WangBuzsaki", ("g_na", "g_k", "g_l"), ("e_na", "e_k", "e_l"))

    def _m_rates(self, v):
        return 0.1 * vtrap(v + 35.0, 10.0), 4.0 * jnp.exp(-(v + 60.0) / 18.0)

    def rates(self, v):
        return {
            "h": (
                self.phi * 0.07 * jnp.exp(-(v + 58.0) / 20.0),
                self.phi / (1.0 + jnp.exp(-(v + 28.0) / 10.0)),
            ),
            "n": (
                self.phi * 0.01 * vtrap(v + 34.0, 10.0),
                self.phi * 0.125 * jnp.exp(-(v + 44.0) / 80.0),
            ),
        }

    def instantaneous(self, v):
        return {"m": gate_steady_state(*self._m_rates(v))}

    def ionic_current(self, v, x):
        i_na = self.g_na * x["m"] ** 3 * x["h"] * (self.e_na - v)
        i_k = self.g_k * x["n"] ** 4 * (self.e_k - v)
        return i_na + i_k + self.g_l * (self.e_l - v)
