r"""Multiplicative weight normalization per postsynaptic neuron (von der Malsburg 1973;
the normalization of Diehl & Cook 2015's unsupervised digit learning).

``Normalized(rule, total)`` steps ``rule`` and then scales the incoming weights of
every postsynaptic neuron $j$ by one factor so that they sum to ``total``:

$$w_{ij} \leftarrow w_{ij}\,\frac{\text{total}}{S_j},\qquad S_j = \sum_i w_{ij}.$$

A neuron whose weights sum to 0 is left unchanged. Relative weights and signs are kept
(Dale's law); a scaled weight may pass the rule's ``w_max`` (Diehl & Cook do not clip
after normalizing). Diehl & Cook normalize after every image; here it is after every
step, so competition between a neuron's inputs holds at all times. Cost: O(synapses)
per step (a segment sum over the layout), on top of the rule's event-driven work.
Needs a ``CSR``/``ELL`` layout (one delay): with per-synapse delays ``bs.Plastic``
refuses it, since its grouped view splits a neuron's inputs by delay.
"""

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_positive
from ._base import AbstractPlasticity
from .sleep import _post_of_synapses, _post_totals


def normalized_weights(w, layout, total):
    """Flat weights ``w (n_synapses,)`` with every postsynaptic neuron's incoming sum
    scaled to ``total`` (``layout``: a ``bs.ops.Indexed``; zero sums unchanged)."""
    sums = _post_totals(w, layout)
    safe = jnp.where(sums == 0, 1.0, sums)
    gain = jnp.where(sums == 0, 1.0, total / safe)
    return w * gain[_post_of_synapses(layout)].astype(w.dtype)


class Normalized(AbstractPlasticity):
    """``rule`` (a ``bs.plasticity`` rule, its state and ``step`` arguments passed
    through) followed by the normalization to ``total`` > 0 (weight units) per
    postsynaptic neuron.

    >>> import jax.numpy as jnp, brainsim as bs
    >>> P = bs.plasticity
    >>> idx = bs.ops.index(bs.conn.ELL(2, 2, jnp.array([[0, 1], [0, 1]])))
    >>> rule = P.Normalized(P.TraceSTDP(eta=0.0), total=1.0)
    >>> s = rule.step(rule.init(jnp.array([1.0, 2.0, 3.0, 2.0]), 2, 2),
    ...               jnp.zeros(2), jnp.zeros(2), layout=idx, dt=1.0)
    >>> [float(v) for v in s.w]  # post 0: 1 and 3 of 4; post 1: 2 and 2 of 4
    [0.25, 0.5, 0.75, 0.5]
    """

    rule: AbstractPlasticity
    total: float

    def __check_init__(self):
        if not isinstance(self.rule, AbstractPlasticity):
            raise ValueError(f"Normalized.rule must be a bs.plasticity rule, got {self.rule!r}")
        check_positive("Normalized.total", self.total)

    @property
    def modulated(self) -> bool:
        return self.rule.modulated

    def init(self, w, n_pre: int, n_post: int):
        return self.rule.init(w, n_pre, n_post)

    def step(self, state, pre, post, *, layout, dt, **kwargs):
        state = self.rule.step(state, pre, post, layout=layout, dt=dt, **kwargs)
        w = normalized_weights(state.w, layout, self.total)
        return eqx.tree_at(lambda s: s.w, state, w)
