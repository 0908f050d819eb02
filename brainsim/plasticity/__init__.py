"""Synaptic plasticity: spike-timing rules, three-factor rules and homeostasis.

Every rule keeps its plastic weights and traces in a state pytree (``init``/``step``)
and updates the weights event-driven through ``bs.ops.update_rows`` /
``bs.ops.update_columns``; ``_base`` gives the step order and delay convention.
"""

from ._base import AbstractPlasticity as AbstractPlasticity
from .bounds import Bounds as Bounds
from .homeostasis import AdaptiveThreshold as AdaptiveThreshold
from .homeostasis import RateState as RateState
from .homeostasis import SynapticScaling as SynapticScaling
from .homeostasis import scaled_weights as scaled_weights
from .inhibitory import VogelsSprekeler as VogelsSprekeler
from .inhibitory import VogelsSprekelerState as VogelsSprekelerState
from .modulators import AbstractModulator as AbstractModulator
from .modulators import DistalReward as DistalReward
from .modulators import DistalRewardState as DistalRewardState
from .modulators import RewardSignal as RewardSignal
from .normalization import Normalized as Normalized
from .normalization import normalized_weights as normalized_weights
from .sleep import Sleep as Sleep
from .stdp import PairSTDP as PairSTDP
from .stdp import PairSTDPState as PairSTDPState
from .three_factor import RewardSTDP as RewardSTDP
from .three_factor import RewardSTDPState as RewardSTDPState
from .trace_stdp import TraceSTDP as TraceSTDP
from .trace_stdp import TraceSTDPState as TraceSTDPState
from .traces import AllToAll as AllToAll
from .traces import Nearest as Nearest
from .triplet import TripletSTDP as TripletSTDP
from .triplet import TripletSTDPState as TripletSTDPState
