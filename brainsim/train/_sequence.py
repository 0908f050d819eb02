"""The sequence plumbing every trainable layer shares: per-neuron parameters, the
time-major / batch-major layouts, and the input projection of a whole sequence."""

import jax.numpy as jnp
import numpy as np

from .. import ops
from .._checks import check_shape
from ..conn.layouts import CSR, ELL, Dense

Layout = Dense | CSR | ELL


def _decay(tau, dt):
    r"""The per-step decay $e^{-\Delta t/\tau}$ of a time constant ``tau`` (ms; a learnt
    value below ``dt`` acts as ``dt``, so the decay stays in $[e^{-1}, 1)$)."""
    return jnp.exp(-dt / jnp.maximum(tau, dt))


def _like(p, x):
    """Per-neuron parameter ``p`` (scalar or ``(n,)``) broadcast explicitly to ``x``."""
    return jnp.broadcast_to(p, x.shape)


def _time_major(x):
    return jnp.moveaxis(x, -2, 0)


def _batch_major(x):
    return jnp.moveaxis(x, 0, -2)


def _project_time_major(x, w, event: bool, batch_major: bool):
    """``h (T, ..., n)`` for ``x (T, ..., n_in)``, or for ``x (..., T, n_in)`` when
    ``batch_major`` (the time axis moved to the front inside the product)."""
    if not batch_major:
        return event_project(x, w) if event else x @ w
    if event and x.ndim == 3:
        return ops.rows_matmul(x, w, swap=True)
    return _time_major(event_project(x, w) if event else x @ w)


def event_project(x, w):
    """``x @ w`` for sparse spike input ``x (..., n_in)`` through ``bs.ops.rows_matmul``:
    the forward pass and the weight gradient ``dw = xᵀ g`` touch only the nonzero inputs
    (cost ∝ active inputs × ``n``); ``dx = g wᵀ`` is dense (removed by XLA when the input
    needs no gradient)."""
    return ops.rows_matmul(x, w)


def _check_per_neuron(name: str, layer, fields) -> None:
    """``w`` is ``(n_in, n)`` and every field in ``fields`` a scalar or ``(n,)``."""
    if np.ndim(layer.w) != 2:
        raise ValueError(f"{name}.w must be a 2-D (n_in, n) array, got shape {np.shape(layer.w)}")
    for field in fields:
        check_shape(f"{name}.{field}", getattr(layer, field), (np.shape(layer.w)[1],))
