import abc

import equinox as eqx


class AbstractSpike(eqx.Module):
    """A spike function: ``spike(x)`` with ``x = v - v_th`` returns spikes of ``x``'s shape."""

    @abc.abstractmethod
    def __call__(self, x):
        """Spike values for the distance to threshold ``x`` (mV)."""

    def reset_gate(self, s):
        """The spikes ``s`` as the reset $V \\leftarrow V + (V_{reset} - V)\\,s$ uses them
        (default: unchanged, so gradients flow through the reset)."""
        return s
