import abc

import equinox as eqx


class AbstractSpike(eqx.Module):
    """A spike function: ``spike(x)`` with ``x = v - v_th`` returns spikes of ``x``'s shape."""

    @abc.abstractmethod
    def __call__(self, x):
        """Spike values for the distance to threshold ``x`` (mV)."""
