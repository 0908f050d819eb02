r"""Event-driven products of spike rows with a dense matrix (training's projections).

``rows_matmul(x, w)``: $\mathrm{out}_{r,:} = \sum_{i:\,x_{ri} \ne 0} x_{ri} W_{i,:}$ for
``x (..., K)`` (spikes: mostly zeros), ``w (K, N)``; cost ∝ nnz(x)·N instead of R·K·N.
Its VJP: $\partial x = g W^\top$ (dense; dropped by XLA when the input needs no gradient)
and $\partial W = $ ``rows_outer(x, g)`` $= \sum_{r:\,x_{ri} \ne 0} x_{ri}\, g_{r,:}$,
again touching only the nonzero entries. ``swap=True`` takes ``x (A, B, K)`` to
``out (B, A, N)`` (batch-major spikes to a time-major result) without a transpose copy.

On CPU both run as native kernels (``ops/_native/rows_matmul.cc``); elsewhere, with the
kernels off (``bs.ops.configure``), for other dtypes, or for ``rows_matmul`` with fewer
than ``NARROW`` output columns (where compacting ``x`` costs more than the product) they are
the dense ``x @ w`` and ``xᵀ g`` (the portable path and the test oracle). ``rows_outer``
stays event-driven for narrow ``g`` too: XLA's dense ``xᵀ g`` packs the transposed
``x``, which costs more than compacting it (measured at 10 % density, 6400 rows: 2-20
columns of ``g``, 256-1024 of ``x``: 1.5-3.5x the native kernel's CPU time). Results
agree up to float summation order.
``fixed_rows_matmul`` (one ``w`` for many small products, e.g. per step of a scan)
takes the dense product instead, by a ``lax.cond`` on the nonzero count, when more than
``DENSE_ABOVE`` (a quarter) of ``x`` is nonzero, where it is the faster one; the
one-shot products do not (the count and the cond cost about as much as the kernel at
10 % density, measured on 6400 x 256 spikes).
"""

import jax
import jax.numpy as jnp

from . import _native
from ._kernel import Kernel

_FLOATS = (jnp.float32, jnp.float64)

# Above this fraction of nonzero entries the dense product is faster than the kernels
# (measured on a 2-core x86-64: crossover ~0.25 for rows_outer, ~0.3-0.45 for the
# per-step rows_matmul at 256-1024 columns); both branches are exact.
DENSE_ABOVE = 0.25


def _by_density(x, event, dense):
    """``event`` when at most ``DENSE_ABOVE`` of ``x``'s entries are nonzero, else
    ``dense`` (a ``lax.cond`` on the spike count, evaluated at run time)."""
    # The barrier keeps XLA from constant-folding the count of a constant x (seconds of
    # compile time for a large one).
    few = jnp.count_nonzero(jax.lax.optimization_barrier(x)) <= DENSE_ABOVE * x.size
    return lambda *args: jax.lax.cond(few, event, dense, *args)


def _same_float(*arrays) -> bool:
    dt = arrays[0].dtype
    return dt in _FLOATS and all(a.dtype == dt for a in arrays)


def _native_ok(*arrays) -> bool:
    return _same_float(*arrays) and _native.available()


def _swapped(x, swap):
    return jnp.swapaxes(x, 0, 1) if swap else x


@jax.custom_batching.custom_vmap
def _native_matmul(x, w):
    return _native.rows_matmul(x, w)


@_native_matmul.def_vmap
def _native_matmul_vmap(axis_size, in_batched, x, w):
    if in_batched[1]:  # batched weights: one call per batch element
        x = x if in_batched[0] else jnp.broadcast_to(x, (axis_size, *x.shape))
        return jax.lax.map(lambda a: _native_matmul(*a), (x, w)), True
    return _native_matmul(x, w), True  # the new axis is just more rows


# Below this many output columns the dense product is cheaper than compacting ``x``
# (e.g. a 20-unit readout: 2·K·N flops per row vs a scan of K entries).
NARROW = 32


def _outer_dense(x, g, *, swap):
    return x.reshape(-1, x.shape[-1]).T @ _swapped(g, swap).reshape(-1, g.shape[-1])


_outer = Kernel("rows_outer", _outer_dense, when="always (narrow g too)")


@_outer.register("cpu", applies=lambda x, g, **_: _same_float(x, g))
def _outer_native(x, g, *, swap):
    return _native.rows_outer(x, g, swap)


def rows_outer(x, g, swap: bool = False):
    """``dw (K, N) = xᵀ g`` over all leading (row) axes of ``x (..., K)`` and
    ``g (..., N)`` (``swap``: ``x (A, B, K)``, ``g (B, A, N)``), touching only the
    nonzero entries of ``x``. Not differentiable."""
    rows = (x.shape[1], x.shape[0]) if swap else x.shape[:-1]
    if (swap and x.ndim != 3) or rows != g.shape[:-1]:
        raise ValueError(f"rows_outer: x {x.shape} and g {g.shape} (swap={swap}) mismatch")
    xr, gr = (x, g) if swap else (x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1]))
    return _outer(xr, gr, swap=swap)


def _dx_dense(g, wt, *, swap):
    return _swapped(g @ wt, swap)


_dx = Kernel("rows_matmul_vjp", _dx_dense, when="cotangents of fewer than NARROW columns")


@_dx.register("cpu", applies=lambda g, wt, **_: g.shape[-1] < NARROW and _same_float(g, wt))
def _dx_native(g, wt, *, swap):
    """``∂x = g wᵀ`` for narrow ``g`` (a readout's cotangent) in the native row kernel,
    every entry of ``g`` a "nonzero" (``N`` rows of ``wᵀ`` summed per output row): that
    kernel maps its large output as huge pages, where XLA's dot first-touches a fresh
    (T, B, H) buffer page by page (at H = 1024 the training step's largest remaining
    source of page faults)."""
    return _native.rows_matmul(g, wt, swap)


def _matmul_bwd(x, w, g, *, swap):
    return _dx(g, jnp.transpose(w), swap=swap), rows_outer(x, g, swap)


_rows_matmul = Kernel(
    "rows_matmul",
    lambda x, w, *, swap: _swapped(x, swap) @ w,
    bwd=_matmul_bwd,
    when="at least NARROW output columns",
)


@_rows_matmul.register(
    "cpu", applies=lambda x, w, **_: _same_float(x, w) and w.shape[-1] >= NARROW
)
def _matmul_native(x, w, *, swap):
    return _native.rows_matmul(x, w, True) if swap else _native_matmul(x, w)


_fixed = Kernel(
    "fixed_rows_matmul",
    lambda x, w, wp, *, n: x @ w,
    when="at most DENSE_ABOVE of the spikes nonzero (a run-time branch)",
)


@_fixed.register("cpu", applies=lambda x, w, wp, **_: _same_float(x, w))
def _fixed_native(x, w, wp, *, n):
    dense = lambda x, w, wp: x @ w
    native = lambda x, w, wp: _native.rows_matmul(x, wp, n=n)
    return _by_density(x, native, dense)(x, w, wp)


def fixed_rows_matmul(w):
    """``f(x) = x @ w`` event-driven like ``rows_matmul`` for repeated products with one
    ``w (K, N)`` (e.g. per step of a scan): on CPU ``w`` is packed into the kernel's
    column-block layout once, here, not on every call. ``f`` is not differentiable
    (for the forward pass of a hand-written VJP). Above ``DENSE_ABOVE`` nonzeros in
    ``x`` it computes ``x @ w`` densely (module docstring)."""
    if not _native_ok(w):
        return lambda x: x @ w
    wp = _native.pack_rows_weight(w)
    return lambda x: _fixed(x, w, wp, n=w.shape[1])


def rows_matmul(x, w, swap: bool = False):
    """``x (..., K) @ w (K, N)`` touching only the rows of ``w`` of nonzero ``x``
    (module docstring); exact dense VJPs. ``swap``: ``x (A, B, K)`` → ``(B, A, N)``."""
    if swap and x.ndim != 3:
        raise ValueError(f"rows_matmul: swap needs x of rank 3, got shape {x.shape}")
    return _rows_matmul(x, w, swap=swap)


def lif_scan_available(*arrays) -> bool:
    """True when ``lif_scan_native`` can run on ``arrays`` (float32/float64 of one dtype,
    native kernels built)."""
    return _native_ok(*arrays)


def lif_scan_native(w_rec, alpha, beta, theta, h, i0, v0, s0):
    r"""The whole forward scan of the LIF recurrence of ``bs.train._bptt`` in one native
    call (``lif_scan.cc``, ``BrainsimLifScan``): for ``h (T, ..., n)``, initial
    ``i0, v0, s0 (..., n)``, ``alpha, beta, theta (n,)`` and ``w_rec (n, n)`` or
    ``None``, returns ``(s, vt)``, each ``(T, ..., n)``: the spikes and the pre-reset
    membrane $\tilde V_t$ (the residuals; ``lif_scan_bwd_native`` recomputes the rest).
    The recurrent input $s_{t-1} W$ sums only the rows of ``w_rec`` of the previous
    spikes. CPU only (callers check ``lif_scan_available`` and dispatch); not
    differentiable."""
    _native._require()
    dt = h.dtype
    n = h.shape[-1]
    if w_rec is None:
        wp = jnp.zeros((1, 1, 1), dt)
    else:
        wp = _native.pack_rows_weight(w_rec.astype(dt))
    coef = [jnp.broadcast_to(c, (n,)).astype(dt) for c in (alpha, beta, theta)]
    init = [jnp.broadcast_to(c, h.shape[1:]).astype(dt) for c in (i0, v0, s0)]
    out = [jax.ShapeDtypeStruct(h.shape, dt)] * 2
    call = jax.ffi.ffi_call("brainsim_lif_scan", out, vmap_method="sequential")
    return tuple(call(h, wp, *coef, *init, has_rec=w_rec is not None))


def lif_scan_bwd_native(w_rec, alpha, beta, theta, ct, sg, vt, i0, v0):
    r"""The reverse scan of ``bs.train._bptt`` in one native call (``BrainsimLifScanBwd``):
    for the cotangent ``ct``, the surrogate derivative ``sg`` and the pre-reset membrane
    ``vt`` (each ``(T, ..., n)``), the initial ``i0, v0 (..., n)``, ``alpha``, ``beta``,
    ``theta (n,)`` and ``w_rec (n, n)`` or ``None``, returns
    ``(g_h, acc_a, acc_b, acc_t, g_v0)``: the adjoint $g^I_t$ ``(T, ..., n)`` (computed
    in ``sg``'s buffer), the per-row sums $\sum_t g^I_t I_{t-1}$,
    $\sum_t g^{\tilde V}_t V_{t-1}$, $\sum_t \bar s_t \sigma'_t$ and $g^{\tilde V}_0$
    (``(..., n)``). The kernel recomputes $s_t = H(\tilde V_t - \vartheta)$,
    $V_{t-1} = (1 - s_{t-1}) \tilde V_{t-1}$ and $I_{t-1} = \tilde V_{t-1} - \beta
    V_{t-2}$ (``_bptt`` docstring); the dense $g^I W^\top$ runs in its
    register-blocked product (``w_rec``ᵀ packed here, once). CPU only; not
    differentiable."""
    _native._require()
    dt = ct.dtype
    n = ct.shape[-1]
    if w_rec is None:
        wt = jnp.zeros((1, 1, 1), dt)
    else:
        p = 64 // dt.itemsize  # the kernel's panel width (two 32-byte vectors)
        n_p = -(-n // p)
        wt = jnp.pad(jnp.transpose(w_rec.astype(dt)), ((0, 0), (0, n_p * p - n)))
        wt = jnp.transpose(wt.reshape(n, n_p, p), (1, 0, 2))
    coef = [jnp.broadcast_to(c, (n,)).astype(dt) for c in (alpha, beta, theta)]
    init = [jnp.broadcast_to(c, ct.shape[1:]).astype(dt) for c in (i0, v0)]
    out = [jax.ShapeDtypeStruct(ct.shape, dt)] + [jax.ShapeDtypeStruct(ct.shape[1:], dt)] * 4
    call = jax.ffi.ffi_call(
        "brainsim_lif_scan_bwd", out, vmap_method="sequential", input_output_aliases={1: 0}
    )
    return tuple(call(ct, sg, vt, wt, *coef, *init, has_rec=w_rec is not None))


def rows_outer_lagged(x0, x, g):
    r"""$\sum_t x_{t-1}^\top g_t$ for ``x, g (T, ..., K|N)`` with $x_{-1}$ = ``x0 (..., K)``
    (the recurrent weight gradient of a time scan), event-driven like ``rows_outer``
    without building the shifted copy of ``x``: the lagged rows are a pointer offset in
    the native kernel. Not differentiable."""
    if x.shape[:-1] != g.shape[:-1] or x0.shape != x.shape[1:] or x.ndim < 2:
        raise ValueError(f"rows_outer_lagged: x0 {x0.shape}, x {x.shape}, g {g.shape}")
    first = rows_outer(x0, g[0])
    if x.shape[0] == 1:
        return first
    return first + _lagged(x, g)


_lagged = Kernel("rows_outer_lagged", lambda x, g: rows_outer(x[:-1], g[1:]), when="as rows_outer")


@_lagged.register("cpu", applies=lambda x, g: _same_float(x, g))
def _lagged_native(x, g):
    out = jax.ShapeDtypeStruct((x.shape[-1], g.shape[-1]), x.dtype)
    call = jax.ffi.ffi_call("brainsim_rows_outer_lagged", out, vmap_method="sequential")
    return call(x, g)
