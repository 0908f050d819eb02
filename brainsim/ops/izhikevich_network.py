r"""Many steps of a network of Izhikevich populations and their stored sparse
projections with voltage-jump synapses in one native call, recording spikes: a network
simulation's whole loop where the kernel applies (``bs.Network.step_block`` through
``Izhikevich.fuse``'s ``run_network``; elsewhere ``simulate`` steps one call at a time,
with the same results bit for bit).

Each step is ``matvec_many`` (the events $e_q$ of every projection $q$ from its source
population's last spikes) and then ``izhikevich_update`` of every population $p$ with
the jumps of its projections summed in their order, $((0 + e_{q_0}) + e_{q_1}) + \dots$
(``Delta`` kinetics, ``VoltageJump`` outputs), the spikes of the populations ``record``
appended after each step as ``append_spikes`` appends them. That composition, a
``lax.scan`` of those ops, is the reference and the portable path (GPU/TPU); on CPU it
is one C++ kernel behind ``jax.ffi`` (``BrainsimIzhikevichNetworkRun``,
``_native/izhikevich_network.cc``: the generic network loop of ``network_loop.h``, which
the LIF network kernels share, with the Izhikevich step as its update), which sums
every event in the order of the separate event op and rounds the step as
``izhikevich_update``'s kernel does: the same spikes and states bit for bit.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_count
from ..conn.layouts import CSR, ELL
from ..neurons._base import Drive
from ..synapses.kinetics import SynapseState
from . import _native
from ._kernel import Kernel, named_call
from .compact import append_spikes
from .event import _csr_arrays
from .izhikevich import izhikevich_update, packed


def _step(pops, projs, states, g, *, dt, pre, post, capacity):
    """One step of the composition: ``(states, g)``."""
    from . import matvec_many  # the package's dispatcher (imports this module)

    events = matvec_many(
        [q["layout"] for q in projs],
        [q["weight"] for q in projs],
        [states[i].spike for i in pre],
        list(capacity),
    )
    new_states, new_g = [], [None] * len(projs)
    for p, pop in enumerate(pops):
        ks = [q for q, target in enumerate(post) if target == p]
        state, syn, _ = izhikevich_update(
            pop["neuron"],
            pop["synapses"],
            states[p],
            [SynapseState(g=g[q]) for q in ks],
            [events[q] for q in ks],
            Drive(current=pop["current"]),
            t=0.0,  # the model's step does not depend on t
            dt=dt,
        )
        new_states.append(state)
        for q, s in zip(ks, syn, strict=True):
            new_g[q] = s.g
    return tuple(new_states), tuple(new_g)


def _reference(net, buffers, offsets, *, steps, record, dt, pre, post, capacity, parts):
    """``steps`` steps of the composition, each on the state the last step left, the
    spikes of the populations ``record`` appended after each step."""
    pops, projs = net

    def body(carry, _):
        states, g, bufs, ends = carry
        states, g = _step(pops, projs, states, g, dt=dt, pre=pre, post=post, capacity=capacity)
        appended = [
            append_spikes(states[p].spike, buf, end)
            for p, buf, end in zip(record, bufs, ends, strict=True)
        ]
        new_ends = tuple(e for _, e in appended)
        counts = tuple(e - end for e, end in zip(new_ends, ends, strict=True))
        return (states, g, tuple(b for b, _ in appended), new_ends), counts

    init = (
        tuple(p["state"] for p in pops),
        tuple(q["g"] for q in projs),
        tuple(buffers),
        tuple(offsets),
    )
    (states, g, bufs, ends), counts = jax.lax.scan(body, init, None, length=steps)
    return states, g, bufs, ends, counts


_run = Kernel(
    "izhikevich_network_run",
    _reference,
    when=(
        "Izhikevich populations (Izhikevich.fuse) with CSR/ELL projections, unbatched, "
        "in processes without accelerators (Network.simulate steps one call at a time "
        "elsewhere)"
    ),
)


def _applies(net, buffers, offsets, **static) -> bool:
    """Supported dtypes and shapes: unbatched states of one float dtype, CSR/ELL layouts,
    parameters, currents and weights scalars or per neuron that do not promote it."""
    pops, projs = net
    dtype = pops[0]["state"].v.dtype
    keeps = lambda x: jnp.result_type(dtype, x) == dtype
    per_neuron = lambda x, n: jnp.ndim(x) == 0 or jnp.shape(x) == (n,)
    ok = dtype in (jnp.float32, jnp.float64) and all(
        type(q["layout"]) in (CSR, ELL) and keeps(q["weight"]) and q["g"].dtype == dtype
        for q in projs
    )
    for p in pops:
        s, n = p["state"], p["neuron"].size
        params = [getattr(p["neuron"], k) for k in ("a", "b", "c", "d", "v_peak", "c_m")]
        params += [p["neuron"].i_ext, p["current"]]
        ok = ok and (
            s.v.shape == s.u.shape == s.spike.shape == s.refractory.shape == (n,)
            and s.v.dtype == s.u.dtype == s.spike.dtype == dtype
            and s.refractory.dtype == jnp.int32
            and all(per_neuron(x, n) and keeps(x) for x in params)
            and per_neuron(p["neuron"].t_ref, n)
        )
    return bool(ok)


@_run.register("cpu", applies=_applies)
def _run_native(net, buffers, offsets, *, steps, record, dt, pre, post, capacity, parts):
    """One ``BrainsimIzhikevichNetworkRun`` call (its operand and result groups in the
    kernel's order)."""
    pops, projs = net
    dtype = pops[0]["state"].v.dtype
    ops = {k: [] for k in ("v", "u", "spike", "refractory", "current", "params", "n_ref")}
    for p in pops:
        s, n = p["state"], p["neuron"].size
        params, n_ref = packed(p["neuron"], n, dtype, dt)
        current = jnp.asarray(p["current"], dtype)
        for k, x in zip(
            ops, (s.v, s.u, s.spike, s.refractory, current.reshape(-1), params, n_ref), strict=True
        ):
            ops[k].append(x)
    ops["indptr"], ops["indices"], ops["weight"] = [], [], []
    for q in projs:
        indptr, indices = _csr_arrays(q["layout"])
        w = jnp.asarray(q["weight"], dtype)
        ops["indptr"].append(indptr.astype(jnp.int32))
        ops["indices"].append(indices.astype(jnp.int32))
        ops["weight"].append(w.reshape(-1))
    ops["buffer"], ops["offset"] = list(buffers), list(offsets)
    like = lambda x, t=None: jax.ShapeDtypeStruct(jnp.shape(x), t or x.dtype)
    results = {k: [like(x) for x in ops[k]] for k in ("v", "u", "spike", "refractory")}
    results["g"] = [like(q["g"]) for q in projs]
    results["buffer"] = [like(b) for b in buffers]
    results["end"] = [jax.ShapeDtypeStruct((), jnp.int32)] * len(record)
    results["counts"] = [jax.ShapeDtypeStruct((steps,), jnp.int32)] * len(record)
    aliases = [
        ((k, i), (k, i)) for k in ("v", "u", "spike", "refractory") for i in range(len(pops))
    ]
    aliases += [(("buffer", r), ("buffer", r)) for r in range(len(record))]
    zeros = lambda m: np.zeros(m, np.int64)
    res = named_call(
        "brainsim_izhikevich_network_run",
        ops,
        results,
        aliases,
        mode=zeros(len(pops)),
        post=np.asarray(post, np.int64),
        source=np.asarray(pre, np.int64),
        homogeneous=np.asarray([int(jnp.ndim(q["weight"]) == 0) for q in projs], np.int64),
        conductance=zeros(len(projs)),
        extras=np.int64(0),
        parts=np.int64(parts),
        steps=np.int64(steps),
        record=np.asarray(record, np.int64),
        dt=np.float64(dt),
    )
    states = tuple(
        type(p["state"])(v=v, u=u, spike=s, refractory=r)
        for p, v, u, s, r in zip(
            pops, res["v"], res["u"], res["spike"], res["refractory"], strict=True
        )
    )
    return states, tuple(res["g"]), tuple(res["buffer"]), tuple(res["end"]), tuple(res["counts"])


def izhikevich_network_run(
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
    """``steps`` steps of Izhikevich populations and the projections between them
    (module docstring), each step's state the next step's.

    - ``populations``: one dict per population with its ``neuron``
      (``bs.neurons.Izhikevich``: forward Euler, a ``Heaviside`` spike), the
      ``(kinetics, output)`` pairs of its incoming projections in order as
      ``synapses`` (``Delta``, ``VoltageJump``), its ``state``
      (``IzhikevichState``, arrays ``(n,)``) and input ``current`` (pA, scalar or
      ``(n,)``; the same in every step).
    - ``projections``: one dict per projection with its ``layout`` (``CSR`` or ``ELL``),
      ``weight`` (mV, scalar or per synapse), ``pre`` and ``post`` (population indices:
      it carries ``pre``'s last spikes, a one-step delay), the state ``g`` of its
      ``Delta`` kinetics ``(n_post,)`` and ``capacity`` (event slots of the portable
      path, ``None``: the default).
    - ``record``: population indices whose spikes are appended after each step to their
      event ``buffers`` (``(C,) int32``) from ``offsets`` on, as ``append_spikes``
      appends them.
    - ``parts``: the number of neuron ranges the kernel splits a step into (0: by size
      and the threads free); the results do not depend on it.

    Returns ``(states, g, buffers, ends, counts)``: the populations' states and the
    projections' ``g`` (their last step's events) after the last step, per recorded
    population its buffer, end offset (it may exceed ``C``) and spike count of every
    step (``(steps,) int32``). Returns ``None`` where the kernel does not apply (not
    built, a process with accelerators, unsupported dtypes or shapes): the caller then
    steps one at a time, with the same results. Not differentiable, not batched."""
    top = np.iinfo(np.int32).max
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or not 1 <= steps <= top:
        raise ValueError(
            f"izhikevich_network_run: steps must be an integer in [1, {top}], got {steps!r}"
        )
    check_count("parts", parts, 65535)
    if len(record) != len(buffers) or len(record) != len(offsets):
        raise ValueError(
            f"izhikevich_network_run: record, buffers and offsets must have one length, got "
            f"{len(record)}, {len(buffers)}, {len(offsets)}"
        )
    n_pop = len(populations)
    for r in record:
        if isinstance(r, bool) or not isinstance(r, int | np.integer) or not 0 <= r < n_pop:
            raise ValueError(
                f"izhikevich_network_run: record must hold population indices in "
                f"[0, {n_pop}), got {r!r}"
            )
    for q in projections:
        for side in ("pre", "post"):
            if not 0 <= q[side] < n_pop:
                raise ValueError(
                    f"izhikevich_network_run: projection {side} must be in [0, {n_pop}), "
                    f"got {q[side]}"
                )
    buffers = tuple(jnp.asarray(b) for b in buffers)
    for b in buffers:
        if b.ndim != 1 or b.dtype != jnp.int32:
            raise ValueError(
                f"izhikevich_network_run: buffers must be 1-D int32, got {b.dtype}{b.shape}"
            )
    offsets = tuple(jnp.asarray(o, jnp.int32) for o in offsets)
    if not (_native.available() and _native.cpu_only()) or not projections:
        return None
    net, static = _prepare(populations, projections, dt, steps, record, parts)
    if not _applies(net, buffers, offsets, **static):
        return None
    return _run(net, buffers, offsets, **static)


def _prepare(populations, projections, dt, steps, record, parts):
    """``(net, static)``: the op's network argument and its static arguments."""
    pops = tuple(
        dict(
            neuron=p["neuron"],
            synapses=tuple(p["synapses"]),
            state=p["state"],
            current=jnp.asarray(p["current"]),
        )
        for p in populations
    )
    projs = tuple(
        dict(layout=q["layout"], weight=jnp.asarray(q["weight"]), g=q["g"]) for q in projections
    )
    static = dict(
        steps=int(steps),
        record=tuple(int(r) for r in record),
        dt=float(dt),
        pre=tuple(int(q["pre"]) for q in projections),
        post=tuple(int(q["post"]) for q in projections),
        capacity=tuple(q.get("capacity") for q in projections),
        parts=int(parts),
    )
    return (pops, projs), static
