"""Checks of a network's entry points (``Projection``, ``Network.init``, ``simulate``),
run on the host before anything is traced or allocated. Each error names the argument
(and the projection or population), its value and the allowed range."""

import math

from ._checks import check_count, check_nonnegative, check_positive, check_size
from .delays import delay_steps, group_steps

# The largest delay buffer ``init`` allocates (elements, float32: 8 GiB); a delay that
# needs more is almost certainly a unit mistake (s for ms) and would exhaust memory.
MAX_DELAY_BUFFER = 2**31 - 1


def check_projection(proj) -> None:
    """Construction-time checks of a ``Projection`` or ``GapJunction`` (sizes and dt are
    checked later)."""
    for side in ("pre", "post"):
        if not isinstance(getattr(proj, side), str):
            raise ValueError(
                f"{type(proj).__name__}.{side} must be a population name (str), got "
                f"{getattr(proj, side)!r}"
            )
    kind = type(proj).__name__
    delay, max_delay = getattr(proj, "delay", None), getattr(proj, "max_delay", None)
    if delay is not None:  # the minimum, dt, is checked by ``init``
        check_nonnegative(f"{kind} {proj.name}: delay", delay, "ms")
    if max_delay is not None:
        check_positive(f"{kind} {proj.name}: max_delay", max_delay, "ms")
    if proj.capacity is not None:
        check_count(f"{kind} {proj.name}: capacity", proj.capacity)


def check_dt_and_delays(net, dt, batch_shape=()) -> None:
    """``dt > 0`` and every projection's delay a whole number of steps ``>= 1`` whose
    buffer holds at most ``MAX_DELAY_BUFFER`` elements; errors name the projection."""
    check_positive("dt", dt, "ms")
    for n in batch_shape:
        check_size(f"batch_shape {tuple(batch_shape)}: each entry", n)
    batch = math.prod(batch_shape)
    for proj in net.projections:
        if not hasattr(proj, "delay"):  # gap junctions: no delay line
            continue
        delays = getattr(proj.conn, "delays", None)
        try:
            if delays is not None:  # per-synapse delays: a postsynaptic ring of D slots
                slots = group_steps(delays, dt, proj.max_delay)[1]
                longest, neurons = max(delays, default=dt), net.populations[proj.post].size
            else:  # homogeneous: the last d - 1 presynaptic spike vectors
                slots = delay_steps(proj.delay, dt) - 1
                longest, neurons = proj.delay, net.populations[proj.pre].size
        except ValueError as e:
            raise ValueError(f"Projection {proj.name}: {e}") from None
        if slots * neurons * batch > MAX_DELAY_BUFFER:
            raise ValueError(
                f"Projection {proj.name}: delay {longest:g} ms at dt={dt:g} ms needs a "
                f"buffer of {slots} steps x {neurons * batch} neurons = "
                f"{slots * neurons * batch:.3g} values, more than the limit "
                f"{MAX_DELAY_BUFFER:.3g} (delays are in ms)"
            )


def check_inputs(inputs, populations) -> None:
    """A dict of inputs names only existing populations (``simulate`` checks a dict
    before anything is traced; ``Network.step`` checks what a function of ``t``
    returns while it is traced)."""
    if inputs is None or callable(inputs):
        return
    unknown = sorted(set(inputs) - set(populations), key=str)
    if unknown:
        raise ValueError(
            f"inputs: unknown population(s) {unknown}; known populations: {sorted(populations)}"
        )
