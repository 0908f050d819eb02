import equinox as eqx
import jax.numpy as jnp

from .._checks import check_finite
from ..initializers import AbstractInitializer
from ..integrators import ETDRK4, AbstractIntegrator
from ..spikes import AbstractSpike, Heaviside
from ._conductance import AbstractHH, vtrap


class HH(AbstractHH):
    r"""The Hodgkin–Huxley (1952) squid giant axon, in the modern sign convention
    (rest ≈ −65 mV).

    $$c_m \frac{dV}{dt} = -\bar g_{Na} m^3 h (V - E_{Na}) - \bar g_K n^4 (V - E_K)
    - g_L (V - E_L) + \frac{I_{ext} + I_{syn}(V)}{A}$$

    $$\alpha_m = \frac{0.1 (V + 40)}{1 - e^{-(V+40)/10}},\ \beta_m = 4 e^{-(V+65)/18},\
    \alpha_h = 0.07 e^{-(V+65)/20},\ \beta_h = \frac{1}{1 + e^{-(V+35)/10}},$$
    $$\alpha_n = \frac{0.01 (V + 55)}{1 - e^{-(V+55)/10}},\ \beta_n = 0.125 e^{-(V+65)/80}$$

    (1/ms), all multiplied by $\phi = 3^{(T - 6.3)/10}$. Standard parameters at
    6.3 °C: $c_m$ = 1 µF/cm², $\bar g_{Na}$ = 120, $\bar g_K$ = 36, $g_L$ = 0.3 mS/cm²,
    $E_{Na}$ = 50, $E_K$ = −77, $E_L$ = −54.387 mV. No reset: a spike is an upward
    crossing of ``v_th`` (mV). With the default area of 10⁴ µm² (C = 100 pF), 1 µA/cm²
    of the paper is 100 pA of ``i_ext`` or drive. Default integrator: ``ETDRK4``
    (fourth order, stable at dt <= 0.1 ms; see ``_conductance``).
    """

    size: int = eqx.field(static=True)
    c_m: float | jnp.ndarray = 1.0
    area: float | jnp.ndarray = 1e4
    g_na: float | jnp.ndarray = 120.0
    g_k: float | jnp.ndarray = 36.0
    g_l: float | jnp.ndarray = 0.3
    e_na: float | jnp.ndarray = 50.0
    e_k: float | jnp.ndarray = -77.0
    e_l: float | jnp.ndarray = -54.387
    temperature: float | jnp.ndarray = 6.3
    v_th: float | jnp.ndarray = 0.0
    i_ext: float | jnp.ndarray = 0.0
    v_init: float | AbstractInitializer = -65.0
    spike: AbstractSpike = Heaviside()
    integrator: AbstractIntegrator = ETDRK4()

    def __check_init__(self):
        self.check_common("HH", ("g_na", "g_k", "g_l"), ("e_na", "e_k", "e_l"))
        check_finite("HH.temperature", self.temperature, "°C")

    def rates(self, v):
        phi = 3.0 ** ((self.temperature - 6.3) / 10.0)
        return {
            "m": (phi * 0.1 * vtrap(v + 40.0, 10.0), phi * 4.0 * jnp.exp(-(v + 65.0) / 18.0)),
            "h": (
                phi * 0.07 * jnp.exp(-(v + 65.0) / 20.0),
                phi / (1.0 + jnp.exp(-(v + 35.0) / 10.0)),
            ),
            "n": (phi * 0.01 * vtrap(v + 55.0, 10.0), phi * 0.125 * jnp.exp(-(v + 65.0) / 80.0)),
        }

    def ionic_current(self, v, x):
        i_na = self.g_na * x["m"] ** 3 * x["h"] * (self.e_na - v)
        i_k = self.g_k * x["n"] ** 4 * (self.e_k - v)
        return i_na + i_k + self.g_l * (self.e_l - v)
