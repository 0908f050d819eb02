"""Euler–Maruyama for Itô SDEs with diagonal noise."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from ._base import AbstractIntegrator


def euler_maruyama_step(f, g, t, y, dt, args, dw):
    r"""One Euler–Maruyama step with given Brownian increments ``dw`` (a pytree like ``y``,
    each leaf $\sim \mathcal N(0, \Delta t)$):
    $y_{n+1} = y_n + f(t_n, y_n)\,\Delta t + g(t_n, y_n) \odot \Delta W_n$."""
    drift = f(t, y, args)
    diff = g(t, y, args)
    return jax.tree.map(lambda yi, fi, gi, wi: yi + fi * dt + gi * wi, y, drift, diff, dw)


class EulerMaruyama(AbstractIntegrator):
    r"""Euler–Maruyama for $dy = f(t, y)\,dt + g(t, y) \odot dW$ (Itô, diagonal noise).

    A drop-in ``AbstractIntegrator``: ``step(f, t, y, dt, args)`` takes the drift ``f`` of
    the model as every integrator does; the noise comes from the integrator's own fields:

    - ``diffusion(t, y, args)`` returns a pytree with ``y``'s structure (leaves broadcast
      to ``y``'s leaves) giving $g$, in the unit of the variable per $\sqrt{\text{ms}}$
      (e.g. mV/√ms for white noise on V: $\sigma_V \sqrt{2/\tau_m}$ gives a stationary
      standard deviation $\sigma_V$ for a leaky membrane);
    - ``key``: the noise of the step starting at ``t`` is drawn from
      ``fold_in(key, round(t / dt))``, so a run is pure and reproducible with no key in the
      model's state. Two populations must not share a key, or their noise is identical.

    Strong order 1/2 in general, 1 for additive noise ($g$ independent of $y$, where it
    coincides with Milstein); weak order 1 (Kloeden & Platen 1992, §10.2, §14.1).
    """

    diffusion: Callable = eqx.field(static=True)
    key: jax.Array

    def step(self, f, t, y, dt, args):
        key = jax.random.fold_in(self.key, jnp.round(jnp.asarray(t) / dt).astype(jnp.int32))
        leaves, treedef = jax.tree.flatten(y)
        keys = jax.random.split(key, len(leaves))
        dw = [
            jnp.sqrt(dt) * jax.random.normal(k, jnp.shape(x), jnp.result_type(x))
            for k, x in zip(keys, leaves, strict=True)
        ]
        return euler_maruyama_step(
            f, self.diffusion, t, y, dt, args, jax.tree.unflatten(treedef, dw)
        )
