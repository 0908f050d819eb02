"""Weight rules of procedural connectivity: the distribution each regenerated synapse's
weight factor is drawn from.

A procedural projection's synaptic weight is ``w_ij = weight · r_ij`` with ``weight`` the
projection's scalar (trainable) gain and ``r_ij`` drawn by the rule. A non-constant rule
is tabulated once as ``2**16`` equiprobable quantiles
``q_a = F⁻¹((a + ½) / 2¹⁶)``; a synapse picks ``q_a`` with a 16-bit index from its
counter-based hash. A table lookup is the same bits on every backend and in the C++
kernel (unlike ``log``/``cos`` of Box–Muller, or a multiply–add that one compiler fuses
into an FMA and another does not). The discretisation keeps the mean exactly (up to
float32 rounding of the table) and the variance to a relative ``~1e-4``; the tails are
cut at the outermost quantile (±4.3 sd for ``NormalWeights``).
"""

import abc
import functools
import statistics

import equinox as eqx
import numpy as np

from .._checks import check_finite, check_nonnegative

TABLE_BITS = 16
TABLE_SIZE = 1 << TABLE_BITS


class AbstractWeightRule(eqx.Module):
    """Static rule (its parameters are plain floats fixed at build time)."""

    def table(self) -> np.ndarray | None:
        """``(2**16,)`` float32 quantiles, or ``None`` for a constant factor of 1."""
        return _table(self)

    @abc.abstractmethod
    def quantile(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF at ``u`` in (0, 1), float64."""


class ConstantWeights(AbstractWeightRule):
    """``r_ij = 1``: every synapse has the projection's weight (homogeneous)."""

    def table(self):
        return None

    def quantile(self, u):
        return np.ones_like(u)


class UniformWeights(AbstractWeightRule):
    """``r_ij ~ U(low, high)`` (2¹⁶ equally spaced levels, the midpoints of 2¹⁶ bins)."""

    low: float = eqx.field(static=True)
    high: float = eqx.field(static=True)

    def __check_init__(self):
        check_finite("UniformWeights.low", self.low)
        check_finite("UniformWeights.high", self.high)
        if not self.high >= self.low:
            raise ValueError(f"UniformWeights.high must be >= low={self.low:g}, got {self.high:g}")

    def quantile(self, u):
        return self.low + (self.high - self.low) * u


class NormalWeights(AbstractWeightRule):
    """``r_ij ~ N(mean, sd²)`` (2¹⁶ equiprobable quantiles: |z| ≤ 4.3)."""

    mean: float = eqx.field(static=True)
    sd: float = eqx.field(static=True)

    def __check_init__(self):
        check_finite("NormalWeights.mean", self.mean)
        check_nonnegative("NormalWeights.sd", self.sd)

    def quantile(self, u):
        inv = statistics.NormalDist(self.mean, self.sd).inv_cdf if self.sd > 0 else None
        if inv is None:
            return np.full_like(u, self.mean)
        return np.array([inv(x) for x in u.tolist()])


@functools.lru_cache(maxsize=32)
def _table(rule: AbstractWeightRule) -> np.ndarray:
    u = (np.arange(TABLE_SIZE, dtype=np.float64) + 0.5) / TABLE_SIZE
    table = rule.quantile(u).astype(np.float32)
    table.setflags(write=False)
    return table
