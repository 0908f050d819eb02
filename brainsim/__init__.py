"""brainsim: a JAX-based differentiable brain simulator."""

from . import analysis as analysis
from . import conn as conn
from . import datasets as datasets
from . import delays as delays
from . import encoders as encoders
from . import initializers as initializers
from . import integrators as integrators
from . import io as io
from . import models as models
from . import neurons as neurons
from . import nir as nir
from . import ops as ops
from . import plasticity as plasticity
from . import plot as plot
from . import spikes as spikes
from . import synapses as synapses
from . import train as train
from .compilation_cache import enable_compilation_cache as enable_compilation_cache
from .core import simulate_core as simulate_core
from .gap_junction import GapJunction as GapJunction
from .monitors import Record as Record
from .monitors import SpikeEvents as SpikeEvents
from .network import Network as Network
from .network import NetworkState as NetworkState
from .network import Projection as Projection
from .plastic import Plastic as Plastic
from .projection import AbstractProjectionComponent as AbstractProjectionComponent
from .projection import ProjectionInput as ProjectionInput
from .sharded import simulate_sharded as simulate_sharded
from .simulate import Recording as Recording
from .simulate import simulate as simulate

__version__ = "0.1.0"
