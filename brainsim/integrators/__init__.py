"""Explicit integration schemes applied to a model's derivative function ``f(t, y, args)``."""

from ._base import AbstractIntegrator as AbstractIntegrator
from .adaptive import DormandPrince as DormandPrince
from .etd import ETDRK4 as ETDRK4
from .euler import Euler as Euler
from .euler_maruyama import EulerMaruyama as EulerMaruyama
from .euler_maruyama import euler_maruyama_step as euler_maruyama_step
from .exp_euler import ExpEuler as ExpEuler
from .runge_kutta import RK2 as RK2
from .runge_kutta import RK4 as RK4
from .runge_kutta import AbstractRungeKutta as AbstractRungeKutta
from .runge_kutta import ButcherTableau as ButcherTableau
