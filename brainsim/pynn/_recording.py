"""Recording a population: which state fields ``bs.simulate`` records, and the samples
kept between runs for PyNN's ``Recorder`` (which turns them into Neo segments).

Samples: PyNN's signals start at the recording's start time (t = 0 after ``setup`` or
``reset``), one every ``sampling_interval`` ms; brainsim records at the end of each
step, so the first sample is taken from the state before the run. Spikes of a cell are
reported at the end of the step in which it fires (as NEST); a spike source's spikes
at the start of the step that emits them (the times it was given).
"""

import numpy as np
from pyNN import recording

from ..monitors import Record
from . import _simulator

_SPIKES = "spikes"


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
        if variable.name != _SPIKES and variable.name not in self._fields():
            raise ValueError(
                f"record: {variable.name!r} of {type(self.population.celltype).__name__} "
                f"is not supported; supported: spikes, {', '.join(self._fields())}"
            )

    def _fields(self):
        return self.population.celltype.state_variables

    def _names(self):
        return sorted({v.name for v, ids in self.recorded.items() if ids})

    def spec(self, pop_state):
        """The ``Record`` for the next run (``None``: nothing to record);
        stores the sample at the current time for a signal that has none yet."""
        names = self._names()
        if not names:
            return None
        fields = self._fields()
        for name in names:
            if name != _SPIKES and not self._signals.get(name):
                field, factor = fields[name]
                self._signals[name] = [np.asarray(getattr(pop_state, field))[None] / factor]
                self._step = 0
        return Record([_SPIKES if n == _SPIKES else fields[n][0] for n in names], events=True)

    def collect(self, rec: dict, t0: float):
        """Keep the samples of a run that started at ``t0`` ms."""
        dt = self._simulator.state.dt
        every = int(round(self.sampling_interval / dt))
        n_steps = None
        fields = self._fields()
        for name in self._names():
            if name == _SPIKES:
                ev = rec["spike"] if "spike" in rec else rec[_SPIKES]
                first = int(round(t0 / dt)) + (1 if self.population.celltype.injectable else 0)
                # times on the grid, as decimals (150 x 0.1 is 15.000000000000002)
                self._spike_times.append(np.round((first + ev.steps) * dt, 9))
                self._spike_cells.append(np.asarray(ev.neurons, np.int64))
                continue
            x = np.asarray(rec[fields[name][0]]) / fields[name][1]
            n_steps = len(x)
            keep = (self._step + 1 + np.arange(n_steps)) % every == 0
            self._signals[name].append(x[keep])
        if n_steps is not None:
            self._step += n_steps

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
