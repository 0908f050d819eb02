r"""A plasticity rule as a projection component: the weights of a projection become
state and learn while the network runs.

``Projection(..., components=(bs.Plastic(rule),))`` steps ``rule`` (a
``bs.plasticity.AbstractPlasticity``) once per network step, before the projection's
spikes are sent, and propagates with its weights. The rule sees the presynaptic spikes
as emitted and the postsynaptic spikes the projection's ``delay`` later (NEST's
convention: the whole delay is dendritic), both from the last step; see
``bs.plasticity`` for the step order within the rule. ``Plastic(rule,
sleep=bs.plasticity.Sleep(...))`` renormalizes the weights after each step of the rule
while asleep (the wake/sleep phases of Massey et al.; ``Sleep.inputs`` gives the
matching external input). ``Plastic(bs.plasticity.RewardSTDP(...),
modulator=...)`` drives the rule's neuromodulator from a ``bs.plasticity`` modulator
(a reward signal over time, or Izhikevich's distal reward from the spikes).

Per-synapse delays (``Projection(delays=...)``, a ``bs.conn.Delayed`` layout) follow the
same convention synapse by synapse: synapse $s$ of delay $d_s$ sees the presynaptic
spikes as emitted and the postsynaptic spikes $d_s$ later (NEST's ``stdp_synapse``:
the whole delay dendritic, no axonal part). The rule then runs on a *grouped* view of
the layout: the synapses of delay group $g$ onto neuron $j$ target the virtual
postsynaptic neuron $g\,n_\text{post} + j$, which sees $j$'s spikes $d_g$ steps late,
so each postsynaptic trace is kept once per delay group ($G\,n_\text{post}$ values)
and the weights keep the layout's order. Every rule updates a synapse from its own
presynaptic and postsynaptic neurons only, so this is exact; sleep and modulators,
which pool over postsynaptic neurons, need a ``CSR``/``ELL`` layout.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._varying import own
from .conn.layouts import CSR, ELL, Delayed
from .delays import DelayState, delay_step, delay_steps, init_delay
from .ops import Indexed, index
from .ops.sharded import StoredShard
from .plasticity import AbstractModulator, AbstractPlasticity, Normalized, Sleep
from .projection import AbstractProjectionComponent, ProjectionInput


class Plastic(AbstractProjectionComponent):
    """Plastic weights for a projection with a stored ``CSR``/``ELL`` layout, or
    per-synapse delays (``Delayed``; module docstring).

    State: ``(rule state, postsynaptic delay buffer, modulator state)``; the weights
    are ``state[0].w`` (flat, layout order), starting from the projection's ``weight``.
    ``sleep``: optional ``bs.plasticity.Sleep`` phases; ``modulator``: optional
    ``bs.plasticity.AbstractModulator`` giving a modulated rule (``RewardSTDP``) its
    reward each step.
    ``index``: the layout's column index (of the grouped view with per-synapse delays),
    and ``delays`` the delay groups (ms), set when the network is built (``bind``).
    A batch of plastic networks is made by ``jax.vmap(net.init)`` (each element learns
    its own weights), not by ``batch_shape``."""

    rule: AbstractPlasticity
    sleep: Sleep | None = None
    modulator: AbstractModulator | None = None
    index: Indexed | None = None
    delays: tuple | None = eqx.field(default=None, static=True)  # per group (ms), Delayed
    # in bs.simulate_sharded: (mesh axis, n_post), the synapses split over the axis's
    # devices by postsynaptic neuron (set by the runner; None: all on one device)
    shard: tuple | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        if not isinstance(self.rule, AbstractPlasticity):
            raise ValueError(f"Plastic.rule must be a bs.plasticity rule, got {self.rule!r}")
        if self.sleep is not None and not isinstance(self.sleep, Sleep):
            raise ValueError(f"Plastic.sleep must be a bs.plasticity.Sleep, got {self.sleep!r}")
        if self.modulator is not None and not isinstance(self.modulator, AbstractModulator):
            raise ValueError(
                f"Plastic.modulator must be a bs.plasticity modulator, got {self.modulator!r}"
            )
        if (self.modulator is not None) != self.rule.modulated:
            raise ValueError(
                f"Plastic: a modulator goes with a modulated rule (RewardSTDP): got rule "
                f"{type(self.rule).__name__} and modulator {self.modulator!r}"
            )

    def bind(self, projection) -> "Plastic":
        conn = projection.conn
        if type(conn) is Delayed:
            pools = self.sleep is not None or self.modulator is not None
            if pools or isinstance(self.rule, Normalized):
                raise ValueError(
                    f"Projection {projection.name}: Plastic with sleep, a modulator or "
                    "Normalized needs a CSR or ELL layout (one delay), not per-synapse delays"
                )
            idx = index(grouped(conn), pre_capacity=projection.capacity)
            return Plastic(self.rule, index=idx, delays=conn.delays)
        if type(conn) not in (CSR, ELL):
            raise ValueError(
                f"Projection {projection.name}: Plastic needs a stored CSR or ELL layout "
                f"(weights it can update), got {type(conn).__name__}"
            )
        idx = index(conn, pre_capacity=projection.capacity)
        sleep = self.sleep
        if sleep is not None:
            sleep = sleep.bind(_flat_weights(projection), idx)
        return Plastic(self.rule, sleep=sleep, modulator=self.modulator, index=idx)

    def init(self, key, projection, batch_shape, *, dt):
        if self.index is None:
            raise ValueError(f"Projection {projection.name}: Plastic is bound by Network")
        if batch_shape:
            raise ValueError(
                f"Projection {projection.name}: plastic weights are state, so a batch of "
                f"networks is made by jax.vmap(net.init), not batch_shape={batch_shape}"
            )
        n_pre, n_post, w = _initial(projection)
        modulator = None if self.modulator is None else self.modulator.init(key)
        if self.delays is not None:  # the last D postsynaptic spike vectors, D the longest
            depth = max(delay_steps(d, dt) for d in self.delays)
            post = init_delay(depth + 1, (n_post,))
            return self.rule.init(w, n_pre, len(self.delays) * n_post), post, modulator
        # a buffer of d spike vectors (init_delay(d + 1)) returns those of d steps before
        post = init_delay(delay_steps(projection.delay, dt) + 1, (n_post,))
        return self.rule.init(w, n_pre, n_post), post, modulator

    def step(self, state, x: ProjectionInput, *, t, dt):
        rule_state, post_delay, modulator = state
        if self.delays is None:
            post_delay, post = delay_step(post_delay, x.post)
        else:
            post_delay, post = _grouped_step(post_delay, x.post, self.delays, dt)
        kwargs = {}
        if self.modulator is not None:  # a global signal: it sees every postsynaptic spike
            modulator, kwargs["reward"] = self.modulator.step(
                modulator, x.pre, self.whole(post), t=t, dt=dt
            )
        rule_state = self.rule.step(rule_state, x.pre, post, layout=self.index, dt=dt, **kwargs)
        if self.sleep is not None:
            w = rule_state.w if self.shard is None else own(rule_state.w, self.shard[0])
            w = self.sleep.renormalize(w, layout=self.index, t=t, dt=dt, whole=self.whole)
            rule_state = eqx.tree_at(lambda s: s.w, rule_state, w)
        weight = rule_state.w.reshape(self.index.layout.weight_shape)
        return (rule_state, post_delay, modulator), x._replace(weight=weight)

    def whole(self, x):
        """``x (..., n)``, numbers per postsynaptic neuron of this device, as ``(...,
        n_post)``, every device's in order and the same on every device (in a sharded
        run, each device's block put in place and summed over the devices: one
        ``psum``, exact, as every other term is 0; else ``x``)."""
        if self.shard is None:
            return x
        axis, n_post = self.shard
        n = x.shape[-1]
        placed = jnp.zeros((*x.shape[:-1], n * jax.lax.axis_size(axis)), x.dtype)
        at = jax.lax.axis_index(axis) * n
        placed = jax.lax.dynamic_update_slice_in_dim(placed, x, at, axis=x.ndim - 1)
        return jax.lax.psum(placed, axis)[..., :n_post]

    def run_form(self, state, *, dt):
        """The rule's ``run_form`` with the postsynaptic spikes it sees next and the
        column index, where the whole delay is one step (no sleep, no modulator)."""
        rule_state, post_delay, _ = state
        if self.sleep is not None or self.modulator is not None or self.delays is not None:
            return None
        if post_delay.buffer.shape[0] != 1 or post_delay.cursor.ndim:
            return None
        run = self.rule.run_form(rule_state, dt=dt)
        if run is None:
            return None
        return run._replace(seen=post_delay.buffer[0], cols=self.index.cols)

    def from_run(self, state, run):
        rule_state, post_delay, modulator = state
        buffer = run.seen[None].astype(post_delay.buffer.dtype)
        return (
            self.rule.from_run(rule_state, run),
            DelayState(buffer, post_delay.cursor),
            modulator,
        )


def _initial(projection):
    """``(n_pre, n_post, initial flat weights)`` of ``projection``: its layout's, or
    for one built split over devices (``bs.distributed.network``: a
    ``bs.ops.StoredShard``) the padded populations' and the weights in the devices'
    block order, each process holding its own blocks."""
    conn = projection.conn
    if isinstance(conn, StoredShard):
        return conn.n_pre, conn.n_post * conn.n_shards, conn.flat_weights(projection.weight)
    return conn.n_pre, conn.n_post, _flat_weights(projection)


def _flat_weights(projection):
    """The projection's initial weights, flat in layout order."""
    return jnp.broadcast_to(projection.weight, projection.conn.weight_shape).ravel()


def grouped(layout: Delayed) -> CSR:
    """The rows of ``layout`` with synapse ``s`` of delay group ``g`` onto ``j`` retargeted
    to ``g n_post + j`` (``G n_post`` postsynaptic neurons, same synapse order)."""
    group = np.asarray(layout.group).astype(np.int64)
    indices = group * layout.n_post + np.asarray(layout.csr.indices)
    n_post = len(layout.delays) * layout.n_post
    if n_post > np.iinfo(np.int32).max:
        raise ValueError(f"Plastic: {len(layout.delays)} delay groups x {layout.n_post} too many")
    return CSR(layout.n_pre, n_post, np.asarray(layout.csr.indptr), indices.astype(np.int32))


def _grouped_step(state: DelayState, post, delays, dt):
    """Push this step's ``post (n_post,)``; return ``(state, (G n_post,))``: for every
    delay group ``g`` the vector pushed ``d_g`` steps before (``delay_step``'s lag)."""
    depth = state.buffer.shape[0]
    lags = [delay_steps(d, dt) for d in delays]
    seen = jnp.concatenate([state.buffer[(state.cursor - lag) % depth] for lag in lags])
    buffer = state.buffer.at[state.cursor].set(post.astype(state.buffer.dtype))
    return DelayState(buffer, (state.cursor + 1) % depth), seen
