"""Spike functions: a hard threshold with a surrogate gradient, and ultradiscretized
(log-sum-exp / max-plus) spikes."""

from ._base import AbstractSpike as AbstractSpike
from .heaviside import Heaviside as Heaviside
from .surrogates import SLAYER as SLAYER
from .surrogates import AbstractSurrogate as AbstractSurrogate
from .surrogates import ArcTan as ArcTan
from .surrogates import Erf as Erf
from .surrogates import Exponential as Exponential
from .surrogates import FastSigmoid as FastSigmoid
from .surrogates import Gaussian as Gaussian
from .surrogates import MultiGaussian as MultiGaussian
from .surrogates import Scaled as Scaled
from .surrogates import Sigmoid as Sigmoid
from .surrogates import StraightThrough as StraightThrough
from .surrogates import Triangle as Triangle
from .ultradiscrete import UltraDLIF as UltraDLIF
from .ultradiscrete import UltraLIF as UltraLIF
from .ultradiscrete import UltraLIFState as UltraLIFState
from .ultradiscrete import UltraSpike as UltraSpike
from .ultradiscrete import nearest_neighbours as nearest_neighbours
