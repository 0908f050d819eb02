"""Flax interop, both ways (needs ``flax``: ``pip install 'brainsim[flax]'``).

- ``ToNNX(module)``: any brainsim (equinox) module, e.g. a ``bs.train.LIFLayer``, as a
  ``flax.nnx.Module`` inside a flax model: its trainable arrays become ``nnx.Param``
  variables, so ``nnx.Optimizer``, ``nnx.grad`` and ``nnx.jit`` see them.
- ``FromNNX(module)``: a ``flax.nnx`` module as an equinox module, e.g. a layer of
  ``bs.train.SNN`` trained by ``bs.train.fit``: its variables are ordinary pytree
  fields (parameters trained, the rest held), its graph definition static.

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


def _frozen(x):
    return jax.lax.stop_gradient(x) if eqx.is_inexact_array(x) else x


class FromNNX(eqx.Module):
    """A ``flax.nnx`` module as an equinox module: ``params`` (an ``nnx.State`` of its
    ``nnx.Param`` variables) and ``rest`` (every other variable: batch statistics, RNG
    state, ...) are pytree fields, the graph definition static. ``layer(*args,
    **kwargs)`` merges them and calls the module; ``to_nnx()`` gives the module back
    with the current values. ``rest`` gets no gradient (so an optimiser leaves it
    unchanged), and updates the module makes to it while called (batch statistics, RNG
    counters) are not kept: the module is called functionally."""

    params: object
    rest: object
    graphdef: object = eqx.field(static=True)

    def __init__(self, module):
        self.graphdef, self.params, self.rest = nnx.split(module, nnx.Param, ...)

    def to_nnx(self):
        return nnx.merge(self.graphdef, self.params, jax.tree.map(_frozen, self.rest))

    def __call__(self, *args, **kwargs):
        return self.to_nnx()(*args, **kwargs)
