"""Where a run's recordings go chunk by chunk: the interface ``bs.simulate(...,
stream=sink)`` hands every chunk's recordings to, so that they are not kept in memory.

``bs.io.HDF5Sink`` implements it (an HDF5 file). A sink serves one run (one process);
``open`` is called once before the first chunk, ``append`` after each chunk (in order,
with the chunk's recordings already on the host), ``close`` after the last.
"""

import abc
from typing import NamedTuple


class RecordingLayout(NamedTuple):
    """What a run records: ``dt`` (ms), ``t0`` (ms, the run's start), ``n_steps`` (the
    run's steps), ``records`` ``{population: bs.Record}``, ``shapes`` ``{population:
    (..., n_recorded)}`` (one sample's shape) and ``events`` (the populations whose
    spikes are ``bs.SpikeEvents``)."""

    dt: float
    t0: float
    n_steps: int
    records: dict
    shapes: dict
    events: frozenset


class RecordingSink(abc.ABC):
    """A destination for a run's recordings, one chunk at a time."""

    @abc.abstractmethod
    def open(self, layout: RecordingLayout) -> None:
        """Prepare for a run of ``layout`` (check that it fits what is already stored)."""

    @abc.abstractmethod
    def append(self, first_step: int, n_steps: int, chunk: dict) -> None:
        """Store one chunk: steps ``first_step .. first_step + n_steps`` of the run
        (counted from its ``t0``); ``chunk`` ``{population: {variable: array (n_samples,
        ..., n_recorded) or SpikeEvents}}`` (event sample indices counted from the run's
        first sample)."""

    @abc.abstractmethod
    def close(self):
        """Finish; returns the ``Recording`` of what is stored."""
