"""Surrogate derivatives for the Heaviside spike.

Each surrogate is a tiny module whose hyperparameters are pytree fields (so they can be
inspected, vmapped over or learned). ``surrogate.grad(x)`` is the pseudo-derivative
used in place of the Dirac delta ``dH/dx``.
"""

import abc

import equinox as eqx
import jax.numpy as jnp

from .._checks import check_finite, check_nonnegative, check_positive


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


class Triangle(AbstractSurrogate):
    r"""Triangle / piecewise linear (Esser et al. 2016; Bellec et al. 2018):
    $\alpha \max(0,\, 1 - \alpha|x|)$ (unit area, support $|x| < 1/\alpha$)."""

    alpha: float = 1.0

    def __check_init__(self):
        check_positive("Triangle.alpha", self.alpha)

    def grad(self, x):
        return self.alpha * jnp.maximum(0.0, 1.0 - self.alpha * jnp.abs(x))


class Gaussian(AbstractSurrogate):
    r"""Gaussian of width $\sigma$: $\mathcal{N}(x; 0, \sigma) =
    e^{-x^2/2\sigma^2} / (\sigma\sqrt{2\pi})$."""

    sigma: float = 0.5

    def __check_init__(self):
        check_positive("Gaussian.sigma", self.sigma)

    def grad(self, x):
        return _normal(x, 0.0, self.sigma)


class MultiGaussian(AbstractSurrogate):
    r"""Multi-Gaussian (Yin, Corradi & Bohté 2021): a central Gaussian with two negative
    side lobes,
    $(1 + h)\,\mathcal{N}(x; 0, \sigma) - h\,\mathcal{N}(x; s\sigma, s\sigma)
    - h\,\mathcal{N}(x; -s\sigma, s\sigma)$."""

    sigma: float = 0.5
    h: float = 0.15
    s: float = 6.0

    def __check_init__(self):
        check_positive("MultiGaussian.sigma", self.sigma)
        check_nonnegative("MultiGaussian.h", self.h)
        check_positive("MultiGaussian.s", self.s)

    def grad(self, x):
        wide = self.s * self.sigma
        return (
            (1.0 + self.h) * _normal(x, 0.0, self.sigma)
            - self.h * _normal(x, wide, wide)
            - self.h * _normal(x, -wide, wide)
        )


class StraightThrough(AbstractSurrogate):
    r"""Straight-through estimator (Bengio et al. 2013): the gradient passes unchanged,
    scaled by ``scale``: $\partial H/\partial x \approx c$."""

    scale: float = 1.0

    def __check_init__(self):
        check_positive("StraightThrough.scale", self.scale)

    def grad(self, x):
        return jnp.full_like(x, self.scale)


class Exponential(AbstractSurrogate):
    r"""Exponential (derivative of a Laplace CDF): $\frac{\alpha}{2} e^{-\alpha|x|}$."""

    alpha: float = 5.0

    def __check_init__(self):
        check_positive("Exponential.alpha", self.alpha)

    def grad(self, x):
        return 0.5 * self.alpha * jnp.exp(-self.alpha * jnp.abs(x))


class Erf(AbstractSurrogate):
    r"""Derivative of $\frac{1}{2}(1 + \mathrm{erf}(\alpha x))$:
    $\frac{\alpha}{\sqrt{\pi}} e^{-\alpha^2 x^2}$."""

    alpha: float = 2.0

    def __check_init__(self):
        check_positive("Erf.alpha", self.alpha)

    def grad(self, x):
        return self.alpha / jnp.sqrt(jnp.pi) * jnp.exp(-((self.alpha * x) ** 2))


class SLAYER(AbstractSurrogate):
    r"""SLAYER's spike escape density (Shrestha & Orchard 2018):
    $\alpha\, e^{-\beta |x|}$ (amplitude $\alpha$, not normalised; decay $\beta$ per mV)."""

    alpha: float = 1.0
    beta: float = 5.0

    def __check_init__(self):
        check_positive("SLAYER.alpha", self.alpha)
        check_positive("SLAYER.beta", self.beta)

    def grad(self, x):
        return self.alpha * jnp.exp(-self.beta * jnp.abs(x))


def _normal(x, mu, sigma):
    return jnp.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * jnp.sqrt(2.0 * jnp.pi))


class Scaled(AbstractSurrogate):
    r"""``surrogate`` on a membrane in units of ``width`` (mV), centred at ``center``
    (mV): $\frac{1}{w}\, g((x - c) / w)$ with $g$ the surrogate's pseudo-derivative.
    With ``width`` the distance from rest to threshold, the surrogate gradient of a model
    in mV equals that of the dimensionless model with unit threshold (e.g.
    ``bs.train.LIFLayer``'s), however the voltages are scaled. ``center`` (default 0)
    moves the peak away from the spike function's own threshold: for a model whose spike
    level ``v_peak`` lies beyond the upstroke, ``center = V_{th} - V_{peak}`` puts it on
    the effective threshold $V_{th}$, where the membrane decides to spike."""

    surrogate: AbstractSurrogate
    width: float = eqx.field(static=True, default=1.0)
    center: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        check_positive("Scaled.width", self.width, "mV")
        check_finite("Scaled.center", self.center, "mV")

    def grad(self, x):
        return self.surrogate.grad((x - self.center) / self.width) / self.width
