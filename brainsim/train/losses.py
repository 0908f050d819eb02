r"""Losses. Array-level functions act on outputs; model-level ones run the model.

Model-level losses have the signature ``loss(model, x, y, *, reg=None) -> (loss, logits)``
(use ``jax.value_and_grad(loss, has_aux=True)``): ``x (B, T, n_in)``, ``y (B,)`` int
labels; ``reg(spikes) -> scalar`` adds a regularizer on the tuple of hidden spikes.

- ``ce_max_membrane``: logits $= \max_t V_t$ of the readout membrane.
- ``ce_mean_membrane``: logits $= \frac1T\sum_t V_t$.
- ``ce_count``: logits $= \sum_t s_t$ (spike counts of a spiking output layer).
- ``mse_count``: $\frac1{BN}\sum (\sum_t s_t - c)^2$ against target counts ``c (B, n)``.
- ``van_rossum``: distance between spike trains filtered by $e^{-t/\tau}$.
"""

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_positive


def _check(x, y, n_out=None):
    if isinstance(y, jax.core.Tracer) or isinstance(x, jax.core.Tracer):
        return
    if np.ndim(x) < 2 or np.shape(x)[0] != np.shape(y)[0]:
        raise ValueError(
            f"loss: x {np.shape(x)} and y {np.shape(y)} must share the batch axis (B, T, n)"
        )


def cross_entropy(logits, y):
    """Mean softmax cross-entropy; ``logits (B, C)``, ``y (B,)`` int."""
    if logits.shape[:-1] != jnp.shape(y):
        raise ValueError(f"cross_entropy: logits {logits.shape} vs labels {jnp.shape(y)}")
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, y[..., None].astype(jnp.int32), axis=-1))


def _ce(reduce, model, x, y, reg):
    _check(x, y)
    out, spikes = model(x)
    logits = reduce(out)
    loss = cross_entropy(logits, y)
    return (loss if reg is None else loss + reg(spikes)), logits


def ce_max_membrane(model, x, y, *, reg=None):
    """Cross-entropy on the max-over-time readout membrane."""
    return _ce(lambda v: jnp.max(v, axis=-2), model, x, y, reg)


def ce_mean_membrane(model, x, y, *, reg=None):
    """Cross-entropy on the mean-over-time readout membrane."""
    return _ce(lambda v: jnp.mean(v, axis=-2), model, x, y, reg)


def ce_count(model, x, y, *, reg=None):
    """Cross-entropy on output spike counts (model without readout)."""
    return _ce(lambda s: jnp.sum(s, axis=-2), model, x, y, reg)


def mse_count(model, x, target, *, reg=None):
    """MSE between output spike counts and ``target (B, n_out)`` counts."""
    out, spikes = model(x)
    counts = jnp.sum(out, axis=-2)
    if counts.shape != jnp.shape(target):
        raise ValueError(f"mse_count: counts {counts.shape} vs target {jnp.shape(target)}")
    loss = jnp.mean((counts - target) ** 2)
    return (loss if reg is None else loss + reg(spikes)), counts


def van_rossum(a, b, tau: float, dt: float):
    r"""van Rossum (2001) distance per train, spikes ``(..., T, n)`` with step ``dt``:

    $D^2 = \frac{1}{\tau}\int (f - g)^2\,dt$, $f = \sum_k e^{-(t - t_k)/\tau} H(t - t_k)$
    (discretized: exact exponential decay per step, rectangle rule). Returns
    $D^2$ summed over neurons, shape ``(...)``; two single spikes $\Delta$ apart give
    $1 - e^{-\Delta/\tau}$ (one spike alone: 1/2)."""
    check_positive("van_rossum.tau", tau, "ms")
    check_positive("van_rossum.dt", dt, "ms")
    decay = jnp.exp(-dt / tau)
    diff = jnp.moveaxis(jnp.asarray(a) - jnp.asarray(b), -2, 0)

    def body(f, d):
        f = decay * f + d
        return f, f

    _, f = jax.lax.scan(body, jnp.zeros_like(diff[0]), diff)
    return jnp.sum(f**2, axis=(0, -1)) * dt / tau


def accuracy(logits, y):
    """Fraction of ``argmax(logits) == y``."""
    return jnp.mean(jnp.argmax(logits, axis=-1) == y)
