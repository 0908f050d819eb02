"""Connectivity: builders (rules) and the layouts they produce."""

from .builders import AbstractBuilder as AbstractBuilder
from .builders import AllToAll as AllToAll
from .builders import FixedInDegree as FixedInDegree
from .builders import FixedOutDegree as FixedOutDegree
from .builders import FixedProb as FixedProb
from .builders import FromDense as FromDense
from .builders import FromEdges as FromEdges
from .builders import OneToOne as OneToOne
from .builders import with_delays as with_delays
from .layouts import CSR as CSR
from .layouts import ELL as ELL
from .layouts import AbstractLayout as AbstractLayout
from .layouts import Delayed as Delayed
from .layouts import Dense as Dense
