"""The script's state: populations and projections, translated to a ``bs.Network`` and
run with ``bs.simulate`` (one network per ``run`` call, state carried between calls)."""

import jax
import numpy as np
from pyNN.standardmodels import synapses as pynn_synapses

from .. import conn, synapses
from ..io import to_neo
from ..monitors import Record
from ..network import Network
from ..network import Projection as BsProjection
from ..simulate import simulate
from ._cells import build_neuron, synapse_params
from ._connect import edges


class _State:
    def __init__(self, dt=0.1, seed=0):
        self.dt, self.seed, self.t = dt, seed, 0.0
        self.populations, self.projections = [], []
        self.net = self.state = None
        self.segments = {}  # population label -> list of Recording pieces


_sim = _State()


def setup(timestep=0.1, min_delay="auto", max_delay="auto", **extra):
    """Start a new script: ``timestep`` (ms) is brainsim's ``dt``; ``seed`` (extra)
    seeds connectivity and initial states. Returns the MPI rank (always 0)."""
    global _sim
    if timestep <= 0:
        raise ValueError(f"setup: timestep must be > 0 ms, got {timestep}")
    if extra.get("spike_precision", "on_grid") != "on_grid":
        raise ValueError(
            f"setup: spike_precision={extra['spike_precision']!r} is not supported; "
            "supported: 'on_grid' (spikes on the timestep grid)"
        )
    _sim = _State(float(timestep), int(extra.get("rng_seed", extra.get("seed", 0))))
    return 0


def end():
    """End the script (nothing to release)."""


def get_time_step() -> float:
    return _sim.dt


def get_current_time() -> float:
    return _sim.t


def run(simtime):
    """Advance the simulation by ``simtime`` ms; returns the current time (ms)."""
    if _sim.net is None:
        _sim.net = _build()
        _sim.state = _sim.net.init(jax.random.key(_sim.seed + 1), dt=_sim.dt)
    record = {p.label: Record(sorted(p.recorded)) for p in _sim.populations if p.recorded}
    _sim.state, rec = simulate(
        _sim.net, _sim.state, float(simtime), _sim.dt, record=record or None, t0=_sim.t
    )
    for label in record:
        _sim.segments.setdefault(label, []).append(rec)
    _sim.t += float(simtime)
    return _sim.t


def reset(annotations=None):
    """Back to t = 0 with the initial state; the next run records a new ``Segment``."""
    _sim.t, _sim.state = 0.0, None
    if _sim.net is not None:
        _sim.state = _sim.net.init(jax.random.key(_sim.seed + 1), dt=_sim.dt)


def _build() -> Network:
    rng = np.random.default_rng(_sim.seed)
    pops = {p.label: build_neuron(p.celltype, p.size, p.v_init) for p in _sim.populations}
    projs = [q.translate(rng) for q in _sim.projections]
    return Network(pops, projs, key=jax.random.key(_sim.seed))


class StaticSynapse(pynn_synapses.StaticSynapse):
    """PyNN's ``StaticSynapse`` (``weight`` nA or µS, ``delay`` ms; default delay ``dt``)."""

    def _get_minimum_delay(self):
        return _sim.dt


class Population:
    """``size`` cells of PyNN ``cellclass`` (a standard cell type instance or class)."""

    def __init__(
        self, size, cellclass, cellparams=None, structure=None, initial_values=None, label=None
    ):
        if _sim.net is not None:
            raise RuntimeError("brainsim.pynn: create populations before the first run()")
        self.size = int(size)
        self.celltype = (
            cellclass(**(cellparams or {})) if isinstance(cellclass, type) else cellclass
        )
        self.label = label or f"population{len(_sim.populations)}"
        self.recorded, self.v_init = set(), (initial_values or {}).get("v")
        _sim.populations.append(self)

    def __len__(self):
        return self.size

    def initialize(self, **values):
        """Initial values; only ``v`` (mV, scalar or array of ``size``)."""
        unknown = set(values) - {"v"}
        if unknown:
            raise ValueError(f"initialize: {sorted(unknown)} not supported; supported: v")
        self.v_init = (
            np.asarray(values["v"], float) if np.ndim(values["v"]) else float(values["v"])
        )

    def record(self, variables, to_file=None, sampling_interval=None):
        """Record ``"spikes"`` and/or ``"v"`` (mV) of every cell."""
        names = [variables] if isinstance(variables, str) else list(variables)
        bad = [v for v in names if v not in ("spikes", "v")]
        if bad:
            raise ValueError(f"record: {bad} not supported; supported: spikes, v")
        if sampling_interval is not None and sampling_interval != _sim.dt:
            raise ValueError(
                f"record: sampling_interval={sampling_interval} ms is not supported; "
                f"supported: None (every timestep, {_sim.dt} ms)"
            )
        self.recorded.update(names)

    def get_data(self, variables="all", gather=True, clear=False):
        """A ``neo.Block`` with one ``Segment`` per ``run`` call (``variables``: "all",
        a name or a list of names); ``clear`` drops the data returned."""
        neo = __import__("neo")
        block = neo.Block(name=self.label)
        wanted = (
            None
            if variables == "all"
            else ({variables} if isinstance(variables, str) else set(variables))
        )
        for rec in _sim.segments.get(self.label, []):
            seg = to_neo(rec, [self.label], name=self.label).segments[0]
            if wanted is not None:
                seg.analogsignals = [a for a in seg.analogsignals if a.name in wanted]
                if "spikes" not in wanted:
                    seg.spiketrains = []
            block.segments.append(seg)
        if clear:
            _sim.segments[self.label] = []
        return block


class Projection:
    """Synapses from ``presynaptic`` to ``postsynaptic`` made by ``connector``."""

    def __init__(
        self,
        presynaptic,
        postsynaptic,
        connector,
        synapse_type=None,
        source=None,
        receptor_type="excitatory",
        space=None,
        label=None,
    ):
        if _sim.net is not None:
            raise RuntimeError("brainsim.pynn: create projections before the first run()")
        if synapse_type is not None and type(synapse_type).__name__ != "StaticSynapse":
            raise ValueError(
                f"brainsim.pynn: synapse type {type(synapse_type).__name__!r} is not "
                "supported; supported: StaticSynapse"
            )
        self.pre, self.post, self.connector = presynaptic, postsynaptic, connector
        self.synapse_type, self.receptor_type = synapse_type, receptor_type
        _sim.projections.append(self)

    def translate(self, rng) -> BsProjection:
        tau, e_rev, sign = synapse_params(self.post.celltype, self.receptor_type)
        pre, post, w, d = edges(
            self.connector, self.pre.size, self.post.size, rng, self.pre is self.post
        )
        params = {} if self.synapse_type is None else self.synapse_type.parameter_space
        if w is None:
            w = _per_synapse(params["weight"].base_value if params else 0.0, pre, post)
        if d is None:
            d = params["delay"].base_value if params else None
            d = None if d is None else _per_synapse(d, pre, post)
        delay = _one_delay(d)
        output = synapses.Current() if e_rev is None else synapses.Conductance(e_rev)
        return BsProjection(
            self.pre.label,
            self.post.label,
            conn.FromEdges(pre, post, sign * 1000.0 * np.abs(w)),  # nA/µS -> pA/nS
            weight=None,
            synapse=synapses.Exponential(tau),
            output=output,
            delay=delay,
        )


def _per_synapse(value, pre, post) -> np.ndarray:
    """A PyNN synaptic parameter (scalar, per-synapse list or (n_pre, n_post) matrix)
    as one value per synapse ``pre[k] -> post[k]``."""
    value = np.asarray(value, float)
    if value.ndim == 2:
        return value[pre, post]
    return np.broadcast_to(value, pre.shape)


def _one_delay(d):
    """One delay (ms) for the projection, ``None`` (one step) for PyNN's default."""
    if d is None:
        return None
    d = np.unique(np.asarray(d, float))
    if d.size > 1:
        raise ValueError(
            f"brainsim.pynn: one delay per projection is supported, got {d.size} values"
        )
    return None if d.size == 0 or float(d[0]) <= _sim.dt else float(d[0])
