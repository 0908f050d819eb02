"""PyNN's standard cell types, each translated to one brainsim neuron model.

Each class is PyNN's own (its parameter names, defaults and units: ms, mV, nA, nF, µS,
Hz) with ``translations`` to the native names and units of the brainsim model that
runs it (pF, pA, nS; ``bs.neurons``). ``build(size, native)`` makes the model;
``synapse(receptor)`` names the kinetics, time constant and reversal potential of a
receptor type; ``state_variables`` maps PyNN's recordable/initialisable variables to
the model's state fields (with the factor native = PyNN x factor).
"""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from pyNN.standardmodels import build_translations
from pyNN.standardmodels import cells as pc

from .. import neurons, synapses
from ._simulator import state

_LEAKY = (
    ("tau_m", "tau_m"),
    ("cm", "c_m", 1000.0),  # nF -> pF
    ("v_rest", "v_rest"),
    ("v_thresh", "v_th"),
    ("v_reset", "v_reset"),
    ("tau_refrac", "t_ref"),
    ("i_offset", "i_ext", 1000.0),  # nA -> pA
)
_TAU_SYN = (("tau_syn_E", "tau_syn_E"), ("tau_syn_I", "tau_syn_I"))
_E_REV = (("e_rev_E", "e_rev_E"), ("e_rev_I", "e_rev_I"))
_SUFFIX = {"excitatory": "E", "inhibitory": "I"}


class _Translated:
    """What every brainsim cell type declares (see the module docstring)."""

    model = None  # the bs.neurons class
    kinetics = synapses.Exponential
    conductance = False
    state_variables = {"v": ("v", 1.0)}
    fixed = {}  # native parameters not in PyNN's model (fixed values)

    def build(self, size: int, native: dict):
        fields = {f.name for f in dataclasses.fields(self.model)} - {"size"}
        kwargs = {k: _value(v) for k, v in native.items() if k in fields}
        return self.model(size, **self.fixed, **kwargs)

    def synapse(self, receptor: str, native: dict):
        """``(kinetics, e_rev mV or None)`` of ``receptor`` (per-cell arrays or floats)."""
        x = _SUFFIX[receptor]
        kinetics = self.kinetics(_value(native[f"tau_syn_{x}"]))
        e_rev = _value(native[f"e_rev_{x}"]) if self.conductance else None
        return kinetics, e_rev

    def synaptic_variables(self) -> dict:
        """The recordable synaptic variables: ``{PyNN name: receptor type}`` (the sum of
        the synaptic variables of the projections with that receptor type, µS or nA)."""
        return {"gsyn_exc": "excitatory", "gsyn_inh": "inhibitory"} if self.conductance else {}


def _value(x):
    x = np.asarray(x, float)
    return float(x.flat[0]) if x.size and np.all(x == x.flat[0]) else x


class IF_curr_exp(_Translated, pc.IF_curr_exp):
    __doc__ = pc.IF_curr_exp.__doc__
    translations = build_translations(*_LEAKY, *_TAU_SYN)
    model = neurons.LIF


class IF_curr_alpha(_Translated, pc.IF_curr_alpha):
    __doc__ = pc.IF_curr_alpha.__doc__
    translations = build_translations(*_LEAKY, *_TAU_SYN)
    model, kinetics = neurons.LIF, synapses.Alpha


class IF_cond_exp(_Translated, pc.IF_cond_exp):
    __doc__ = pc.IF_cond_exp.__doc__
    translations = build_translations(*_LEAKY, *_TAU_SYN, *_E_REV)
    model, conductance = neurons.LIF, True


class IF_cond_alpha(_Translated, pc.IF_cond_alpha):
    __doc__ = pc.IF_cond_alpha.__doc__
    translations = build_translations(*_LEAKY, *_TAU_SYN, *_E_REV)
    model, kinetics, conductance = neurons.LIF, synapses.Alpha, True


_ADEX = (
    ("cm", "c_m", 1000.0),
    ("tau_m", "g_l", "1000.0 * cm / tau_m", "c_m / g_l"),  # nS
    ("v_rest", "e_l"),
    ("v_thresh", "v_t"),
    ("delta_T", "delta_t"),
    ("v_spike", "v_peak"),
    ("v_reset", "v_reset"),
    ("a", "a"),  # nS
    ("b", "b", 1000.0),  # nA -> pA
    ("tau_w", "tau_w"),
    ("tau_refrac", "t_ref"),
    ("i_offset", "i_ext", 1000.0),
)


class EIF_cond_exp_isfa_ista(_Translated, pc.EIF_cond_exp_isfa_ista):
    __doc__ = pc.EIF_cond_exp_isfa_ista.__doc__
    translations = build_translations(*_ADEX, *_TAU_SYN, *_E_REV)
    model, conductance = neurons.AdEx, True
    state_variables = {"v": ("v", 1.0), "w": ("w", 1000.0)}


class EIF_cond_alpha_isfa_ista(_Translated, pc.EIF_cond_alpha_isfa_ista):
    __doc__ = pc.EIF_cond_alpha_isfa_ista.__doc__
    translations = build_translations(*_ADEX, *_TAU_SYN, *_E_REV)
    model, kinetics, conductance = neurons.AdEx, synapses.Alpha, True
    state_variables = {"v": ("v", 1.0), "w": ("w", 1000.0)}


class HH_cond_exp(_Translated, pc.HH_cond_exp):
    """PyNN's ``HH_cond_exp`` (Traub & Miles 1991 as NEST's ``hh_cond_exp_traub``) on
    ``bs.neurons.TraubMiles``: specific capacitance 1 µF/cm², so the membrane area is
    ``cm`` nF x 10^5 µm² and a total conductance of g µS is g/cm mS/cm²."""

    translations = build_translations(
        ("cm", "area", 1e5),  # nF -> µm² at 1 µF/cm²
        ("gbar_Na", "g_na", "gbar_Na / cm", "g_na * area / 1e5"),
        ("gbar_K", "g_k", "gbar_K / cm", "g_k * area / 1e5"),
        ("g_leak", "g_l", "g_leak / cm", "g_l * area / 1e5"),
        ("v_offset", "v_t"),
        ("e_rev_Na", "e_na"),
        ("e_rev_K", "e_k"),
        ("e_rev_leak", "e_l"),
        ("i_offset", "i_ext", 1000.0),
        *_TAU_SYN,
        *_E_REV,
    )
    model, conductance, fixed = neurons.TraubMiles, True, {"c_m": 1.0}


class Izhikevich(_Translated, pc.Izhikevich):
    """PyNN's ``Izhikevich`` on ``bs.neurons.Izhikevich`` (``c_m`` = 1: currents in pA
    change V by pA/ms, as NEST's ``izhikevich``). A spike of weight w moves V by w mV at
    once (pyNN.nest's convention: the weight is in mV)."""

    translations = build_translations(
        ("a", "a"), ("b", "b"), ("c", "c"), ("d", "d"), ("i_offset", "i_ext", 1000.0)
    )
    model, kinetics = neurons.Izhikevich, None
    state_variables = {"v": ("v", 1.0), "u": ("u", 1.0)}

    def synapse(self, receptor, native):
        return synapses.Delta(), None


class _WindowedPoisson(neurons.PoissonSource):
    """Poisson spikes at ``rate`` Hz during ``[start, start + duration)`` ms only."""

    start: float | jnp.ndarray = 0.0
    duration: float | jnp.ndarray = 1e12

    def step(self, state, drive=None, *, t, dt):
        on = (t >= self.start - 1e-6) & (t < self.start + self.duration - 1e-6)
        key, sub = jax.random.split(state.key)
        p = jnp.where(on, jnp.asarray(self.rate) * (dt * 1e-3), 0.0)
        s = (jax.random.uniform(sub, state.spike.shape) < p).astype(state.spike.dtype)
        return type(state)(spike=s, key=key), s


class _RenewalState(eqx.Module):
    spike: jnp.ndarray  # (..., n) spikes emitted in the last step
    next: jnp.ndarray  # (..., n) time of each cell's next spike, ms
    key: jax.Array


class _Renewal(neurons.AbstractNeuron):
    """A renewal process per cell: intervals ``dead + Gamma(shape) / rate`` (ms; rate
    in Hz) during ``[start, start + duration)``. A cell spikes in the step containing
    its next spike time; an interval that ends in the same step again is lost (rare
    while intervals are much longer than ``dt``)."""

    size: int = eqx.field(static=True)
    shape: float | jnp.ndarray = 1.0
    rate: float | jnp.ndarray = 1.0
    dead: float | jnp.ndarray = 0.0
    start: float | jnp.ndarray = 0.0
    duration: float | jnp.ndarray = 1e10

    def _interval(self, key, shape):
        g = jax.random.gamma(key, jnp.broadcast_to(self.shape, shape))
        return self.dead + 1000.0 * g / self.rate

    def init(self, key, batch_shape=()):
        shape = (*batch_shape, self.size)
        key, sub = jax.random.split(key)
        first = self.start + self._interval(sub, shape)
        return _RenewalState(jnp.zeros(shape), first, key)

    def step(self, state, drive=None, *, t, dt):
        key, sub = jax.random.split(state.key)
        due = (state.next < t + dt) & (state.next < self.start + self.duration)
        later = state.next + self._interval(sub, state.next.shape)
        s = due.astype(state.spike.dtype)
        return _RenewalState(s, jnp.where(due, later, state.next), key), s


class SpikeSourceGamma(_Translated, pc.SpikeSourceGamma):
    __doc__ = pc.SpikeSourceGamma.__doc__
    translations = build_translations(
        ("alpha", "shape"), ("beta", "rate"), ("start", "start"), ("duration", "duration")
    )
    model, state_variables = _Renewal, {}


class SpikeSourcePoissonRefractory(_Translated, pc.SpikeSourcePoissonRefractory):
    """PyNN's ``SpikeSourcePoissonRefractory``: intervals ``tau_refrac`` plus an
    exponential interval of rate ``rate / (1 - rate tau_refrac)``, so the mean rate is
    ``rate`` (NEST's ``ppd_sup_generator`` convention)."""

    translations = build_translations(
        (
            "rate",
            "rate",
            "rate / (1.0 - rate * tau_refrac / 1000.0)",
            "rate / (1.0 + rate * dead / 1000.0)",
        ),
        ("tau_refrac", "dead"),
        ("start", "start"),
        ("duration", "duration"),
    )
    model, state_variables = _Renewal, {}


class SpikeSourcePoisson(_Translated, pc.SpikeSourcePoisson):
    __doc__ = pc.SpikeSourcePoisson.__doc__
    translations = build_translations(
        ("rate", "rate"), ("start", "start"), ("duration", "duration")
    )
    model, state_variables = _WindowedPoisson, {}


class SpikeSourceArray(_Translated, pc.SpikeSourceArray):
    __doc__ = pc.SpikeSourceArray.__doc__
    translations = build_translations(("spike_times", "spike_times"))
    state_variables = {}

    def build(self, size, native):
        times = _trains(size, native)
        indices = np.concatenate([np.full(len(s), i, np.int32) for i, s in enumerate(times)])
        return neurons.SpikeTimes(size, on_grid(np.concatenate(times)), indices)

    def emitted(self, size, native, steps, cells):
        """``(times, cells)``: the given times (ms) of the spikes that ``cells`` emitted
        in steps ``steps`` (step k starts at k dt), every given time of a step once."""
        trains = _trains(size, native)
        out_t, out_c = [np.zeros(0)], [np.zeros(0, np.int64)]
        for c in np.unique(cells):
            t = trains[c]
            sel = np.isin(np.rint(on_grid(t) / state.dt), steps[cells == c])
            out_t.append(t[sel])
            out_c.append(np.full(sel.sum(), c, np.int64))
        t, c = np.concatenate(out_t), np.concatenate(out_c)
        order = np.argsort(t, kind="stable")
        return t[order], c[order]


def _trains(size, native):
    """The spike times (ms) of each cell of a ``SpikeSourceArray``, checked."""
    trains = np.broadcast_to(np.asarray(native["spike_times"], object), (size,))
    times = [np.asarray(getattr(s, "value", s), float).ravel() for s in trains]
    for i, t in enumerate(times):
        if np.any(np.diff(t) < 0):
            raise ValueError(
                f"SpikeSourceArray.spike_times of cell {i} must be in increasing order, got {t}"
            )
    return times


def on_grid(times):
    """The step of each spike time (ms) as the time it starts: a time off the grid goes
    to the next step (NEST's ``spike_generator`` with precise times: a spike at t is sent
    in the step ending at or after t, i.e. brainsim's step starting then)."""
    dt = state.dt
    return np.ceil(np.round(np.asarray(times, float) / dt, 6)) * dt


CELL_TYPES = (
    IF_curr_exp,
    IF_curr_alpha,
    IF_cond_exp,
    IF_cond_alpha,
    EIF_cond_exp_isfa_ista,
    EIF_cond_alpha_isfa_ista,
    HH_cond_exp,
    Izhikevich,
    SpikeSourcePoisson,
    SpikeSourceArray,
    SpikeSourceGamma,
    SpikeSourcePoissonRefractory,
)
SUPPORTED_CELLS = tuple(c.__name__ for c in CELL_TYPES)
