"""Scan over time with rematerialization and truncation."""

import jax
import jax.numpy as jnp

from .._checks import check_size


def scan_time(
    step, state, xs, checkpoint_every: int | None = None, truncate_every: int | None = None
):
    """``lax.scan(step, state, xs)`` over the leading (time) axis of ``xs``.

    - ``checkpoint_every = k``: the scan runs as an outer scan over chunks of ``k`` steps
      whose inner scan is wrapped in ``jax.checkpoint``. The backward pass stores only
      the carry at chunk boundaries (``T/k`` carries) plus one chunk's residuals
      (``k`` steps) at a time: memory ∝ (T/k + k) × batch × state instead of T × ….
    - ``truncate_every = K``: truncated BPTT: the carry is passed through
      ``stop_gradient`` every ``K`` steps, so no gradient flows further back than a window.

    Uneven ``T`` is padded with zeros at the end (causal, the padded outputs are dropped).
    Returns ``(final_state, ys)``; the final state of a padded run includes padded steps.
    """
    for name, value in (
        ("checkpoint_every", checkpoint_every),
        ("truncate_every", truncate_every),
    ):
        if value is not None:
            check_size(f"scan_time.{name}", value)
    n = jax.tree.leaves(xs)[0].shape[0]
    k = checkpoint_every or truncate_every
    if k is None or k >= n:
        body = jax.checkpoint(step) if checkpoint_every else step
        return jax.lax.scan(body, state, xs)
    if checkpoint_every and truncate_every and truncate_every % checkpoint_every:
        raise ValueError(
            f"scan_time: truncate_every ({truncate_every}) must be a multiple of "
            f"checkpoint_every ({checkpoint_every})"
        )
    n_chunks = -(-n // k)
    pad = n_chunks * k - n
    chunked = jax.tree.map(
        lambda x: jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(
            n_chunks, k, *x.shape[1:]
        ),
        xs,
    )
    every = (truncate_every // k) if truncate_every else 0

    def chunk(carry, inp):
        state, i = carry
        if every:
            state = jax.lax.cond(i % every == 0, jax.lax.stop_gradient, lambda s: s, state)
        state, ys = jax.lax.scan(step, state, inp)
        return (state, i + 1), ys

    if checkpoint_every:
        chunk = jax.checkpoint(chunk)
    (state, _), ys = jax.lax.scan(chunk, (state, jnp.int32(0)), chunked)
    ys = jax.tree.map(lambda y: y.reshape(n_chunks * k, *y.shape[2:])[:n], ys)
    return state, ys
