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
        return _normal(key, tuple(shape), dtype, self.mean, self.std)


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
    """``jax.random.uniform(key, shape, dtype, low, high)``, bit for bit (``_draw``)."""
    return _draw("uniform", key, shape, dtype, low, high)


def _normal(key, shape, dtype, mean, std):
    """``mean + std * jax.random.normal(key, shape, dtype)`` (multiply, then add, each
    rounded), bit for bit (``_draw``)."""
    return _draw("normal", key, shape, dtype, mean, std)


def _draw(kind, key, shape, dtype, a, b):
    """Values of the distribution ``kind`` (``"uniform"`` on ``[a, b)``, ``"normal"``
    with mean ``a`` and standard deviation ``b``), always computed by one function on the
    host (``_host_draw``): directly for a concrete key and parameters, through a callback
    inside a trace. So a draw has the same bits eagerly, inside ``Network.init``'s own compiled
    program and inside any caller's ``jax.jit``/``jax.vmap``: no compiler sees the
    arithmetic, so none fuses, reassociates or folds the parameters into it, or rounds
    ``erf_inv`` by other optimisation settings. Derivatives with respect to ``a`` and
    ``b`` are those of the formula (``_draw_jvp``). Keys of other PRNG implementations,
    the legacy layout, and dtypes other than float32/64 go to ``jax.random``."""
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    if dtype not in (np.float32, np.float64) or not _random.is_threefry(key):
        if kind == "uniform":
            return jax.random.uniform(key, shape, dtype, a, b)
        return a + b * jax.random.normal(key, shape, dtype)
    data = _random.host_key(key)
    if data is not None and not any(isinstance(x, jax.core.Tracer) for x in (a, b)):
        return jnp.asarray(_host_draw(kind, shape, dtype, data, a, b))
    data = jax.random.key_data(key) if data is None else data
    a, b = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
    return _traced_draw(kind, shape, dtype, data, a, b)


def _host_draw(kind, shape, dtype, data, a, b) -> np.ndarray:
    """``_draw`` on the host: the random bits in NumPy (``_random``), JAX's float
    construction of them in a compiled program of fixed options run on the CPU, the
    normal's scale and shift in NumPy."""
    width = 8 * np.dtype(dtype).itemsize
    bits = _random.host_bits(np.asarray(data, np.uint32), shape, width)
    cpu = jax.local_devices(backend="cpu")[0]  # (not the caller's device: it waits)
    bits = jax.device_put(bits, cpu)
    if kind == "uniform":
        lo, hi = (jax.device_put(np.asarray(x, dtype), cpu) for x in (a, b))
        return np.asarray(_scale_unit(bits, lo, hi, dtype=dtype))
    z = np.asarray(_standard_normal(bits, dtype=dtype))
    return np.asarray(a, dtype) + np.asarray(b, dtype) * z


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _traced_draw(kind, shape, dtype, data, a, b):
    host = functools.partial(_host_draw, kind, shape, dtype)
    out = jax.ShapeDtypeStruct(shape, dtype)
    return jax.pure_callback(host, out, data, a, b, vmap_method="sequential")


@_traced_draw.defjvp
def _draw_jvp(kind, shape, dtype, primals, tangents):
    data, a, b = primals
    _, da, db = tangents
    value = _traced_draw(kind, shape, dtype, data, a, b)
    # The variate is a function of the bits only: its derivative is the formula's.
    if kind == "uniform":  # value = a + (b - a) u
        u = jnp.where(b > a, (value - a) / jnp.where(b > a, b - a, 1), 0)
        return value, jnp.broadcast_to(da * (1 - u) + db * u, shape)
    z = jnp.where(b > 0, (value - a) / jnp.where(b > 0, b, 1), 0)  # value = a + b z
    return value, jnp.broadcast_to(da + db * z, shape)


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


@functools.partial(jax.jit, static_argnames="dtype")
def _standard_normal(bits, *, dtype):
    """``jax.random.normal``'s construction from its bits: the inverse error function of
    a uniform variate on the open interval ``(-1, 1)``, times √2."""
    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = _scale_unit(bits, low, np.array(1.0, dtype), dtype=dtype)
    return np.array(np.sqrt(2), dtype) * jax.lax.erf_inv(u)


def initialize(value, key, shape, dtype=float):
    """Apply an initializer, or broadcast a constant, to ``shape``."""
    if isinstance(value, AbstractInitializer):
        return value(key, shape, dtype)
    return jnp.broadcast_to(jnp.asarray(value, dtype), shape)
