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
        got = _random.bits(key, shape)
        assert isinstance(got, np.ndarray)  # computed on the host
        assert (got == np.asarray(jax.random.bits(key, shape))).all()


def test_traced_bits_are_a_host_callback_with_the_same_bits():
    keys = jax.random.split(jax.random.key(3), 4)
    fn = jax.jit(jax.vmap(lambda k: _random.bits(k, (6,))))
    assert "threefry" not in str(jax.make_jaxpr(fn)(keys))
    assert (
        np.asarray(fn(keys)) == np.asarray(jax.vmap(lambda k: jax.random.bits(k, (6,)))(keys))
    ).all()


def test_other_prng_implementations_go_to_jax():
    key = jax.random.key(0, impl="rbg")
    assert (_data(_random.split(key, 3)) == _data(jax.random.split(key, 3))).all()
    assert (np.asarray(_random.bits(key, (5,))) == np.asarray(jax.random.bits(key, (5,)))).all()


@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("shape", [(3,), (4000,), (2, 7)])
def test_initializers_equal_jax_random(seed, shape):
    key = jax.random.key(seed)
    normal = Normal(-55.0, 5.0)
    expected = -55.0 + 5.0 * jax.random.normal(key, shape)
    assert (np.asarray(normal(key, shape)) == np.asarray(expected)).all()
    in_jit = jax.jit(lambda k: normal(k, shape))(key)
    assert (
        np.asarray(in_jit)
        == np.asarray(jax.jit(lambda k: -55.0 + 5.0 * jax.random.normal(k, shape))(key))
    ).all()
    uniform = Uniform(-60.0, -50.0)
    assert (
        np.asarray(uniform(key, shape))
        == np.asarray(jax.random.uniform(key, shape, minval=-60.0, maxval=-50.0))
    ).all()


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
