"""A PyNN backend: ``import brainsim.pynn as sim`` runs PyNN 0.13 scripts on brainsim.

Built on PyNN's own base classes (``pyNN.common``): populations, views, assemblies,
projections with ``get``/``set``, recording to Neo, current sources and the procedural
API. Each ``run`` translates the script to one ``bs.Network`` and advances it with
``bs.simulate`` (see ``docs/pynn.md`` for what maps to what, and the units). Needs
the ``pynn`` extra.
"""

from .._optional import require

require("pyNN", "pynn")

from pyNN import errors, random, space  # noqa: E402, F401
from pyNN.connectors import (  # noqa: E402, F401
    AllToAllConnector,
    ArrayConnector,
    CloneConnector,
    DisplacementDependentProbabilityConnector,
    DistanceDependentProbabilityConnector,
    FixedNumberPostConnector,
    FixedNumberPreConnector,
    FixedProbabilityConnector,
    FixedTotalNumberConnector,
    FromFileConnector,
    FromListConnector,
    IndexBasedProbabilityConnector,
    OneToOneConnector,
    SmallWorldConnector,
)
from pyNN.parameters import Sequence  # noqa: E402, F401
from pyNN.random import NumpyRNG, RandomDistribution  # noqa: E402, F401
from pyNN.space import Space  # noqa: E402, F401

from ._cells import (  # noqa: E402, F401
    CELL_TYPES,
    SUPPORTED_CELLS,
    EIF_cond_alpha_isfa_ista,
    EIF_cond_exp_isfa_ista,
    HH_cond_exp,
    IF_cond_alpha,
    IF_cond_exp,
    IF_curr_alpha,
    IF_curr_exp,
    Izhikevich,
    SpikeSourceArray,
    SpikeSourceGamma,
    SpikeSourcePoisson,
    SpikeSourcePoissonRefractory,
)
from ._composed import (  # noqa: E402, F401
    LIF,
    AdExp,
    AlphaPSR,
    CondAlphaPostSynapticResponse,
    CondExpPostSynapticResponse,
    CurrExpPostSynapticResponse,
    ExpPSR,
    PointNeuron,
)
from ._control import (  # noqa: E402, F401
    connect,
    create,
    end,
    get_current_time,
    get_max_delay,
    get_min_delay,
    get_time_step,
    initialize,
    num_processes,
    rank,
    record,
    record_gsyn,
    record_v,
    reset,
    run,
    run_for,
    run_until,
    set,
    setup,
)
from ._electrodes import (  # noqa: E402, F401
    SUPPORTED_SOURCES,
    ACSource,
    DCSource,
    NoisyCurrentSource,
    StepCurrentSource,
)
from ._populations import Assembly, Population, PopulationView  # noqa: E402, F401
from ._projections import Projection  # noqa: E402, F401
from ._synapses import (  # noqa: E402, F401
    SUPPORTED_SYNAPSES,
    AdditivePotentiationMultiplicativeDepression,
    AdditiveWeightDependence,
    GutigWeightDependence,
    MultiplicativeWeightDependence,
    SimpleStochasticSynapse,
    SpikePairRule,
    StaticSynapse,
    STDPMechanism,
    TsodyksMarkramSynapse,
)


def list_standard_models():
    """The names of the standard cell types this backend runs."""
    return list(SUPPORTED_CELLS)
