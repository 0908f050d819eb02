"""PyNN's simulation control (``setup``, ``run``, ``reset``, ``end``, queries) and its
procedural API (``create``, ``connect``, ``record``...), on PyNN's common factories."""

import warnings

from pyNN import common
from pyNN.connectors import FixedProbabilityConnector
from pyNN.recording import get_io

from . import _simulator as simulator
from ._populations import Population
from ._projections import Projection
from ._simulator import state
from ._synapses import StaticSynapse


def setup(timestep=0.1, min_delay="auto", **extra_params):
    """Start a new network: ``timestep`` (ms) is brainsim's ``dt``; ``rng_seed`` (extra)
    seeds connectivity, Poisson sources and noise; ``spike_precision`` (extra):
    ``'on_grid'`` (default) or ``'off_grid'``, which only warns that cells spike on the
    grid (spike sources keep their times either way). Returns the MPI rank (0)."""
    if timestep <= 0:
        raise ValueError(f"setup: timestep must be > 0 ms, got {timestep}")
    precision = extra_params.get("spike_precision", "on_grid")
    if precision not in ("on_grid", "off_grid"):
        raise ValueError(
            f"setup: spike_precision must be 'on_grid' or 'off_grid', got {precision!r}"
        )
    if precision == "off_grid":
        warnings.warn(
            "brainsim.pynn: spike_precision='off_grid': SpikeSourceArray spikes keep their "
            "times, but cells spike on the timestep grid (reported at the end of the step "
            "of the threshold crossing, up to one timestep after NEST's precise *_ps "
            "models); brainsim has no precise-timing cell models",
            stacklevel=2,
        )
    common.setup(timestep, min_delay, **extra_params)
    state.clear()
    state.dt = float(timestep)
    state.auto_min_delay = min_delay == "auto"
    state.min_delay = state.dt if state.auto_min_delay else float(min_delay)
    max_delay = extra_params.get("max_delay", "auto")
    state.max_delay = 1e4 if max_delay == "auto" else float(max_delay)
    state.seed = int(extra_params.get("rng_seed", extra_params.get("seed", 0)))
    return rank()


def end(compatible_output=True):
    """Write the recordings asked for with ``record(..., to_file=)``."""
    for population, variables, filename in state.write_on_end:
        population.write_data(get_io(filename), variables)
    state.write_on_end = []


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = (
    common.build_state_queries(simulator)
)

create = common.build_create(Population)
connect = common.build_connect(Projection, FixedProbabilityConnector, StaticSynapse)
record = common.build_record(simulator)
set = common.set  # noqa: A001 - PyNN's name


def record_v(source, filename):
    return record(["v"], source, filename)


def record_gsyn(source, filename):
    return record(["gsyn_exc", "gsyn_inh"], source, filename)
