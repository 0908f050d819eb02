r"""Hand-written BPTT for the (recurrent) LIF layer: one ``jax.custom_vjp`` around the
whole time scan.

Forward, per step (``h`` the projected input, ``W`` the recurrent weights or none):

$$I_t = \alpha I_{t-1} + h_t + s_{t-1} W, \quad \tilde V_t = \beta V_{t-1} + I_t, \quad
s_t = H(\tilde V_t - \vartheta), \quad V_t = \tilde V_t (1 - s_t)$$

It stores only ``s_t`` (the output), the pre-reset $\tilde V_t$ and the surrogate
derivative $\sigma'_t = \sigma'(\tilde V_t - \vartheta)$: two ``(T, ..., n)`` residuals
beside the output. The reverse scan recomputes $s_t = H(\tilde V_t - \vartheta)$ (the
forward's own comparison: exactly its spikes), $V_{t-1} = (1 - s_{t-1}) \tilde V_{t-1}$
(exact) and $I_{t-1} = \tilde V_{t-1} - \beta V_{t-2}$ (one rounding of $\tilde V$), with
$V_{-1} = v_0$, $I_{-1} = i_0$, for the decay gradients. Backward, one reverse scan
with adjoints $g^I_t = \partial L/\partial I_t$, $g^{\tilde V}_t$ (reset detached, as the
``AffineForm`` requires), $\bar s_t$ the spike cotangent:

$$\bar s_t = \partial L/\partial s_t + g^I_{t+1} W^\top, \quad
g^{\tilde V}_t = \beta g^{\tilde V}_{t+1} (1 - s_t) + \bar s_t \sigma'_t, \quad
g^I_t = g^{\tilde V}_t + \alpha g^I_{t+1}$$

The only per-step matmul is the dense $g^I W^\top$. The parameter gradients are not
accumulated per step: $\partial h_t = g^I_t$, $\partial W = \sum_t s_{t-1}^\top g^I_t$
(one matmul over all ``T·B`` rows after the scan, event-driven over the active rows of
the spikes), and the per-neuron reductions $\partial\alpha = \sum g^I_t I_{t-1}$,
$\partial\beta = \sum g^{\tilde V}_t V_{t-1}$, $\partial\vartheta = -\sum \bar s_t
\sigma'_t$ run in the scan carry. This is the registered fast path of ``NeuronLayer`` for
a model with an ``AffineForm`` (``LIFLayer`` is such a layer): equal to autodiff of the
scan of the model's ``step`` (the reference in the tests) up to float rounding.

On CPU (native kernels built, float32/64) each scan is one native call
(``ops.rows.lif_scan_native`` / ``lif_scan_bwd_native``): the batch rows are independent,
so each thread runs all ``T`` steps of its rows with no per-step dispatch; the forward
sums the rows of ``W`` of the previous step's spike list, the reverse scan computes
$g^I W^\top$ in a register-blocked product fused with the elementwise update, and
$\partial W$ is ``ops.rows.rows_outer_lagged`` (no shifted spike copy). Elsewhere, or
with ``bs.ops.configure(kernels=False)``, the ``lax.scan`` versions below run (the
portable path and the kernels' test oracle).
"""

import jax
import jax.numpy as jnp

from .. import ops
from ..ops._kernel import Kernel


def _rows(x):
    return x.reshape(-1, x.shape[-1])


def _sum_to(a, like):
    """``a (..., n)`` summed over its leading axes (and over ``n`` for a scalar ``like``)."""
    r = jnp.sum(_rows(a), axis=0)
    return r if jnp.shape(like) == r.shape else jnp.sum(r).reshape(jnp.shape(like))


def _forward_scan(w_rec, alpha, beta, theta, h, i0, v0, s0):
    """The portable forward: a ``lax.scan`` (the recurrent input event-driven through
    ``ops.fixed_rows_matmul`` where available); ``(s, vt)``."""
    al, be, th = (jnp.broadcast_to(c, i0.shape) for c in (alpha, beta, theta))
    rec = None if w_rec is None else ops.fixed_rows_matmul(w_rec)

    def step(carry, h_t):
        i_prev, v_prev, s = carry
        i = al * i_prev + h_t
        if w_rec is not None:
            i = i + rec(s)
        vt = be * v_prev + i
        x = vt - th
        s = (x > 0).astype(x.dtype)
        v = jnp.where(x > 0, jnp.zeros_like(vt), vt)
        return (i, v, s), (s, vt)

    return jax.lax.scan(step, (i0, v0, s0), h)[1]


def _native_applies(*args) -> bool:
    return ops.rows.lif_scan_available(*(jnp.asarray(a) for a in args[::-1] if a is not None))


# ``(s, vt)`` (T, *batch, n): spikes and the pre-reset membrane; the whole scan in one
# native call on CPU (``ops.rows.lif_scan_native``), else ``_forward_scan``.
_forward = Kernel(
    "lif_scan",
    _forward_scan,
    when="bs.train's LIF recurrence, the forward scan (float32/float64)",
)
_forward.register("cpu", applies=_native_applies)(ops.rows.lif_scan_native)


@jax.custom_vjp
def lif_scan(surrogate, w_rec, alpha, beta, theta, h, i0, v0, s0):
    """Spikes ``(T, *batch, n)`` of the non-adaptive LIF recurrence (module docstring)
    for ``h (T, *batch, n)``, initial ``i0, v0, s0 (*batch, n)``, per-neuron ``alpha``,
    ``beta``, ``theta (n,)``, ``w_rec (n, n)`` or ``None``, and the Heaviside spike's
    ``surrogate`` (which gets a zero gradient)."""
    return _forward(w_rec, alpha, beta, theta, h, i0, v0, s0)[0]


def _fwd(surrogate, w_rec, alpha, beta, theta, h, i0, v0, s0):
    s, vt = _forward(w_rec, alpha, beta, theta, h, i0, v0, s0)
    # x = vt - theta is the forward's own pre-reset distance to threshold (same float op)
    sg = surrogate.grad(vt - jnp.broadcast_to(theta, vt.shape).astype(vt.dtype))
    i0, v0 = (jnp.broadcast_to(c, s.shape[1:]).astype(s.dtype) for c in (i0, v0))
    return s, (surrogate, w_rec, alpha, beta, theta, s, vt, sg, i0, v0, s0)


def _prev_states(beta, theta, vt, i0, v0):
    """``(s, i_prev, v_prev)`` (T, ..., n): the spikes and $I_{t-1}$, $V_{t-1}$ from the
    pre-reset ``vt`` (module docstring)."""
    be, th = (jnp.broadcast_to(c, vt.shape).astype(vt.dtype) for c in (beta, theta))
    spike = vt - th > 0
    v_post = jnp.where(spike, jnp.zeros_like(vt), vt)
    v_prev = jnp.concatenate([v0[None], v_post[:-1]])
    i_prev = jnp.concatenate([i0[None], vt[:-1] - be[:-1] * v_prev[:-1]])
    return spike.astype(vt.dtype), i_prev, v_prev


def _reverse_scan(w_rec, alpha, beta, theta, ct, sg, vt, i0, v0):
    """The portable reverse scan: ``(g_h, acc_a, acc_b, acc_t, g_v0)`` (module
    docstring; the sums per row)."""
    al, be = (jnp.broadcast_to(c, ct.shape[1:]) for c in (alpha, beta))
    s, i_prev, v_prev = _prev_states(beta, theta, vt, i0, v0)
    zero = jnp.zeros_like(ct[0])
    # W^T materialised once, before the scan: otherwise XLA's CPU dot transposes the
    # (n, n) matrix again on every step (measured: ~1/5 of the matmul's time at n = 1024).
    w_t = None if w_rec is None else jax.lax.optimization_barrier(jnp.transpose(w_rec) + 0)

    def step(carry, xs):
        g_i_next, g_v_next, acc_a, acc_b, acc_t = carry
        ct_t, s_t, sg_t, ip_t, vp_t = xs
        s_bar = ct_t if w_rec is None else ct_t + g_i_next @ w_t
        s_bar_sg = s_bar * sg_t
        g_v = be * g_v_next * (1 - s_t) + s_bar_sg
        g_i = g_v + al * g_i_next
        carry = (g_i, g_v, acc_a + g_i * ip_t, acc_b + g_v * vp_t, acc_t + s_bar_sg)
        return carry, g_i

    init = (zero, zero, zero, zero, zero)
    (_, g_v0, acc_a, acc_b, acc_t), g_h = jax.lax.scan(
        step, init, (ct, s, sg, i_prev, v_prev), reverse=True
    )
    return g_h, acc_a, acc_b, acc_t, g_v0


# ``_reverse_scan``, as one native call on CPU (``ops.rows.lif_scan_bwd_native``: rows
# split over threads, the dense ``g W^T`` register-blocked in the kernel).
_reverse = Kernel(
    "lif_scan_bwd",
    _reverse_scan,
    when="bs.train's LIF recurrence, the reverse (BPTT) scan (float32/float64)",
)
_reverse.register("cpu", applies=_native_applies)(ops.rows.lif_scan_bwd_native)


def _bwd(res, ct):
    surrogate, w_rec, alpha, beta, theta, s, vt, sg, i0, v0, s0 = res
    g_h, acc_a, acc_b, acc_t, g_v0 = _reverse(w_rec, alpha, beta, theta, ct, sg, vt, i0, v0)
    g_i0 = g_h[0]
    if w_rec is None:
        d_w, d_s0 = None, jnp.zeros_like(s0)
    else:
        d_w = ops.rows.rows_outer_lagged(s0, s, g_h)
        d_s0 = g_i0 @ jnp.transpose(w_rec)
    d_surrogate = jax.tree.map(jnp.zeros_like, surrogate)
    al, be = (jnp.broadcast_to(c, s0.shape) for c in (alpha, beta))
    return (
        d_surrogate,
        d_w,
        _sum_to(acc_a, alpha),
        _sum_to(acc_b, beta),
        -_sum_to(acc_t, theta),
        g_h,
        al * g_i0,
        be * g_v0,
        d_s0,
    )


lif_scan.defvjp(_fwd, _bwd)
