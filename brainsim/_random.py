"""JAX's threefry key derivations and random bits computed on the host, bit for bit.

A concrete key needs no compiled program: ``fold_in``, ``split`` and ``bits`` give the
same bits as ``jax.random.fold_in``/``split``/``bits`` (``jax_threefry_partitionable``,
JAX's default) by evaluating Threefry-2x32 (20 rounds; Salmon et al. 2011, "Parallel
random numbers: as easy as 1, 2, 3") in NumPy. Compiling JAX's versions costs 0.05-0.1 s
of CPU time each, once per process, which is most of the time a small network takes to
build. Other PRNG implementations and the legacy layout go to JAX, as do
``fold_in``/``split`` of a traced key. ``threefry2x32_traced`` is the same hash in JAX
operations for traced keys (straight-line: one fusion where JAX's CPU lowering loops).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA


def threefry2x32(key: np.ndarray, x0: np.ndarray, x1: np.ndarray):
    """Threefry-2x32-20 of the counter pairs ``(x0, x1)`` (uint32 arrays of one shape)
    under ``key`` (uint32 ``(2,)``): the two output words, each like ``x0``."""
    k0, k1 = np.asarray(key, np.uint32).reshape(2, 1)
    k = (k0, k1, k0 ^ k1 ^ np.uint32(_PARITY))
    x0 = np.asarray(x0, np.uint32) + k0  # fresh arrays, updated in place below
    x1 = np.asarray(x1, np.uint32) + k1
    high = np.empty_like(x1)
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x0 += x1
            np.right_shift(x1, np.uint32(32 - r), out=high)
            np.left_shift(x1, np.uint32(r), out=x1)
            x1 |= high
            x1 ^= x0
        x0 += k[(block + 1) % 3]
        x1 += k[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def threefry2x32_traced(k0, k1, x0, x1):
    """``threefry2x32`` in JAX operations, unrolled (the 20 rounds are straight-line
    integer arithmetic that XLA fuses into one loop; JAX's own CPU lowering is a rolled
    loop of several operations per round). ``k0``, ``k1``: uint32 key words, per counter
    or broadcast; ``x0``, ``x1``: the counters' (high, low) uint32 words. Returns the two
    output words, each of the broadcast shape."""
    u32 = lambda x: jnp.asarray(x, jnp.uint32)  # noqa: E731
    k0, k1, x0, x1 = map(u32, (k0, k1, x0, x1))
    k = (k0, k1, k0 ^ k1 ^ np.uint32(_PARITY))
    x0, x1 = x0 + k0, x1 + k1
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))) ^ x0
        x0 = x0 + k[(block + 1) % 3]
        x1 = x1 + k[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def is_threefry(key) -> bool:
    """A single typed threefry key (concrete or traced), split and hashed in JAX's
    default (partitionable) way."""
    return (
        jax.config.jax_threefry_partitionable
        and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        and not key.shape
        and jax.random.key_impl(key) == "threefry2x32"
    )


def host_key(key):
    """The key's uint32 data if it is a concrete key this module reproduces, else None
    (also inside a trace, where JAX would stage ``key_data`` of a concrete key)."""
    if isinstance(key, jax.core.Tracer) or not is_threefry(key):
        return None
    with jax.ensure_compile_time_eval():
        return np.asarray(jax.random.key_data(key), np.uint32)


def _wrap(words0, words1):
    data = np.stack([words0, words1], axis=-1)
    return jax.random.wrap_key_data(data, impl="threefry2x32")


def _counters(n: int):
    """The 64-bit counters 0..n-1 as (high, low) uint32 words."""
    idx = np.arange(n, dtype=np.uint64)
    return (idx >> np.uint64(32)).astype(np.uint32), idx.astype(np.uint32)


def fold_in(key, data: int):
    """``jax.random.fold_in(key, data)`` (``data`` a Python int in [0, 2**32))."""
    raw = host_key(key)
    if raw is None:
        return jax.random.fold_in(key, data)
    y0, y1 = threefry2x32(raw, np.zeros(1, np.uint32), np.array([data], np.uint32))
    return _wrap(y0[0], y1[0])


def split(key, num: int = 2):
    """``jax.random.split(key, num)``."""
    raw = host_key(key)
    if raw is None:
        return jax.random.split(key, num)
    return _wrap(*threefry2x32(raw, *_counters(num)))


def host_bits(data: np.ndarray, shape: tuple[int, ...], width: int = 32) -> np.ndarray:
    """``jax.random.bits(key, shape, uint{width})`` (``width`` 32 or 64) of the threefry
    key whose ``jax.random.key_data`` is ``data`` (uint32 ``(2,)``), in NumPy."""
    y0, y1 = threefry2x32(data, *_counters(math.prod(shape)))
    if width == 64:
        return ((y0.astype(np.uint64) << np.uint64(32)) | y1).reshape(shape)
    return (y0 ^ y1).reshape(shape)
