r"""Presynaptic-trace STDP with a target trace (Diehl & Cook 2015; the rule of the
sleep experiments of Massey et al. 2026, ``bs.plasticity.Sleep``).

Every presynaptic neuron keeps a trace $x_i$ (time constant $\tau$, jump 1 per spike).
At a postsynaptic spike of neuron $j$ each incoming weight changes by

$$\Delta w_{ij} = \eta\,(x_i - x_\text{tar})\,(w_\max - w_{ij})^{\mu}$$

with $x_\text{tar}$ the mean presynaptic trace of the projection at that step (the
"running population-mean trace"): inputs more active than average before the spike
potentiate, the others depress. $w_\max$ is ``bounds.w_max`` and the result is clipped
to ``bounds``. Presynaptic spikes change nothing. Step order and delay convention:
``bs.plasticity`` (``_base``); work per step O(spiking post neurons × in-degree) plus
O(n_pre) for the trace and its mean.
"""

import math

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_nonnegative
from ..ops import update_columns
from ._base import AbstractPlasticity, check_rule
from .bounds import Bounds
from .traces import decay


class TraceSTDPState(eqx.Module):
    w: jnp.ndarray  # (n_synapses,) plastic weights, flat layout order
    x: jnp.ndarray  # (n_pre,) presynaptic trace


class TraceSTDP(AbstractPlasticity):
    """``eta`` >= 0 (weight units per unit trace and weight^mu); ``tau`` > 0 ms;
    ``mu`` >= 0 (static); ``bounds``: finite ``w_max`` (Massey et al.: ``w_max = 10``,
    ``mu = 0.6``, ``eta`` 4-8e-4).

    >>> import jax.numpy as jnp, brainsim as bs
    >>> layout = bs.conn.ELL(2, 1, jnp.array([[0], [0]]))
    >>> rule = bs.plasticity.TraceSTDP(eta=0.1, tau=20.0, mu=1.0)
    >>> s = rule.init(jnp.full(2, 5.0), 2, 1)
    >>> idx = bs.ops.index(layout)
    >>> s = rule.step(s, jnp.array([1.0, 0.0]), jnp.zeros(1), layout=idx, dt=1.0)
    >>> s = rule.step(s, jnp.zeros(2), jnp.ones(1), layout=idx, dt=1.0)
    >>> x = float(jnp.exp(-1 / 20))  # traces (x, 0): target x/2, so +-0.1 (x/2) (10 - 5)
    >>> [round(float(v), 4) for v in s.w] == [round(5 + 0.25 * x, 4), round(5 - 0.25 * x, 4)]
    True
    """

    eta: float = 5e-4
    tau: float = 20.0
    mu: float = eqx.field(default=0.6, static=True)
    bounds: Bounds = Bounds(0.0, 10.0)

    def __check_init__(self):
        check_rule("TraceSTDP", self, ("eta",), ("tau",))
        check_nonnegative("TraceSTDP.mu", self.mu)
        if not math.isfinite(float(self.bounds.w_max)):
            raise ValueError(f"TraceSTDP.bounds.w_max must be finite, got {self.bounds.w_max}")

    def init(self, w, n_pre: int, n_post: int) -> TraceSTDPState:
        w = jnp.asarray(w)
        return TraceSTDPState(w, jnp.zeros(n_pre, w.dtype))

    def step(self, state: TraceSTDPState, pre, post, *, layout, dt) -> TraceSTDPState:
        x = decay(state.x, self.tau, dt)
        centred = x - jnp.mean(x)  # x_i - x_tar
        w = update_columns(
            layout.layout,
            layout.cols,
            state.w,
            post,
            _on_post,
            centred,
            None,
            self,
            layout.post_capacity,
        )
        return TraceSTDPState(w, x + pre)


def _on_post(w, x, y, rule):
    growth = jnp.power(jnp.maximum(rule.bounds.w_max - w, 0.0), rule.mu)
    return rule.bounds.change(w, rule.eta * x * growth)
