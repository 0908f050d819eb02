"""Initial-value distributions for state variables (e.g. the membrane potential).

An initializer is called as ``init(key, shape, dtype) -> array``; ``dtype`` defaults to
JAX's default float (float64 in x64 mode, else float32). Plain floats are accepted
wherever an initializer is, meaning a constant.
"""

import abc
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _random
from ._checks import check_finite, check_nonnegative


class AbstractInitializer(eqx.Module):
    """A distribution of initial values, called as ``init(key, shape, dtype)``."""

    @abc.abstractmethod
    def __call__(self, key, shape, dtype=float):
        """An array of ``shape``."""


class Constant(AbstractInitializer):
    """Every entry equal to ``value``."""

    value: float

    def __check_init__(self):
        check_finite("Constant.value", self.value)

    def __call__(self, key, shape, dtype=float):
        return jnp.full(shape, self.value, dtype)


class Normal(AbstractInitializer):
    """Normal with ``mean`` and standard deviation ``std`` (in the variable's unit)."""

    mean: float
    std: float

    def __check_init__(self):
        check_nonnegative("Normal.std", self.std)

    def __call__(self, key, shape, dtype=float):
        return self.mean + self.std * _normal(key, tuple(shape), dtype)


class Uniform(AbstractInitializer):
    """Uniform on ``[low, high)``."""

    low: float
    high: float

    def __check_init__(self):
        if not self.high >= self.low:
            raise ValueError(f"Uniform needs high >= low, got low={self.low}, high={self.high}")

    def __call__(self, key, shape, dtype=float):
        return _uniform(key, tuple(shape), dtype, self.low, self.high)


def _uniform(key, shape, dtype, low, high):
    """``jax.random.uniform(key, shape, dtype, low, high)``, bit for bit, from random bits
    drawn on the host (``_random.bits``: no threefry compiled into ``Network.init``;
    COBA 4000's ``init`` compiled in 0.03 s of CPU time instead of 0.17-0.20 s)."""
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    if dtype not in (np.float32, np.float64):
        return jax.random.uniform(key, shape, dtype, low, high)
    return _scale_unit(_random.bits(key, shape, 8 * dtype.itemsize), low, high, dtype=dtype)


@functools.partial(jax.jit, static_argnames="dtype")
def _scale_unit(bits, low, high, *, dtype):
    """Floats on ``[low, high)`` from uniform ``bits``: the high bits become the mantissa of a
    number in ``[1, 2)``, which is shifted to ``[0, 1)`` and scaled (JAX's construction)."""
    finfo = jnp.finfo(dtype)
    shift = jnp.asarray(finfo.bits - finfo.nmant, bits.dtype)
    one = jnp.asarray(np.array(1.0, dtype).view(bits.dtype))
    unit = jax.lax.bitcast_convert_type((bits >> shift) | one, dtype) - jnp.asarray(1.0, dtype)
    low, high = jnp.asarray(low, dtype), jnp.asarray(high, dtype)
    return jnp.maximum(low, unit * (high - low) + low)


def _normal(key, shape, dtype):
    """``jax.random.normal(key, shape, dtype)``, bit for bit: the inverse error function of
    a uniform variate on the open interval ``(-1, 1)``, times √2."""
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    if dtype not in (np.float32, np.float64):
        return jax.random.normal(key, shape, dtype)
    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = _uniform(key, shape, dtype, low, 1.0)
    return np.array(np.sqrt(2), dtype) * jax.lax.erf_inv(u)


def initialize(value, key, shape, dtype=float):
    """Apply an initializer, or broadcast a constant, to ``shape``."""
    if isinstance(value, AbstractInitializer):
        return value(key, shape, dtype)
    return jnp.broadcast_to(jnp.asarray(value, dtype), shape)
