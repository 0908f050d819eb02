"""Every registered kernel (``bs.ops._kernel.KERNELS``) against its pure-JAX reference:
the same values, float32 and float64, on ``kernel_examples.py``'s inputs, compared as
``kernel_checks.py`` describes. A kernel is covered by adding one entry to
``kernel_examples.EXAMPLES`` (``test_every_kernel_has_an_example`` fails until it is)."""

import jax
import pytest
from kernel_checks import DTYPES, assert_equivalent, needs_kernels, paths
from kernel_examples import EXAMPLES

from brainsim.ops._kernel import KERNELS

pytestmark = needs_kernels


def test_every_kernel_has_an_example():
    assert set(KERNELS) == set(EXAMPLES), "add an entry to EXAMPLES for each new kernel"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_kernel_values_equal_reference(name, dtype, x64):
    args, static = EXAMPLES[name].make(jax.random.key(0), dtype)
    got, want = paths(name, args, static)
    assert_equivalent(name, got, want, args, static)
