"""Connectivity: builders (rules) and the layouts they produce."""

from .builders import AbstractBuilder as AbstractBuilder
from .builders import AllToAll as AllToAll
from .builders import FixedInDegree as FixedInDegree
from .builders import FixedOutDegree as FixedOutDegree
from .builders import FixedProb as FixedProb
from .builders import FixedTotalNumber as FixedTotalNumber
from .builders import FromDense as FromDense
from .builders import FromEdges as FromEdges
from .builders import OneToOne as OneToOne
from .builders import ProceduralFixedOutDegree as ProceduralFixedOutDegree
from .builders import with_delays as with_delays
from .delay_rules import NormalDelay as NormalDelay
from .layouts import CSR as CSR
from .layouts import ELL as ELL
from .layouts import AbstractLayout as AbstractLayout
from .layouts import Delayed as Delayed
from .layouts import Dense as Dense
from .layouts import Procedural as Procedural
from .weight_rules import AbstractWeightRule as AbstractWeightRule
from .weight_rules import ConstantWeights as ConstantWeights
from .weight_rules import NormalWeights as NormalWeights
from .weight_rules import UniformWeights as UniformWeights
