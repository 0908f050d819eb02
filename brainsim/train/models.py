"""Stacks of spiking layers with an optional leaky readout."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite, check_positive, check_size
from ..spikes import AbstractSpike, UltraLIF, UltraSpike
from ._scan import scan_time
from .layers import LIFLayer, Readout, lif_layer, readout
from .network_layer import NetworkLayer
from .neuron_layer import NeuronLayer


def _psp_step(decays, state, h_t):
    """One step of ``UltraLIFLayer``'s two linear filters: ``(I, P)`` from ``h_t``."""
    (alpha, beta), (i, p) = decays, state
    i = alpha * i + h_t
    return i, beta * p + i


class UltraLIFLayer(eqx.Module):
    r"""A dense projection with a synaptic current into ``bs.spikes.UltraLIF`` neurons
    (steps of $\Delta t$ = 1 ms):

    $$I_t = \alpha I_{t-1} + x_t W, \quad P_t = \beta P_{t-1} + I_t, \quad
    \alpha = e^{-\Delta t/\tau_{syn}},\ \beta = e^{-\Delta t/\tau_{psp}}, \qquad
    \text{membrane input } P_t + b.$$

    $I$ is the current ``LIFLayer`` uses; $P$ is that current integrated with
    $\tau_{psp}$, i.e. ``LIFLayer``'s sub-threshold membrane (no reset): a
    difference-of-exponentials post-synaptic potential. Excitation and inhibition add
    linearly here, before the membrane's exponential, where a negative input can only
    remove drive, and $P$ holds evidence over $\sim\tau_{psp}$, which the max-plus
    membrane cannot (it forgets within $\varepsilon\tau_m$); see
    ``docs/concepts/ultralif.md``. The bias sets where a neuron rests without input
    (``UltraLIF.equilibrium``).

    Fields: ``w (n_in, n)``; ``b (n,)`` (same unit as $V$); ``tau_syn (n,)`` ms, or
    ``None`` for no current ($I_t = x_t W$); ``tau_psp (n,)`` ms, or ``None`` for
    $P_t = I_t$; ``neuron``: ``UltraLIF`` of size ``n``.
    Call ``layer(x (..., T, n_in))`` -> spikes ``(..., T, n)``.
    """

    w: jax.Array
    b: jax.Array
    tau_syn: jax.Array | None
    neuron: UltraLIF
    tau_psp: jax.Array | None = None

    def __check_init__(self):
        n = self.neuron.size
        if self.w.ndim != 2 or self.w.shape[1] != n or np.shape(self.b) != (n,):
            raise ValueError(
                f"UltraLIFLayer: need w (n_in, {n}) and b ({n},) for a neuron of size {n}, "
                f"got w {self.w.shape}, b {np.shape(self.b)}"
            )
        if self.tau_syn is not None:
            check_positive("UltraLIFLayer.tau_syn", self.tau_syn, "ms")
        if self.tau_psp is not None:
            check_positive("UltraLIFLayer.tau_psp", self.tau_psp, "ms")

    def _decays(self, shape):
        # as in LIFLayer, a learnt time constant below dt acts as dt (decay in [0, 1))
        d = lambda tau: jnp.zeros(()) if tau is None else jnp.exp(-1.0 / jnp.maximum(tau, 1.0))
        return tuple(jnp.broadcast_to(d(tau), shape) for tau in (self.tau_syn, self.tau_psp))

    def potential(self, x):
        """The membrane input without the bias, $P_t$ ``(..., T, n)`` for
        ``x (..., T, n_in)`` (the two linear filters above, from rest)."""
        h = jnp.moveaxis(x @ self.w, -2, 0)
        decays = self._decays(h.shape[1:])

        def step(st, h_t):
            st = _psp_step(decays, st, h_t)
            return st, st[1]

        zero = jnp.zeros(h.shape[1:])
        return jnp.moveaxis(jax.lax.scan(step, (zero, zero), h)[1], 0, -2)

    def __call__(self, x, *, checkpoint_every=None, truncate_every=None):
        h = jnp.moveaxis(x @ self.w, -2, 0)
        zero = jnp.zeros(h.shape[1:])
        state = (zero, zero, self.neuron.init(batch_shape=h.shape[1:-1]))
        decays = self._decays(h.shape[1:])
        b = jnp.broadcast_to(self.b, h.shape[1:])

        def step(st, h_t):
            i, p = _psp_step(decays, st[:2], h_t)
            nst, s = self.neuron.step(st[2], p + b, t=0.0, dt=1.0)
            return (i, p, nst), s

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
    return _stack(
        "FeedForwardSNN",
        n_in,
        n_hidden,
        n_out,
        key,
        spike,
        readout_kw,
        recurrent=False,
        **layer_kw,
    )


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
    return _stack(
        "RecurrentSNN",
        n_in,
        n_hidden,
        n_out,
        key,
        spike,
        readout_kw,
        recurrent=recurrent,
        **layer_kw,
    )


def _stack(owner, n_in, n_hidden, n_out, key, spike, readout_kw, **layer_kw):
    key = jax.random.key(0) if key is None else key
    sizes = _check_sizes(owner, n_in, n_hidden, n_out)
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
    eps: float = 0.3,
    tau_mem: float = 10.0,
    theta: float = 2.0,
    w_scale: float = 2.0,
    rest: float | None = 0.0,
    tau_syn: float | None = 5.0,
    tau_psp: float | None = 10.0,
) -> SNN:
    r"""One ``UltraLIF`` hidden layer (``UltraLIFLayer``) and a leaky readout; steps of
    1 ms. Every array is learnable: ``w``, ``b``, ``eps`` (kept in [0.1, 20]),
    ``theta``, ``tau_m``, ``tau_syn``, ``tau_psp``.

    Args:
        eps: initial temperature $\varepsilon_0$ (same unit as $V$).
        tau_mem: membrane $\tau_m$ (ms), > 1 (UltraLIF needs $\Delta t < \tau_m$).
        theta: threshold; the reset is ``v_reset = 0``.
        w_scale: input weights $\mathcal N(0, w_{scale}^2/n_{in})$.
        rest: the potential the hidden neurons settle at without input: the bias is
            initialised to ``rest - neuron.equilibrium(0)``
            ($-c(\varepsilon_0, \tau_m)$ for ``rest = 0``, see
            ``docs/concepts/ultralif.md``). ``None``: no bias (``b = 0``, the bare
            projection, which rests at $c > 0$: above ``theta`` at $\varepsilon = 1$).
        tau_syn: synaptic current time constant (ms), or ``None`` for none.
        tau_psp: time constant (ms) with which the current is integrated into the
            membrane input (``UltraLIFLayer``), or ``None`` for the current itself.

    The defaults are the ones measured in ``benchmarks/ultralif_accuracy.py``:
    $\varepsilon_0 = 0.3$; $(\theta - V_{rest})/\varepsilon_0 = 6.7$ (soft spike at rest
    0.0013); ``LIFLayer``'s 5 ms current integrated with 10 ms, so the membrane input is
    that layer's sub-threshold potential, at twice its input weights and threshold (the
    readout is ``FeedForwardSNN``'s).
    """
    for name, value in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        check_size(f"UltraSNN.{name}", value)
    if not np.all(np.asarray(tau_mem) > 1.0):
        raise ValueError(
            f"UltraSNN.tau_mem must be > dt = 1 ms (UltraLIF's log(1 - dt/tau_m) needs "
            f"dt < tau_m), got {tau_mem!r}"
        )
    if rest is not None:
        check_finite("UltraSNN.rest", rest)
    key = jax.random.key(0) if key is None else key
    k1, k2 = jax.random.split(key)
    w = jax.random.normal(k1, (n_in, n_hidden)) * (w_scale / jnp.sqrt(n_in))
    full = lambda v: jnp.full((n_hidden,), v)
    neuron = UltraLIF(n_hidden, tau_m=full(tau_mem), theta=full(theta), spike=UltraSpike(eps))
    b = jnp.zeros(n_hidden) if rest is None else rest - neuron.equilibrium(0.0)
    syn, psp = (None if tau is None else full(tau) for tau in (tau_syn, tau_psp))
    return SNN((UltraLIFLayer(w, b, syn, neuron, psp),), readout(k2, n_hidden, n_out))


def _check_sizes(owner, n_in, n_hidden, n_out) -> tuple[int, ...]:
    """The hidden sizes as a tuple; every size an integer >= 1 (errors name
    ``owner.argument``)."""
    check_size(f"{owner}.n_in", n_in)
    check_size(f"{owner}.n_out", n_out)
    sizes = (n_hidden,) if isinstance(n_hidden, int | np.integer) else tuple(n_hidden)
    if not sizes:
        raise ValueError(f"{owner}.n_hidden must be an integer >= 1 or a non-empty tuple, got ()")
    for n in sizes:
        check_size(f"{owner}.n_hidden", n)
    return sizes


def hard_spikes(model: SNN) -> SNN:
    """The same model with every ``UltraSpike`` switched to hard (Heaviside) spikes for
    inference."""
    is_ultra = lambda x: isinstance(x, UltraSpike)
    return jax.tree.map(lambda x: x.with_hard() if is_ultra(x) else x, model, is_leaf=is_ultra)
