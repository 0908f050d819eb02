"""Every batched registered kernel under ``jax.vmap``: its batching rule against the
reference's and against the kernel called on each draw (``kernel_examples.py``)."""

import jax
import jax.numpy as jnp
import pytest
from kernel_checks import assert_equivalent, needs_kernels
from kernel_examples import EXAMPLES

import brainsim as bs
from brainsim.ops._kernel import KERNELS

pytestmark = needs_kernels


VMAP = sorted(n for n, ex in EXAMPLES.items() if ex.vmap)


@pytest.mark.parametrize("name", VMAP)
def test_kernel_vmap_equals_reference(name):
    """vmap over 3 draws of the batched arguments: the kernel's batching rule against
    the reference's, and against the kernel called on each draw."""
    ex, op = EXAMPLES[name], KERNELS[name]
    draws = [ex.make(jax.random.key(10 + j), jnp.float32) for j in range(3)]
    args, static = draws[0]
    stacked = list(args)
    for i in ex.vmap:
        stacked[i] = jnp.stack([d[0][i] for d in draws])
    axes = [0 if i in ex.vmap else None for i in range(len(args))]
    f = lambda *a: op(*a, **static)
    got = jax.jit(jax.vmap(f, in_axes=axes))(*stacked)
    assert ex.target in jax.jit(jax.vmap(f, in_axes=axes)).lower(*stacked).as_text()
    with bs.ops.configure(kernels=False):
        want = jax.jit(jax.vmap(f, in_axes=axes))(*stacked)
    for j in range(3):
        pick = lambda t, j=j: jax.tree.map(lambda x: x[j], t)
        one = [stacked[i][j] if i in ex.vmap else args[i] for i in range(len(args))]
        assert_equivalent(name, pick(got), pick(want), one, static)
        assert_equivalent(name, pick(got), jax.jit(f)(*one), one, static)
