"""Synaptic kinetics and outputs."""

from .kinetics import Delta as Delta
from .kinetics import Exponential as Exponential
from .kinetics import SynapseState as SynapseState
from .outputs import AbstractOutput as AbstractOutput
from .outputs import Conductance as Conductance
from .outputs import Current as Current
from .outputs import VoltageJump as VoltageJump
