r"""One step of a whole network of LIF populations and their stored sparse projections.

``lif_network_update`` is ``matvec_many`` (the events of every projection) followed by
``lif_update`` of every population, as one call: on CPU one C++ kernel behind ``jax.ffi``
(``BrainsimLifNetwork`` in ``_native/lif_network.cc``) that propagates each projection's
arriving spikes into a scratch array and then updates every population in one pass over
its state, in the floating-point operation order of the two separate ops. A small
network's step is then one custom call and the loop counter, where it was a call for the
events and about a dozen XLA loops (or one call) per population, each with its fixed
cost. The composition of the two ops is the portable path (GPU/TPU), the reference, and
the one reverse-mode derivatives go through (``jax.custom_vjp``).

For every projection $q$ (presynaptic spikes $s$, weights $w$, target population $p_q$)
and every neuron $j$ of every population:

$$e_{q,j} = \sum_i s_i\, w_{ij}, \qquad
g_{q,j} \leftarrow a_q\, g_{q,j} + e_{q,j}$$

then the membrane, spike and refractory update of ``bs.ops.lif_update`` with the traces
$g_q$ of the projections onto the neuron's population.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_count
from ..conn.layouts import CSR, ELL
from ..synapses.kinetics import exp_mean
from ._kernel import Kernel, named_call
from .event import _csr_arrays
from .lif import _derived, lif_update

# No size threshold (unlike lif_update's NATIVE_MIN_SIZE): measured with
# benchmarks/fused_update.py, the one call is faster than the separate calls and than the
# modules' XLA loops for COBA and CUBA at every N from 4 000 to 256 000.


def _pure(args, static, native_lif=False):
    """The composition: ``matvec_many`` then ``lif_update`` of every population (its
    portable path unless ``native_lif``: ``None`` lets ``lif_update`` choose)."""
    from . import matvec_many  # the package's dispatcher (imports this module)

    pops, projs, extra = args
    n_pop = len(pops)
    src = lambda q: (
        pops[static["source"][q]]["spike"]
        if static["source"][q] < n_pop
        else (extra[static["source"][q] - n_pop])
    )
    events = matvec_many(
        [p["layout"] for p in projs],
        [p["weight"] for p in projs],
        [src(q) for q in range(len(projs))],
        list(static["capacity"]),
    )
    out_pops, out_g = [], [None] * len(projs)
    for i, pop in enumerate(pops):
        ks = [q for q, post in enumerate(static["post"]) if post == i]
        v, s, r, g = lif_update(
            pop["v"],
            pop["refractory"],
            pop["spike"],
            [projs[q]["g"] for q in ks],
            [events[q] for q in ks],
            tau_syn=[projs[q]["tau"] for q in ks],
            e_rev=[projs[q]["e_rev"] if static["conductance"][q] else None for q in ks],
            tau_m=pop["tau_m"],
            c_m=pop["c_m"],
            v_rest=pop["v_rest"],
            v_th=pop["v_th"],
            v_reset=pop["v_reset"],
            i_ext=pop["i_ext"],
            t_ref=pop["t_ref"],
            current=pop["current"],
            dt=static["dt"],
            exp_euler=static["exp_euler"][i],
            spike_fn=pop["spike_fn"],
            native=native_lif,
        )
        out_pops.append((v, s, r))
        for q, gq in zip(ks, g, strict=True):
            out_g[q] = gq
    return tuple(out_pops), tuple(out_g)


# The kernel's operand and result groups, in its order (``lif_network.h``'s ``Network``
# members): per population its state ``v``, ``refractory`` (int32), ``spike`` and input
# ``current``, its parameters packed as ``params`` (``(7, P)``: ``lif._PARAMS``) and
# ``n_ref`` (int32 ``(P,)``), ``P`` = 1 or n; per extra spike source ``extra``; per
# projection its CSR ``indptr`` and ``indices`` (int32), ``weight`` (``(1,)`` or
# ``(nnz,)``), trace ``g`` and ``coef`` (``(3, P)``: decay, reversal potential, step
# mean). Results: per population ``v``, ``spike``, ``refractory``; per projection ``g``,
# each written in place of the operand of its name.
OPERANDS = ("v", "refractory", "spike", "current", "params", "n_ref", "extra")
OPERANDS += ("indptr", "indices", "weight", "g", "coef")
RESULTS = ("v", "spike", "refractory", "g")


def _call_operands(args, static):
    """The operands of a ``BrainsimLifNetwork`` call (dict of groups, ``OPERANDS``), its
    results (``RESULTS``), their aliases (``named_call``'s) and its attributes."""
    pops, projs, extra = args
    dt = static["dt"]
    dtype = pops[0]["v"].dtype
    ops = {k: [] for k in OPERANDS}
    modes, coef = [], {}
    for i, pop in enumerate(pops):
        v = pop["v"]
        n = v.shape[-1]
        ks = [q for q, post in enumerate(static["post"]) if post == i]
        mode, params, n_ref, a, e_rev, _ = _derived(
            [projs[q]["tau"] for q in ks],
            [projs[q]["e_rev"] if static["conductance"][q] else None for q in ks],
            pop["tau_m"],
            pop["c_m"],
            pop["v_rest"],
            pop["v_th"],
            pop["v_reset"],
            pop["i_ext"],
            pop["t_ref"],
            dt,
            static["exp_euler"][i],
        )
        per = any(jnp.ndim(p) for p in [*params, n_ref, *a, *e_rev])
        fit = lambda p, t, per=per, n=n: jnp.broadcast_to(jnp.asarray(p, t), (n,) if per else (1,))
        current = jnp.asarray(pop["current"], dtype)
        if current.size == 1:
            current = current.reshape(1)
        elif current.shape != v.shape:
            current = (
                current.reshape(n) if current.size == n else jnp.broadcast_to(current, v.shape)
            )
        ops["v"].append(v)
        ops["refractory"].append(pop["refractory"])
        ops["spike"].append(pop["spike"])
        ops["current"].append(current)
        ops["params"].append(jnp.stack([fit(p, dtype) for p in params]))
        ops["n_ref"].append(fit(n_ref, jnp.int32))
        modes.append(1 if mode in (0, 1) else 2)
        for q, aq, eq in zip(ks, a, e_rev, strict=True):
            coef[q] = jnp.stack([fit(aq, dtype), fit(eq, dtype), fit(projs[q]["mean"], dtype)])
    ops["extra"] = [jnp.asarray(x, dtype) for x in extra]
    homogeneous = []
    for q, proj in enumerate(projs):
        indptr, indices = _csr_arrays(proj["layout"])
        w = jnp.asarray(proj["weight"], dtype)
        homogeneous.append(int(w.ndim == 0))
        ops["indptr"].append(indptr.astype(jnp.int32))
        ops["indices"].append(indices.astype(jnp.int32))
        ops["weight"].append(w.ravel() if w.ndim else w.reshape(1))
        ops["g"].append(proj["g"])
        ops["coef"].append(coef[q])
    like = lambda x, t=dtype: jax.ShapeDtypeStruct(x.shape, t)
    results = {
        "v": [like(x) for x in ops["v"]],
        "spike": [like(x) for x in ops["spike"]],
        "refractory": [like(x, jnp.int32) for x in ops["refractory"]],
        "g": [like(x) for x in ops["g"]],
    }
    aliases = [((k, i), (k, i)) for k in RESULTS for i in range(len(results[k]))]
    attrs = dict(
        mode=np.asarray(modes, np.int64),
        post=np.asarray(static["post"], np.int64),
        source=np.asarray(static["source"], np.int64),
        homogeneous=np.asarray(homogeneous, np.int64),
        conductance=np.asarray(static["conductance"], np.int64),
        extras=np.int64(len(extra)),
        parts=np.int64(static["parts"]),
    )
    return ops, results, aliases, attrs


def _state_out(res) -> tuple:
    """``((v, spike, refractory) per population, g per projection)`` of a call's results."""
    return tuple(zip(res["v"], res["spike"], res["refractory"], strict=True)), tuple(res["g"])


def _native_call(args, static):
    """The whole step as one ``BrainsimLifNetwork`` call (state of one batch shape)."""
    ops, results, aliases, attrs = _call_operands(args, static)
    return _state_out(named_call("brainsim_lif_network", ops, results, aliases, **attrs))


_STATE_KEYS = ("v", "refractory", "spike", "current")


def _is_state(path) -> bool:
    """Whether a leaf of ``args`` is per-trial state (may carry a vmap batch axis in the
    kernel) rather than a parameter or the connectivity."""
    keys = [getattr(k, "key", getattr(k, "idx", None)) for k in path]
    if keys[0] == 2:  # extra spike sources
        return True
    return keys[0] == 0 and keys[2] in _STATE_KEYS or keys[0] == 1 and keys[2] == "g"


def _reference(args, **static):
    """The composition, each op native where it can be (pure JAX under
    ``configure(kernels=False)`` and off CPU)."""
    return _pure(args, static, native_lif=None)


def _no_int_grad(x, ct):
    return None if not jnp.issubdtype(jnp.result_type(x), jnp.inexact) else ct


def _bwd(args, ct, **static):
    _, vjp = jax.vjp(lambda a: _pure(a, static), args)
    (d,) = vjp(ct)
    return (jax.tree.map(_no_int_grad, args, d),)


_network = Kernel(
    "lif_network_update",
    _reference,
    when="LIF populations with CSR/ELL projections (Network.step)",
    bwd=_bwd,
)


@_network.register("cpu", applies=lambda args, **static: _applies(args, static))
def _network_native(args, **static):
    """The kernel, with a batching rule: batched state in one call, a batched parameter
    or connectivity through the pure composition."""

    @jax.custom_batching.custom_vmap
    def native(args):
        return _native_call(args, static)

    @native.def_vmap
    def _(axis_size, in_batched, args):
        (in_batched,) = in_batched  # one flag tree per positional argument
        flags = jax.tree_util.tree_flatten_with_path(in_batched)[0]
        out_batched = ((True,) * 3,) * len(args[0]), (True,) * len(args[1])
        if any(b for path, b in flags if not _is_state(path)):
            flat = [0 if b else None for _, b in flags]
            axes = jax.tree.unflatten(jax.tree.structure(args), flat)
            return jax.vmap(lambda a: _pure(a, static), in_axes=(axes,))(args), out_batched
        leaves, tree = jax.tree.flatten(args)
        new = []
        for (path, b), x in zip(flags, leaves, strict=True):
            if not _is_state(path):
                new.append(x)
                continue
            if not (path[0].idx == 0 and path[2].key == "current"):
                new.append(x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x))))
                continue
            # The input current: a scalar or per-neuron vector stays one; anything else
            # takes the population's full batched shape.
            i = path[1].idx
            v, v_batched = args[0][i]["v"], in_batched[0][i]["v"]
            full = (axis_size, *(v.shape[1:] if v_batched else v.shape))
            x = jnp.asarray(x)
            if not b and x.size in (1, full[-1]):
                new.append(x)
                continue
            if b:  # (axis, *cur) with cur broadcastable to the unbatched state
                x = x.reshape(axis_size, *(1,) * (len(full) - x.ndim), *x.shape[1:])
            new.append(jnp.broadcast_to(x, full))
        return native(jax.tree.unflatten(tree, new)), out_batched

    return native(args)


def lif_network_update(
    populations: Sequence[dict],
    projections: Sequence[dict],
    *,
    dt: float,
    native: bool | None = None,
    parts: int = 0,
):
    """One step of LIF populations and the projections between them (module docstring).

    - ``populations``: one dict per population with its state ``v`` (mV), ``refractory``
      (int32), ``spike`` (the last step's spikes) of one shape ``(..., n)``, the input
      ``current`` (pA, broadcastable), the parameters of ``bs.ops.lif_update``
      (``tau_m``, ``c_m``, ``v_rest``, ``v_th``, ``v_reset``, ``i_ext``, ``t_ref``),
      ``exp_euler`` (bool) and ``spike_fn``.
    - ``projections``: one dict per projection with its ``layout`` (``CSR`` or ``ELL``),
      ``weight`` (scalar or per synapse), the arriving ``spikes`` ``(..., n_pre)`` (the
      same array object as a population's ``spike`` is passed to the kernel once),
      ``post`` (index of the target population), its trace ``g`` ``(..., n_post)``,
      ``tau`` (ms), ``e_rev`` (mV, ``None`` for a current) and ``capacity`` (event slots of
      the portable path).
    - ``native``: ``None`` or ``True``: the kernel where it runs (elsewhere the separate
      ops, each native where it can be), ``False``: never (the portable path).
    - ``spike_fn`` must compute ``x > 0`` in the forward pass (as ``lif_update``'s).
    - ``parts``: the number of neuron ranges the kernel splits the step into (ranges run
      in parallel on XLA's threads); 0: by size and the threads free. The results do not
      depend on it (each target's events are summed in one order), which tests check.

    Returns ``(pops, g)``: ``(v, spike, refractory)`` per population, the new traces.
    """
    args, static = _prepare(populations, projections, dt, parts)
    if native is False:
        return _pure(args, static, native_lif=False)
    return _network(args, **static)


def _prepare(populations, projections, dt, parts):
    """``(args, static)``: the arguments of the kernel and of the portable path."""
    check_count("parts", parts, 65535)
    pops = [dict(p) for p in populations]
    n_pop = len(pops)
    source, extra, conductance = [], [], []
    for proj in projections:
        s = proj["spikes"]
        k = next((i for i, p in enumerate(pops) if p["spike"] is s), None)
        if k is None:
            k = next((n_pop + i for i, x in enumerate(extra) if x is s), None)
        if k is None:
            k = n_pop + len(extra)
            extra.append(s)
        source.append(k)
        conductance.append(int(proj["e_rev"] is not None))
    keys = ("v", "refractory", "spike", "current", "tau_m", "c_m", "v_rest", "v_th")
    keys += ("v_reset", "i_ext", "t_ref", "spike_fn")
    pop_args = tuple({k: p[k] for k in keys} for p in pops)
    proj_args = tuple(
        {
            "layout": p["layout"],
            "weight": jnp.asarray(p["weight"]),
            "g": p["g"],
            "tau": p["tau"],
            "mean": exp_mean(dt, p["tau"]),  # from known values: as lif_update's
            "e_rev": 0.0 if p["e_rev"] is None else p["e_rev"],
        }
        for p in projections
    )
    static = dict(
        dt=float(dt),
        post=tuple(int(p["post"]) for p in projections),
        source=tuple(source),
        conductance=tuple(conductance),
        capacity=tuple(p["capacity"] for p in projections),
        exp_euler=tuple(bool(p["exp_euler"]) for p in pops),
        parts=int(parts),
    )
    return (pop_args, proj_args, tuple(extra)), static


def _applies(args, static) -> bool:
    """Whether the kernel runs on these arguments: supported dtypes and shapes, CSR/ELL
    layouts, parameters scalars or per neuron that do not promote the state."""
    pops, projs, extra = args
    dtype = pops[0]["v"].dtype
    keys = ("tau_m", "c_m", "v_rest", "v_th", "v_reset", "i_ext", "t_ref")
    params = [(p["v"].shape[-1], p[k]) for p in pops for k in keys]
    params += [
        (pops[post]["v"].shape[-1], x)
        for p, post in zip(projs, static["post"], strict=True)
        for x in (p["tau"], p["e_rev"])
    ]
    shape = lambda x: jnp.shape(x)[:-1]
    batch = shape(pops[0]["v"])
    ok = (
        dtype in (jnp.float32, jnp.float64)
        and len(projs) > 0
        and all(type(p["layout"]) in (CSR, ELL) for p in projs)
        and all(
            p["v"].dtype == dtype
            and p["spike"].dtype == dtype
            and p["refractory"].dtype == jnp.int32
            and shape(p["v"]) == batch
            and p["spike"].shape == p["refractory"].shape == p["v"].shape
            for p in pops
        )
        and all(jnp.result_type(x) == dtype and shape(x) == batch for x in extra)
        and all(
            p["g"].dtype == dtype and p["g"].shape == pops[post]["v"].shape
            for p, post in zip(projs, static["post"], strict=True)
        )
        and all(  # parameters: scalars or per-neuron, without promoting the state
            (jnp.ndim(x) == 0 or jnp.shape(x) == (n,)) and jnp.result_type(dtype, x) == dtype
            for n, x in params
        )
        and all(
            jnp.broadcast_shapes(jnp.shape(p["current"]), p["v"].shape) == p["v"].shape
            and jnp.result_type(dtype, p["current"]) == dtype
            for p in pops
        )
    )
    return bool(ok)
