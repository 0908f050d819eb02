"""Host-side threefry (``brainsim._random``) and the initializers built on it, against
JAX's own ``jax.random`` (the reference: the same bits are the contract), and the rule
that picks a simulation loop's compiler options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim import _random
from brainsim._compile import FAST_COMPILE, loop_elements, loop_options
from brainsim.initializers import Normal, Uniform

SEEDS = (0, 1, 7, 123_456_789, 2**31 - 1)


def _data(keys):
    return np.asarray(jax.random.key_data(keys))


def test_threefry_known_answer():
    # Random123's known-answer vector for Threefry-2x32 with 20 rounds (its kat_vectors
    # file): counter (0x243f6a88, 0x85a308d3) and key (0x13198a2e, 0x03707344), the
    # hexadecimal digits of pi, give (0xc4923a9c, 0x483df7a0).
    y = _random.threefry2x32(
        np.array([0x13198A2E, 0x03707344], np.uint32),
        np.array([0x243F6A88], np.uint32),
        np.array([0x85A308D3], np.uint32),
    )
    assert (int(y[0][0]), int(y[1][0])) == (0xC4923A9C, 0x483DF7A0)


@pytest.mark.parametrize("seed", SEEDS)
def test_fold_in_split_bits_equal_jax(seed):
    key = jax.random.key(seed)
    for data in (0, 1, 5, 10**6, 2**32 - 1):
        assert (_data(_random.fold_in(key, data)) == _data(jax.random.fold_in(key, data))).all()
    for num in (1, 2, 3, 17):
        assert (_data(_random.split(key, num)) == _data(jax.random.split(key, num))).all()
    for shape in ((), (1,), (5,), (4, 3), (1001,)):
        got = _random.host_bits(_data(key), shape)  # (64-bit: the float64 test below)
        assert (got == np.asarray(jax.random.bits(key, shape))).all()


def test_other_prng_implementations_go_to_jax():
    key = jax.random.key(0, impl="rbg")
    assert (_data(_random.split(key, 3)) == _data(jax.random.split(key, 3))).all()
    got = Normal(1.0, 2.0)(key, (5,))
    assert (np.asarray(got) == np.asarray(1.0 + 2.0 * jax.random.normal(key, (5,)))).all()


@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("shape", [(3,), (4000,), (2, 7)])
def test_initializers_equal_jax_random(seed, shape):
    key = jax.random.key(seed)
    normal = Normal(-55.0, 5.0)
    expected = -55.0 + 5.0 * jax.random.normal(key, shape)
    assert (np.asarray(normal(key, shape)) == np.asarray(expected)).all()
    uniform = Uniform(-60.0, -50.0)
    assert (
        np.asarray(uniform(key, shape))
        == np.asarray(jax.random.uniform(key, shape, minval=-60.0, maxval=-50.0))
    ).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_draws_are_the_same_bits_eagerly_under_jit_and_vmap(request, dtype):
    """The contract that makes eager and traced ``Network.init`` agree: an initializer's
    values do not depend on the program around it. Under ``jax.jit`` (where XLA would
    fold the constant mean/std into the draw) and ``jax.vmap``, with constant and traced
    parameters, the values equal the eager ones bit for bit."""
    if dtype == "float64":
        request.getfixturevalue("x64")
    keys = jax.random.split(jax.random.key(11), 3)
    for init in (Normal(-55.0, 5.0), Uniform(-60.0, -50.0)):
        eager = np.stack([np.asarray(init(k, (257,), dtype)) for k in keys])
        draw = lambda k, init=init: init(k, (257,), dtype)
        assert (np.asarray(jax.jit(draw)(keys[1])) == eager[1]).all()
        assert (np.asarray(jax.jit(jax.vmap(draw))(keys)) == eager).all()
        # the parameters as arguments: traced (jit makes the module's floats its inputs)
        traced = jax.jit(lambda k, init: init(k, (257,), dtype))(keys[2], init)
        assert (np.asarray(traced) == eager[2]).all()


def test_draw_derivatives_in_the_parameters():
    """``d/dmean`` and ``d/dstd`` of a normal draw are 1 and the standard variate;
    ``d/dlow``, ``d/dhigh`` of a uniform one ``1 - u`` and ``u``."""
    key = jax.random.key(5)
    z = jax.random.normal(key, (9,))
    d_mean, d_std = jax.jacfwd(lambda m, s: Normal(m, s)(key, (9,)), argnums=(0, 1))(1.0, 2.0)
    np.testing.assert_allclose(d_mean, np.ones(9))
    np.testing.assert_allclose(d_std, z, rtol=1e-5)  # (value - mean) / std, rounded
    u = jax.random.uniform(key, (9,))
    grads = jax.grad(lambda lo, hi: Uniform(lo, hi)(key, (9,)).sum(), argnums=(0, 1))(-1.0, 3.0)
    np.testing.assert_allclose(grads, ((1 - u).sum(), u.sum()), rtol=1e-5)


def test_initializers_float64_equal_jax_random(x64):
    key = jax.random.key(4)
    got = Normal(0.0, 1.0)(key, (100,), jnp.float64)
    assert got.dtype == jnp.float64
    assert (np.asarray(got) == np.asarray(jax.random.normal(key, (100,), jnp.float64))).all()
    got = Uniform(0.0, 2.0)(key, (100,), jnp.float64)
    assert (
        np.asarray(got) == np.asarray(jax.random.uniform(key, (100,), jnp.float64, 0.0, 2.0))
    ).all()


def _loop_jaxpr(net, n_steps=4):
    state = net.init(jax.random.key(1), dt=0.1)

    def run(state):
        return jax.lax.scan(
            lambda s, _: (net.step(s, t=0.0, dt=0.1)[0], None), state, None, n_steps
        )

    return jax.make_jaxpr(run)(state).jaxpr


@pytest.mark.skipif(not bs.ops._native.available(), reason="native kernels not built")
def test_loop_compiled_fast_only_when_its_steps_are_native():
    native = _loop_jaxpr(bs.models.coba(400, key=jax.random.key(0)))
    assert loop_elements(native) < 100  # glue: the step is one native call
    assert loop_options(native) == FAST_COMPILE
    hh = _loop_jaxpr(bs.models.cobahh(400, key=jax.random.key(0)))
    assert loop_elements(hh) > 100 * 400  # the Traub-Miles arithmetic of 400 neurons
    assert loop_options(hh) is None
