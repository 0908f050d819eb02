"""Spike functions: a hard threshold with a surrogate gradient."""

from ._base import AbstractSpike as AbstractSpike
from .heaviside import Heaviside as Heaviside
from .surrogates import AbstractSurrogate as AbstractSurrogate
from .surrogates import ArcTan as ArcTan
from .surrogates import FastSigmoid as FastSigmoid
from .surrogates import Sigmoid as Sigmoid
