"""Many steps of ``lif_network_update`` in one native call (``BrainsimLifNetworkRun``,
``_native/lif_network_run.cc``), recording spikes as ``append_spikes`` does: a network
simulation's whole loop where the kernel applies (``bs.Network.simulate`` falls back to
stepping one call at a time, with the same results bit for bit, elsewhere)."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_count
from . import _native
from .lif_network import _applies, _call_operands, _prepare, _split_results


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
    or shapes): the caller then steps one at a time, with the same results bit for bit.
    Not differentiable, not batched."""
    check_count("steps", steps, np.iinfo(np.int32).max)
    if len(record) != len(buffers) or len(record) != len(offsets):
        raise ValueError(
            f"lif_network_run: record, buffers and offsets must have one length, got "
            f"{len(record)}, {len(buffers)}, {len(offsets)}"
        )
    if not (_native.available() and _native.cpu_only()):
        return None
    args, static = _prepare(populations, projections, dt, parts)
    pops, projs, extra = args
    if not _applies(args, static) or extra or any(jnp.ndim(p["v"]) != 1 for p in pops):
        return None
    operands, out, aliases, attrs = _call_operands(args, static)
    n_out, n_op, n_rec = len(out), len(operands), len(record)
    buffers = [jnp.asarray(b) for b in buffers]
    for b in buffers:
        if b.ndim != 1 or b.dtype != jnp.int32:
            raise ValueError(f"lif_network_run: buffers must be 1-D int32, got {b.dtype}{b.shape}")
    operands += buffers + [jnp.asarray(o, jnp.int32) for o in offsets]
    out += [jax.ShapeDtypeStruct(b.shape, jnp.int32) for b in buffers]
    out += [jax.ShapeDtypeStruct((), jnp.int32)] * n_rec
    out += [jax.ShapeDtypeStruct((steps,), jnp.int32)] * n_rec
    aliases.update({n_op + r: n_out + r for r in range(n_rec)})
    call = jax.ffi.ffi_call("brainsim_lif_network_run", out, input_output_aliases=aliases)
    res = call(*operands, **attrs, steps=np.int64(steps), record=np.asarray(record, np.int64))
    pops_out, g, rest = _split_results(res, len(pops), len(projs))
    rest = list(rest)
    return (
        pops_out,
        g,
        tuple(rest[:n_rec]),
        tuple(rest[n_rec : 2 * n_rec]),
        tuple(rest[2 * n_rec :]),
    )
