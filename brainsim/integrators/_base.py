import abc

import equinox as eqx


class AbstractIntegrator(eqx.Module):
    """An explicit one-step scheme for ``dy/dt = f(t, y, args)`` over a pytree ``y``."""

    @abc.abstractmethod
    def step(self, f, t, y, dt, args):
        """``y`` at ``t + dt`` (ms)."""
