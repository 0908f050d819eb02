"""Point-neuron models and spike sources."""

from ._base import AbstractNeuron as AbstractNeuron
from ._base import Drive as Drive
from ._conductance import AbstractHH as AbstractHH
from ._conductance import HHState as HHState
from .adex import AdEx as AdEx
from .adex import AdExState as AdExState
from .alif import ALIF as ALIF
from .alif import ALIFState as ALIFState
from .expif import ExpIF as ExpIF
from .expif import ExpIFState as ExpIFState
from .gif import GIF as GIF
from .gif import GIFState as GIFState
from .hh import HH as HH
from .izhikevich import Izhikevich as Izhikevich
from .izhikevich import IzhikevichState as IzhikevichState
from .lif import LIF as LIF
from .lif import LIFState as LIFState
from .qif import QIF as QIF
from .qif import QIFState as QIFState
from .sources import PoissonSource as PoissonSource
from .sources import SourceState as SourceState
from .sources import SpikeTimes as SpikeTimes
from .traub_miles import TraubMiles as TraubMiles
from .wang_buzsaki import WangBuzsaki as WangBuzsaki
