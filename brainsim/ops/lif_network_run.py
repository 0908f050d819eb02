r"""Many steps of ``lif_network_update`` in one native call (``BrainsimLifNetworkRun``,
``_native/lif_network_run.cc``), recording spikes as ``append_spikes`` does: a network
simulation's whole loop where the kernel applies (``bs.Network.simulate`` falls back to
stepping one call at a time, with the same results bit for bit, elsewhere). Its
reference, for static projections, is a ``lax.scan`` of the one-step op
(``lif_network_update``'s) and ``append_spikes``; plastic runs are checked against
``bs.Plastic`` (``tests/test_plastic_run.py``).

Projections may learn by pair STDP in the loop (``PairRun``,
``_native/lif_network_plastic.cc``): before each step's events, with traces
$x_\pm$ (presynaptic) and $y_\pm$ (postsynaptic),

1. every trace decays, $x_\pm \leftarrow f_\pm x_\pm$, $f_\pm = e^{-dt/\tau_\pm}$;
2. the postsynaptic spikes seen at the synapses (those of the step before the last: the
   one-step delay, wholly dendritic) change each incoming weight by $B(w, A_+ x_+)$
   ($B(w, A_+ x_+ - A_- x_-)$ with the symmetric window);
3. the presynaptic spikes of the last step change each outgoing weight by
   $B(w, -A_- y_-)$ ($B(w, A_+ y_+ - A_- y_-)$ with the symmetric window);
4. the traces jump by the spikes: $x \leftarrow x + s$ (all-to-all pairing) or
   $x \leftarrow x + s(1 - x)$ (nearest-neighbour);

$B$ is ``bounded_change`` (``mu`` 0 or 1 on each side). This is
``bs.plasticity.PairSTDP`` (either window, ``AllToAll`` or ``Nearest``) stepped by
``bs.Plastic`` on a projection of one-step delay, the reference, with its floating-point
operations: the same weights, traces and spikes bit for bit.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_count
from . import _native
from ._kernel import Kernel
from .compact import append_spikes
from .lif_network import (
    POP_OPERANDS,
    PROJ_OPERANDS,
    _applies,
    _call_operands,
    _network,
    _prepare,
    _split_results,
)


class PairRun(NamedTuple):
    """Pair STDP on a projection's stored weights as ``lif_network_run`` steps it (module
    docstring); ``bs.plasticity.PairSTDP.run_form`` and ``bs.Plastic.run_form`` make it.

    - ``w``: ``(n_synapses,)`` weights, flat layout order;
    - ``traces``: ``(x_plus, x_minus)`` ``(n_pre,)`` and ``(y_plus, y_minus)``
      ``(n_post,)``, as ``PairSTDPState`` orders them;
    - ``seen``: ``(n_post,)`` postsynaptic spikes of the step before the state's, seen at
      the synapses in the next step;
    - ``cols``: the layout's ``Columns`` (``bs.ops.index``);
    - ``decay``: ``(f_plus, f_minus)`` per step; ``a_plus``, ``a_minus`` >= 0 and
      ``w_min``, ``w_max`` (weight units);
    - ``soft``: ``(soft_plus, soft_minus)``: multiplicative (``mu = 1``) on that side,
      else additive;
    - ``symmetric``: the symmetric window (``PairSTDP(symmetric=True)``: a post spike
      also depresses by $A_- x_-$, a pre spike also potentiates by $A_+ y_+$);
    - ``nearest``: nearest-neighbour pairing (``bs.plasticity.Nearest``: a spike resets
      its traces to 1), else all-to-all.
    """

    w: Any
    traces: tuple
    seen: Any
    cols: Any
    decay: tuple
    a_plus: Any
    a_minus: Any
    w_min: Any
    w_max: Any
    soft: tuple
    symmetric: bool = False
    nearest: bool = False


def _pair_operands(run: PairRun, dtype):
    """The operands of a plastic projection (``PairOperand`` in the kernel)."""
    cast = lambda x: jnp.asarray(x, dtype)
    rule = jnp.stack(
        [cast(x) for x in (*run.decay, run.a_plus, run.a_minus, run.w_min, run.w_max)]
    )
    cols = run.cols
    return [*map(cast, run.traces), cast(run.seen), cols.indptr, cols.pre, cols.offset, rule]


def _reference(args, buffers, offsets, plastic, *, steps, record, **static):
    """``steps`` steps of the one-step op, each on the state the last step left (every
    projection's spikes are its source population's last ``spike``), the spikes of the
    populations ``record`` appended after each step. Static projections only."""
    if any(r is not None for r in plastic):
        raise NotImplementedError(
            "lif_network_run's reference steps static projections only (plastic: bs.Plastic)"
        )
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
    return state, g, bufs, ends, counts, tuple(plastic)


_run = Kernel(
    "lif_network_run",
    _reference,
    when=(
        "as lif_network_update, unbatched, spikes from the populations only, in processes "
        "without accelerators (Network.simulate steps one call at a time elsewhere)"
    ),
)


def _run_applies(args, buffers, offsets, plastic, **static) -> bool:
    pops, projs, extra = args
    return (
        _applies(args, static)
        and not extra
        and all(jnp.ndim(p["v"]) == 1 for p in pops)
        and all(
            r is None or jnp.shape(r.w) == (q["layout"].n_synapses,)
            for q, r in zip(projs, plastic, strict=True)
        )
    )


def _code(run: PairRun) -> int:
    """The kernel's ``plastic`` attribute of one plastic projection."""
    flags = (True, *run.soft, run.symmetric, run.nearest)
    return sum(1 << k for k, on in enumerate(flags) if on)


@_run.register("cpu", applies=_run_applies)
def _run_native(args, buffers, offsets, plastic, *, steps, record, **static):
    """One ``BrainsimLifNetworkRun`` call: the network's operands and results, the
    plastic projections' weights, traces and seen spikes, then per recorded population
    its buffer, end offset and per-step counts."""
    pops, projs, _ = args
    dtype = pops[0]["v"].dtype
    learn = [q for q, r in enumerate(plastic) if r is not None]
    operands, out, aliases, attrs = _call_operands(args, static)
    n_rec = len(record)
    for q in learn:
        pair = _pair_operands(plastic[q], dtype)
        weight = len(pops) * len(POP_OPERANDS) + q * len(PROJ_OPERANDS) + 2
        aliases[weight] = len(out)
        out.append(jax.ShapeDtypeStruct(operands[weight].shape, dtype))
        for j in range(5):  # the traces and the seen spikes
            aliases[len(operands) + j] = len(out)
            out.append(jax.ShapeDtypeStruct(pair[j].shape, dtype))
        operands += pair
    n_out, n_op = len(out), len(operands)
    operands += [*buffers, *offsets]
    out += [jax.ShapeDtypeStruct(b.shape, jnp.int32) for b in buffers]
    out += [jax.ShapeDtypeStruct((), jnp.int32)] * n_rec
    out += [jax.ShapeDtypeStruct((steps,), jnp.int32)] * n_rec
    aliases.update({n_op + r: n_out + r for r in range(n_rec)})
    codes = [0 if r is None else _code(r) for r in plastic]
    call = jax.ffi.ffi_call("brainsim_lif_network_run", out, input_output_aliases=aliases)
    res = call(
        *operands,
        **attrs,
        steps=np.int64(steps),
        record=np.asarray(record, np.int64),
        plastic=np.asarray(codes, np.int64),
    )
    pops_out, g, rest = _split_results(res, len(pops), len(projs))
    rest = list(rest)
    learned = [None] * len(projs)
    for k, q in enumerate(learn):
        w, *traces, seen = rest[6 * k : 6 * (k + 1)]
        r = plastic[q]
        learned[q] = r._replace(
            w=w.astype(jnp.result_type(r.w)),
            traces=tuple(
                t.astype(jnp.result_type(x)) for t, x in zip(traces, r.traces, strict=True)
            ),
            seen=seen.astype(jnp.result_type(r.seen)),
        )
    rest = rest[6 * len(learn) :]
    return (
        pops_out,
        g,
        tuple(rest[:n_rec]),
        tuple(rest[n_rec : 2 * n_rec]),
        tuple(rest[2 * n_rec :]),
        tuple(learned),
    )


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
    plastic: Sequence[PairRun | None] = (),
):
    """``steps`` steps of ``lif_network_update`` as one native call, each step's state the
    next step's: every projection's arriving ``spikes`` must be its source population's
    ``spike`` (a one-step delay) and the input currents are the same in every step. After
    each step the spikes of the populations ``record`` (indices) are appended to their
    event ``buffers`` (``(C,) int32``) from ``offsets`` on, as ``append_spikes`` appends
    them. ``plastic``: empty or one ``PairRun`` (or ``None``: static) per projection;
    a plastic projection propagates with the run's weights, not its ``weight``.

    Returns ``(pops, g, buffers, ends, counts, plastic)``: the state after the last step
    as ``lif_network_update`` returns it, per recorded population its buffer, its end
    offset (as ``append_spikes``'s; it may exceed ``C``) and its spike count of every step
    (``(steps,) int32``), and per projection its advanced ``PairRun`` (or ``None``).
    Returns ``None`` where the kernel does not apply (not built, a process with
    accelerators, a batched state, spikes from elsewhere, unsupported dtypes or shapes):
    the caller then steps one at a time, with the same results bit for bit (the op's
    reference, a scan of those steps, is what the kernel is tested against). Not
    differentiable, not batched."""
    check_count("steps", steps, np.iinfo(np.int32).max)
    if len(record) != len(buffers) or len(record) != len(offsets):
        raise ValueError(
            f"lif_network_run: record, buffers and offsets must have one length, got "
            f"{len(record)}, {len(buffers)}, {len(offsets)}"
        )
    plastic = list(plastic) or [None] * len(projections)
    if len(plastic) != len(projections):
        raise ValueError(
            f"lif_network_run: plastic must be empty or have one entry per projection "
            f"({len(projections)}), got {len(plastic)}"
        )
    buffers = tuple(jnp.asarray(b) for b in buffers)
    for b in buffers:
        if b.ndim != 1 or b.dtype != jnp.int32:
            raise ValueError(f"lif_network_run: buffers must be 1-D int32, got {b.dtype}{b.shape}")
    offsets = tuple(jnp.asarray(o, jnp.int32) for o in offsets)
    if not (_native.available() and _native.cpu_only()):
        return None
    projections = [
        p if r is None else dict(p, weight=r.w) for p, r in zip(projections, plastic, strict=True)
    ]
    args, static = _prepare(populations, projections, dt, parts)
    plastic = tuple(plastic)
    if not _run_applies(args, buffers, offsets, plastic, **static):
        return None
    return _run(args, buffers, offsets, plastic, steps=int(steps), record=tuple(record), **static)
