import jax
import jax.numpy as jnp

from ._base import AbstractIntegrator


def _phi1(a, dt):
    """``(exp(a dt) - 1) / a``, equal to ``dt`` where ``a == 0``."""
    safe = jnp.where(a == 0, 1.0, a)
    return jnp.where(a == 0, dt, jnp.expm1(safe * dt) / safe)


class ExpEuler(AbstractIntegrator):
    r"""Exponential Euler.

    Each state variable ``y_k`` is advanced with its own linearisation
    $a_k = \partial f_k / \partial y_k$ (other variables frozen at the step start):

    $$y_k(t+\Delta t) = y_k + \frac{e^{a_k \Delta t} - 1}{a_k} f_k(t, y).$$

    Exact for equations linear in their own variable with coefficients constant over the
    step (LIF with conductance or current input, exponential synapses); first order
    otherwise. ``a_k`` is computed by forward-mode autodiff, one JVP per state leaf.
    """

    def step(self, f, t, y, dt, args):
        leaves, treedef, rates, dy = _linearised(f, t, y, args)
        new = [yk + _phi1(a, dt) * d for yk, a, d in zip(leaves, rates, dy, strict=True)]
        return jax.tree.unflatten(treedef, new)


def _linearised(f, t, y, args):
    """``(leaves, treedef, rates, dy)``: ``y``'s leaves, ``f(t, y)``'s and each leaf's
    own rate ``a_k = ∂f_k/∂y_k`` (one JVP per leaf gives that leaf's diagonal rate; the
    primal ``f(t, y)`` comes with it)."""
    leaves, treedef = jax.tree.flatten(y)
    g = lambda *ls: jax.tree.leaves(f(t, jax.tree.unflatten(treedef, ls), args))
    rates, dy = [], None
    for k in range(len(leaves)):
        unit = [(jnp.ones_like if i == k else jnp.zeros_like)(x) for i, x in enumerate(leaves)]
        dy, tangent = jax.jvp(g, leaves, unit)
        rates.append(tangent[k])
    return leaves, treedef, rates, dy
