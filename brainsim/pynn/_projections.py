"""``Projection`` on PyNN's common base class.

PyNN's connectors call ``_convergent_connect`` once per postsynaptic cell; the
projection keeps its connections as flat arrays (``pre``/``post`` indices into the
projection's pre/post populations, views or assemblies, and one array per native
synaptic parameter). ``translate`` turns them into one ``bs.Projection`` per pair of
underlying populations: weights in pA (current-based, inhibitory negative) or nS
(conductance-based), per-synapse delays on the timestep grid, the postsynaptic cell
type's kinetics and output per receptor type.
"""

import numpy as np
from pyNN import common
from pyNN.parameters import ParameterSpace
from pyNN.space import Space

from .. import conn, synapses
from ..network import Projection as BsProjection
from . import _simulator as simulator
from ._simulator import state
from ._synapses import SUPPORTED_SYNAPSES, StaticSynapse


class Connection(common.Connection):
    """One connection of a projection: ``weight``, ``delay`` and the synapse type's
    parameters, read and written in the projection's arrays."""

    def __init__(self, projection, k):
        self._projection, self._k = projection, k

    @property
    def presynaptic_index(self):
        return int(self._projection._pre[self._k])

    @property
    def postsynaptic_index(self):
        return int(self._projection._post[self._k])

    def __getattr__(self, name):
        values = self.__dict__["_projection"]._values
        if name not in values:
            raise AttributeError(name)
        return float(values[name][self._k])

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        values = self._projection._values
        if name not in values:
            raise AttributeError(f"a connection has no attribute {name!r}")
        values[name][self._k] = float(value)
        state.changed()

    def as_tuple(self, *names):
        return tuple(getattr(self, n) for n in names)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(
        self,
        presynaptic_population,
        postsynaptic_population,
        connector,
        synapse_type=None,
        source=None,
        receptor_type=None,
        space=None,
        label=None,
    ):
        name = type(synapse_type).__name__
        if synapse_type is not None and name not in SUPPORTED_SYNAPSES:
            raise ValueError(
                f"brainsim.pynn: synapse type {name!r} is not supported; supported: "
                f"{', '.join(SUPPORTED_SYNAPSES)}"
            )
        super().__init__(
            presynaptic_population,
            postsynaptic_population,
            connector,
            synapse_type,
            source,
            receptor_type,
            Space() if space is None else space,
            label,
        )
        self._pre_parts, self._post_parts, self._value_parts = [], [], {}
        self._arrays, self._learned, self._bs_first = None, [], 0
        if not self._connect_directly(connector):
            connector.connect(self)
        state.projections.append(self)
        state.changed()

    def _convergent_connect(
        self,
        presynaptic_indices,
        postsynaptic_index,
        location_selector=None,
        **connection_parameters,
    ):
        pre = np.asarray(presynaptic_indices, np.int64).ravel()
        self._pre_parts.append(pre)
        self._post_parts.append(np.full(pre.size, int(postsynaptic_index), np.int64))
        for name, value in connection_parameters.items():
            value = np.broadcast_to(np.asarray(value, float), pre.shape)
            self._value_parts.setdefault(name, []).append(value)
        self._arrays = None

    def _connect_directly(self, connector) -> bool:
        """Connect ``OneToOne``, ``AllToAll`` and ``FixedProbability`` with homogeneous
        synaptic parameters without PyNN's per-column loop (``numpy.random`` from the
        connector's ``rng`` seed or the setup seed); ``False``: not such a case."""
        kind = type(connector).__name__
        if kind not in ("OneToOneConnector", "AllToAllConnector", "FixedProbabilityConnector"):
            return False
        params = self.synapse_type.native_parameters
        if not all(
            params[n].is_homogeneous and not callable(params[n].base_value) for n in params.keys()
        ):
            return False
        n_pre, n_post = self.pre.size, self.post.size
        if kind == "OneToOneConnector":
            if n_pre != n_post:
                raise ValueError(
                    f"OneToOneConnector needs populations of equal size, got {n_pre} and {n_post}"
                )
            pre = post = np.arange(n_pre)
        else:
            p = float(getattr(connector, "p_connect", 1.0))
            rng = np.random.default_rng(_seed(connector) + len(state.projections))
            pre, post = _draw(rng, p, n_pre, n_post)
            if not connector.allow_self_connections:  # the same cell on both sides
                ids_pre = np.asarray(self.pre.all_cells, np.int64)[pre]
                keep = ids_pre != np.asarray(self.post.all_cells, np.int64)[post]
                pre, post = pre[keep], post[keep]
        self._pre_parts, self._post_parts = [pre], [post]
        self._value_parts = {
            n: [np.full(pre.size, float(params[n].base_value))] for n in params.keys()
        }
        return True

    def _flat(self):
        if self._arrays is None:
            cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
            self._arrays = (
                cat(self._pre_parts).astype(np.int64),
                cat(self._post_parts).astype(np.int64),
                {k: cat(v) for k, v in self._value_parts.items()},
            )
            self._pre_parts, self._post_parts = [self._arrays[0]], [self._arrays[1]]
            self._value_parts = {k: [v] for k, v in self._arrays[2].items()}
        return self._arrays

    @property
    def _pre(self):
        return self._flat()[0]

    @property
    def _post(self):
        return self._flat()[1]

    @property
    def _values(self):
        return self._flat()[2]

    def __len__(self):
        return len(self._pre)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [Connection(self, k) for k in range(len(self))[i]]
        return Connection(self, int(i))

    @property
    def connections(self):
        return [Connection(self, k) for k in range(len(self))]

    def _get_attributes_as_list(self, names):
        columns = []
        for n in names:
            if n == "presynaptic_index":
                columns.append(self._pre)
            elif n == "postsynaptic_index":
                columns.append(self._post)
            else:
                columns.append(self._native_to_pynn(n))
        return [tuple(row) for row in zip(*(c.tolist() for c in columns), strict=True)]

    def _native_to_pynn(self, name):
        ps = self.synapse_type.reverse_translate(_space(self._current_values(), len(self)))
        ps.evaluate(simplify=False)
        return np.asarray(ps[name], float)

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        op = {"sum": np.add, "min": np.fmin, "max": np.fmax}.get(multiple_synapses)
        out = []
        for n in names:
            n = n[:-1] if n.endswith("s") and n not in self._values else n
            values = np.full((self.pre.size, self.post.size), np.nan)
            x = self._native_to_pynn(n)
            if multiple_synapses == "first":
                for k in range(len(x) - 1, -1, -1):
                    values[self._pre[k], self._post[k]] = x[k]
            elif multiple_synapses == "last":
                values[self._pre, self._post] = x
            else:
                acc = np.full(values.shape, np.nan)
                for k in range(len(x)):
                    a = acc[self._pre[k], self._post[k]]
                    acc[self._pre[k], self._post[k]] = x[k] if np.isnan(a) else op(a, x[k])
                values = acc
            out.append(values)
        return out

    def _current_values(self) -> dict:
        """The native parameters, with the weights learned so far if plastic."""
        values = self._values
        if not self._learned or state.bs_state is None or state.net is None:
            return values
        w = values["weight"].copy()
        for k, idx in self._learned:
            learned = state.bs_state.components[self._bs_first + k][0][0].w
            w[idx] = np.abs(np.asarray(learned)) / 1000.0
        return {**values, "weight": w}

    def _set_attributes(self, parameter_space):
        parameter_space.evaluate(mask=(slice(None), slice(None)), simplify=False)
        for name, value in parameter_space.items():
            value = np.asarray(value, float)
            if value.ndim == 2:
                value = value[self._pre, self._post]
            self._values[name][...] = np.broadcast_to(value, self._pre.shape)
        state.changed()

    def _set_initial_value_array(self, variable, initial_value):
        raise NotImplementedError(
            f"brainsim.pynn: initial values of synapses ({variable}) are not supported"
        )

    def translate(self, names: dict) -> list:
        """The ``bs.Projection``s of this projection; ``names``: population id ->
        name in the network."""
        pre_pop, pre_idx = _locate(self.pre, self._pre)
        post_pop, post_idx = _locate(self.post, self._post)
        receptor = self.receptor_type
        values = self._values
        weight = values["weight"]
        out, self._learned = [], []
        for a in np.unique(pre_pop):
            for b in np.unique(post_pop):
                sel = (pre_pop == a) & (post_pop == b)
                if not sel.any():
                    continue
                source, target = state.populations[a], state.populations[b]
                kinetics, e_rev = target.celltype.synapse(receptor, target._native)
                w = 1000.0 * weight[sel]
                if e_rev is not None:
                    w, output = np.abs(w), synapses.Conductance(e_rev)
                elif kinetics.__class__ is synapses.Delta:  # weight in mV (Izhikevich)
                    output, w = synapses.VoltageJump(), w / 1000.0
                    w = -np.abs(w) if receptor == "inhibitory" else w
                else:
                    output = synapses.Current()
                    w = -np.abs(w) if receptor == "inhibitory" else w
                d = np.round(values["delay"][sel] / state.dt) * state.dt
                if source.celltype.injectable:  # a cell: its spike is at its step's end
                    d = d + state.dt  # and arrives a delay later, as in NEST
                one = bool(d.size and np.all(d == d[0]))
                sub = {k: v[sel] for k, v in values.items()}
                # the CSR layout orders synapses by pre (stable): its synapse j is order[j]
                order = np.argsort(pre_idx[sel], kind="stable")
                plastic = self.synapse_type.plastic(sub, 1000.0)
                if plastic is not None:
                    if not one or np.any(w < 0):
                        raise ValueError(
                            "STDPMechanism: brainsim needs one delay per projection and "
                            "positive (excitatory or conductance) weights"
                        )
                    self._learned.append((len(out), np.flatnonzero(sel)[order]))
                release = self.synapse_type.release({k: v[order] for k, v in sub.items()})
                if release is not None and np.ndim(release.p) and not one:
                    raise ValueError(
                        "SimpleStochasticSynapse: brainsim needs one delay per projection "
                        "or one p per projection"
                    )
                parts = tuple(c for c in (plastic, release) if c is not None)
                out.append(
                    BsProjection(
                        names[id(source)],
                        names[id(target)],
                        conn.FromEdges(pre_idx[sel], post_idx[sel], w),
                        weight=None,
                        synapse=kinetics,
                        output=output,
                        delay=float(d[0]) if one and d[0] > state.dt + 1e-9 else None,
                        delays=None if one else d,
                        stp=self.synapse_type.stp(sub),
                        components=parts,
                    )
                )
        return out


def _seed(connector) -> int:
    rng = getattr(connector, "rng", None)
    seed = getattr(rng, "seed", None)
    return state.seed if seed is None else int(seed)


def _draw(rng, p: float, n_pre: int, n_post: int):
    """``(pre, post)`` of independent draws with probability ``p`` per pair, in blocks
    of rows (memory O(1024 n_post))."""
    pres, posts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, n_pre, 1024):
        rows = min(1024, n_pre - start)
        mask = rng.random((rows, n_post)) < p if p < 1.0 else np.ones((rows, n_post), bool)
        i, j = np.nonzero(mask)
        pres.append(start + i)
        posts.append(j)
    return np.concatenate(pres), np.concatenate(posts)


def _space(values: dict, n: int):
    return ParameterSpace(values, shape=(n,))


def _locate(cells, index):
    """``(population number, index in it)`` of cells ``index`` of ``cells`` (a
    population, view or assembly)."""
    ids = np.asarray(cells.all_cells, np.int64)[index]
    firsts = np.array([int(p.first_id) for p in state.populations])
    pop = np.searchsorted(firsts, ids, side="right") - 1
    return pop, ids - firsts[pop]
