r"""Homeostasis: synaptic scaling and an adaptive threshold toward a target rate.

Each postsynaptic neuron keeps a rate estimate $r_j$ (Hz), the low-pass filtered spike
train, $r_j \leftarrow r_j e^{-dt/\tau_r} + s_j/\tau_r$ (τ_r in s), so that a regular
train of rate ρ gives $r \approx \rho$.

- ``SynapticScaling`` (Turrigiano 2008): every incoming weight of neuron $j$ is scaled
  by one gain, $\dot g_j = \eta\,g_j\,(1 - r_j/\rho_0)$. The gain is kept per neuron
  (O(neurons) per step, not O(synapses)): multiply the neuron's synaptic input by
  $g_j$, or fold it into the weights with ``scaled_weights`` when needed. ``g`` stays
  in ``[g_min, g_max]``; scaling never changes a weight's sign (Dale's law).
- ``AdaptiveThreshold`` (intrinsic plasticity): a threshold offset
  $\dot\theta_j = \eta\,(r_j - \rho_0)$ (mV) to add to the neuron's ``v_th``.
"""

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_nonnegative, check_positive
from .traces import decay


class RateState(eqx.Module):
    rate: jnp.ndarray  # (n,) Hz, rate estimate
    value: jnp.ndarray  # (n,) the homeostatic variable (gain, or threshold offset in mV)


def _rate(state, spikes, tau_rate, dt):
    return decay(state.rate, tau_rate, dt) + spikes * (1e3 / tau_rate)


class SynapticScaling(eqx.Module):
    """``target_rate`` > 0 Hz; ``tau_rate`` > 0 ms (rate estimate); ``eta`` >= 0 (1/ms);
    gain bounds ``0 <= g_min <= 1 <= g_max``."""

    target_rate: float = 5.0
    tau_rate: float = 1000.0
    eta: float = 1e-4
    g_min: float = 0.0
    g_max: float = float("inf")

    def __check_init__(self):
        check_positive("SynapticScaling.target_rate", self.target_rate, "Hz")
        check_positive("SynapticScaling.tau_rate", self.tau_rate, "ms")
        check_nonnegative("SynapticScaling.eta", self.eta, "1/ms")
        if not 0 <= self.g_min <= 1 <= self.g_max:
            raise ValueError(
                f"SynapticScaling: need 0 <= g_min <= 1 <= g_max, got g_min={self.g_min:g}, "
                f"g_max={self.g_max:g}"
            )

    def init(self, n: int) -> RateState:
        return RateState(jnp.full(n, float(self.target_rate)), jnp.ones(n))

    def step(self, state: RateState, spikes, *, dt) -> RateState:
        """``spikes (n,)`` of the postsynaptic neurons; ``state.value`` the gains."""
        rate = _rate(state, spikes, self.tau_rate, dt)
        g = state.value * (1.0 + dt * self.eta * (1.0 - rate / self.target_rate))
        return RateState(rate, jnp.clip(g, self.g_min, self.g_max))


def scaled_weights(w, gain, post):
    """Weights with the gains folded in: ``w[s] * gain[post[s]]``, ``post`` the
    postsynaptic neuron of every synapse (O(synapses); call rarely)."""
    return w * gain[post]


class AdaptiveThreshold(eqx.Module):
    """``target_rate`` >= 0 Hz; ``tau_rate`` > 0 ms; ``eta`` >= 0 (mV/(ms·Hz))."""

    target_rate: float = 5.0
    tau_rate: float = 1000.0
    eta: float = 1e-3

    def __check_init__(self):
        check_nonnegative("AdaptiveThreshold.target_rate", self.target_rate, "Hz")
        check_positive("AdaptiveThreshold.tau_rate", self.tau_rate, "ms")
        check_nonnegative("AdaptiveThreshold.eta", self.eta, "mV/(ms Hz)")

    def init(self, n: int) -> RateState:
        return RateState(jnp.full(n, float(self.target_rate)), jnp.zeros(n))

    def step(self, state: RateState, spikes, *, dt) -> RateState:
        """``spikes (n,)``; ``state.value`` the threshold offsets (mV)."""
        rate = _rate(state, spikes, self.tau_rate, dt)
        return RateState(rate, state.value + dt * self.eta * (rate - self.target_rate))
