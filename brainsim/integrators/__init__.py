"""Explicit integration schemes applied to a model's derivative function ``f(t, y, args)``."""

from ._base import AbstractIntegrator as AbstractIntegrator
from .euler import Euler as Euler
from .exp_euler import ExpEuler as ExpEuler
