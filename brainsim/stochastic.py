"""Probabilistic transmitter release as a projection component: each spike is
transmitted by each of its synapses independently, with a probability."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_prob
from .projection import AbstractProjectionComponent, ProjectionInput


class StochasticRelease(AbstractProjectionComponent):
    """``Projection(..., components=(bs.StochasticRelease(p),))``: in every step each
    synapse transmits (with its weight) with probability ``p`` and fails (delivers
    nothing) otherwise, independently of the other synapses and steps (PyNN's
    ``SimpleStochasticSynapse``, NEST's ``bernoulli_synapse``).

    - ``p``: release probability in [0, 1], a scalar or one per synapse (an array of
      the built layout's ``weight_shape``, in its order; per-synapse ``delays`` reorder
      the synapses when the network is built, so give a scalar ``p`` with them).

    The state is a PRNG key drawn from the network's ``init`` key (the same seed, the
    same releases). Each step draws one uniform number per synapse, spiking or not:
    O(synapses) per step, meant for small projections. A batch of networks is made by
    ``jax.vmap(net.init)`` (each element draws its own releases), not ``batch_shape``.
    """

    p: float | jnp.ndarray = 1.0
    shape: tuple[int, ...] | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        check_prob("StochasticRelease.p", self.p)

    def bind(self, projection) -> "StochasticRelease":
        shape = tuple(projection.conn.weight_shape)
        if not shape:
            raise ValueError(
                f"Projection {projection.name}: StochasticRelease needs a layout with a "
                f"weight per synapse (Dense, CSR, ELL, Delayed), got "
                f"{type(projection.conn).__name__}"
            )
        if np.ndim(self.p) and np.shape(self.p) != shape:
            raise ValueError(
                f"Projection {projection.name}: StochasticRelease.p must be a scalar or "
                f"have the layout's weight shape {shape}, got {np.shape(self.p)}"
            )
        return StochasticRelease(self.p, shape)

    def init(self, key, projection, batch_shape, *, dt):
        if self.shape is None:
            raise ValueError(
                f"Projection {projection.name}: StochasticRelease is bound by Network"
            )
        if batch_shape:
            raise ValueError(
                f"Projection {projection.name}: StochasticRelease draws one release per "
                f"synapse, so a batch of networks is made by jax.vmap(net.init), not "
                f"batch_shape={batch_shape}"
            )
        return key

    def step(self, state, x: ProjectionInput, *, t, dt):
        key, sub = jax.random.split(state)
        released = jax.random.uniform(sub, self.shape) < jnp.asarray(self.p)
        return key, x._replace(weight=jnp.where(released, x.weight, 0.0))
