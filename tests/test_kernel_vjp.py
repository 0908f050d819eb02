"""Every differentiable registered kernel's VJP (its hand-written backward pass, or the
reference's tangents) against JAX's autodiff of its pure-JAX reference, float32 and
float64, on ``kernel_examples.py``'s inputs."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_checks import DTYPES, needs_kernels
from kernel_examples import EXAMPLES

import brainsim as bs
from brainsim.ops._kernel import KERNELS

pytestmark = needs_kernels


GRAD = sorted(n for n, ex in EXAMPLES.items() if ex.grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", GRAD)
def test_kernel_vjp_equals_reference_autodiff(name, dtype, x64):
    """The VJP with the kernel (its hand-written backward pass, or the reference's
    tangents) against JAX's autodiff of the reference itself, in the arguments
    ``grad`` names, for a random cotangent."""
    ex, op = EXAMPLES[name], KERNELS[name]
    args, static = (ex.grad_make or ex.make)(jax.random.key(1), dtype)

    def restrict(f):
        def g(*xs):
            full = list(args)
            for i, x in zip(ex.grad, xs, strict=True):
                full[i] = x
            return f(*full)

        return g

    primals = [args[i] for i in ex.grad]
    out, vjp = jax.vjp(restrict(lambda *a: op(*a, **static)), *primals)
    leaves, tree = jax.tree.flatten(out)
    keys = jax.random.split(jax.random.key(2), len(leaves))
    ct = jax.tree.unflatten(
        tree,
        [
            jax.random.normal(k, x.shape, x.dtype)
            if jnp.issubdtype(x.dtype, jnp.floating)
            else np.zeros(x.shape, jax.dtypes.float0)
            for k, x in zip(keys, leaves, strict=True)
        ],
    )
    got = vjp(ct)
    with bs.ops.configure(kernels=False):
        ref = functools.partial(op.reference, **static)
        _, vjp_ref = jax.vjp(restrict(ref), *primals)
        want = vjp_ref(ct)
    # Both are linear in the cotangent; the backward passes sum in other orders.
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        n = max(np.prod(np.shape(x)) for x in leaves)  # terms per sum, at most
        scale = np.max(np.abs(b)) if b.size else 0.0
        tol = 2 * n * np.finfo(dtype).eps * max(scale, 1.0)
        assert np.all(np.abs(a - b) <= tol), (name, float(np.max(np.abs(a - b))), tol)
