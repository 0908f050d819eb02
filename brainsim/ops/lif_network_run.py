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
operations: the same weights, traces and spikes bit for bit. With ``triplet=True`` it is
``bs.plasticity.TripletSTDP`` (Pfister & Gerstner 2006): the traces are
$(r_1, r_2, o_2, o_1)$, each with its own decay, and 2. and 3. change by
$B(w, r_1 (A_2^+ + A_3^+ o_2))$ and $B(w, -o_1 (A_2^- + A_3^- r_2))$, the slow traces
$o_2$, $r_2$ before their jumps.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_count
from . import _native
from ._kernel import Kernel, named_call
from .compact import append_spikes
from .lif_network import _applies, _call_operands, _network, _prepare, _state_out


class PairRun(NamedTuple):
    """Pair STDP on a projection's stored weights as ``lif_network_run`` steps it (module
    docstring); ``bs.plasticity.PairSTDP.run_form`` and ``bs.Plastic.run_form`` make it.

    - ``w``: ``(n_synapses,)`` weights, flat layout order;
    - ``traces``: ``(x_plus, x_minus)`` ``(n_pre,)`` and ``(y_plus, y_minus)``
      ``(n_post,)``, as ``PairSTDPState`` orders them (triplet: ``(r1, r2, o2, o1)``);
    - ``seen``: ``(n_post,)`` postsynaptic spikes of the step before the state's, seen at
      the synapses in the next step;
    - ``cols``: the layout's ``Columns`` (``bs.ops.index``);
    - ``decay``: per step, each trace's factor in ``traces``' order (pair STDP:
      ``(f_plus, f_minus, f_plus, f_minus)``); ``a_plus``, ``a_minus`` >= 0 and
      ``w_min``, ``w_max`` (weight units);
    - ``soft``: ``(soft_plus, soft_minus)``: multiplicative (``mu = 1``) on that side,
      else additive;
    - ``symmetric``: the symmetric window (``PairSTDP(symmetric=True)``: a post spike
      also depresses by $A_- x_-$, a pre spike also potentiates by $A_+ y_+$);
    - ``nearest``: nearest-neighbour pairing (``bs.plasticity.Nearest``: a spike resets
      its traces to 1), else all-to-all;
    - ``triplet``: the triplet rule, ``a_plus``, ``a_minus`` its pair amplitudes
      A2± and ``a3_plus``, ``a3_minus`` >= 0 its triplet ones A3± (weight
      units; not with ``symmetric``); a presynaptic spike changes by
      ``(offset - o1) (a_minus + a3_minus r2)``, ``offset`` 0 for the triplet rule;
      ``bs.plasticity.VogelsSprekeler`` is this form with ``a3`` 0, ``a_plus = eta``,
      ``a_minus = -eta``, ``offset = alpha`` and traces ``(x, 0, 0, y)`` (decay 0 for
      the unused two).
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
    triplet: bool = False
    a3_plus: Any = 0.0
    a3_minus: Any = 0.0
    offset: Any = 0.0


# The plastic projections' operand and result groups after the network's, in the
# kernel's order (``lif_network_plastic.h``'s ``Pairs``), one per plastic projection; the
# traces and ``seen`` are written in place.
PAIR_OPERANDS = ("x_plus", "x_minus", "y_plus", "y_minus", "seen")
PAIR_OPERANDS += ("col_ptr", "col_pre", "col_offset", "rule")
PAIR_RESULTS = ("w", "x_plus", "x_minus", "y_plus", "y_minus", "seen")


def _pair_operands(run: PairRun, dtype) -> dict:
    """The operands of a plastic projection by group (``PAIR_OPERANDS``)."""
    cast = lambda x: jnp.asarray(x, dtype)
    amplitudes = (run.a_plus, run.a_minus, run.a3_plus, run.a3_minus, run.offset)
    rule = jnp.stack([cast(x) for x in (*run.decay, *amplitudes, run.w_min, run.w_max)])
    cols = run.cols
    x_plus, x_minus, y_plus, y_minus = map(cast, run.traces)
    return dict(
        x_plus=x_plus,
        x_minus=x_minus,
        y_plus=y_plus,
        y_minus=y_minus,
        seen=cast(run.seen),
        col_ptr=cols.indptr,
        col_pre=cols.pre,
        col_offset=cols.offset,
        rule=rule,
    )


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
    flags = (True, *run.soft, run.symmetric, run.nearest, run.triplet)
    return sum(1 << k for k, on in enumerate(flags) if on)


@_run.register("cpu", applies=_run_applies)
def _run_native(args, buffers, offsets, plastic, *, steps, record, **static):
    """One ``BrainsimLifNetworkRun`` call: the network's operands and results, the
    plastic projections' weights, traces and seen spikes, then per recorded population
    its buffer, end offset and per-step counts."""
    pops, projs, _ = args
    dtype = pops[0]["v"].dtype
    learn = [q for q, r in enumerate(plastic) if r is not None]
    ops, results, aliases, attrs = _call_operands(args, static)
    pairs = [_pair_operands(plastic[q], dtype) for q in learn]
    ops.update({k: [p[k] for p in pairs] for k in PAIR_OPERANDS})
    like = lambda x, t=dtype: jax.ShapeDtypeStruct(jnp.shape(x), t)
    results["w"] = [like(ops["weight"][q]) for q in learn]
    results.update({k: [like(p[k]) for p in pairs] for k in PAIR_RESULTS[1:]})
    aliases += [(("weight", q), ("w", k)) for k, q in enumerate(learn)]
    aliases += [((x, k), (x, k)) for x in PAIR_RESULTS[1:] for k in range(len(learn))]
    ops["buffer"], ops["offset"] = list(buffers), list(offsets)
    results["buffer"] = [like(b, jnp.int32) for b in buffers]
    results["end"] = [jax.ShapeDtypeStruct((), jnp.int32)] * len(record)
    results["counts"] = [jax.ShapeDtypeStruct((steps,), jnp.int32)] * len(record)
    aliases += [(("buffer", r), ("buffer", r)) for r in range(len(record))]
    codes = [0 if r is None else _code(r) for r in plastic]
    res = named_call(
        "brainsim_lif_network_run",
        ops,
        results,
        aliases,
        **attrs,
        steps=np.int64(steps),
        record=np.asarray(record, np.int64),
        plastic=np.asarray(codes, np.int64),
    )
    pops_out, g = _state_out(res)
    learned = [None] * len(projs)
    for k, q in enumerate(learn):
        r = plastic[q]
        traces = [res[x][k] for x in ("x_plus", "x_minus", "y_plus", "y_minus")]
        learned[q] = r._replace(
            w=res["w"][k].astype(jnp.result_type(r.w)),
            traces=tuple(
                t.astype(jnp.result_type(x)) for t, x in zip(traces, r.traces, strict=True)
            ),
            seen=res["seen"][k].astype(jnp.result_type(r.seen)),
        )
    return (
        pops_out,
        g,
        tuple(res["buffer"]),
        tuple(res["end"]),
        tuple(res["counts"]),
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
