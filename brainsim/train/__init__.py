"""Gradient training of spiking networks: layers, losses, regularizers, the fit loop."""

from .._checkpoint import CheckpointError as CheckpointError
from . import losses as losses
from . import regularizers as regularizers
from ._scan import scan_time as scan_time
from .delayed import DelayedDense as DelayedDense
from .delayed import delayed_dense as delayed_dense
from .layers import LIFLayer as LIFLayer
from .layers import LIFState as LIFState
from .layers import Readout as Readout
from .layers import ReadoutState as ReadoutState
from .layers import event_project as event_project
from .layers import lif_layer as lif_layer
from .layers import readout as readout
from .loop import default_optimizer as default_optimizer
from .loop import evaluate as evaluate
from .loop import fit as fit
from .loop import make_step as make_step
from .loop import restore as restore
from .loop import save as save
from .models import SNN as SNN
from .models import FeedForwardSNN as FeedForwardSNN
from .models import RecurrentSNN as RecurrentSNN
from .models import UltraLIFLayer as UltraLIFLayer
from .models import UltraSNN as UltraSNN
from .models import hard_spikes as hard_spikes
