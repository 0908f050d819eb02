"""Initial-value distributions for state variables (e.g. the membrane potential).

An initializer is called as ``init(key, shape, dtype) -> array``. Plain floats are
accepted wherever an initializer is, meaning a constant.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

from ._checks import check_nonnegative


class AbstractInitializer(eqx.Module):
    """A distribution of initial values, called as ``init(key, shape, dtype)``."""

    @abc.abstractmethod
    def __call__(self, key, shape, dtype=jnp.float32):
        """An array of ``shape``."""


class Constant(AbstractInitializer):
    """Every entry equal to ``value``."""

    value: float

    def __call__(self, key, shape, dtype=jnp.float32):
        return jnp.full(shape, self.value, dtype)


class Normal(AbstractInitializer):
    """Normal with ``mean`` and standard deviation ``std`` (in the variable's unit)."""

    mean: float
    std: float

    def __check_init__(self):
        check_nonnegative("Normal.std", self.std)

    def __call__(self, key, shape, dtype=jnp.float32):
        return self.mean + self.std * jax.random.normal(key, shape, dtype)


class Uniform(AbstractInitializer):
    """Uniform on ``[low, high)``."""

    low: float
    high: float

    def __check_init__(self):
        if not self.high >= self.low:
            raise ValueError(f"Uniform needs high >= low, got low={self.low}, high={self.high}")

    def __call__(self, key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, self.low, self.high)


def initialize(value, key, shape, dtype=jnp.float32):
    """Apply an initializer, or broadcast a constant, to ``shape``."""
    if isinstance(value, AbstractInitializer):
        return value(key, shape, dtype)
    return jnp.broadcast_to(jnp.asarray(value, dtype), shape)
