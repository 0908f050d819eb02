r"""One step of event-driven plastic weights with a bounded, factored change: the form
of the pair, triplet and inhibitory STDP rules, with a native CPU kernel.

For the synapse $s = (i, j)$, with $B(w, r)$ the change that weight bounds allow
(``bounded_change``, the definition of ``bs.plasticity.Bounds``):

$$w_s \leftarrow w_s + \text{post}_j\,B(w_s,\ a^\text{post}_i\, b^\text{post}_j)
\quad\text{then}\quad
w_s \leftarrow w_s + \text{pre}_i\,B(w_s,\ b^\text{pre}_i\, a^\text{pre}_j)$$

first along the columns of the spiking postsynaptic neurons, then along the rows of the
spiking presynaptic neurons (the step order of ``bs.plasticity``): $a$ is a per-neuron
factor of the *partner* (a trace of the other side), $b$ one of the neuron that spikes.

``plastic_bounded`` is a ``Kernel``: its reference is ``update_columns`` then
``update_rows`` (``ops.plastic``) with ``B`` as the ``delta``, and its VJP theirs. On
CPU one C++ call (``_native/plastic_event.cc``) does both passes in place, with the
floating-point operations of the reference as XLA compiles it, so both paths give the
same weights bit for bit; it applies to float32/float64 weights with additive (``mu``
0) or multiplicative (``mu`` 1) weight dependence on each side (other exponents take
``pow``, whose rounding XLA and the C library do not share). The reference scales by
the reciprocal of the span, computed once (not a division per synapse, which XLA
rewrites into that product only where the bounds are constants), so the kernel can
round as it does in every program. Under ``jax.vmap`` the reference runs.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..conn.layouts import CSR, ELL
from ._kernel import Kernel
from .event import _csr_arrays
from .plastic import Indexed, update_columns, update_rows


def bounded_change(w, raw, w_min, w_max, mu_plus: float = 0.0, mu_minus: float = 0.0):
    r"""The change of ``w`` that a raw change ``raw`` makes within ``[w_min, w_max]``:
    $\operatorname{clip}(w + \text{raw}\,f(w), w_\min, w_\max) - w$ with, for
    $u = (w - w_\min)/(w_\max - w_\min)$, $f = (1 - u)^{\mu_+}$ where raw > 0 and
    $u^{\mu_-}$ elsewhere (``mu`` static, >= 0; 0 is additive). Weight units, any
    (broadcastable) shapes."""
    if mu_plus or mu_minus:
        u = (w - w_min) * (1 / (w_max - w_min))
        raw = raw * jnp.where(raw > 0, _power(1 - u, mu_plus), _power(u, mu_minus))
    return jnp.clip(w + raw, w_min, w_max) - w


def _power(x, mu: float):
    """``x ** mu`` for ``x`` in [0, 1] with exact (and differentiable) ``mu`` 0 and 1."""
    if mu == 0:
        return jnp.ones_like(x)
    if mu == 1:
        return x
    return jnp.power(jnp.maximum(x, 0.0), mu)


class _Change(eqx.Module):
    """``delta`` of ``update_rows``/``update_columns``: ``bounded_change(w, x y)`` with
    ``theta = (w_min, w_max)``."""

    mu_plus: float = eqx.field(static=True)
    mu_minus: float = eqx.field(static=True)

    def __call__(self, w, x, y, theta):
        return bounded_change(w, x * y, *theta, self.mu_plus, self.mu_minus)


def _reference(layout, cols, w, pre, post, a_post, b_post, a_pre, b_pre, bounds, *, mu, caps):
    change = _Change(*mu)
    w = update_columns(layout, cols, w, post, change, a_post, b_post, bounds, caps[1])
    return update_rows(layout, w, pre, change, b_pre, a_pre, bounds, caps[0])


def _bwd(layout, cols, *args, mu, caps):
    *args, ct = args
    ref = lambda *a: _reference(layout, cols, *a, mu=mu, caps=caps)
    _, vjp = jax.vjp(ref, *args)
    no_grad = lambda tree: jax.tree.map(lambda _: None, tree)
    return (no_grad(layout), no_grad(cols), *vjp(ct))


_plastic = Kernel(
    "plastic_bounded",
    _reference,
    bwd=_bwd,
    when="float32/float64 weights, mu_plus and mu_minus each 0 or 1",
)


def _applies(layout, cols, w, *args, mu, caps):
    return w.dtype in (jnp.float32, jnp.float64) and all(m in (0, 1) for m in mu)


@_plastic.register("cpu", applies=_applies)
def _native_call(layout, cols, w, pre, post, a_post, b_post, a_pre, b_pre, bounds, *, mu, caps):
    @jax.custom_batching.custom_vmap
    def call(layout, cols, *args):
        indptr, indices = _csr_arrays(layout)
        w, pre, post, a_post, b_post, a_pre, b_pre, (lo, hi) = args
        kernel = jax.ffi.ffi_call(
            "brainsim_plastic_bounded",
            jax.ShapeDtypeStruct(w.shape, w.dtype),
            input_output_aliases={0: 0},
        )
        operands = (cols.indptr, cols.pre, cols.offset, a_post, b_post, a_pre, b_pre, lo, hi)
        soft = np.int64(int(mu[0] == 1) | 2 * int(mu[1] == 1))
        return kernel(w, pre, post, indptr, indices, *operands, soft=soft)

    @call.def_vmap
    def _(axis_size, in_batched, *args):  # batched: the reference, element by element
        axes = [jax.tree.map(lambda b: 0 if b else None, b) for b in in_batched]
        ref = functools.partial(_reference, mu=mu, caps=caps)
        return jax.vmap(ref, in_axes=tuple(axes), axis_size=axis_size)(*args), True

    return call(layout, cols, w, pre, post, a_post, b_post, a_pre, b_pre, bounds)


def plastic_bounded(
    index: Indexed,
    w,
    pre,
    post,
    on_post,
    on_pre,
    w_min,
    w_max,
    mu_plus: float = 0.0,
    mu_minus: float = 0.0,
):
    """One step of bounded, factored plastic updates (module docstring).

    Args:
        index: the layout with its column index (``bs.ops.index``).
        w: ``(n_synapses,)`` weights, flat layout order (float32/float64).
        pre, post: ``(n_pre,)`` / ``(n_post,)`` spikes seen at the synapse (0/1 or
            surrogate values).
        on_post: ``(a_post (n_pre,), b_post (n_post,))``: a postsynaptic spike of ``j``
            changes its synapse from ``i`` by ``a_post[i] * b_post[j]`` (raw, weight units).
        on_pre: ``(a_pre (n_post,), b_pre (n_pre,))``: a presynaptic spike of ``i``
            changes its synapse onto ``j`` by ``b_pre[i] * a_pre[j]``.
        w_min, w_max: the bounds (weight units); ``mu_plus``, ``mu_minus``: the
            soft-bound exponents (static, >= 0), as ``bounded_change``.

    Returns:
        The updated ``(n_synapses,)`` weights.
    """
    layout = index.layout
    if not isinstance(layout, CSR | ELL):
        raise ValueError(f"plastic_bounded: index.layout must be CSR or ELL, got {layout!r}")
    if w.shape != (layout.n_synapses,):
        raise ValueError(
            f"plastic_bounded: w must be flat, shape ({layout.n_synapses},), got {w.shape}"
        )
    dtype = w.dtype
    cast = lambda x: jnp.asarray(x, dtype)
    bounds = (cast(w_min), cast(w_max))
    (a_post, b_post), (a_pre, b_pre) = on_post, on_pre
    args = (w, cast(pre), cast(post), cast(a_post), cast(b_post), cast(a_pre), cast(b_pre))
    for name, x, n in zip(
        ("pre", "post", "a_post", "b_post", "a_pre", "b_pre"),
        args[1:],
        (layout.n_pre, layout.n_post, layout.n_pre, layout.n_post, layout.n_post, layout.n_pre),
        strict=True,
    ):
        if x.shape != (n,):
            raise ValueError(f"plastic_bounded: {name} must have shape ({n},), got {x.shape}")
    caps = (index.pre_capacity, index.post_capacity)
    return _plastic(layout, index.cols, *args, bounds, mu=(mu_plus, mu_minus), caps=caps)
