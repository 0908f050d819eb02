"""Point-neuron models and spike sources."""

from ._base import AbstractNeuron as AbstractNeuron
from ._base import Drive as Drive
from .lif import LIF as LIF
from .lif import LIFState as LIFState
from .sources import PoissonSource as PoissonSource
from .sources import SourceState as SourceState
from .sources import SpikeTimes as SpikeTimes
