r"""Learnable per-synapse delays for a feed-forward projection (interpolated delays,
a triangular-kernel version of DCLS, Hammouamri et al. 2023).

A synapse $i \to j$ with weight $w_{ij}$ and real delay $d_{ij} \in [0, D]$ steps is a
temporal kernel over the integer taps $k = 0..D$:
$K_k[i, j] = w_{ij}\,\max(0, 1 - |k - d_{ij}|)$ (linear interpolation between the two
nearest integer delays), and $h_t[j] = \sum_k \sum_i x_{t-k}[i]\,K_k[i, j]$. For an
integer $d_{ij}$ this is exactly $w_{ij} x_{t - d_{ij}}[i]$; in between it is
differentiable in $d_{ij}$ (piecewise linear).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_count


class DelayedDense(eqx.Module):
    """``h = DelayedDense(x (..., T, n_in)) -> (..., T, n_out)``; ``delay`` in steps,
    clamped to ``[0, max_delay]`` in the forward pass (documented; the value is kept)."""

    w: jax.Array  # (n_in, n_out)
    delay: jax.Array  # (n_in, n_out) steps
    max_delay: int = eqx.field(static=True)

    def __check_init__(self):
        check_count("DelayedDense.max_delay", self.max_delay)
        if np.shape(self.w) != np.shape(self.delay):
            raise ValueError(
                f"DelayedDense: w {np.shape(self.w)} and delay {np.shape(self.delay)} differ"
            )

    def kernel(self) -> jax.Array:
        """``(max_delay + 1, n_in, n_out)`` tap weights."""
        d = jnp.clip(self.delay, 0.0, float(self.max_delay))
        k = jnp.arange(self.max_delay + 1, dtype=d.dtype)[:, None, None]
        return self.w[None] * jnp.maximum(0.0, 1.0 - jnp.abs(k - d[None]))

    def __call__(self, x):
        t = x.shape[-2]
        pad = [(0, 0)] * (x.ndim - 2) + [(self.max_delay, 0), (0, 0)]
        xp = jnp.pad(x, pad)
        kern = self.kernel()
        out = 0.0
        for k in range(self.max_delay + 1):
            start = self.max_delay - k
            out = out + jax.lax.slice_in_dim(xp, start, start + t, axis=-2) @ kern[k]
        return out


def delayed_dense(key, n_in: int, n_out: int, max_delay: int, w_scale: float = 1.0):
    """Weights $\\mathcal N(0, w^2/n_{in})$, delays uniform in ``[0, max_delay]``."""
    kw, kd = jax.random.split(key)
    w = jax.random.normal(kw, (n_in, n_out)) * (w_scale / np.sqrt(n_in))
    d = jax.random.uniform(kd, (n_in, n_out), maxval=float(max_delay))
    return DelayedDense(w, d, max_delay)
