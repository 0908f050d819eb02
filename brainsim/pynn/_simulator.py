"""The script's simulator state: cell IDs, the clock, and the run loop.

Every ``run`` translates the script's populations, projections and current sources to
one ``bs.Network`` (rebuilt only when something changed since the last run) and
advances it with ``bs.simulate``, carrying the state pytree between runs. A rebuilt
network takes over the running state of every part whose state has the same shape.
"""

import jax
import numpy as np
from pyNN import common

from ..monitors import Record
from ..network import Network
from ..simulate import simulate

name = "brainsim"


class ID(int, common.IDMixin):
    """A cell's global id; ``parent`` is its ``Population``."""

    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    def __init__(self):
        super().__init__()
        self.mpi_rank, self.num_processes = 0, 1
        self.dt, self.min_delay, self.max_delay, self.seed = 0.1, 0.1, 1e4, 0
        self.auto_min_delay = True
        self.clear()

    def clear(self):
        """Forget the network (``setup``)."""
        self.recorders = set()
        self.populations, self.projections, self.sources = [], [], []
        self.id_counter, self.segment_counter, self.n_sources = 0, -1, 0
        self.net = self.bs_state = None
        self.receptors = {}  # (id(population), receptor type) -> its bs projections
        self.reset()

    def reset(self):
        """Back to t = 0 and the initial state; a new segment for recordings."""
        self.running, self.t, self.t_start = False, 0.0, 0.0
        self.segment_counter += 1
        self.bs_state = None
        for recorder in self.recorders:
            recorder._clear_simulator()

    def changed(self):
        """Something in the network changed: the next run rebuilds it."""
        self.net = None

    def run(self, simtime):
        self.run_until(self.t + simtime)

    def run_until(self, tstop):
        steps = int(round((tstop - self.t) / self.dt))
        if steps <= 0:
            return
        if self.net is None:
            self.net = self._build()
            if self.bs_state is not None:
                self.bs_state = _carry(self._initial_state(), self.bs_state)
        if self.bs_state is None:
            self.bs_state = self._initial_state()
        self.running = True
        names = {id(p): f"p{k}" for k, p in enumerate(self.populations)}
        record, recorded = {}, []
        for p in self.populations:
            variables = p.recorder.spec(self.bs_state, names[id(p)])
            if variables is not None:
                recorded.append(p)
            if variables:
                record[names[id(p)]] = Record(variables, events=True)
        inputs = _inputs(self.sources, names) if self.sources else None
        self.bs_state, rec = simulate(
            self.net,
            self.bs_state,
            steps * self.dt,
            self.dt,
            record=record or None,
            inputs=inputs,
            t0=self.t,
            progress=False,
        )
        for p in recorded:
            p.recorder.collect(rec[names[id(p)]] if names[id(p)] in record else {}, self.t, steps)
        self.t = round(self.t + steps * self.dt, 9)  # on the grid, as a decimal

    def _build(self) -> Network:
        pops = {f"p{k}": p.build() for k, p in enumerate(self.populations)}
        index = {id(p): f"p{k}" for k, p in enumerate(self.populations)}
        projs, self.receptors = [], {}
        for q in self.projections:
            q._bs_first = len(projs)
            projs.extend(q.translate(index))
            for k in range(q._bs_first, len(projs)):  # the projections onto each population
                post = self.populations[int(projs[k].post[1:])]
                self.receptors.setdefault((id(post), q.receptor_type), []).append(k)
        if self.auto_min_delay:  # the smallest delay of the network
            delays = [q._values["delay"].min() for q in self.projections if len(q)]
            self.min_delay = max(self.dt, min(delays, default=self.dt))
        return Network(pops, projs, key=jax.random.key(self.seed))

    def _initial_state(self):
        """The network's state at t = 0 with the populations' initial values."""
        state = self.net.init(jax.random.key(self.seed + 1), dt=self.dt)
        pops = dict(state.populations)
        for k, p in enumerate(self.populations):
            pops[f"p{k}"] = p.initial_state(pops[f"p{k}"])
        return type(state)(pops, state.synapses, state.delays, state.stp, state.components)

    def set_state(self, population, update):
        """Apply ``update(pop_state) -> pop_state`` to the running state of ``population``."""
        if self.bs_state is None:
            return
        name = f"p{self.populations.index(population)}"
        pops = dict(self.bs_state.populations)
        pops[name] = update(pops[name])
        s = self.bs_state
        self.bs_state = type(s)(pops, s.synapses, s.delays, s.stp, s.components)


def _same_shape(a, b) -> bool:
    ta, tb = jax.tree.structure(a), jax.tree.structure(b)
    return ta == tb and all(
        np.shape(x) == np.shape(y)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _carry(new, old):
    """``new`` (a rebuilt network's initial state) with every part of ``old`` that has
    the same structure and shapes taken over."""
    if _same_shape(new, old):
        return old
    pops = {
        k: old.populations[k] if k in old.populations and _same_shape(v, old.populations[k]) else v
        for k, v in new.populations.items()
    }
    parts = []
    for field in ("synapses", "delays", "stp", "components"):
        n, o = getattr(new, field), getattr(old, field)
        parts.append(
            tuple(o[i] if i < len(o) and _same_shape(x, o[i]) else x for i, x in enumerate(n))
        )
    return type(new)(pops, *parts)


def _inputs(sources, names):
    """``t -> {population: current pA}``: the sum of the current sources' currents."""
    targets = [(s, names[id(pop)], pop.size, idx) for s in sources for pop, idx in s.targets()]

    def inputs(t):
        out = {}
        for source, name, size, idx in targets:
            amp = source.current(t, len(idx))  # pA
            i = jax.numpy.zeros(size).at[idx].add(amp)
            out[name] = out[name] + i if name in out else i
        return out

    return inputs


state = State()
