"""Delay rules: the distribution each synapse's delay is drawn from when a network is
built (``bs.Projection(delays=...)``, ``bs.conn.FixedTotalNumber(delays=...)``)."""

import equinox as eqx
import numpy as np

from .._checks import check_nonnegative, check_positive


class NormalDelay(eqx.Module):
    """Per-synapse delays drawn from a normal distribution (ms), as NEST's microcircuit
    does: draws below ``resolution / 2`` are redrawn, then each delay is rounded to the
    nearest multiple of ``resolution`` (so the smallest delay is ``resolution``).
    ``resolution`` is the simulation step the network is meant for."""

    mean: float
    std: float
    resolution: float = 0.1

    def __check_init__(self):
        check_positive("NormalDelay.mean", self.mean, "ms")
        check_nonnegative("NormalDelay.std", self.std, "ms")
        check_positive("NormalDelay.resolution", self.resolution, "ms")

    def sample_steps(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Delays in whole multiples of ``resolution`` (float64, integral, >= 1)."""
        d = rng.normal(self.mean, self.std, shape)
        low = d < self.resolution / 2
        while low.any():
            d[low] = rng.normal(self.mean, self.std, int(low.sum()))
            low = d < self.resolution / 2
        d /= self.resolution
        return np.round(d, out=d)

    def sample(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Delays (ms, float64): ``sample_steps(rng, shape) * resolution``."""
        d = self.sample_steps(rng, shape)
        d *= self.resolution
        return d
