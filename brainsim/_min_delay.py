"""Min-delay batching of ``bs.simulate_sharded``'s spike exchange, as NEST does: when
every projection's delay is at least ``D`` steps, a spike emitted in step ``e`` acts on
no target before step ``e + D``, so the devices step ``D`` times on their own, then
exchange the ``D`` steps' spikes in one collective (``bs.ops.exchange``) and deposit
them where they would have gone when emitted.

In a block of ``L <= D`` steps starting at ``b`` (``state`` as ``Network.step`` leaves
it: every spike up to step ``b - 2`` delivered into the delay buffers, those of ``b - 1``
pending in the populations' ``spike``), step ``b`` receives every shard's spikes of
step ``b - 1`` (``last``, from the previous exchange) and steps ``b + 1 ... b + L - 1``
receive none: zeros stand in for the spikes not yet exchanged. Then the block's own
spikes are exchanged and every emission ``b + j`` (``j < L - 1``) is deposited as step
``b + j + 1`` would have: into a presynaptic buffer's slot that step wrote the stand-in
to, into a postsynaptic ring at that step's cursor (whose read-out, a slot already read
and cleared, is empty). The emission of step ``b + L - 1`` stays pending. No buffer slot
holding a stand-in is read before it is filled, and no ring slot read before all it
receives is deposited, because every delay is ``>= D`` steps; every ring slot receives
its input in order of emission. So the state after a block is the state ``Network.step``
reaches step by step, bit for bit, and so are the spikes."""

import equinox as eqx
import jax
import jax.numpy as jnp

from ._checks import check_positive
from ._network_rings import (
    per_synapse_delays,
    propagate_rings,
    ring_owners,
    ring_steps,
)
from .delays import DelayState, RingState, delay_steps
from .gap_junction import GapJunction
from .network import Network
from .ops.sharded import exchange


def exchange_interval(net: Network, dt: float) -> int:
    """The most steps ``bs.simulate_sharded`` may take between two spike exchanges for
    ``net`` at ``dt`` (ms): the smallest delay of its projections in steps (scalar
    ``delay``, or the smallest per-synapse one), or 1 (an exchange every step) if it has
    a gap junction, short-term plasticity or components (these take the spikes of the
    step just emitted) or no projection."""
    check_positive("dt", dt, "ms")
    projections = net.projections
    if not projections or any(
        isinstance(p, GapJunction) or p.stp is not None or p.components for p in projections
    ):
        return 1
    least = [
        min(ring_steps(p, dt)[0], default=1)
        if per_synapse_delays(p.conn)
        else delay_steps(p.delay, dt)
        for p in projections
    ]
    return min(least)


def _back(cursor, back: int, depth: int):
    """``(cursor - back) mod depth`` for ``0 <= back <= depth``, ``cursor`` in
    ``[0, depth)``."""
    return jax.lax.rem(cursor - back + depth, jnp.asarray(depth, cursor.dtype))


def deposit(net: Network, state, spikes: dict, length: int, dt: float, retype):
    """``state`` after a block of ``length`` steps (run with stand-in zeros) with the
    block's emissions ``0 ... length - 2`` deposited in order (module docstring);
    ``spikes``: ``{population: every shard's spikes (length, n)}`` of each presynaptic
    one exchanged (a population whose spikes stay on their shard has its projections
    delivered by the steps themselves); ``retype(new, old)`` as ``run_blocks``'s."""
    projs = net.projections
    owners = ring_owners(projs, net.trace_of)

    def one(delays, j):
        back = length - 1 - j  # steps from the one that sends emission j to the block's end
        new, sent = list(delays), {}
        for k, p in enumerate(projs):
            if p.pre not in spikes:  # its spikes stay on their shard: delivered by the step
                continue
            s = spikes[p.pre][j]
            if per_synapse_delays(p.conn):
                sent[k] = (p.conn, p.weight, s)
            elif isinstance(d := delays[k], DelayState):  # the slot that step wrote into
                slot = _back(d.cursor, back, d.buffer.shape[0])
                new[k] = DelayState(d.buffer.at[slot].set(s.astype(d.buffer.dtype)), d.cursor)
        at = [
            eqx.tree_at(lambda r: r.cursor, d, _back(d.cursor, back, d.buffer.shape[-2]))
            if isinstance(d, RingState)
            else d
            for d in delays
        ]
        got, events = [None] * len(projs), [None] * len(projs)
        propagate_rings(projs, at, sent, dt, got, events, owners)
        pairs = zip(got, new, strict=True)
        new = [RingState(g.buffer, d.cursor) if g is not None else d for g, d in pairs]
        return retype(tuple(new), delays), None

    delays, _ = jax.lax.scan(one, state.delays, jnp.arange(length - 1))
    return eqx.tree_at(lambda s: s.delays, state, delays)


def run_blocks(net: Network, one, carry, last: dict, i0, length: int, every: int, *, run):
    """Inside ``jax.shard_map``: ``length`` steps from step ``i0`` in blocks of ``every``
    (the last one shorter), one exchange per block. ``one(carry, i, sent)``: step ``i``
    given every shard's spikes sent (``{population: (n,)}``), returning ``(carry,
    recorded)``, ``carry[0]`` the network state. ``last``: every shard's spikes of step
    ``i0 - 1``. ``run``: ``(slots, axis, dt, retype)``: the exchange's list slots per
    population, the mesh axis, the step (ms), and ``retype(new, old)``, the state ``new``
    typed as ``old`` is (a scan's carry keeps one type). Returns ``((carry, last),
    recorded (length, ...))``."""
    slots, axis, dt, retype = run

    def block(carry, last, start, size: int):
        def inner(c, j):
            sent = {n: jnp.where(j == 0, x, jnp.zeros_like(x)) for n, x in last.items()}
            c, out = one(c, start + j, sent)
            return c, (out, {n: c[0].populations[n].spike for n in slots})

        carry, (out, mine) = jax.lax.scan(inner, carry, jnp.arange(size))
        keys = [(n, j) for n in slots for j in range(size)]
        got = exchange({k: mine[k[0]][k[1]] for k in keys}, axis, {k: slots[k[0]] for k in keys})
        spikes = {n: jnp.stack([got[n, j] for j in range(size)]) for n in slots}
        state = deposit(net, carry[0], spikes, size, dt, retype)
        return (state, *carry[1:]), {n: s[-1] for n, s in spikes.items()}, out

    n_full, rest = divmod(length, every)
    outs = []
    if n_full:

        def full(c, b):
            carry, last, out = block(*c, i0 + b * every, every)
            return (carry, last), out

        (carry, last), out = jax.lax.scan(full, (carry, last), jnp.arange(n_full))
        outs.append(jax.tree.map(lambda x: x.reshape(n_full * every, *x.shape[2:]), out))
    if rest:
        carry, last, out = block(carry, last, i0 + n_full * every, rest)
        outs.append(out)
    recorded = jax.tree.map(lambda *x: jnp.concatenate(x), *outs)
    return (carry, last), recorded
