"""``bs.ops.izhikevich_network_run`` (many steps of an Izhikevich network in one native
call) against its reference, a ``lax.scan`` of the event op, ``izhikevich_update`` and
``append_spikes`` with the kernels off (pure JAX, XLA's program of the modules' step),
over 1 000 steps (100 ms) of an E/I network with Poisson first spikes, per-neuron and
shared parameters and currents: the spike trains (event buffers, end offsets, per-step
counts), the states and the last step's events are identical, float32 and float64. A
recurrent network turns a one-ulp difference into different spikes within tens of
steps, so exact equality over 1 000 steps is a sharp test, not a tolerance. The generic
suite (``test_kernel_values.py``) checks the 200-step example the same way."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from kernel_examples import _izhikevich_network_run

import brainsim as bs
from brainsim.ops._kernel import KERNELS

pytestmark = pytest.mark.skipif(
    not bs.ops._native.available(), reason="native kernels unavailable (no C++ compiler?)"
)


def _both(net, buffers, offsets, static):
    """The kernel and the reference, the network's parameters compile-time constants (as
    in a simulation: XLA folds their products as the kernel does)."""
    op = KERNELS["izhikevich_network_run"]
    f = jax.jit(lambda *a: op(net, *a, **static))
    assert "brainsim_izhikevich_network_run" in f.lower(buffers, offsets).as_text()  # it runs
    got = f(buffers, offsets)
    with bs.ops.configure(kernels=False):
        want = jax.jit(lambda *a: op(net, *a, **static))(buffers, offsets)
    return got, want


def _assert_equal(got, want):
    la, lb = jax.tree.leaves(got), jax.tree.leaves(want)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(la, lb, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per-neuron"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["f32", "f64"])
def test_run_identical_to_reference(dtype, shared, x64):
    (net, _, offsets), static = _izhikevich_network_run(
        jax.random.key(5), dtype, steps=1000, shared=shared
    )
    buffers = (jnp.full((60_000,), -7, jnp.int32),) * 2  # every spike kept
    got, want = _both(net, buffers, offsets, static)
    _assert_equal(got, want)
    states, g, _, ends, counts = got
    assert states[0].v.dtype == dtype
    for r in range(2):
        assert int(ends[r]) - int(offsets[r]) == int(np.sum(counts[r]))
    # Not vacuous: both populations spike throughout the run, and events arrived last.
    assert int(np.sum(counts[0])) > 800 and int(np.sum(counts[1])) > 300
    assert np.count_nonzero(counts[0][500:]) > 150 and np.count_nonzero(counts[1][500:]) > 100
    # The last step's events (the Delta states): nonzero iff spikes arrived in it.
    spiked = any(int(c[-2]) > 0 for c in counts)
    assert spiked == any(np.any(np.asarray(x) != 0) for x in g)


def test_split_into_ranges_gives_the_same_results():
    """Neurons split into 3 ranges (each its own targets' events and update; per-neuron
    and shared parameters sliced) give the results of one range, bit for bit."""
    (net, buffers, offsets), static = _izhikevich_network_run(jax.random.key(6), jnp.float32)
    op = KERNELS["izhikevich_network_run"]
    one = jax.jit(lambda *a: op(*a, **static))(net, buffers, offsets)
    three = jax.jit(lambda *a: op(*a, **{**static, "parts": 3}))(net, buffers, offsets)
    _assert_equal(one, three)
    assert int(np.sum(one[4][1])) > 50


def test_bad_arguments_are_refused_before_running():
    (net, buffers, offsets), static = _izhikevich_network_run(jax.random.key(7), jnp.float32)
    pops = [dict(p) for p in net[0]]
    ends = zip(static["pre"], static["post"], net[1], strict=True)
    projs = [dict(q, pre=i, post=j) for i, j, q in ends]
    run = lambda **kw: bs.ops.izhikevich_network_run(pops, projs, **{"dt": 0.1, "steps": 10, **kw})
    with pytest.raises(ValueError, match="record, buffers and offsets"):
        run(record=[0, 1], buffers=buffers[:1], offsets=offsets)
    with pytest.raises(ValueError, match=r"steps must be an integer in \[1, 2147483647\], got 0"):
        run(steps=0)
    with pytest.raises(ValueError, match=r"pre must be in \[0, 2\), got 5"):
        bs.ops.izhikevich_network_run(pops, [dict(projs[0], pre=5)], dt=0.1, steps=10)
    with pytest.raises(
        ValueError, match=r"record must hold population indices in \[0, 2\), got 2"
    ):
        run(record=[2], buffers=buffers[:1], offsets=offsets[:1])
    with pytest.raises(ValueError, match="buffers must be 1-D int32"):
        run(record=[0], buffers=[jnp.zeros((4,), jnp.float32)], offsets=[0])
