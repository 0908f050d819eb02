"""``bs.ops.lif_network_run`` (many network steps in one native call) against its
reference, a ``lax.scan`` of the one-step op and ``append_spikes`` with the kernels off
(pure JAX), over 1 000 steps (100 ms) of an E/I network whose first spikes are Poisson
and whose neurons are driven at their own rates: the spike trains (event buffers, end
offsets, per-step counts, the last spikes) are identical, float32 and float64. The
generic suite (``test_kernel_values.py``) checks the values and the other states."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_examples import _lif_network_run

import brainsim as bs
from brainsim.ops._kernel import KERNELS

pytestmark = pytest.mark.skipif(
    not bs.ops._native.available(), reason="native kernels unavailable (no C++ compiler?)"
)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["f32", "f64"])
def test_run_spikes_identical_to_reference(dtype, x64):
    args, static = _lif_network_run(jax.random.key(5), dtype, steps=1000)
    buffers = (jnp.full((40_000,), -7, jnp.int32),) * 2  # every spike kept
    args = (args[0], buffers, *args[2:])
    op = KERNELS["lif_network_run"]
    f = jax.jit(lambda *a: op(*a, **static))
    assert "brainsim_lif_network_run" in f.lower(*args).as_text()  # the kernel runs
    got = f(*args)
    with bs.ops.configure(kernels=False):
        want = jax.jit(lambda *a: op(*a, **static))(*args)
    pops, _, bufs, ends, counts, _ = got
    pops_ref, _, bufs_ref, ends_ref, counts_ref, _ = want
    for r in range(2):
        np.testing.assert_array_equal(bufs[r], bufs_ref[r])
        np.testing.assert_array_equal(ends[r], ends_ref[r])
        np.testing.assert_array_equal(counts[r], counts_ref[r])
        np.testing.assert_array_equal(pops[r][1], pops_ref[r][1])  # the last spikes
        assert int(ends[r]) - int(args[2][r]) == int(np.sum(counts[r]))
    # Not vacuous: both populations spike throughout the run.
    assert int(np.sum(counts[0])) > 1500 and int(np.sum(counts[1])) > 400
    assert np.count_nonzero(counts[0][500:]) > 100
