r"""Three-factor plasticity: STDP tags an eligibility trace, a neuromodulator turns it
into a weight change (reward-modulated STDP; Izhikevich 2007, Cereb Cortex 17:2443).

$$\dot c_{ij} = -c_{ij}/\tau_c + \text{STDP}_{ij}(t),\qquad
\dot d = -d/\tau_d + \text{reward}(t),\qquad \dot w_{ij} = c_{ij}\,d$$

``window`` (a ``PairSTDP``) gives the STDP events that increment $c$ (its amplitudes,
time constants, pairing and symmetry, without bounds) and the ``bounds`` applied to
$w$. ``step(..., reward=r)`` adds ``r`` to $d$ in this step (Izhikevich: 0.5 per
reward, $\tau_d = 200$ ms, $\tau_c = 1$ s); in a ``Network``,
``bs.Plastic(rule, modulator=...)`` gives it from a modulator
(``bs.plasticity.RewardSignal``, ``DistalReward``). One step of ``dt``: $c$ and $d$ decay
exactly, the STDP events update $c$ (event-driven, as in ``PairSTDP``), $d$ jumps by
the reward, then $w \leftarrow \text{bounds}(w + dt\,c\,d)$.

Cost: the eligibility decay and the weight change touch every synapse each step,
O(synapses), unlike the pure spike-timing rules; skip the ``step`` of a projection
while $d = 0$ only if its eligibility may be left undecayed.
"""

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_positive
from ._base import AbstractPlasticity, apply_events
from .stdp import PairSTDP, raw_on_post, raw_on_pre
from .traces import decay


class RewardSTDPState(eqx.Module):
    w: jnp.ndarray  # (n_synapses,) plastic weights, flat layout order
    c: jnp.ndarray  # (n_synapses,) eligibility traces (weight units)
    x_plus: jnp.ndarray  # (n_pre,)
    x_minus: jnp.ndarray  # (n_pre,)
    y_plus: jnp.ndarray  # (n_post,)
    y_minus: jnp.ndarray  # (n_post,)
    d: jnp.ndarray  # () neuromodulator concentration (1/ms)


class RewardSTDP(AbstractPlasticity):
    """``window``: ``PairSTDP`` (amplitudes in weight units per unit of ``d``·ms);
    ``tau_c`` > 0 ms (eligibility), ``tau_d`` > 0 ms (neuromodulator)."""

    window: PairSTDP = PairSTDP(A_plus=1.0, A_minus=1.5, tau_plus=20.0, tau_minus=20.0)
    tau_c: float = 1000.0
    tau_d: float = 200.0
    modulated: ClassVar[bool] = True

    def __check_init__(self):
        check_positive("RewardSTDP.tau_c", self.tau_c, "ms")
        check_positive("RewardSTDP.tau_d", self.tau_d, "ms")

    def init(self, w, n_pre: int, n_post: int) -> RewardSTDPState:
        s = self.window.init(w, n_pre, n_post)
        zero = jnp.zeros((), s.w.dtype)
        return RewardSTDPState(s.w, jnp.zeros_like(s.w), *_traces(s), d=zero)

    def step(self, state, pre, post, *, layout, dt, reward=0.0) -> RewardSTDPState:
        win = self.window
        x = (decay(state.x_plus, win.tau_plus, dt), decay(state.x_minus, win.tau_minus, dt))
        y = (decay(state.y_plus, win.tau_plus, dt), decay(state.y_minus, win.tau_minus, dt))
        c = decay(state.c, self.tau_c, dt)
        c = apply_events(layout, c, pre, post, x, y, _on_pre, _on_post, win)
        d = decay(state.d, self.tau_d, dt) + reward
        w = state.w + win.bounds.change(state.w, dt * c * d)
        x = [win.pairing.jump(t, pre) for t in x]
        y = [win.pairing.jump(t, post) for t in y]
        return RewardSTDPState(w, c, *x, *y, d=d)


def _traces(s):
    return s.x_plus, s.x_minus, s.y_plus, s.y_minus


def _on_post(c, x, y, win):
    return raw_on_post(x, win)


def _on_pre(c, x, y, win):
    return raw_on_pre(y, win)
