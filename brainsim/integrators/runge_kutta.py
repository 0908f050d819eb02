"""Explicit Runge–Kutta methods driven by a Butcher tableau stored as data."""

from typing import ClassVar

import equinox as eqx
import jax

from ._base import AbstractIntegrator


class ButcherTableau(eqx.Module):
    r"""Coefficients of an explicit Runge–Kutta method with $s$ stages.

    $$k_i = f\Big(t + c_i \Delta t,\; y + \Delta t \sum_{j<i} a_{ij} k_j\Big), \qquad
    y_{n+1} = y_n + \Delta t \sum_i b_i k_i.$$

    ``a`` holds the strictly lower-triangular rows: ``a[i]`` has ``i`` entries
    (``a[0] == ()``). Plain Python tuples, so the tableau is static data.
    """

    a: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    b: tuple[float, ...] = eqx.field(static=True)
    c: tuple[float, ...] = eqx.field(static=True)

    def __check_init__(self):
        s = len(self.b)
        if len(self.c) != s or len(self.a) != s:
            raise ValueError(f"ButcherTableau: a, b, c must have {s} stages")
        for i, row in enumerate(self.a):
            if len(row) != i:
                raise ValueError(f"ButcherTableau: row a[{i}] must have {i} entries, got {row}")
            if abs(sum(row) - self.c[i]) > 1e-12:
                raise ValueError(f"ButcherTableau: sum(a[{i}]) must equal c[{i}]")
        if abs(sum(self.b) - 1.0) > 1e-12:
            raise ValueError("ButcherTableau: the weights b must sum to 1")


class AbstractRungeKutta(AbstractIntegrator):
    """One generic engine: subclasses only set the class variable ``tableau``."""

    tableau: ClassVar[ButcherTableau]

    def step(self, f, t, y, dt, args):
        tab = self.tableau
        ks = []
        for i, row in enumerate(tab.a):
            yi = _axpy(y, dt, row, ks)
            ks.append(f(t + tab.c[i] * dt, yi, args))
        return _axpy(y, dt, tab.b, ks)


def _axpy(y, dt, coeffs, ks):
    """``y + dt * sum_j coeffs[j] * ks[j]`` over pytrees, skipping zero coefficients."""
    terms = [(c, k) for c, k in zip(coeffs, ks, strict=False) if c != 0.0]
    if not terms:
        return y

    def combine(yl, *kl):
        return yl + dt * sum(c * k for (c, _), k in zip(terms, kl, strict=True))

    return jax.tree.map(combine, y, *(k for _, k in terms))


class RK2(AbstractRungeKutta):
    r"""Explicit midpoint method, second order:
    $y_{n+1} = y_n + \Delta t\, f\big(t_n + \tfrac{\Delta t}{2}, y_n + \tfrac{\Delta t}{2}
    f(t_n, y_n)\big)$."""

    tableau: ClassVar[ButcherTableau] = ButcherTableau(a=((), (0.5,)), b=(0.0, 1.0), c=(0.0, 0.5))


class RK4(AbstractRungeKutta):
    """The classical fourth-order Runge–Kutta method (4 stages)."""

    tableau: ClassVar[ButcherTableau] = ButcherTableau(
        a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
        b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
        c=(0.0, 0.5, 0.5, 1.0),
    )
