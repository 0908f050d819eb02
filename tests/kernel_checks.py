"""How the kernel equivalence suite compares a kernel with its pure-JAX reference
(``kernel_examples.py``'s ``Example.compare``):

- ``"exact"``: integer results (spike positions, counts), and spikes.
- ``("sum", n)``: sums of at most ``n`` products in another order. Any order of a
  recursive sum of ``n`` terms is within ``(n - 1) eps sum|terms|`` of the exact sum
  (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 4.4), so
  both are within twice that of each other; ``sum|terms|`` is the reference applied to
  the absolute values of the float arguments (the ops are linear in each).
- ``("scaled", m)``: within ``m eps max|reference|``: a time scan of ``T`` steps whose
  every step sums at most ``n + 1`` products in another order, the errors carried on by
  factors below 1 (the LIF recurrence, forward and reverse): ``m = T (n + 1)`` (to first
  order). Spikes (0/1) are then equal.
- ``("ulp", k)``: within ``k`` units in the last place: the fused LIF step runs the
  reference's operation order; XLA may contract a multiply-add into one FMA where the
  kernel rounds twice, and its ``expm1`` differs from the kernel's (fast_math.h) by an ulp or so
  (``tests/test_ops_lif.py``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_examples import EXAMPLES
from lif_reference import assert_close_ulp

import brainsim as bs
from brainsim.ops._kernel import KERNELS

DTYPES = [jnp.float32, jnp.float64]

needs_kernels = pytest.mark.skipif(
    not bs.ops._native.available(), reason="native kernels unavailable (no C++ compiler?)"
)


def paths(name, args, static):
    """``(kernel, reference)``: the op's value through its kernel and with the kernels
    off (pure JAX), each jitted; the kernel path's program is checked to call it."""
    op, target = KERNELS[name], EXAMPLES[name].target
    f = jax.jit(lambda *a: op(*a, **static))
    assert target in f.lower(*args).as_text(), f"{name}: the kernel does not run"
    with bs.ops.configure(kernels=False):
        g = jax.jit(lambda *a: op(*a, **static))
        assert target not in g.lower(*args).as_text()
        want = g(*args)
    return f(*args), want


def abs_reference(name, args, static):
    """The reference on the absolute values of the float arguments: ``sum|terms|`` of a
    linear op's sums."""
    absolute = jax.tree.map(
        lambda x: jnp.abs(x) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x, args
    )
    with bs.ops.configure(kernels=False):
        return KERNELS[name].reference(*absolute, **static)


def assert_equivalent(name, got, want, args, static, abs_ref=None):
    ex = EXAMPLES[name]
    got, want = ex.outputs(got, args), ex.outputs(want, args)
    got, want = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got) == len(want)
    kind = ex.compare if isinstance(ex.compare, str) else ex.compare[0]
    if kind == "sum" and abs_ref is None:
        abs_ref = ex.outputs(abs_reference(name, args, static), args)
    scale = jax.tree.leaves(abs_ref) if kind == "sum" else [None] * len(got)
    for a, b, s in zip(got, want, scale, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        if kind == "exact" or a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b)
        elif kind == "ulp":
            assert_close_ulp(a, b, ulp=ex.compare[1])
        elif kind == "scaled":
            bound = ex.compare[1] * np.finfo(a.dtype).eps * np.max(np.abs(b))
            assert np.all(np.abs(a.astype(np.float64) - b) <= bound), float(np.max(a - b))
        else:  # twice Higham's bound for n terms, plus the smallest normal
            bound = 2 * ex.compare[1] * np.finfo(a.dtype).eps * np.abs(np.asarray(s))
            err = np.abs(a.astype(np.float64) - b)
            assert np.all(err <= bound + np.finfo(a.dtype).tiny), float(np.max(err - bound))
