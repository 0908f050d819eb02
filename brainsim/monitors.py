"""What to record during a simulation, declared up front (like diffrax's ``SaveAt``).

``record={"E": ["spikes", "v"], "I": Record(["spikes"], indices=slice(0, 100), every=10)}``

A variable is a field of the population's state (``"v"``, ``"spike"``...; ``"spikes"`` is
an alias of ``"spike"``). ``every`` records one sample per ``every`` steps: the last value
of the window, except spikes, which record whether the neuron spiked in the window.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._checks import check_size

_ALIASES = {"spikes": "spike"}


class Record(eqx.Module):
    """Record ``variables`` of one population for neurons ``indices`` (``None``: all;
    a slice or an integer array), one sample every ``every`` steps."""

    variables: tuple[str, ...] = eqx.field(static=True)
    indices: slice | tuple[int, ...] | None = eqx.field(default=None, static=True)
    every: int = eqx.field(default=1, static=True)

    def __init__(self, variables, indices=None, every=1):
        self.variables = (variables,) if isinstance(variables, str) else tuple(variables)
        if indices is not None and not isinstance(indices, slice):
            indices = tuple(int(i) for i in np.asarray(indices).ravel())
        self.indices = indices
        check_size("Record.every", every)
        self.every = every

    def select(self, x):
        """The recorded neurons of ``x (..., n)``."""
        if self.indices is None:
            return x
        if isinstance(self.indices, slice):
            return x[..., self.indices]
        return x[..., jnp.asarray(self.indices, jnp.int32)]


def as_records(record, populations) -> dict[str, Record]:
    """Normalise a ``record=`` argument, checking population and variable names."""
    out = {}
    for name, spec in (record or {}).items():
        if name not in populations:
            raise ValueError(f"record: unknown population {name!r}; known: {sorted(populations)}")
        spec = spec if isinstance(spec, Record) else Record(spec)
        out[name] = spec
    return out


def field_name(variable: str) -> str:
    return _ALIASES.get(variable, variable)


def check_variables(records: dict[str, Record], state) -> None:
    for name, rec in records.items():
        pop_state = state.populations[name]
        for var in rec.variables:
            if not hasattr(pop_state, field_name(var)):
                fields = [f for f in vars(pop_state) if not f.startswith("_")]
                raise ValueError(
                    f"record: population {name!r} has no variable {var!r}; available: {fields}"
                )
        size = np.shape(pop_state.spike)[-1]
        if (
            isinstance(rec.indices, tuple)
            and rec.indices
            and (min(rec.indices) < 0 or max(rec.indices) >= size)
        ):
            raise ValueError(f"record: indices for {name!r} must be in [0, {size - 1}]")


def reduce_window(variable: str, window):
    """One sample from a window ``(every, ..., n)`` of per-step values."""
    if field_name(variable) == "spike":
        return jnp.any(window != 0, axis=0)
    return window[-1]
