"""The one protocol every dynamical part of brainsim follows.

A part is an ``equinox.Module`` whose array fields are parameters. Its dynamic
variables live in a separate state pytree::

    state = part.init(key, ...)                              # -> State
    state, outputs = part.step(state, inputs, t=t, dt=dt)    # pure

``t`` and ``dt`` are in ms and always explicit: there is no global clock.
"""

import abc

import equinox as eqx


class AbstractDynamics(eqx.Module):
    """Base class of neurons, spike sources and synaptic kinetics."""

    @abc.abstractmethod
    def init(self, key, *args, **kwargs):
        """Initial state."""

    @abc.abstractmethod
    def step(self, state, inputs, *, t, dt):
        """Advance ``state`` by one step of ``dt`` ms starting at time ``t``; return
        ``(new_state, outputs)``."""
