"""Flax interop, both ways (needs ``flax``: ``pip install 'brainsim[flax]'``).

- ``ToNNX(module)``: any brainsim (equinox) module, e.g. a ``bs.train.LIFLayer``, as a
  ``flax.nnx.Module`` inside a flax model: its trainable arrays become ``nnx.Param``
  variables, so ``nnx.Optimizer``, ``nnx.grad`` and ``nnx.jit`` see them.
- ``FromNNX(module)``: a ``flax.nnx`` module as an equinox module, e.g. a layer of
  ``bs.train.SNN`` trained by ``bs.train.fit``: its state (every nnx variable) is an
  ordinary pytree field, its graph definition static.

Both call the wrapped module's own code: no parameter is copied out of sync.
"""

import equinox as eqx
import jax

from ._optional import require

nnx = require("flax.nnx", "flax")


class Buffer(nnx.Variable):
    """An array of a wrapped brainsim module that is not trained (e.g. the index arrays
    of a sparse layout)."""


class ToNNX(nnx.Module):
    """``module`` (an equinox module) as a ``flax.nnx`` module. The leaves selected by
    ``trainable`` (default: every inexact array) are ``nnx.Param``s, other arrays
    ``Buffer``s (held fixed); the rest of the module is static. ``layer(*args,
    **kwargs)`` calls the module rebuilt from the current values; ``layer.to_equinox()``
    returns it."""

    def __init__(self, module, trainable=eqx.is_inexact_array):
        params, rest = eqx.partition(module, trainable)
        arrays, static = eqx.partition(rest, eqx.is_array)
        p_leaves, p_def = jax.tree.flatten(params)
        a_leaves, a_def = jax.tree.flatten(arrays)
        self.params = nnx.List([nnx.Param(leaf) for leaf in p_leaves])
        self.buffers = nnx.List([Buffer(leaf) for leaf in a_leaves])
        self.treedefs = nnx.static((p_def, a_def))
        self.static = nnx.static(static)

    def to_equinox(self):
        """The wrapped module with the current parameter values."""
        p_def, a_def = self.treedefs
        params = jax.tree.unflatten(p_def, [p[...] for p in self.params])
        arrays = jax.tree.unflatten(a_def, [b[...] for b in self.buffers])
        return eqx.combine(params, arrays, self.static)

    def __call__(self, *args, **kwargs):
        return self.to_equinox()(*args, **kwargs)


class FromNNX(eqx.Module):
    """A ``flax.nnx`` module as an equinox module: ``state`` (an ``nnx.State``, a pytree
    of every variable: parameters and the rest) is a field, the graph definition static.
    ``layer(*args, **kwargs)`` merges the two and calls the module; ``to_nnx()`` gives
    the module back with the current values. Stateful flax layers (batch statistics,
    RNG counters) are called functionally: their updates are not kept."""

    state: object
    graphdef: object = eqx.field(static=True)

    def __init__(self, module):
        self.graphdef, self.state = nnx.split(module)

    def to_nnx(self):
        return nnx.merge(self.graphdef, self.state)

    def __call__(self, *args, **kwargs):
        return self.to_nnx()(*args, **kwargs)
