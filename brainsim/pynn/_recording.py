"""Recording a population: which state fields ``bs.simulate`` records, and the samples
kept between runs for PyNN's ``Recorder`` (which turns them into Neo segments).

Samples: PyNN's signals start at the recording's start time (t = 0 after ``setup`` or
``reset``), one every ``sampling_interval`` ms; brainsim records at the end of each
step, so the first sample is taken from the state before the run. Spikes of a cell are
reported at the end of the step in which it fires (as NEST); a random source's spikes
at the start of the step that emits them; a ``SpikeSourceArray``'s at the times it was
given (emitted in the step starting at or after each, as NEST's precise
``spike_generator``).

``gsyn_exc`` / ``gsyn_inh`` of a conductance-based cell (a ``PointNeuron``'s
``AMPA.gsyn``, ``AMPA.isyn``...): the sum of the synaptic variables (``bs.synaptic(k,
"g")``, nS -> µS or pA -> nA) of the projections onto it with that receptor type, at
each sample time before the spikes arriving then.
"""

import numpy as np
from pyNN import recording

from ..monitors import state_value, synaptic
from . import _simulator

_SPIKES = "spikes"
_NATIVE = 1000.0  # nS per µS, pA per nA


class Recorder(recording.Recorder):
    _simulator = _simulator

    def __init__(self, population, file=None):
        super().__init__(population, file)
        self._clear_simulator()

    def _record(self, variable, new_ids, sampling_interval=None):
        dt = self._simulator.state.dt
        if sampling_interval is not None:
            k = sampling_interval / dt
            if abs(k - round(k)) > 1e-6 or round(k) < 1:
                raise ValueError(
                    f"record: sampling_interval must be a multiple of the timestep {dt} ms, "
                    f"got {sampling_interval}"
                )
            self.sampling_interval = sampling_interval
        supported = [*self._fields(), *self._synaptic()]
        if variable.name != _SPIKES and variable.name not in supported:
            raise ValueError(
                f"record: {variable.name!r} of {type(self.population.celltype).__name__} "
                f"is not supported; supported: spikes, {', '.join(supported)}"
            )

    def _fields(self):
        return self.population.celltype.state_variables

    def _synaptic(self) -> dict:
        """``{PyNN variable: receptor type}`` of the recordable synaptic variables."""
        celltype = self.population.celltype
        return celltype.synaptic_variables() if hasattr(celltype, "synaptic_variables") else {}

    def _sources(self, name):
        """``bs.synaptic`` variables summed into synaptic variable ``name`` (this
        population's projections with its receptor type)."""
        sim = self._simulator.state
        incoming = sim.receptors.get((id(self.population), self._synaptic()[name]), [])
        return [synaptic(k, "g") for k in incoming]

    def _names(self):
        return sorted({v.name for v, ids in self.recorded.items() if ids})

    def spec(self, bs_state, name):
        """The variables to record in the next run of population ``name`` of the network
        (``None``: nothing recorded here); stores the sample at the current time for a
        signal that has none yet."""
        names = self._names()
        if not names:
            return None
        variables = []
        for n in names:
            if n in self._synaptic():
                variables += self._sources(n)
            elif n != _SPIKES:
                variables.append(self._fields()[n][0])
            if n != _SPIKES and not self._signals.get(n):
                self._signals[n] = [self._value(n, bs_state, name)[None]]
                self._step = 0
        if _SPIKES in names:
            variables.append(_SPIKES)
        return variables

    def _value(self, n, bs_state, name):
        """The current value of PyNN variable ``n`` (PyNN units)."""
        if n not in self._synaptic():
            field, factor = self._fields()[n]
            return np.asarray(getattr(bs_state.populations[name], field)) / factor
        sim = self._simulator.state
        total = np.zeros(self.population.size)
        for var in self._sources(n):
            total += np.asarray(state_value(sim.net, bs_state, name, var, t=sim.t, dt=sim.dt))
        return total / _NATIVE

    def collect(self, rec: dict, t0: float, n_steps: int):
        """Keep the samples of a run of ``n_steps`` steps that started at ``t0`` ms."""
        dt = self._simulator.state.dt
        every = int(round(self.sampling_interval / dt))
        fields = self._fields()
        keep = (self._step + 1 + np.arange(n_steps)) % every == 0
        for name in self._names():
            if name == _SPIKES:
                ev = rec["spike"] if "spike" in rec else rec[_SPIKES]
                self._spikes(ev, t0)
                continue
            if name in self._synaptic():
                x = np.zeros((n_steps, self.population.size))
                for var in self._sources(name):
                    x = x + np.asarray(rec[var]) / _NATIVE
            else:
                x = np.asarray(rec[fields[name][0]]) / fields[name][1]
            self._signals[name].append(x[keep])
        self._step += n_steps

    def _spikes(self, ev, t0: float):
        """Keep the spikes ``ev`` (``SpikeEvents``) of a run that started at ``t0`` ms."""
        dt, celltype = self._simulator.state.dt, self.population.celltype
        first = int(round(t0 / dt))
        cells = np.asarray(ev.neurons, np.int64)
        if hasattr(celltype, "emitted"):  # a SpikeSourceArray: the times it was given
            pop = self.population
            times, cells = celltype.emitted(pop.size, pop._native, first + ev.steps, cells)
        else:  # on the grid, as decimals (150 x 0.1 is 15.000000000000002); a cell's at
            # the end of its step, a source's at the start
            times = np.round((first + int(celltype.injectable) + ev.steps) * dt, 9)
        self._spike_times.append(times)
        self._spike_cells.append(cells)

    def _get_spiketimes(self, ids, clear=False):
        times = np.concatenate(self._spike_times) if self._spike_times else np.zeros(0)
        cells = np.concatenate(self._spike_cells) if self._spike_cells else np.zeros(0, int)
        index = np.asarray(self.population.id_to_index(np.asarray(ids, int)), int).ravel()
        keep = np.isin(cells, index)
        all_cells = np.asarray(self.population.all_cells, int)
        return all_cells[cells[keep]], times[keep]

    def _get_all_signals(self, variable, ids, clear=False):
        pieces = self._signals.get(variable.name)
        if not pieces or not len(ids):
            return np.zeros((0, 0)), None
        x = np.concatenate(pieces, axis=0)
        index = np.asarray(self.population.id_to_index(np.asarray(ids, int)), int).ravel()
        return x[:, index], None

    def _local_count(self, variable, filter_ids=None):
        ids = sorted(self.filter_recorded(variable, filter_ids))
        cells, _ = self._get_spiketimes(ids)
        return {int(i): int(np.sum(cells == int(i))) for i in ids}

    def _clear_simulator(self):
        self._signals, self._spike_times, self._spike_cells, self._step = {}, [], [], 0

    def _reset(self):
        self._clear_simulator()
