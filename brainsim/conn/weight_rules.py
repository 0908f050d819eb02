"""Weight rules: the distribution each synapse's weight (factor) is drawn from.

Stored connectivity (``FixedTotalNumber(weights=...)``) draws each synapse's weight with
``sample`` when the network is built (NumPy's continuous distributions, float32).

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

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator, out: np.ndarray) -> None:
        """Fill the float32 array ``out`` with independent draws, in place."""


class ConstantWeights(AbstractWeightRule):
    """``r_ij = 1``: every synapse has the projection's weight (homogeneous)."""

    def table(self):
        return None

    def quantile(self, u):
        return np.ones_like(u)

    def sample(self, rng, out):
        out.fill(1.0)


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

    def sample(self, rng, out):
        rng.random(out=out, dtype=np.float32)
        out *= self.high - self.low
        out += self.low


class NormalWeights(AbstractWeightRule):
    """``r_ij ~ N(mean, sd²)`` (2¹⁶ equiprobable quantiles: |z| ≤ 4.3). With
    ``keep_sign``, draws of the other sign than ``mean`` (or 0) are redrawn: the normal
    truncated at 0, as NEST's microcircuit draws its weights (``nest.math.redraw``)."""

    mean: float = eqx.field(static=True)
    sd: float = eqx.field(static=True)
    keep_sign: bool = eqx.field(default=False, static=True)

    def __check_init__(self):
        check_finite("NormalWeights.mean", self.mean)
        check_nonnegative("NormalWeights.sd", self.sd)
        if self.keep_sign and self.mean == 0:
            raise ValueError("NormalWeights.keep_sign needs mean != 0, got mean=0")

    def quantile(self, u):
        if self.sd == 0:
            return np.full_like(u, self.mean)
        dist = statistics.NormalDist(self.mean, self.sd)
        if self.keep_sign:  # the quantiles of the truncated normal
            f0 = dist.cdf(0.0)
            u = f0 + u * (1 - f0) if self.mean > 0 else u * f0
        return np.array([dist.inv_cdf(x) for x in u.tolist()])

    def sample(self, rng, out):
        rng.standard_normal(out=out, dtype=np.float32)
        out *= self.sd
        out += self.mean
        while self.keep_sign and (bad := np.flatnonzero(out * np.sign(self.mean) <= 0)).size:
            redraw = rng.standard_normal(bad.size, dtype=np.float32)
            out[bad] = redraw * self.sd + self.mean


@functools.lru_cache(maxsize=32)
def _table(rule: AbstractWeightRule) -> np.ndarray:
    u = (np.arange(TABLE_SIZE, dtype=np.float64) + 0.5) / TABLE_SIZE
    table = rule.quantile(u).astype(np.float32)
    table.setflags(write=False)
    return table
