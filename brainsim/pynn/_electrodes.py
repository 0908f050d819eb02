"""PyNN's current sources as brainsim external input.

A source's current is a traced function of the time ``t`` (ms) at the start of a step;
the step integrates the cell with that current (pA) held for the step, so a source
that starts at ``start`` changes the membrane from ``start + dt`` on (PyNN's
convention: the current begins at the electrode at ``start`` and acts on the cell one
step later). ``bs.simulate`` sums the currents of every source injected into a
population (``inputs=t -> {population: current}``). Amplitudes are nA (PyNN), pA
native.
"""

import jax
import jax.numpy as jnp
import numpy as np
from pyNN.parameters import ParameterSpace, Sequence
from pyNN.standardmodels import build_translations
from pyNN.standardmodels import electrodes as pe

from ._simulator import state

_EPS = 1e-6  # ms: times on the step grid compare equal despite round-off


class _Source:
    """What every brainsim current source shares: its targets and its parameters."""

    def __init__(self, **parameters):
        self._targets = []  # (Population, cell indices)
        self._native = {}
        ps = ParameterSpace(self.default_parameters, self.get_schema(), shape=(1,))
        ps.update(**parameters)
        self.set_native_parameters(self.translate(ps))
        state.n_sources += 1  # each source its own noise stream
        self.key = jax.random.fold_in(jax.random.key(state.seed), state.n_sources)

    def inject_into(self, cells):
        """Inject this current into ``cells`` (a population, view, assembly or IDs)."""
        by_parent = {}
        for cell in cells:
            if not cell.celltype.injectable:
                raise TypeError("Can't inject current into a spike source.")
            by_parent.setdefault(cell.parent, []).append(cell.parent.id_to_index(cell))
        for pop, idx in by_parent.items():
            self._targets.append((pop, np.asarray(sorted(idx), np.int32)))
        if self not in state.sources:
            state.sources.append(self)

    def targets(self):
        return self._targets

    def set_native_parameters(self, parameters):
        parameters.evaluate(simplify=True)
        for name, value in parameters.items():
            self._native[name] = value.value if isinstance(value, Sequence) else value
        self._check()

    def get_native_parameters(self):
        return ParameterSpace(dict(self._native))

    def _check(self):
        """Raise for values out of range (after ``set_parameters``)."""

    def record(self):
        """Record the injected current (``get_data`` computes it from the parameters)."""

    def _get_data(self):
        """``(t ms, current nA)`` at every step from 0 to the current time."""
        t = np.arange(int(round(state.t / state.dt)) + 1) * state.dt
        i = jax.vmap(self.current)(jnp.asarray(t, jnp.float32))  # pA
        return t, np.asarray(i).reshape(len(t), -1)[:, 0] / 1000.0

    def _on(self, t):
        p = self._native
        return (t >= p["start"] - _EPS) & (t < p["stop"] - _EPS)


_WINDOW = (("start", "start"), ("stop", "stop"))


class DCSource(_Source, pe.DCSource):
    __doc__ = pe.DCSource.__doc__
    translations = build_translations(("amplitude", "amplitude", 1000.0), *_WINDOW)

    def current(self, t, n=1):
        return jnp.where(self._on(t), self._native["amplitude"], 0.0)


class ACSource(_Source, pe.ACSource):
    """PyNN's ``ACSource``: ``offset + amplitude sin(2π frequency (t - start) + phase)``
    during ``[start, stop)``; ``phase`` in degrees, ``frequency`` in Hz."""

    translations = build_translations(
        ("amplitude", "amplitude", 1000.0),
        ("offset", "offset", 1000.0),
        ("frequency", "frequency"),
        ("phase", "phase"),
        *_WINDOW,
    )

    def current(self, t, n=1):
        p = self._native
        w = 2e-3 * np.pi * p["frequency"]  # rad/ms
        x = p["offset"] + p["amplitude"] * jnp.sin(w * (t - p["start"]) + np.deg2rad(p["phase"]))
        return jnp.where(self._on(t), x, 0.0)


class StepCurrentSource(_Source, pe.StepCurrentSource):
    __doc__ = pe.StepCurrentSource.__doc__
    translations = build_translations(("amplitudes", "amplitudes", 1000.0), ("times", "times"))

    def _check(self):
        """Times >= 0 and increasing; then mapped to the step grid, a later time in the
        same step replacing an earlier one (as NEST)."""
        times = np.asarray(self._native["times"], float)
        amps = np.asarray(self._native["amplitudes"], float)
        if times.size and times.min() < 0:
            raise ValueError("Step current cannot accept negative timestamps.")
        if np.any(np.diff(times) <= 0):
            raise ValueError("Step current timestamps should be monotonically increasing.")
        times = np.round(np.round(times / state.dt) * state.dt, 9)
        last = np.append(times[1:] != times[:-1], True) if times.size else np.zeros(0, bool)
        self._native["times"], self._native["amplitudes"] = times[last], amps[last]

    def current(self, t, n=1):
        times = np.asarray(self._native["times"], float)
        amps = np.asarray(self._native["amplitudes"], float)
        if times.size == 0:
            return jnp.zeros(())
        k = jnp.searchsorted(jnp.asarray(times), t + _EPS, side="right") - 1
        return jnp.where(k >= 0, jnp.asarray(amps)[jnp.maximum(k, 0)], 0.0)


class NoisyCurrentSource(_Source, pe.NoisyCurrentSource):
    """PyNN's ``NoisyCurrentSource``: during ``[start, stop)`` a new value
    ``mean + stdev N(0, 1)`` every ``dt`` ms, drawn independently per cell (from the
    source's key and the interval's number, so any code path draws the same)."""

    translations = build_translations(
        ("mean", "mean", 1000.0), ("stdev", "stdev", 1000.0), ("dt", "dt"), *_WINDOW
    )

    def _check(self):
        if self._native["dt"] < state.dt - _EPS:
            raise ValueError(
                f"NoisyCurrentSource.dt must be >= the timestep {state.dt} ms, "
                f"got {self._native['dt']}"
            )

    def current(self, t, n=1):
        p = self._native
        k = jnp.floor((t - p["start"]) / p["dt"] + _EPS).astype(jnp.int32)
        z = jax.random.normal(jax.random.fold_in(self.key, k), (n,))
        return jnp.where(self._on(t), p["mean"] + p["stdev"] * z, 0.0)


SUPPORTED_SOURCES = ("DCSource", "ACSource", "StepCurrentSource", "NoisyCurrentSource")
