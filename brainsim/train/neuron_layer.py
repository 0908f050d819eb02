r"""A trainable layer of any ``bs.neurons`` model: the physics is the model's own ``step``.

Per step of ``dt`` ms, an exponential current synapse (time constant ``tau_syn``) sums
the projected input ``h_t = x_t W`` (pA, all steps in one matmul) and, for a recurrent
layer, the previous step's spikes through ``W_rec``:

$$I_t = \alpha I_{t-1} + h_t + s_{t-1} W_{rec}, \qquad \alpha = e^{-\Delta t/\tau_{syn}}$$

and the neuron steps with the current $I_t$ (``Drive(current=I_t)``), emitting spikes
with its spike function (e.g. ``Heaviside(FastSigmoid(k), detach_reset=True)``; the
surrogate's scale ``k`` is per mV of the model's membrane). The state is the synaptic
current and the model's own state pytree.

``detach_upstroke`` (default): where the membrane's own dynamics are expanding, above
``spike_geometry().v_runaway`` (an exponential or quadratic upstroke), one step's
$\partial V_t / \partial V_{t-1}$ exceeds 1 (Izhikevich at 1 ms: up to ~5) and the
products over an upstroke make a few gradients huge (Randman at initialisation: the
largest input-weight gradient 650x the median for Izhikevich, 96x for AdEx, 20x for
the LIF layer). There the gradient of $V_{t-1}$ is stopped, as the reset's is (the
spike is on its way), and the spike's gradient reaches the input through the current
and the steps that brought the membrane to the runaway (then 19x and 16x). The forward
pass is unchanged; a leaky membrane never starts a step above its threshold, so for
``LIF`` nothing changes. ``False``: plain autodiff of ``step``.

Where the model declares an ``AffineForm`` (``AbstractNeuron.affine_form``: a ``LIF``
with Euler/ExpEuler steps, a detached-reset Heaviside spike and no refractory period)
the whole sequence runs through the hand-written BPTT ``lif_scan``, with its
coefficients taken from that form: the same spikes as the scan of ``step`` and its
gradients up to float rounding (tested).
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import ops
from .._checks import check_positive, check_size
from ..conn.layouts import Dense
from ..neurons import AbstractNeuron, Drive
from ..spikes import AbstractSurrogate, Heaviside, Scaled
from ._bptt import lif_scan
from ._scan import scan_time
from ._sequence import Layout, _batch_major, _check_per_neuron, _decay, _like, _project_time_major


class NeuronLayerState(eqx.Module):
    i: jax.Array  # (..., n) synaptic current, pA
    neuron: Any  # the model's own state (e.g. bs.neurons.AdExState), batch shape (...)


class NeuronLayer(eqx.Module):
    """A feed-forward or recurrent layer of ``neuron`` (module docstring).

    Fields: ``w (n_in, n)`` in units of ``scale``; ``neuron``: a ``bs.neurons`` model of
    ``size`` ``n`` (its parameters train with the weights); ``tau_syn`` ms, scalar or
    ``(n,)``; ``w_rec``: ``None`` or weights of ``rec_layout`` (units of ``scale`` per
    spike; ``Dense`` → ``(n, n)``, ``CSR``/``ELL`` → ``layout.weight_shape``);
    ``scale`` (pA, static): the current of a unit weight, so that the weights are
    O(1) numbers whatever the model (an optimiser's steps are absolute); ``dt`` ms;
    ``event_input``: project sparse spike input event-driven; ``capacity``: event slots
    of a sparse recurrence; ``detach_upstroke`` (module docstring). ``layer(x (..., T,
    n_in))`` → spikes ``(..., T, n)``.
    """

    w: jax.Array
    neuron: AbstractNeuron
    tau_syn: jax.Array | float = 5.0
    w_rec: jax.Array | None = None
    rec_layout: Layout | None = None
    scale: float = eqx.field(static=True, default=1.0)
    dt: float = eqx.field(static=True, default=1.0)
    capacity: int | None = eqx.field(static=True, default=None)
    event_input: bool = eqx.field(static=True, default=False)
    detach_upstroke: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        check_positive("NeuronLayer.dt", self.dt, "ms")
        check_positive("NeuronLayer.scale", self.scale, "pA")
        check_positive("NeuronLayer.tau_syn", self.tau_syn, "ms")
        _check_per_neuron("NeuronLayer", self, ("tau_syn",))
        if self.neuron.size != np.shape(self.w)[1]:
            raise ValueError(
                f"NeuronLayer.neuron.size ({self.neuron.size}) must equal w's output "
                f"dimension ({np.shape(self.w)[1]})"
            )
        if (self.w_rec is None) != (self.rec_layout is None):
            raise ValueError("NeuronLayer: w_rec and rec_layout must be given together")

    @property
    def size(self) -> int:
        return self.w.shape[1]

    def init(self, key=None, batch_shape=()) -> NeuronLayerState:
        """Zero synaptic current and the model's ``init`` (``key`` default ``key(0)``)."""
        key = jax.random.key(0) if key is None else key
        z = jnp.zeros((*batch_shape, self.size), self.w.dtype)
        return NeuronLayerState(z, self.neuron.init(key, batch_shape))

    def _step(self, alpha, state: NeuronLayerState, h, t):
        i = _like(alpha, h) * state.i + h
        if self.w_rec is not None:
            rec = ops.matvec(self.rec_layout, self.w_rec, state.neuron.spike, self.capacity)
            i = i + self.scale * rec
        nrn = self._detached_upstroke(state.neuron)
        # The model steps one sample (n,) (its per-neuron parameters broadcast against
        # it), mapped over the batch axes.
        step = lambda st, i: self.neuron.step(st, Drive(current=i), t=t, dt=self.dt)
        for _ in range(h.ndim - 1):
            step = jax.vmap(step)
        neuron, s = step(nrn, i)
        return NeuronLayerState(i, neuron), s

    def _detached_upstroke(self, nrn):
        """``nrn`` with the gradient of its membrane ``v`` stopped where ``v`` is above the
        model's ``spike_geometry().v_runaway`` (``detach_upstroke``)."""
        geometry = self.neuron.spike_geometry() if self.detach_upstroke else None
        if geometry is None:
            return nrn
        up = nrn.v > _like(geometry.v_runaway, nrn.v)
        return eqx.tree_at(
            lambda st: st.v, nrn, jnp.where(up, jax.lax.stop_gradient(nrn.v), nrn.v)
        )

    def project(self, x, batch_major=True):
        """The input current ``h (T, ..., n)`` pA for ``x (..., T, n_in)`` (``(T, ...,
        n_in)`` if not ``batch_major``), time-major."""
        return self.scale * _project_time_major(x, self.w, self.event_input, batch_major)

    def step(self, state: NeuronLayerState, h, *, t=0.0):
        """One step given the projected input ``h (..., n)`` pA at time ``t`` ms."""
        return self._step(_decay(self.tau_syn, self.dt), state, h, t)

    def __call__(self, x, state=None, *, checkpoint_every=None, truncate_every=None):
        kw = dict(checkpoint_every=checkpoint_every, truncate_every=truncate_every)
        return _batch_major(self.time_major(x, state, batch_major_input=True, **kw))

    def time_major(
        self, x, state=None, *, checkpoint_every=None, truncate_every=None, batch_major_input=False
    ):
        """Spikes ``(T, ..., n)`` for ``x (T, ..., n_in)`` (or ``(..., T, n_in)`` with
        ``batch_major_input``), from ``state`` (default ``init()``)."""
        if checkpoint_every is None and truncate_every is None:
            form = self.neuron.affine_form(self.dt)
            if form is not None:
                return self._affine_scan(form, x, state, batch_major_input)
        h = self.project(x, batch_major_input)
        state = self.init(batch_shape=h.shape[1:-1]) if state is None else state
        return self._scan(h, state, checkpoint_every, truncate_every)

    def reference(self, x, state=None, *, checkpoint_every=None, truncate_every=None):
        """The spikes ``(..., T, n)`` by the scan of ``step`` whatever the model (autodiff
        BPTT through ``scan_time``): the general path, and the reference of the
        ``AffineForm`` path."""
        h = self.project(x)
        state = self.init(batch_shape=h.shape[1:-1]) if state is None else state
        return _batch_major(self._scan(h, state, checkpoint_every, truncate_every))

    def _scan(self, h, state, checkpoint_every, truncate_every):
        alpha = _decay(self.tau_syn, self.dt)
        steps = jnp.arange(h.shape[0]) * self.dt
        step = lambda st, ht: self._step(alpha, st, ht[0], ht[1])
        return scan_time(step, state, (h, steps), checkpoint_every, truncate_every)[1]

    def _affine_scan(self, form, x, state, batch_major):
        """``lif_scan`` on $u = V - V_{reset}$ and $J_t = k I_t + c$, which obeys
        $J_t = \\alpha J_{t-1} + k h_t + c (1 - \\alpha) + s_{t-1} (k W_{rec})$ and
        $\\tilde u_t = \\beta u_{t-1} + J_t$ (``AffineForm``). The gain $k$ scales the
        weights' columns (not the ``T``-times larger input); a ``None`` bias adds nothing."""
        dtype = self.w.dtype
        k = form.gain.astype(dtype)
        w = self.w * _like(self.scale * k, self.w)  # column j scaled by k_j
        h = _project_time_major(x, w, self.event_input, batch_major)
        state = self.init(batch_shape=h.shape[1:-1]) if state is None else state
        alpha = jnp.broadcast_to(_decay(self.tau_syn, self.dt), (self.size,)).astype(h.dtype)
        w_rec = None
        if self.w_rec is not None:
            w_rec = ops.to_dense(self.rec_layout, self.w_rec).astype(h.dtype)
            w_rec = w_rec * _like(self.scale * k, w_rec)
        nrn, i0 = state.neuron, state.i.astype(h.dtype)
        j0 = _like(k, i0) * i0
        if form.bias is not None:
            c = form.bias.astype(h.dtype)
            h, j0 = h + _like(c * (1 - alpha), h), j0 + _like(c, i0)
        return lif_scan(
            form.surrogate,
            w_rec,
            alpha,
            form.beta.astype(h.dtype),
            form.threshold.astype(h.dtype),
            h,
            j0,
            nrn.v - form.v_reset,
            nrn.spike.astype(h.dtype),
        )


def neuron_layer(
    key,
    n_in: int,
    neuron: AbstractNeuron,
    *,
    scale: float | None = None,
    surrogate: AbstractSurrogate | None = None,
    recurrent: bool | Layout = False,
    w_scale: float = 1.0,
    rec_scale: float = 0.02,
    tau_syn=None,
    dt: float = 1.0,
    event_input: bool = False,
    detach_upstroke: bool = True,
    ref_tau_mem: float = 10.0,
    ref_tau_syn: float = 5.0,
) -> NeuronLayer:
    """A ``NeuronLayer`` of ``neuron`` with input weights $\\mathcal N(0, w_{scale}^2 /
    n_{in})$ and recurrent weights $\\mathcal N(0, r_{scale}^2 / n)$, in units of
    ``scale`` pA (as ``lif_layer``'s in units of its threshold).

    From the model's ``spike_geometry`` (rest $V_r$, threshold $V_\\vartheta$, spike level
    $V_s$; means over the neurons where they differ) and its postsynaptic potential (PSP:
    the membrane's first-order response at its resting state to one input spike through
    the layer's synapse), so that every model trains with ``lif_layer``'s numbers, whose
    LIF has ``tau_mem = ref_tau_mem`` and ``tau_syn = ref_tau_syn`` (10 and 5 ms):

    - ``tau_syn`` (default ``None``: derived; ms, scalar or ``(n,)`` if given): the
      synaptic time constant at which the model's PSP integrates its input as long as
      the reference LIF's, its width (area over peak) equal (20.0 ms at ``dt`` 1 ms). A
      LIF with ``tau_m = ref_tau_mem`` gets ``ref_tau_syn``; a membrane that forgets
      faster gets a longer synapse: Izhikevich's quadratic membrane relaxes at rest with
      ~1.7 ms (its PSP with ``tau_syn`` 5 ms is 5.7 ms wide, a 3.5x shorter memory of
      the input than the LIF layer's), AdEx (``tau_m`` 9.4 ms) is near the LIF.
    - ``scale`` (default): the current of a unit weight whose PSP (with ``tau_syn``)
      peaks as many rest-to-threshold distances above rest as a unit weight's in the
      reference LIF (2.90 at ``dt`` 1 ms): $(V_\\vartheta - V_r) P_{ref} / P$, with $P$
      the model's peak PSP per pA at rest; with the derived ``tau_syn`` the PSP is then
      as high and as wide as the LIF layer's. For a LIF with ``tau_m = ref_tau_mem`` and
      ``tau_syn = ref_tau_syn`` this is the current that, held one step, moves the
      membrane from rest to threshold (2102 pA for ``lif_layer``'s LIF).
    - ``surrogate`` (e.g. ``FastSigmoid(25.0)``; default: keep ``neuron.spike``)
      replaces the spike by ``Heaviside(Scaled(surrogate, V_ϑ - V_r, V_ϑ - V_s),
      detach_reset=True)``: the surrogate per rest-to-threshold distance, centred on the
      effective threshold.

    ``recurrent``: ``False``, ``True`` (dense) or a layout; ``detach_upstroke``: see the
    module docstring."""
    check_size("neuron_layer.n_in", n_in)
    if scale is None or surrogate is not None or tau_syn is None:
        geometry = neuron.spike_geometry()
        if geometry is None:
            raise ValueError(
                f"neuron_layer: {type(neuron).__name__} declares no spike_geometry; "
                "give scale= and tau_syn= and build its spike yourself"
            )
        rest, threshold, spike_level, _ = (float(np.mean(g)) for g in geometry)
        width = threshold - rest
        if not width > 0:
            raise ValueError(
                f"neuron_layer: {type(neuron).__name__}'s threshold ({threshold} mV) must "
                f"lie above its rest ({rest} mV)"
            )
        if surrogate is not None:
            spike = Heaviside(Scaled(surrogate, width, threshold - spike_level), True)
            neuron = eqx.tree_at(lambda m: m.spike, neuron, spike)
        if scale is None or tau_syn is None:
            check_positive("neuron_layer.ref_tau_mem", ref_tau_mem, "ms")
            check_positive("neuron_layer.ref_tau_syn", ref_tau_syn, "ms")
            check_positive("neuron_layer.dt", dt, "ms")
            kernel = _membrane_kernel(neuron, dt)
            ref = np.exp(-dt / max(ref_tau_mem, dt)) ** np.arange(len(kernel))  # the LIF's
            if tau_syn is None:
                tau_syn = _matched_tau_syn(kernel, _psp_width(ref, ref_tau_syn, dt), dt)
            if scale is None:
                peak = _psp(kernel, float(np.mean(tau_syn)), dt).max()
                scale = float(width * _psp(ref, ref_tau_syn, dt).max() / peak)
    check_positive("neuron_layer.scale", scale, "pA")
    n = neuron.size
    k_in, k_rec = jax.random.split(key)
    w = jax.random.normal(k_in, (n_in, n)) * (w_scale / np.sqrt(n_in))
    layout = Dense(n, n) if recurrent is True else (recurrent or None)
    w_rec = None
    if layout is not None:
        w_rec = jax.random.normal(k_rec, layout.weight_shape) * (rec_scale / np.sqrt(n))
    tau = jnp.full((n,), tau_syn, jnp.float32)
    return NeuronLayer(
        w,
        neuron,
        tau,
        w_rec,
        layout,
        scale=scale,
        dt=dt,
        event_input=event_input,
        detach_upstroke=detach_upstroke,
    )


class _Held(AbstractSurrogate):
    """No pseudo-derivative: the spikes held fixed under differentiation."""

    def grad(self, x):
        return jnp.zeros_like(x)


def _membrane_kernel(neuron: AbstractNeuron, dt: float, duration: float = 1000.0):
    """``K (duration / dt,)`` (mV per pA, mean over the neurons): the first-order
    response of ``state.v`` to a current of 1 pA in the first step only, from the resting
    state: the model's ``init`` with ``v`` at ``spike_geometry().v_rest``, relaxed for
    500 ms without input (the slow variables settle, e.g. Izhikevich's ``u``); the
    spikes held (no surrogate gradient: the membrane's own response). The response to any
    current $I_t$ is the convolution $\\sum_k K_{t-k} I_k$ (``_psp``)."""
    neuron = eqx.tree_at(lambda m: m.spike, neuron, Heaviside(_Held(), True))
    state = neuron.init(jax.random.key(0))
    rest = jnp.broadcast_to(neuron.spike_geometry().v_rest, state.v.shape)
    state = eqx.tree_at(lambda st: st.v, state, rest.astype(state.v.dtype))
    zero = jnp.zeros((neuron.size,), state.v.dtype)
    step = lambda st, i: neuron.step(st, Drive(current=i), t=0.0, dt=dt)[0]
    state = jax.lax.scan(lambda st, _: (step(st, zero), None), state, None, int(500 / dt))[0]
    pulse = jnp.zeros((max(int(duration / dt), 2),), state.v.dtype).at[0].set(1.0)

    def v(eps):  # the membrane under the current eps * pulse_t
        return jax.lax.scan(lambda st, i: (step(st, eps * i),) * 2, state, pulse)[1].v

    dv = jax.jvp(v, (zero,), (jnp.ones_like(zero),))[1]  # (T, n)
    return np.asarray(jnp.mean(dv, axis=1), np.float64)


def _psp(kernel, tau_syn: float, dt: float):
    r"""The PSP ``(T,)`` of a membrane with impulse response ``kernel (T,)`` to the
    layer's synaptic current $I_t = \alpha^t$ ($\alpha = e^{-\Delta t/\tau_{syn}}$,
    ``tau_syn`` ms, at least ``dt``), by FFT convolution."""
    t = np.arange(len(kernel))
    current = np.exp(-dt / max(tau_syn, dt)) ** t
    n = 2 * len(kernel)
    return np.fft.irfft(np.fft.rfft(kernel, n) * np.fft.rfft(current, n), n)[: len(kernel)]


def _psp_width(kernel, tau_syn: float, dt: float) -> float:
    """How long (ms) the PSP (``_psp``) integrates its input: its area over its peak."""
    psp = _psp(kernel, tau_syn, dt)
    return float(psp.sum() * dt / psp.max())


def _matched_tau_syn(kernel, target: float, dt: float, tau_max: float = 200.0) -> float:
    """The ``tau_syn`` (ms) in ``[dt, tau_max]`` at which the PSP of ``kernel`` is
    ``target`` ms wide (``_psp_width``, increasing in ``tau_syn``), by bisection on its
    logarithm to 1e-6 relative (the ends where the target lies outside)."""
    lo, hi = np.log(dt), np.log(max(tau_max, dt))
    if _psp_width(kernel, dt, dt) >= target:
        return float(dt)
    if _psp_width(kernel, np.exp(hi), dt) <= target:
        return float(np.exp(hi))
    while hi - lo > 1e-6:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _psp_width(kernel, np.exp(mid), dt) < target else (lo, mid)
    return float(np.exp(0.5 * (lo + hi)))
