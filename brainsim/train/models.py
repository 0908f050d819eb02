"""Stacks of spiking layers with an optional leaky readout."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_size
from ..spikes import AbstractSpike, UltraLIF, UltraSpike
from ._scan import scan_time
from .layers import LIFLayer, Readout, lif_layer, readout
from .network_layer import NetworkLayer
from .neuron_layer import NeuronLayer


class UltraLIFLayer(eqx.Module):
    r"""A dense projection into ``bs.spikes.UltraLIF`` neurons: $I_t = x_t W$ (all steps
    at once), then the ultradiscretized recurrence. Spikes ``(..., T, n)``."""

    w: jax.Array
    neuron: UltraLIF

    def __call__(self, x, *, checkpoint_every=None, truncate_every=None):
        h = jnp.moveaxis(x @ self.w, -2, 0)
        state = self.neuron.init(batch_shape=h.shape[1:-1])
        step = lambda st, i: self.neuron.step(st, i, t=0.0, dt=1.0)
        return jnp.moveaxis(scan_time(step, state, h, checkpoint_every, truncate_every)[1], 0, -2)


class SNN(eqx.Module):
    """``layers`` applied in order (each on the whole sequence), then ``readout``.

    ``model(x (..., T, n_in))`` returns ``(out, spikes)``: ``out`` the readout membrane
    ``(..., T, n_out)`` (or the last layer's spikes if ``readout`` is None) and
    ``spikes`` the tuple of every layer's spikes. ``checkpoint_every``/``truncate_every``
    (static): see ``scan_time``."""

    layers: tuple
    readout: Readout | None
    checkpoint_every: int | None = eqx.field(static=True, default=None)
    truncate_every: int | None = eqx.field(static=True, default=None)

    def __call__(self, x):
        kw = dict(checkpoint_every=self.checkpoint_every, truncate_every=self.truncate_every)
        # Spiking layers and the readout run time-major (the scan's layout): x is moved to
        # time-major once (inside the first projection), spikes back only where returned.
        batch_major, spikes = True, []
        for layer in self.layers:
            if isinstance(layer, LIFLayer | NeuronLayer | NetworkLayer):
                x = layer.time_major(x, batch_major_input=batch_major, **kw)
                batch_major = False
                spikes.append(jnp.moveaxis(x, 0, -2))
                continue
            x = x if batch_major else jnp.moveaxis(x, 0, -2)
            x = layer(x, **kw) if isinstance(layer, UltraLIFLayer) else layer(x)
            batch_major = True
            if isinstance(layer, UltraLIFLayer):
                spikes.append(x)
        if self.readout is None:
            return (x if batch_major else jnp.moveaxis(x, 0, -2)), tuple(spikes)
        x = jnp.moveaxis(x, -2, 0) if batch_major else x
        return jnp.moveaxis(self.readout.time_major(x, **kw), 0, -2), tuple(spikes)


def FeedForwardSNN(
    n_in: int,
    n_hidden: int | tuple[int, ...],
    n_out: int,
    *,
    key=None,
    spike: AbstractSpike | None = None,
    readout_kw: dict | None = None,
    **layer_kw,
) -> SNN:
    """LIF layers of sizes ``n_hidden`` and a leaky readout (default inits).
    ``layer_kw`` go to every ``lif_layer`` (``tau_mem``, ``tau_syn``, ...),
    ``readout_kw`` to ``readout`` (``tau_mem``, ``tau_syn``, ``w_scale``)."""
    return _stack(n_in, n_hidden, n_out, key, spike, readout_kw, recurrent=False, **layer_kw)


def RecurrentSNN(
    n_in: int,
    n_hidden: int | tuple[int, ...],
    n_out: int,
    *,
    key=None,
    spike: AbstractSpike | None = None,
    recurrent=True,
    readout_kw: dict | None = None,
    **layer_kw,
) -> SNN:
    """Recurrent LIF layers (dense, or a sparse layout) and a leaky readout
    (``readout_kw``: as in ``FeedForwardSNN``)."""
    return _stack(n_in, n_hidden, n_out, key, spike, readout_kw, recurrent=recurrent, **layer_kw)


def _stack(n_in, n_hidden, n_out, key, spike, readout_kw, **layer_kw):
    key = jax.random.key(0) if key is None else key
    sizes = _check_sizes(n_in, n_hidden, n_out)
    keys = jax.random.split(key, len(sizes) + 1)
    layers, prev = [], n_in
    for k, n in zip(keys[:-1], sizes, strict=True):
        layers.append(lif_layer(k, prev, n, spike=spike, **layer_kw))
        prev = n
    readout_kw = {"dt": layer_kw.get("dt", 1.0), **(readout_kw or {})}
    return SNN(tuple(layers), readout(keys[-1], prev, n_out, **readout_kw))


def UltraSNN(
    n_in: int,
    n_hidden: int,
    n_out: int,
    *,
    key=None,
    eps: float = 1.0,
    tau_mem: float = 10.0,
    theta: float = 1.0,
    w_scale: float = 1.0,
) -> SNN:
    """One ``UltraLIF`` hidden layer (learnable ``eps``, init 1, range [0.1, 20]) and a
    leaky readout. Steps of 1 ms: ``tau_mem`` (ms) must exceed 1."""
    for name, value in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        check_size(f"UltraSNN.{name}", value)
    if not np.all(np.asarray(tau_mem) > 1.0):
        raise ValueError(
            f"UltraSNN.tau_mem must be > dt = 1 ms (UltraLIF's log(1 - dt/tau_m) needs "
            f"dt < tau_m), got {tau_mem!r}"
        )
    key = jax.random.key(0) if key is None else key
    k1, k2 = jax.random.split(key)
    w = jax.random.normal(k1, (n_in, n_hidden)) * (w_scale / jnp.sqrt(n_in))
    neuron = UltraLIF(
        n_hidden,
        tau_m=jnp.full((n_hidden,), tau_mem),
        theta=jnp.full((n_hidden,), theta),
        spike=UltraSpike(eps),
    )
    return SNN((UltraLIFLayer(w, neuron),), readout(k2, n_hidden, n_out))


def _check_sizes(n_in, n_hidden, n_out) -> tuple[int, ...]:
    """The hidden sizes as a tuple; every size an integer >= 1."""
    check_size("n_in", n_in)
    check_size("n_out", n_out)
    sizes = (n_hidden,) if isinstance(n_hidden, int | np.integer) else tuple(n_hidden)
    if not sizes:
        raise ValueError("n_hidden must be an integer >= 1 or a non-empty tuple, got ()")
    for n in sizes:
        check_size("n_hidden", n)
    return sizes


def hard_spikes(model: SNN) -> SNN:
    """The same model with every ``UltraSpike`` switched to hard (Heaviside) spikes for
    inference."""
    is_ultra = lambda x: isinstance(x, UltraSpike)
    return jax.tree.map(lambda x: x.with_hard() if is_ultra(x) else x, model, is_leaf=is_ultra)
