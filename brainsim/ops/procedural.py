r"""Event-driven propagation through procedural ("just-in-time") connectivity.

No synapse is stored: when presynaptic neuron ``i`` spikes, its ``k`` targets and weight
factors are regenerated from a counter-based hash. All arithmetic is on uint32 words
(wrapping), so the pure-JAX path (any backend, no x64 needed) and the C++ kernel
(``_native/procedural.cc``) produce the same network bit for bit:

$$
\begin{aligned}
\mathrm{mix}(x) &: x \mathrel{\wedge}= x \gg 16;\ x \mathrel{*}= \mathtt{7feb352d};\
    x \mathrel{\wedge}= x \gg 15;\ x \mathrel{*}= \mathtt{846ca68b};\
    x \mathrel{\wedge}= x \gg 16 \quad \text{(lowbias32)} \\
\rho_i &= \mathrm{mix}(\mathrm{mix}(i \oplus s_0) + s_1) \\
h^{(q)}_{ic} &= \mathrm{mix}\big(\rho_i \oplus \mathrm{mix}(2c + q + \mathtt{9e3779b9})\big),
    \quad q = 0 \text{ (target)},\ 1 \text{ (weight)} \\
t_{ic} &= \lfloor h^{(0)}_{ic}\, m / 2^{32} \rfloor \quad (m = n_{post}; \text{ without
    self-synapses } m = n_{post} - 1,\ t \mathrel{+}= [t \ge i]) \\
r_{ic} &= \mathrm{table}[h^{(1)}_{ic} \gg 16] \quad (2^{16} \text{ quantiles of the rule;
    } 1 \text{ for constant weights})
\end{aligned}
$$

``mulhi`` (the high word of a 32×32-bit product) is an exact integer map of ``[0, 2³²)``
onto ``[0, m)`` (bias < m/2³² per target, no rejection loop, no floating point).

``out[b, j] = weight · Σ_i spikes[b, i] Σ_c r_ic [t_ic = j]``: the scalar gain
``weight`` multiplies the regenerated sum. Per-synapse sums are accumulated in order
(rows ascending, then ``c``) on both paths. The VJP regenerates every row (O(synapses)
hashes, no storage): ``∂/∂spikes[i] = weight · Σ_c r_ic ct[t_ic]`` and
``∂/∂weight = ⟨ct, out / weight⟩``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..conn.layouts import CSR, Procedural
from . import _native
from ._kernel import Kernel

_U32 = jnp.uint32
_M1, _M2, _GOLD = np.uint32(0x7FEB352D), np.uint32(0x846CA68B), np.uint32(0x9E3779B9)
_BLOCK_SYNAPSES = 1 << 20  # synapses regenerated at once by materialize / the VJP


def _mix(x):
    x = x ^ (x >> 16)
    x = x * _M1
    x = x ^ (x >> 15)
    x = x * _M2
    return x ^ (x >> 16)


def _mulhi(a, m: int):
    """``floor(a * m / 2**32)`` for uint32 ``a`` and ``0 <= m < 2**31``, in uint32 only."""
    a_hi, a_lo = a >> 16, a & np.uint32(0xFFFF)
    m_hi, m_lo = np.uint32(m >> 16), np.uint32(m & 0xFFFF)
    lo_lo, lo_hi, hi_lo = a_lo * m_lo, a_lo * m_hi, a_hi * m_lo
    mid = (lo_lo >> 16) + (lo_hi & np.uint32(0xFFFF)) + (hi_lo & np.uint32(0xFFFF))
    return a_hi * m_hi + (lo_hi >> 16) + (hi_lo >> 16) + (mid >> 16)


def rows(layout: Procedural, pre):
    """Targets ``(r, k)`` int32 and weight factors ``(r, k)`` float32 (``None`` for
    constant weights) of presynaptic neurons ``pre (r,)``."""
    seed = jnp.asarray(layout.seed, _U32)
    s0, s1 = seed[0], seed[1]
    i = pre.astype(_U32)
    rho = _mix(_mix(i ^ s0) + s1)[:, None]
    c = jnp.arange(layout.k, dtype=_U32)[None, :] * np.uint32(2)
    m = layout.n_post - 1 if layout.skip_self else layout.n_post
    t = _mulhi(_mix(rho ^ _mix(c + _GOLD)), m)
    if layout.skip_self:
        t = t + (t >= i[:, None]).astype(_U32)
    table = layout.weights.table()
    r = None
    if table is not None:
        r = jnp.asarray(table)[_mix(rho ^ _mix(c + np.uint32(1) + _GOLD)) >> 16]
    return t.astype(jnp.int32), r


def _add_rows(layout, out, idx, vals, j0=0):
    """``out[j - j0] += vals[s] r_{idx[s], c}`` for every slot ``s`` (in order) and ``c``
    with ``t_{idx[s], c} - j0`` inside ``out``; slots with ``idx >= n_pre`` are empty."""
    n_out = out.shape[0]
    live = idx < layout.n_pre
    t, r = rows(layout, jnp.where(live, idx, 0))
    vals = vals[:, None].astype(out.dtype)
    vals = jnp.broadcast_to(vals, t.shape) if r is None else vals * r.astype(out.dtype)
    t = t - j0
    keep = live[:, None] & (t >= 0) & (t < n_out)
    return out.at[jnp.where(keep, t, n_out).ravel()].add(vals.ravel(), mode="drop")


def _compacted(layout, spikes, capacity, window=None):
    """Pure-JAX ``Σ_i spikes[i] r_i·`` for one spike vector: the active rows, ``capacity``
    at a time (one pass unless more than ``capacity`` neurons spike). ``window = (j0,
    n_out)``: only the targets ``j0 <= j < j0 + n_out``, as ``out[j - j0]`` (one shard's
    postsynaptic block; ``j0`` may be traced)."""
    n_pre = spikes.shape[0]
    j0, n_out = (0, layout.n_post) if window is None else window
    active = spikes != 0

    def add_rows(out, idx):
        vals = spikes[jnp.where(idx < n_pre, idx, 0)]
        return _add_rows(layout, out, idx, vals, j0)

    first = jnp.nonzero(active, size=capacity, fill_value=n_pre)[0]
    out = add_rows(jnp.zeros(n_out, spikes.dtype), first)

    def rest(out):  # a burst: the next `capacity` active rows per pass, in order
        rank = jnp.cumsum(active) - 1

        def body(carry):
            out, start = carry
            idx = jnp.nonzero(active & (rank >= start), size=capacity, fill_value=n_pre)[0]
            return add_rows(out, idx), start + capacity

        n_active = rank[-1] + 1
        init = (out, jnp.asarray(capacity, rank.dtype))
        return jax.lax.while_loop(lambda c: c[1] < n_active, body, init)[0]

    return jax.lax.cond(jnp.count_nonzero(active) > capacity, rest, lambda o: o, out)


def _pure_forward(spikes, *, layout, capacity):
    if spikes.shape[0] == 1:  # no vmap: keeps the burst branch a real conditional
        return _compacted(layout, spikes[0], capacity)[None]
    return jax.vmap(lambda x: _compacted(layout, x, capacity))(spikes)


def _row_blocks(layout, fn, init):
    """Fold ``fn(acc, pre, targets, factors)`` over all rows in blocks of about
    ``_BLOCK_SYNAPSES`` synapses (bounded memory at any size)."""
    block = max(1, min(layout.n_pre, _BLOCK_SYNAPSES // max(layout.k, 1)))
    n_blocks = -(-layout.n_pre // block)

    def body(b, acc):
        pre = b * block + jnp.arange(block)
        t, r = rows(layout, jnp.minimum(pre, layout.n_pre - 1))
        return fn(acc, pre, t, r)

    return jax.lax.fori_loop(0, n_blocks, body, init)


def _gather_pure(ct, *, layout):
    """``G[b, i] = Σ_c r_ic ct[b, t_ic]`` for ``ct (b, n_post)``: ``(b, n_pre)``."""

    def fn(acc, pre, t, r):
        g = ct[:, t]  # (b, block, k)
        g = g if r is None else g * r.astype(ct.dtype)[None]
        g = jnp.sum(g, axis=-1)
        ok = pre < layout.n_pre
        return acc.at[:, jnp.where(ok, pre, layout.n_pre)].set(g, mode="drop")

    return _row_blocks(layout, fn, jnp.zeros((ct.shape[0], layout.n_pre), ct.dtype))


def _pure_window(spikes, j0, *, layout, capacity, n_out):
    return _compacted(layout, spikes, capacity, (j0, n_out))


_FLOATS = (jnp.float32, jnp.float64)
_floats = lambda x, *_, **__: x.dtype in _FLOATS
_forward = Kernel("procedural_matvec", _pure_forward, when="procedural layouts")
_gather = Kernel("procedural_gather", _gather_pure, when="the VJP of procedural_matvec")
_window = Kernel(
    "procedural_matvec_window", _pure_window, when="one shard's block of procedural layouts"
)


@_forward.register("cpu", applies=_floats)
def _forward_native(spikes, *, layout, capacity):
    return _native.procedural_event(layout, spikes)


@_window.register("cpu", applies=_floats)
def _window_native(spikes, j0, *, layout, capacity, n_out):
    # the full product (the rows are regenerated whole either way), then the block; the
    # zeros appended cover a last block reaching past n_post (padding: receives nothing)
    full = _native.procedural_event(layout, spikes[None])[0]
    full = jnp.concatenate([full, jnp.zeros(n_out, full.dtype)])
    return jax.lax.dynamic_slice(full, (j0,), (n_out,))


@_gather.register("cpu", applies=_floats)
def _gather_native(ct, *, layout):
    return _native.procedural_gather(layout, ct)


# The layout is an argument, not a constant: its seed may be traced (jax.vmap over
# network seeds). Its integer seed has no cotangent (None).
@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _matvec(layout, weight, spikes, capacity):
    return weight * _forward(spikes, layout=layout, capacity=capacity)


def _fwd(layout, weight, spikes, capacity):
    unit = _forward(spikes, layout=layout, capacity=capacity)
    return weight * unit, (layout, weight, unit)


def _bwd(capacity, res, ct):
    layout, weight, unit = res
    d_spikes = weight * _gather(ct, layout=layout)
    return None, jnp.vdot(ct, unit).astype(weight.dtype), d_spikes


_matvec.defvjp(_fwd, _bwd)


def procedural_matvec(layout: Procedural, weight, spikes, capacity: int):
    """``out[..., j] = weight · Σ_i spikes[..., i] Σ_c r_ic [t_ic = j]`` regenerating only
    the rows of nonzero spikes. ``spikes (..., n_pre)``; ``weight`` a scalar (the gain);
    ``capacity``: rows regenerated per pass of the pure-JAX path (the native CPU kernel
    needs no buffer). Returns ``(..., n_post)``."""
    weight = jnp.asarray(weight, spikes.dtype)
    if weight.ndim:
        raise ValueError(f"procedural connectivity takes a scalar weight, got {weight.shape}")
    flat = spikes.reshape(-1, spikes.shape[-1])
    out = _matvec(layout, weight, flat, capacity)
    return out.reshape(*spikes.shape[:-1], layout.n_post)


def procedural_matvec_window(layout: Procedural, weight, spikes, capacity: int, j0, n_out: int):
    """Forward-only ``procedural_matvec`` restricted to the postsynaptic block
    ``[j0, j0 + n_out)`` (one shard of a neuron-sharded run): every active row is
    regenerated, only its targets in the block are added, in the same order as the
    full product, so the block is bit-identical to the full product's slice (on CPUs
    the native kernel's full product, sliced: its row generation is far faster than the
    pure-JAX rows', and the rows are regenerated whole on every shard either way).
    ``spikes (n_pre,)``; returns ``(n_out,)``."""
    j0 = jnp.asarray(j0, jnp.int32)
    return weight * _window(spikes, j0, layout=layout, capacity=capacity, n_out=n_out)


def procedural_matvec_list(layout: Procedural, weight, idx, vals, j0, n_out: int):
    """Forward-only block ``[j0, j0 + n_out)`` of the product for a list of active
    presynaptic neurons ``idx (c,)`` (ascending; ``n_pre`` marks an empty slot) with spike
    values ``vals (c,)``: the same sums, in the same order, as from the dense vector."""
    return weight * _add_rows(layout, jnp.zeros(n_out, vals.dtype), idx, vals, j0)


def materialize(layout: Procedural) -> tuple[CSR, np.ndarray]:
    """Regenerate every row once: a ``CSR`` layout (rows in ``c`` order, multapses kept)
    and its ``(n_pre·k,)`` float32 weight factors ``r`` (ones for constant weights), so
    that ``matvec(csr, weight * r, s)`` equals ``matvec(layout, weight, s)``."""

    all_rows = lambda: rows(layout, jnp.arange(layout.n_pre))
    t, r = jax.jit(all_rows)()
    if isinstance(t, jax.core.Tracer):  # called under a trace (e.g. to_dense in a jit)
        with jax.ensure_compile_time_eval():
            t, r = all_rows()
    r = np.ones(t.shape, np.float32) if r is None else np.asarray(r)
    t, r = np.asarray(t).ravel(), r.ravel()
    indptr = np.arange(0, layout.n_pre * layout.k + 1, layout.k, dtype=np.int64)
    return CSR(layout.n_pre, layout.n_post, indptr, t), r
