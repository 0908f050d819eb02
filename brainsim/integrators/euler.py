import jax

from ._base import AbstractIntegrator


class Euler(AbstractIntegrator):
    r"""Forward Euler: $y_{n+1} = y_n + \Delta t\, f(t_n, y_n)$. First order."""

    def step(self, f, t, y, dt, args):
        dy = f(t, y, args)
        return jax.tree.map(lambda yi, di: yi + dt * di, y, dy)
