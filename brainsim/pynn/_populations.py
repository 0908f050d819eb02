"""``Population``, ``PopulationView`` and ``Assembly`` on PyNN's common base classes.

A population keeps its native (brainsim-unit) parameters as arrays of its size;
``build()`` makes the brainsim neuron model from them. Setting a parameter marks the
network changed (rebuilt at the next run, the running state carried over); setting an
initial value changes the state at t = 0 (and, once running, the current state).
"""

import dataclasses

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, Sequence, simplify
from pyNN.standardmodels import StandardCellType

from . import _simulator as simulator
from ._cells import SUPPORTED_CELLS
from ._recording import Recorder
from ._simulator import ID, state


class Assembly(common.Assembly):
    _simulator = simulator


class _Parameters:
    """Get/set of native parameters through PyNN's translations (shared by populations
    and views: ``self._base`` the population, ``self._index`` its cells here)."""

    def _get_parameters(self, *names):
        ct = self.celltype
        if any(n in ct.computed_parameters() for n in names):
            native_names = ct.get_native_names()
        else:
            native_names = ct.get_native_names(*names)
        values = {}
        for n in native_names:
            v = self._base._native[n]
            values[n] = simplify(v[self._index]) if isinstance(v, np.ndarray) else v
        return ct.reverse_translate(ParameterSpace(values, shape=(self.size,)))

    def _set_parameters(self, parameter_space):
        base = self._base
        parameter_space.shape = (self.size,)
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            column = base._native.get(name)
            value = np.asarray(value, dtype=object if _is_sequence(value) else float)
            if column is None or not isinstance(column, np.ndarray):
                column = np.broadcast_to(np.asarray(column, value.dtype), (base.size,)).copy()
            if column.dtype != value.dtype:
                column = column.astype(object)
            column[self._index] = value
            base._native[name] = column
        base._check_parameters()
        state.changed()

    def _set_initial_value_array(self, variable, initial_values):
        base = self._base
        fields = self.celltype.state_variables
        if variable not in fields:
            if variable in base.celltype.default_initial_values:
                return  # a PyNN variable brainsim's model does not have (e.g. gsyn)
            raise errors.NonExistentParameterError(variable, type(self.celltype).__name__)
        field, factor = fields[variable]
        initial_values.shape = (self.size,)
        values = factor * np.asarray(initial_values.evaluate(simplify=False), float)
        current = base._initial.get(field, np.full(base.size, np.nan))
        current = np.array(current, float)
        current[self._index] = values
        base._initial[field] = current
        idx = np.asarray(self._index)

        def update(pop_state):
            x = np.array(getattr(pop_state, field))
            x[..., idx] = values
            return dataclasses.replace(pop_state, **{field: x})

        if state.running:
            state.set_state(base, update)


def _is_sequence(x) -> bool:
    return isinstance(x, Sequence) or (isinstance(x, np.ndarray) and x.dtype == object)


class PopulationView(_Parameters, common.PopulationView):
    _simulator = simulator
    _assembly_class = Assembly

    @property
    def _base(self):
        return self.grandparent

    @property
    def _index(self):
        return np.asarray(self.all_cells, np.int64) - int(self.grandparent.first_id)

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)


class Population(_Parameters, common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    @property
    def _base(self):
        return self

    @property
    def _index(self):
        return slice(None)

    def _create_cells(self):
        if not isinstance(self.celltype, StandardCellType) or not hasattr(self.celltype, "build"):
            raise errors.InvalidModelError(
                f"brainsim.pynn: cell type {type(self.celltype).__module__}."
                f"{type(self.celltype).__name__} is not supported; supported: "
                f"{', '.join(SUPPORTED_CELLS)} (the classes of brainsim.pynn)"
            )
        first = state.id_counter
        self.all_cells = np.array([ID(i) for i in range(first, first + self.size)], dtype=ID)
        self._mask_local = np.ones(self.size, bool)
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        ps = self.celltype.native_parameters
        ps.shape = (self.size,)
        ps.evaluate(simplify=False)
        self._native = {
            k: np.broadcast_to(np.asarray(v), (self.size,)).copy() for k, v in ps.items()
        }
        self._initial = {}
        self._check_parameters()
        state.populations.append(self)
        state.changed()

    def _check_parameters(self):
        """Build the model once: its checks raise for values out of range."""
        try:
            self.build()
        except ValueError as err:
            raise errors.InvalidParameterValueError(str(err)) from err

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)

    def build(self):
        """The brainsim neuron model of this population."""
        return self.celltype.build(self.size, self._native)

    def initial_state(self, pop_state):
        """``pop_state`` (the model's default initial state) with the initial values."""
        changes = {}
        for field, values in self._initial.items():
            x = np.array(getattr(pop_state, field))
            set_ = ~np.isnan(values)
            x[..., set_] = values[set_]
            changes[field] = x
        return dataclasses.replace(pop_state, **changes)
