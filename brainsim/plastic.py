"""A plasticity rule as a projection component: the weights of a projection become
state and learn while the network runs.

``Projection(..., components=(bs.Plastic(rule),))`` steps ``rule`` (a
``bs.plasticity.AbstractPlasticity``) once per network step, before the projection's
spikes are sent, and propagates with its weights. The rule sees the presynaptic spikes
as emitted and the postsynaptic spikes the projection's ``delay`` later (NEST's
convention: the whole delay is dendritic), both from the last step; see
``bs.plasticity`` for the step order within the rule.
"""

import jax.numpy as jnp

from .conn.layouts import CSR, ELL
from .delays import delay_step, delay_steps, init_delay
from .ops import Indexed, index
from .plasticity import AbstractPlasticity
from .projection import AbstractProjectionComponent, ProjectionInput


class Plastic(AbstractProjectionComponent):
    """Plastic weights for a projection with a stored ``CSR``/``ELL`` layout.

    State: ``(rule state, postsynaptic delay buffer)``; the weights are
    ``state[0].w`` (flat, layout order), starting from the projection's ``weight``.
    ``index``: the layout's column index, set when the network is built (``bind``).
    A batch of plastic networks is made by ``jax.vmap(net.init)`` (each element learns
    its own weights), not by ``batch_shape``."""

    rule: AbstractPlasticity
    index: Indexed | None = None

    def __check_init__(self):
        if not isinstance(self.rule, AbstractPlasticity):
            raise ValueError(f"Plastic.rule must be a bs.plasticity rule, got {self.rule!r}")

    def bind(self, projection) -> "Plastic":
        if type(projection.conn) not in (CSR, ELL):
            raise ValueError(
                f"Projection {projection.name}: Plastic needs a stored CSR or ELL layout "
                f"(weights it can update), got {type(projection.conn).__name__}"
            )
        return Plastic(self.rule, index(projection.conn, pre_capacity=projection.capacity))

    def init(self, key, projection, batch_shape, *, dt):
        if self.index is None:
            raise ValueError(f"Projection {projection.name}: Plastic is bound by Network")
        if batch_shape:
            raise ValueError(
                f"Projection {projection.name}: plastic weights are state, so a batch of "
                f"networks is made by jax.vmap(net.init), not batch_shape={batch_shape}"
            )
        conn = projection.conn
        w = jnp.broadcast_to(projection.weight, conn.weight_shape).ravel()
        # a buffer of d spike vectors (init_delay(d + 1)) returns those of d steps before
        post = init_delay(delay_steps(projection.delay, dt) + 1, (conn.n_post,))
        return self.rule.init(w, conn.n_pre, conn.n_post), post

    def step(self, state, x: ProjectionInput, *, t, dt):
        rule_state, post_delay = state
        post_delay, post = delay_step(post_delay, x.post)
        rule_state = self.rule.step(rule_state, x.pre, post, layout=self.index, dt=dt)
        weight = rule_state.w.reshape(self.index.layout.weight_shape)
        return (rule_state, post_delay), x._replace(weight=weight)
