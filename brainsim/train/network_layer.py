r"""A whole ``bs.Network`` as a trainable layer: the network ``bs.simulate`` runs.

The input ``x (..., T, n_in)`` is projected (one matmul for all steps) into an external
current $h_t = x_t W$ (``W`` in units of ``scale`` pA) of the population ``target``, the
network steps with ``Network.step`` (the same step ``bs.simulate`` scans) and the layer
returns the spikes of the population ``output``. Everything in the network that is an inexact array
(projection weights, neuron parameters, synaptic time constants) trains with ``W``;
spikes need a surrogate-gradient spike function (e.g. ``Heaviside(FastSigmoid(k))``).
Stack a ``Readout`` on it with ``SNN`` and train it with ``fit``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._checks import check_positive
from ..network import Network
from ._scan import scan_time
from ._sequence import _batch_major, _project_time_major


class NetworkLayer(eqx.Module):
    """``w (n_in, n_target)`` in units of ``scale`` pA (static; O(1) weights suit an
    optimiser's absolute steps) per input unit, a current into population ``target``
    of ``network`` for one step; the output is population ``output``'s spikes. ``dt``
    ms (static);
    ``key``: the initial state's key (``network.init(key, dt=dt)``, one per batch
    element drawn from it). ``layer(x (..., T, n_in))`` → spikes ``(..., T, n_output)``.
    """

    w: jax.Array
    network: Network
    target: str = eqx.field(static=True)
    output: str = eqx.field(static=True)
    key: jax.Array
    scale: float = eqx.field(static=True, default=1.0)
    dt: float = eqx.field(static=True, default=0.1)

    def __check_init__(self):
        check_positive("NetworkLayer.dt", self.dt, "ms")
        check_positive("NetworkLayer.scale", self.scale, "pA")
        names = self.network.populations
        for field in ("target", "output"):
            if getattr(self, field) not in names:
                raise ValueError(
                    f"NetworkLayer.{field} must name a population of the network "
                    f"({sorted(names)}), got {getattr(self, field)!r}"
                )
        n = self.network.populations[self.target].size
        if jnp.ndim(self.w) != 2 or jnp.shape(self.w)[1] != n:
            raise ValueError(
                f"NetworkLayer.w must be (n_in, {n}) (the size of {self.target!r}), "
                f"got shape {jnp.shape(self.w)}"
            )

    def init(self, batch_shape=()):
        """The network's initial state (``network.init(key, dt=dt, batch_shape=...)``)."""
        return self.network.init(self.key, dt=self.dt, batch_shape=batch_shape)

    def __call__(self, x, state=None, *, checkpoint_every=None, truncate_every=None):
        kw = dict(checkpoint_every=checkpoint_every, truncate_every=truncate_every)
        return _batch_major(self.time_major(x, state, batch_major_input=True, **kw))

    def time_major(
        self, x, state=None, *, checkpoint_every=None, truncate_every=None, batch_major_input=False
    ):
        """Spikes ``(T, ..., n_output)`` for ``x (T, ..., n_in)`` (or ``(..., T, n_in)``
        with ``batch_major_input``), from ``state`` (default ``init``)."""
        h = self.scale * _project_time_major(x, self.w, False, batch_major_input)
        state = self.init(h.shape[1:-1]) if state is None else state

        def step(st, ht):
            h_t, t = ht
            st, spikes = self.network.step(st, {self.target: h_t}, t=t, dt=self.dt)
            return st, spikes[self.output]

        steps = jnp.arange(h.shape[0], dtype=h.dtype) * self.dt
        return scan_time(step, state, (h, steps), checkpoint_every, truncate_every)[1]
