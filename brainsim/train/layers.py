r"""Trainable spiking layers acting on whole sequences ``x (..., T, n_in)``.

Every layer first projects its input for **all** time steps at once (one matmul,
``h = x @ W``), then scans only the cheap elementwise recurrence over time.

``LIFLayer`` is the LIF layer in the convention of Zenke & Vogels 2021 (the membrane in
units of its threshold, a unit input weight one unit of current), per step of ``dt`` ms:

$$I_t = \alpha I_{t-1} + h_t + s_{t-1} W_{rec}, \quad
\tilde V_t = \beta V_{t-1} + I_t, \quad s_t = \mathrm{spike}(\tilde V_t - \vartheta_t),
\quad V_t = \tilde V_t (1 - \mathrm{sg}(s_t))$$

with $\alpha = e^{-\Delta t/\tau_{syn}}$, $\beta = e^{-\Delta t/\tau_{mem}}$ (per neuron,
learnable; clamped at $\tau \ge \Delta t$ in the dynamics), learnable threshold
$\vartheta$, and, for adaptive LIF (LSNN, Bellec et al. 2018),
$\vartheta_t = \vartheta + \beta_a a_{t-1}$, $a_t = \rho a_{t-1} + s_t$,
$\rho = e^{-\Delta t/\tau_a}$. The reset is detached (sg = stop-gradient).

These equations are not written here: the layer is ``NeuronLayer`` of a
``bs.neurons.LIF`` (``ALIF`` when adaptive) whose parameters give exactly them
(``LIFLayer.neuron_layer``): rest and reset 0, threshold $\vartheta$, exponential
Euler, and the capacitance $C = \tau (1 - \beta)$ at which one step of a unit current
raises the membrane by 1; the ``ALIF``'s threshold step $\beta_a / \rho$ (it adds its
already decayed $a$). Its step is the model's ``step``; the non-adaptive layer with a
``Heaviside`` spike runs through the hand-written BPTT ``train._bptt.lif_scan`` with
the coefficients of that model's ``AffineForm`` (tested against the scan of ``step``).

Default initial weights (calibrated on Randman/digits): input $\mathcal N(0, 1/n_{in})$,
recurrent $\mathcal N(0, (0.02)^2/H)$ (larger ones make training diverge), readout
$\mathcal N(0, (0.1)^2/H)$ (a leaky readout amplifies its input ~100×, so the usual
$1/\sqrt H$ stalls rate-coded training).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite, check_positive, check_size
from ..conn.layouts import Dense
from ..integrators import ExpEuler
from ..neurons import ALIF, LIF, Drive, LeakyIntegrator
from ..spikes import AbstractSpike, FastSigmoid, Heaviside
from ._scan import scan_time
from ._sequence import Layout, _batch_major, _check_per_neuron, _decay, _time_major
from .neuron_layer import NeuronLayer, NeuronLayerState


class _DetachedReset(AbstractSpike):
    """``spike`` whose reset sees the spikes with their gradient stopped (what
    ``Heaviside(..., detach_reset=True)`` does, for any spike function)."""

    spike: AbstractSpike

    def __call__(self, x):
        return self.spike(x)

    def reset_gate(self, s):
        return jax.lax.stop_gradient(s)


def _unit_membrane(tau_mem, dt) -> dict:
    r"""The parameters of a ``bs.neurons`` leaky membrane in threshold units, stepping
    ``dt`` ms: rest 0, exponential Euler, ``tau_m`` $\tau$ = ``tau_mem`` (a learnt value
    below ``dt`` acts as ``dt``) and the capacitance $C = \tau (1 - e^{-\Delta t/\tau})$
    at which one step of a unit current raises the membrane by 1, so that
    $V_t = \beta V_{t-1} + I_t$."""
    tau = jnp.maximum(tau_mem, dt)
    return dict(tau_m=tau, c_m=-tau * jnp.expm1(-dt / tau), v_rest=0.0, integrator=ExpEuler())


def _detached(spike: AbstractSpike) -> AbstractSpike:
    if type(spike) is Heaviside:
        return Heaviside(spike.surrogate, detach_reset=True)
    return _DetachedReset(spike)


class LIFLayer(eqx.Module):
    """Feed-forward, recurrent (dense or sparse via ``bs.ops.matvec``) and adaptive LIF:
    ``NeuronLayer`` of the ``bs.neurons`` model of the module docstring
    (``neuron_layer``), in the threshold-unit parameters of Zenke & Vogels.

    Fields: ``w (n_in, n)``; ``w_rec``: ``None`` (feed-forward), or weights of
    ``rec_layout`` (``Dense`` → ``(n, n)``, ``CSR``/``ELL`` → ``layout.weight_shape``);
    ``tau_mem``, ``tau_syn``, ``threshold``, ``tau_adapt`` ``(n,)``; ``beta_adapt`` (0:
    no adaptation). ``dt`` ms (static). ``event_input``: project sparse spike input
    event-driven (``event_project``). ``capacity``: event slots of the sparse recurrence
    (``bs.ops.matvec``). Call ``layer(x (..., T, n_in))`` → spikes
    ``(..., T, n)``.
    """

    w: jax.Array
    tau_mem: jax.Array
    tau_syn: jax.Array
    threshold: jax.Array
    w_rec: jax.Array | None = None
    rec_layout: Layout | None = None
    beta_adapt: float | jax.Array = 0.0
    tau_adapt: float | jax.Array = 200.0
    spike: AbstractSpike = Heaviside(FastSigmoid(25.0))
    dt: float = eqx.field(static=True, default=1.0)
    capacity: int | None = eqx.field(static=True, default=None)
    event_input: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        check_positive("LIFLayer.dt", self.dt, "ms")
        check_positive("LIFLayer.tau_mem", self.tau_mem, "ms")
        check_positive("LIFLayer.tau_syn", self.tau_syn, "ms")
        check_positive("LIFLayer.tau_adapt", self.tau_adapt, "ms")
        check_finite("LIFLayer.threshold", self.threshold)
        _check_per_neuron("LIFLayer", self, ("tau_mem", "tau_syn", "threshold", "tau_adapt"))
        if (self.w_rec is None) != (self.rec_layout is None):
            raise ValueError("LIFLayer: w_rec and rec_layout must be given together")

    @property
    def size(self) -> int:
        return self.w.shape[1]

    @property
    def adaptive(self) -> bool:
        """False when ``beta_adapt`` is the plain float 0 (adaptation skipped)."""
        return not (isinstance(self.beta_adapt, float | int) and self.beta_adapt == 0)

    def neuron_layer(self, dt: float | None = None) -> NeuronLayer:
        """This layer as the ``NeuronLayer`` it is (module docstring), stepping ``dt`` ms
        (default ``self.dt``): a differentiable function of this layer's fields."""
        dt = self.dt if dt is None else dt
        model = dict(
            size=self.size,
            **_unit_membrane(self.tau_mem, dt),
            v_th=self.threshold,
            v_reset=0.0,
            spike=_detached(self.spike),
        )
        if self.adaptive:
            tau_a = jnp.maximum(self.tau_adapt, dt)
            model.update(tau_a=tau_a, beta=self.beta_adapt / _decay(tau_a, dt))
        neuron = ALIF(**model) if self.adaptive else LIF(**model)
        return NeuronLayer(
            self.w,
            neuron,
            self.tau_syn,
            self.w_rec,
            self.rec_layout,
            dt=dt,
            capacity=self.capacity,
            event_input=self.event_input,
            detach_upstroke=False,  # a leaky membrane has no upstroke: plain autodiff
        )

    def init(self, key=None, batch_shape=()) -> NeuronLayerState:
        """The model's state at rest (``bs.neurons.LIFState``, ``ALIFState`` when
        adaptive) and zero synaptic current, as ``NeuronLayer.init``."""
        return self.neuron_layer().init(key, batch_shape)

    def step(self, state: NeuronLayerState, h, *, t=0.0, dt=None):
        """One step given the projected input ``h (..., n)``: ``(state, spikes)``."""
        return self.neuron_layer(dt).step(state, h, t=t)

    def __call__(self, x, state=None, *, checkpoint_every=None, truncate_every=None):
        kw = dict(checkpoint_every=checkpoint_every, truncate_every=truncate_every)
        return _batch_major(self.time_major(x, state, batch_major_input=True, **kw))

    def time_major(
        self,
        x,
        state=None,
        *,
        checkpoint_every=None,
        truncate_every=None,
        batch_major_input: bool = False,
    ):
        """Spikes ``(T, ..., n)`` time-major, the layout the scan works in, for
        ``x (T, ..., n_in)`` (or ``x (..., T, n_in)`` with ``batch_major_input``).
        ``SNN`` chains layers this way, without transposes. The hand-written BPTT where
        the model has an ``AffineForm`` (``NeuronLayer.time_major``)."""
        kw = dict(checkpoint_every=checkpoint_every, truncate_every=truncate_every)
        return self.neuron_layer().time_major(x, state, batch_major_input=batch_major_input, **kw)

    def reference(self, x, state=None, checkpoint_every=None, truncate_every=None):
        """The same spikes by the plain scan of the model's ``step`` (autodiff BPTT
        through ``scan_time``): the general path, and the reference of the hand-written
        BPTT."""
        kw = dict(checkpoint_every=checkpoint_every, truncate_every=truncate_every)
        return self.neuron_layer().reference(x, state, **kw)


def _filter_matrix(alpha, beta, gain, n_steps: int):
    r"""``M (T, T, n)`` with $V_t = \sum_k M_{tk} h_k$ for $I_t = \alpha I_{t-1} + h_t$,
    $V_t = \beta V_{t-1} + k I_t$ from rest: $M_{tk} = k K_{t-k}$ (0 for $k > t$),
    $K_d = \sum_{m=0}^{d} \alpha^m \beta^{d-m}$ (every power an exp of a non-positive
    exponent: no overflow, smooth gradients)."""
    d = jnp.arange(n_steps)[:, None, None]
    m = jnp.arange(n_steps)[None, :, None]
    la, lb = jnp.log(alpha)[None, None, :], jnp.log(beta)[None, None, :]
    below = m <= d
    expo = jnp.where(below, m * la + (d - m) * lb, 0.0)
    kernel = gain[None, :] * jnp.sum(jnp.where(below, jnp.exp(expo), 0.0), axis=1)  # (T, n)
    lag = d[:, :, 0] - m[:, :, 0]  # t - k
    return jnp.where((lag >= 0)[..., None], kernel[jnp.maximum(lag, 0)], 0.0)


class Readout(eqx.Module):
    r"""Leaky-integrator readout (no spikes): $I_t = \alpha I_{t-1} + h_t$,
    $V_t = \beta V_{t-1} + I_t$; returns the membrane ``(..., T, n_out)``.

    These equations are not written here: the readout is a ``NeuronLayer`` of a
    ``bs.neurons.LeakyIntegrator`` in threshold units (``Readout.neuron_layer``, the
    membrane of ``LIFLayer``'s model without its threshold); its state is that layer's
    (``NeuronLayerState``). The filter is linear, so the whole sequence is one matmul
    with its ``(T, T)`` impulse-response matrix per output (``_filter_matrix``, its
    coefficients the derivatives of the model's step: $T^2 n$ work, no time scan);
    ``reference`` is the scan of the model's ``step`` (also used with truncated BPTT).
    ``event_input`` (default): the input is spikes, projected by ``event_project``.
    """

    w: jax.Array
    tau_mem: jax.Array
    tau_syn: jax.Array
    dt: float = eqx.field(static=True, default=1.0)
    event_input: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        check_positive("Readout.dt", self.dt, "ms")
        check_positive("Readout.tau_mem", self.tau_mem, "ms")
        check_positive("Readout.tau_syn", self.tau_syn, "ms")
        _check_per_neuron("Readout", self, ("tau_mem", "tau_syn"))

    def neuron_layer(self, dt: float | None = None) -> NeuronLayer:
        """This readout as the ``NeuronLayer`` of a ``LeakyIntegrator`` it is, stepping
        ``dt`` ms (default ``self.dt``): a differentiable function of its fields."""
        dt = self.dt if dt is None else dt
        neuron = LeakyIntegrator(self.w.shape[1], **_unit_membrane(self.tau_mem, dt))
        return NeuronLayer(self.w, neuron, self.tau_syn, dt=dt, event_input=self.event_input)

    def init(self, key=None, batch_shape=()) -> NeuronLayerState:
        """Zero current, the membrane at rest (``NeuronLayer.init``)."""
        return self.neuron_layer().init(key, batch_shape)

    def step(self, state: NeuronLayerState, h, *, t=0.0, dt=None):
        """One step given the projected input ``h (..., n_out)``: ``(state, membrane)``."""
        state, _ = self.neuron_layer(dt).step(state, h, t=t)
        return state, state.neuron.v

    def __call__(self, x, *, checkpoint_every=None, truncate_every=None):
        kw = dict(checkpoint_every=checkpoint_every, truncate_every=truncate_every)
        return _batch_major(self.time_major(_time_major(x), **kw))

    def time_major(self, x, *, checkpoint_every=None, truncate_every=None):
        """``__call__`` on time-major ``x (T, ..., n_in)`` → ``(T, ..., n_out)``."""
        if truncate_every is not None:
            return self._reference(x, checkpoint_every, truncate_every)
        layer = self.neuron_layer()
        h = layer.project(x, batch_major=False)
        n = (self.w.shape[1],)
        alpha = jnp.broadcast_to(_decay(self.tau_syn, self.dt), n)
        beta, gain = _membrane_coefficients(layer.neuron, self.dt)
        m = _filter_matrix(alpha, beta, gain, h.shape[0]).astype(h.dtype)
        return jnp.einsum("tkn,k...n->t...n", m, h)

    def reference(self, x, checkpoint_every=None, truncate_every=None):
        """The membrane by the scan of the model's ``step`` (autodiff BPTT through
        ``scan_time``)."""
        return _batch_major(self._reference(_time_major(x), checkpoint_every, truncate_every))

    def _reference(self, x, checkpoint_every, truncate_every):
        layer = self.neuron_layer()
        h = layer.project(x, batch_major=False)
        steps = jnp.arange(h.shape[0]) * self.dt

        def step(state, ht):
            state, _ = layer.step(state, ht[0], t=ht[1])
            return state, state.neuron.v

        state = layer.init(batch_shape=h.shape[1:-1])
        return scan_time(step, state, (h, steps), checkpoint_every, truncate_every)[1]


def _membrane_coefficients(neuron: LeakyIntegrator, dt):
    r"""``(beta, gain)`` ``(n,)`` of ``neuron``'s step from rest at 0 (exact: the step is
    affine): $V_t = \beta V_{t-1} + k I_t$, the derivatives of the model's own step."""
    zero = jnp.zeros((neuron.size,), jnp.result_type(neuron.tau_m, float))
    one = jnp.ones_like(zero)
    f = lambda v, i: neuron.integrator.step(neuron.derivative, 0.0, v, dt, Drive(current=i))
    beta = jax.jvp(f, (zero, zero), (one, zero))[1]
    gain = jax.jvp(f, (zero, zero), (zero, one))[1]
    return beta, gain


def lif_layer(
    key,
    n_in: int,
    n: int,
    *,
    recurrent: bool | Layout = False,
    adaptive: bool = False,
    tau_mem=10.0,
    tau_syn=5.0,
    threshold=1.0,
    w_scale=1.0,
    rec_scale=0.02,
    spike: AbstractSpike | None = None,
    dt: float = 1.0,
    event_input: bool = False,
) -> LIFLayer:
    """A ``LIFLayer`` with the default initialisation (module docstring).

    ``recurrent``: ``False``, ``True`` (dense ``n×n``) or a layout (``CSR``/``ELL`` from
    ``bs.conn`` builders: sparse recurrent weights propagated event-driven by
    ``bs.ops.matvec``). ``adaptive``: LSNN threshold adaptation (``beta_adapt = 1.8``).
    """
    check_size("lif_layer.n_in", n_in)
    check_size("lif_layer.n", n)
    k_in, k_rec = jax.random.split(key)
    w = jax.random.normal(k_in, (n_in, n)) * (w_scale / np.sqrt(n_in))
    w_rec = layout = None
    if recurrent is True:
        layout = Dense(n, n)
    elif recurrent is not False:
        layout = recurrent
    if layout is not None:
        w_rec = jax.random.normal(k_rec, layout.weight_shape) * (rec_scale / np.sqrt(n))
    full = lambda v: jnp.full((n,), v, jnp.float32)
    return LIFLayer(
        w=w,
        tau_mem=full(tau_mem),
        tau_syn=full(tau_syn),
        threshold=full(threshold),
        w_rec=w_rec,
        rec_layout=layout,
        beta_adapt=1.8 if adaptive else 0.0,
        tau_adapt=full(200.0),
        spike=Heaviside(FastSigmoid(25.0)) if spike is None else spike,
        dt=dt,
        event_input=event_input,
    )


def readout(
    key, n_in: int, n_out: int, *, tau_mem=20.0, tau_syn=5.0, w_scale=0.1, dt: float = 1.0
) -> Readout:
    """A ``Readout`` with weights $\\mathcal N(0, w_{scale}^2/n_{in})$ (default 0.1: see
    the module docstring)."""
    check_size("readout.n_in", n_in)
    check_size("readout.n_out", n_out)
    w = jax.random.normal(key, (n_in, n_out)) * (w_scale / np.sqrt(n_in))
    full = lambda v: jnp.full((n_out,), v, jnp.float32)
    return Readout(w=w, tau_mem=full(tau_mem), tau_syn=full(tau_syn), dt=dt)
