"""Many steps of ``lif_network_update``, recording spikes as ``append_spikes`` does.

The reference is a ``lax.scan`` of the one-step op (``lif_network_update``'s) and
``append_spikes``; on CPU the kernel ``BrainsimLifNetworkRun``
(``_native/lif_network_run.cc``) runs the whole loop in one call, repeating the one-step
kernel's code. ``lif_network_run`` calls it where the kernel applies (``bs.Network.
simulate`` steps one call at a time, with the same results bit for bit, elsewhere)."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_count
from . import _native
from ._kernel import Kernel
from .compact import append_spikes
from .lif_network import _applies, _call_operands, _network, _prepare, _split_results


def _reference(args, buffers, offsets, *, steps, record, **static):
    """``steps`` steps of the one-step op, each on the state the last step left (every
    projection's spikes are its source population's last ``spike``), the spikes of the
    populations ``record`` appended after each step."""
    pops, projs, extra = args

    def step(carry, _):
        state, g, bufs, ends = carry
        now = tuple(
            {**p, "v": v, "spike": s, "refractory": r}
            for p, (v, s, r) in zip(pops, state, strict=True)
        )
        now_g = tuple({**q, "g": gq} for q, gq in zip(projs, g, strict=True))
        state, g = _network((now, now_g, extra), **static)
        appended = [
            append_spikes(state[p][1], buf, end)
            for p, buf, end in zip(record, bufs, ends, strict=True)
        ]
        new_bufs = tuple(b for b, _ in appended)
        new_ends = tuple(e for _, e in appended)
        counts = tuple(e - end for e, end in zip(new_ends, ends, strict=True))
        return (state, g, new_bufs, new_ends), counts

    init = (
        tuple((p["v"], p["spike"], p["refractory"]) for p in pops),
        tuple(q["g"] for q in projs),
        tuple(buffers),
        tuple(offsets),
    )
    (state, g, bufs, ends), counts = jax.lax.scan(step, init, None, length=steps)
    return state, g, bufs, ends, counts


_run = Kernel(
    "lif_network_run",
    _reference,
    when=(
        "as lif_network_update, unbatched, spikes from the populations only, in processes "
        "without accelerators (Network.simulate steps one call at a time elsewhere)"
    ),
)


def _run_applies(args, buffers, offsets, **static) -> bool:
    return _applies(args, static) and not args[2] and all(jnp.ndim(p["v"]) == 1 for p in args[0])


@_run.register("cpu", applies=_run_applies)
def _run_native(args, buffers, offsets, *, steps, record, **static):
    """One ``BrainsimLifNetworkRun`` call: the network's operands and results, then per
    recorded population its buffer, end offset and per-step counts."""
    operands, out, aliases, attrs = _call_operands(args, static)
    n_out, n_op, n_rec = len(out), len(operands), len(record)
    operands += [*buffers, *offsets]
    out += [jax.ShapeDtypeStruct(b.shape, jnp.int32) for b in buffers]
    out += [jax.ShapeDtypeStruct((), jnp.int32)] * n_rec
    out += [jax.ShapeDtypeStruct((steps,), jnp.int32)] * n_rec
    aliases.update({n_op + r: n_out + r for r in range(n_rec)})
    call = jax.ffi.ffi_call("brainsim_lif_network_run", out, input_output_aliases=aliases)
    res = call(*operands, **attrs, steps=np.int64(steps), record=np.asarray(record, np.int64))
    pops_out, g, rest = _split_results(res, len(args[0]), len(args[1]))
    rest = tuple(rest)
    return pops_out, g, rest[:n_rec], rest[n_rec : 2 * n_rec], rest[2 * n_rec :]


def lif_network_run(
    populations: Sequence[dict],
    projections: Sequence[dict],
    *,
    dt: float,
    steps: int,
    record: Sequence[int] = (),
    buffers: Sequence = (),
    offsets: Sequence = (),
    parts: int = 0,
):
    """``steps`` steps of ``lif_network_update`` as one native call, each step's state the
    next step's: every projection's arriving ``spikes`` must be its source population's
    ``spike`` (a one-step delay) and the input currents are the same in every step. After
    each step the spikes of the populations ``record`` (indices) are appended to their
    event ``buffers`` (``(C,) int32``) from ``offsets`` on, as ``append_spikes`` appends
    them.

    Returns ``(pops, g, buffers, ends, counts)``: the state after the last step as
    ``lif_network_update`` returns it, and per recorded population its buffer, its end
    offset (as ``append_spikes``'s; it may exceed ``C``) and its spike count of every step
    (``(steps,) int32``). Returns ``None`` where the kernel does not apply (not built, a
    process with accelerators, a batched state, spikes from elsewhere, unsupported dtypes
    or shapes): the caller then steps one at a time, with the same results bit for bit
    (the op's reference, a scan of those steps, is what the kernel is tested against).
    Not differentiable, not batched."""
    check_count("steps", steps, np.iinfo(np.int32).max)
    if len(record) != len(buffers) or len(record) != len(offsets):
        raise ValueError(
            f"lif_network_run: record, buffers and offsets must have one length, got "
            f"{len(record)}, {len(buffers)}, {len(offsets)}"
        )
    buffers = tuple(jnp.asarray(b) for b in buffers)
    for b in buffers:
        if b.ndim != 1 or b.dtype != jnp.int32:
            raise ValueError(f"lif_network_run: buffers must be 1-D int32, got {b.dtype}{b.shape}")
    offsets = tuple(jnp.asarray(o, jnp.int32) for o in offsets)
    if not (_native.available() and _native.cpu_only()):
        return None
    args, static = _prepare(populations, projections, dt, parts)
    if not _run_applies(args, buffers, offsets, **static):
        return None
    return _run(args, buffers, offsets, steps=int(steps), record=tuple(record), **static)
