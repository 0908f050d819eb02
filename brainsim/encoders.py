r"""Encoders: analogue values to spike trains ``(T, ..., n)`` (time is the leading axis).

- ``rate``: Bernoulli/Poisson spikes with probability $p = x\,p_{max}$ per step.
- ``latency``: one spike per unit at step $\mathrm{round}((1 - x)(T - 1))$, so large values
  fire early; values $\le$ ``threshold`` never fire.
- ``delta``: ON/OFF spikes where a signal changes by more than ``threshold`` since the
  last spike of that channel's reference level (send-on-delta).
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_nonnegative, check_prob, check_size


def _unit_interval(name, x):
    arr = np.asarray(x)
    if arr.size == 0:
        raise ValueError(f"{name}: input is empty")
    if not isinstance(x, jax.core.Tracer) and (np.any(arr < 0) or np.any(arr > 1)):
        raise ValueError(f"{name}: x must lie in [0, 1], got min {arr.min():g}, max {arr.max():g}")


def rate(key, x, n_steps: int, max_prob: float = 1.0) -> jax.Array:
    """Bernoulli spikes ``(n_steps, *x.shape)``: each step, unit ``i`` fires with
    probability ``x[i] * max_prob`` (``x`` in [0, 1]; rate = p/dt)."""
    check_size("rate.n_steps", n_steps)
    check_prob("rate.max_prob", max_prob)
    _unit_interval("rate", x)
    x = jnp.asarray(x, jnp.float32)
    p = jnp.broadcast_to(x * max_prob, (n_steps, *x.shape))
    return jax.random.bernoulli(key, p).astype(jnp.float32)


def latency(x, n_steps: int, threshold: float = 0.0) -> jax.Array:
    """Intensity-to-latency code: one spike per unit at step ``round((1 - x) (n_steps -
    1))``, so the strongest input (``x = 1``) fires first, at step 0; ``(n_steps,
    *x.shape)``. Units with ``x <= threshold`` stay silent (``x`` in [0, 1]).
    ``bs.datasets.spike_raster`` takes spike *times* instead (time 0 at step 0):
    ``latency(x, T)`` equals ``spike_raster(1 - x, T)`` (time-major) where ``x >
    threshold``."""
    check_size("latency.n_steps", n_steps)
    _unit_interval("latency", x)
    x = jnp.asarray(x, jnp.float32)
    t_spike = jnp.round((1.0 - x) * (n_steps - 1)).astype(jnp.int32)
    t = jnp.arange(n_steps).reshape((n_steps,) + (1,) * x.ndim)
    return ((t == t_spike[None]) & (x > threshold)[None]).astype(jnp.float32)


def delta(x, threshold: float) -> jax.Array:
    """Send-on-delta ON/OFF encoding of a signal ``x (T, ..., n)``: channel ``i`` keeps a
    reference level (initially ``x[0]``); when ``x[t] - ref > threshold`` an ON spike is
    emitted, when ``ref - x[t] > threshold`` an OFF spike, and the reference jumps to
    ``x[t]``. Returns ``(T, ..., 2n)``: ON channels then OFF channels."""
    check_nonnegative("delta.threshold", threshold)
    x = jnp.asarray(x, jnp.float32)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"delta: x must have a non-empty leading time axis, got {x.shape}")

    def body(ref, xt):
        on = xt - ref > threshold
        off = ref - xt > threshold
        ref = jnp.where(on | off, xt, ref)
        return ref, jnp.concatenate([on, off], axis=-1).astype(jnp.float32)

    return jax.lax.scan(body, x[0], x)[1]
