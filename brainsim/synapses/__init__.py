"""Synaptic kinetics, receptors, outputs and short-term plasticity."""

from .gaba_b import GABAB as GABAB
from .kinetics import Alpha as Alpha
from .kinetics import Delta as Delta
from .kinetics import DualExponential as DualExponential
from .kinetics import Exponential as Exponential
from .kinetics import SynapseState as SynapseState
from .kinetics import exp_mean as exp_mean
from .outputs import AbstractOutput as AbstractOutput
from .outputs import Conductance as Conductance
from .outputs import Current as Current
from .outputs import MgBlock as MgBlock
from .outputs import VoltageJump as VoltageJump
from .receptors import AMPA as AMPA
from .receptors import GABAA as GABAA
from .receptors import NMDA as NMDA
from .receptors import TwoStateReceptor as TwoStateReceptor
from .stp import TsodyksMarkram as TsodyksMarkram
