"""A PyNN backend: ``import brainsim.pynn as sim`` runs PyNN scripts on brainsim.

A minimal subset of PyNN 0.13 (needs the ``pynn`` extra): ``setup``, ``run``, ``end``,
``reset``, ``Population`` (``record``, ``initialize``, ``get_data`` -> ``neo.Block``),
``Projection`` with ``StaticSynapse``; cells ``IF_curr_exp``, ``IF_cond_exp``,
``SpikeSourceArray``, ``SpikeSourcePoisson`` (whole run); connectors ``AllToAll``,
``OneToOne``, ``FixedProbability``, ``FromList``. The script's objects are translated
to one ``bs.Network`` and run with ``bs.simulate``.

Units are PyNN's: weights in nA (current-based) or µS (conductance-based), converted
to brainsim's pA / nS (x1000); ``cm`` nF -> pF; ``i_offset`` nA -> pA. Inhibitory
weights are given positive (as in PyNN) and enter current-based cells with a minus
sign. A delay must be one value per projection, a multiple of ``dt``.
"""

from .._optional import require

require("pyNN", "pynn")

from pyNN.connectors import AllToAllConnector as AllToAllConnector  # noqa: E402
from pyNN.connectors import FixedProbabilityConnector as FixedProbabilityConnector  # noqa: E402
from pyNN.connectors import FromListConnector as FromListConnector  # noqa: E402
from pyNN.connectors import OneToOneConnector as OneToOneConnector  # noqa: E402
from pyNN.standardmodels.cells import IF_cond_exp as IF_cond_exp  # noqa: E402
from pyNN.standardmodels.cells import IF_curr_exp as IF_curr_exp  # noqa: E402
from pyNN.standardmodels.cells import SpikeSourceArray as SpikeSourceArray  # noqa: E402
from pyNN.standardmodels.cells import SpikeSourcePoisson as SpikeSourcePoisson  # noqa: E402

from ._cells import SUPPORTED_CELLS as SUPPORTED_CELLS  # noqa: E402
from ._connect import SUPPORTED_CONNECTORS as SUPPORTED_CONNECTORS  # noqa: E402
from ._simulator import Population as Population  # noqa: E402
from ._simulator import Projection as Projection  # noqa: E402
from ._simulator import StaticSynapse as StaticSynapse  # noqa: E402
from ._simulator import end as end  # noqa: E402
from ._simulator import get_current_time as get_current_time  # noqa: E402
from ._simulator import get_time_step as get_time_step  # noqa: E402
from ._simulator import reset as reset  # noqa: E402
from ._simulator import run as run  # noqa: E402
from ._simulator import setup as setup  # noqa: E402
