r"""Event-driven products of spike rows with a dense matrix (training's projections).

``rows_matmul(x, w)``: $\mathrm{out}_{r,:} = \sum_{i:\,x_{ri} \ne 0} x_{ri} W_{i,:}$ for
``x (..., K)`` (spikes: mostly zeros), ``w (K, N)``; cost ∝ nnz(x)·N instead of R·K·N.
Its VJP: $\partial x = g W^\top$ (dense; dropped by XLA when the input needs no gradient)
and $\partial W = $ ``rows_outer(x, g)`` $= \sum_{r:\,x_{ri} \ne 0} x_{ri}\, g_{r,:}$,
again touching only the nonzero entries.

On CPU both run as native kernels (``ops/_native/event_rows.cc``); elsewhere, with
``BRAINSIM_NATIVE=0``, or for other dtypes they are the dense ``x @ w`` and ``xᵀ g``
(the portable path and the test oracle). Results agree up to float summation order.
"""

import jax
import jax.numpy as jnp

from . import _native

_FLOATS = (jnp.float32, jnp.float64)


def _native_ok(*arrays) -> bool:
    dt = arrays[0].dtype
    return dt in _FLOATS and all(a.dtype == dt for a in arrays) and _native.available()


@jax.custom_batching.custom_vmap
def _native_matmul(x, w):
    return _native.rows_matmul(x, w)


@_native_matmul.def_vmap
def _native_matmul_vmap(axis_size, in_batched, x, w):
    if in_batched[1]:  # batched weights: one call per batch element
        x = x if in_batched[0] else jnp.broadcast_to(x, (axis_size, *x.shape))
        return jax.lax.map(lambda a: _native_matmul(*a), (x, w)), True
    return _native_matmul(x, w), True  # the new axis is just more rows


def _matmul(x, w):
    if not _native_ok(x, w):
        return x @ w
    return jax.lax.platform_dependent(
        x, w, cpu=lambda x, w: _native_matmul(x, w), default=lambda x, w: x @ w
    )


def rows_outer(x, g):
    """``dw (K, N) = xᵀ g`` over all leading (row) axes of ``x (..., K)`` and
    ``g (..., N)``, touching only the nonzero entries of ``x``. Not differentiable."""
    if x.shape[:-1] != g.shape[:-1]:
        raise ValueError(f"rows_outer: x {x.shape} and g {g.shape} must share the row axes")
    xr, gr = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
    if not _native_ok(xr, gr):
        return xr.T @ gr
    return jax.lax.platform_dependent(
        xr, gr, cpu=lambda x, g: _native.rows_outer(x, g), default=lambda x, g: x.T @ g
    )


@jax.custom_vjp
def rows_matmul(x, w):
    """``x (..., K) @ w (K, N)`` touching only the rows of ``w`` of nonzero ``x``
    (module docstring); exact dense VJPs."""
    return _matmul(x, w)


def _fwd(x, w):
    return _matmul(x, w), (x, w)


def _bwd(res, g):
    x, w = res
    return g @ w.T, rows_outer(x, g)


rows_matmul.defvjp(_fwd, _bwd)
