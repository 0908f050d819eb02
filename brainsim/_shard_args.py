"""``bs.simulate_sharded``'s arguments, checked before anything is placed or compiled."""

import jax
import numpy as np

from ._min_delay import exchange_interval
from .network import Network, NetworkState
from .neurons import PoissonCounts, PoissonSource


def recorded_populations(net: Network, record) -> tuple[str, ...]:
    """``simulate_sharded``'s ``record``, checked: the recorded populations' names, in
    the network's order; ``None``: every population."""
    if record is None:
        return tuple(net.populations)
    names = [record] if isinstance(record, str) else list(record)
    unknown = [n for n in names if n not in net.populations]
    if unknown or not names:
        raise ValueError(
            f"simulate_sharded: record must name populations of the network "
            f"({', '.join(net.populations)}), got {record!r}"
        )
    return tuple(n for n in net.populations if n in names)


def checked_exchange_every(net: Network, dt: float, every: int | None) -> int:
    """``simulate_sharded``'s ``exchange_every``, checked; ``None``: the largest allowed."""
    most = exchange_interval(net, dt)
    if every is None:
        return most
    integral = isinstance(every, int | np.integer) and not isinstance(every, bool)
    if not integral or not 1 <= every <= most:
        raise ValueError(
            f"exchange_every must be an integer number of steps from 1 to {most} (the "
            f"network's smallest delay in steps at dt={dt:g} ms, bs.exchange_interval), "
            f"got {every!r}"
        )
    return int(every)


def check_random_sources(net: Network, state: NetworkState) -> None:
    """A ``ValueError`` naming the first population whose state holds a PRNG key but is
    not a ``PoissonSource`` or ``PoissonCounts`` (whose shards draw their own blocks of
    the one-device draw: ``SourceShard``): every device would draw the same numbers."""
    for name, pop_state in state.populations.items():
        if isinstance(net.populations[name], PoissonSource | PoissonCounts):
            continue
        if any(
            jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) for x in jax.tree.leaves(pop_state)
        ):
            raise ValueError(
                f"population {name!r} draws random numbers from one PRNG key: sharded "
                "runs support it for PoissonSource and PoissonCounts only (every device "
                "would draw the same numbers for its own neurons)"
            )
