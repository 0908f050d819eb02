"""Propagation with per-synapse delays through a ``Delayed`` layout.

``out[..., j] = sum_k sum_i hist_k[..., i] W_k[i, j]`` where ``W_k`` holds the synapses of
delay value ``k`` and ``hist_k`` the presynaptic spikes emitted ``steps[k]`` steps ago.
The per-delay spike vectors are stacked into one vector over the layout's
``(delay value, presynaptic neuron)`` rows and propagated by the event operator of
``bs.ops.event`` (native kernel or pure JAX, with its custom VJP), so the cost is
O(active (neuron, delay) pairs x their fan-out) plus reading ``len(steps)`` spike vectors.
"""

from ..conn.layouts import Delayed
from .dense import to_dense
from .event import event_matvec


def delayed_matvec(layout: Delayed, weight, slots, capacity: int):
    """``slots (..., n_delays, n_pre)``: the spikes for each delay value of ``layout``
    (``bs.delays.history_slots``); ``weight`` scalar or ``layout.weight_shape``.
    Returns ``(..., n_post)``. ``capacity``: event slots of the pure-JAX path for the
    ``n_delays * n_pre`` stacked rows."""
    x = slots.reshape(*slots.shape[:-2], slots.shape[-2] * slots.shape[-1])
    return event_matvec(layout.rows, weight, x, capacity)


def delayed_matvec_dense(layout: Delayed, weight, slots):
    """The same product through one dense ``(n_delays * n_pre, n_post)`` matrix (the
    reference for tests and a path for small networks)."""
    x = slots.reshape(*slots.shape[:-2], slots.shape[-2] * slots.shape[-1])
    return x @ to_dense(layout.rows, weight).astype(x.dtype)
