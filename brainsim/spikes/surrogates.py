"""Surrogate derivatives for the Heaviside spike.

Each surrogate is a tiny module whose hyperparameters are pytree fields (so they can be
inspected, vmapped over or learned). ``surrogate.grad(x)`` is the pseudo-derivative
used in place of the Dirac delta ``dH/dx``.
"""

import abc

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_positive


class AbstractSurrogate(eqx.Module):
    """A smooth stand-in for ``dH/dx``."""

    @abc.abstractmethod
    def grad(self, x):
        """Pseudo-derivative at ``x`` (same shape)."""


class Sigmoid(AbstractSurrogate):
    r"""Derivative of a logistic of slope ``alpha``:
    $\sigma'(x) = \alpha\,\sigma(\alpha x)\,(1 - \sigma(\alpha x))$."""

    alpha: float = 4.0

    def __check_init__(self):
        check_positive("Sigmoid.alpha", self.alpha)

    def grad(self, x):
        s = 1.0 / (1.0 + jnp.exp(-self.alpha * x))
        return self.alpha * s * (1.0 - s)


class FastSigmoid(AbstractSurrogate):
    r"""SuperSpike (Zenke & Ganguli 2018): $1 / (\beta |x| + 1)^2$ with scale $\beta$."""

    scale: float = 25.0

    def __check_init__(self):
        check_positive("FastSigmoid.scale", self.scale)

    def grad(self, x):
        return 1.0 / (self.scale * jnp.abs(x) + 1.0) ** 2


class ArcTan(AbstractSurrogate):
    r"""Derivative of $\frac{1}{\pi}\arctan(\frac{\pi}{2}\alpha x)$:
    $\frac{\alpha}{2} / (1 + (\frac{\pi}{2}\alpha x)^2)$."""

    alpha: float = 2.0

    def __check_init__(self):
        check_positive("ArcTan.alpha", self.alpha)

    def grad(self, x):
        return 0.5 * self.alpha / (1.0 + (0.5 * jnp.pi * self.alpha * x) ** 2)
