r"""One fused step of a LIF population and its exponential synaptic traces.

XLA:CPU does not fuse several outputs into one loop: written as array expressions, a
LIF step with two synaptic traces becomes about a dozen loops over the population,
each re-reading six to eight arrays. ``lif_update`` does the whole step in one pass
over the state (a C++ kernel behind ``jax.ffi`` on CPU), in the floating-point operation
order of the pure-JAX version ``lif_update_pure``, which is the portable path (GPU/TPU)
and the one every derivative goes through (``jax.custom_jvp``).

For each neuron, with traces $k = 1..K$ (decay $a_k = e^{-\Delta t/\tau_k}$, arriving
weights $e_k$), each a current (pA) or a conductance (nS) with reversal $E_k$ (mV):

$$g_k \leftarrow a_k g_k + e_k, \quad
I = I_{in} + \sum_{k\,\mathrm{cur}} m_k g_k, \quad G = \sum_{k\,\mathrm{cond}} m_k g_k, \quad
R = \sum_{k\,\mathrm{cond}} m_k g_k E_k$$

with $m_k$ the trace's mean over the step relative to its start value
(``bs.synapses.exp_mean``), so one arrival of weight $w$ delivers $w \tau_k$.

$$\dot V = \frac{g_L (V_{rest} - V) + I_{ext} + I + R - G V}{C_m}, \qquad
g_L = C_m / \tau_m$$

integrated over one step by forward Euler ($V + \Delta t\,\dot V$) or exponential Euler
($V + \frac{e^{a \Delta t} - 1}{a}\dot V$, $a = -(g_L + G)/C_m$), then the refractory
clamp, the spike $s = H(V - V_{th})$ of the free neurons, the reset
$V \leftarrow V + (V_{reset} - V)s$ and the refractory countdown
(``round(t_ref/dt)`` steps after a spike). These are the semantics of
``bs.neurons.LIF`` driven by ``bs.synapses.Exponential`` kinetics through ``Current`` /
``Conductance`` outputs in ``bs.Network.step``.
"""

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..synapses.kinetics import exp_mean
from ._kernel import Kernel

# Below this many neurons (times the batch) the XLA loops work in cache and are as fast
# as the kernel, whose call costs ~0.5-1 us more than a fused XLA loop: measured on
# COBA/CUBA at N = 4000 (2 us per step slower with the kernel) and 16 000 (equal).
NATIVE_MIN_SIZE = 16_384


def _phi1(a, dt):
    """``(exp(a dt) - 1) / a``, equal to ``dt`` where ``a == 0`` (as ``ExpEuler``)."""
    safe = jnp.where(a == 0, 1.0, a)
    return jnp.where(a == 0, dt, jnp.expm1(safe * dt) / safe)


def _step_pure(flat, *, k, mode, conductance, spike_fn):
    """The step on the native kernel's operand list (``_operand_names``)."""
    v, ref, _, *rest = flat
    g, e, rest = rest[:k], rest[k : 2 * k], rest[2 * k :]
    i_in, g_l, c_m, v_rest, v_th, v_reset, i_ext, step, n_ref = rest[:9]
    a, e_rev, m = rest[9 : 9 + k], rest[9 + k : 9 + 2 * k], rest[9 + 2 * k :]
    g = [gk * ak + ek for gk, ak, ek in zip(g, a, e, strict=True)]
    # The Drive sums of Network.step: the input current, then each output in order.
    cur, G, R = i_in, 0.0, 0.0
    for j, gk in enumerate(g):
        gk = gk * m[j]  # the step's mean
        if conductance[j]:
            G, R = G + gk, R + gk * e_rev[j]
        else:
            cur = cur + gk
    dv = (g_l * (v_rest - v) + i_ext + ((cur + R) - G * v)) / c_m
    if mode == 2:  # exponential Euler with conductances: its rate varies per neuron
        step = _phi1((-g_l + -G) / c_m, step)
    v = v + step * dv
    free = ref == 0
    v = jnp.where(free, v, v_reset)
    s = spike_fn(v - v_th) * free
    v = v + (v_reset - v) * s
    ref = jnp.where(s > 0, n_ref, jnp.maximum(ref - 1, 0))
    return (v, s, ref, *g)


def _operand_names(k: int) -> list[str]:
    """The op's arguments by name (``_call`` passes them to the kernel by name): the state
    (each ``(..., n)``), the input current (``1``, ``n`` or all elements), the parameters
    (each of size 1 or ``n``) and the traces' decay, reversal and step-mean factors."""
    traces = lambda *names: [f"{x}{j}" for x in names for j in range(k)]
    return [
        "v",
        "refractory",
        "spike",
        *traces("g", "e"),
        "current",
        *_PARAMS,
        "n_ref",
        *traces("a", "e_rev", "mean"),
    ]


_PARAMS = ("g_l", "c_m", "v_rest", "v_th", "v_reset", "i_ext", "step")


def _result_names(k: int) -> list[str]:
    return ["v", "spike", "refractory", *(f"g{j}" for j in range(k))]


def _reference(*flat, k, mode, conductance, spike_fn):
    return _step_pure(flat, k=k, mode=mode, conductance=conductance, spike_fn=spike_fn)


_lif = Kernel(
    "lif_update",
    _reference,
    when="states of at least ops.lif.NATIVE_MIN_SIZE elements (native=None)",
    jvp="reference",
)


def _call(flat, *, k, mode, conductance):
    """The kernel on the op's operand list (``_operand_names``): the parameters packed
    (``_pack``), then one ``_packed_call``."""
    x = dict(zip(_operand_names(k), flat, strict=True))
    trace = lambda name: [x[f"{name}{j}"] for j in range(k)]
    state = x["v"], x["refractory"], x["spike"], x["current"]
    params, coef = _pack(x, k)
    packed = params, x["n_ref"], coef
    return _packed_call(
        *state, *packed, trace("g"), trace("e"), mode=mode, conductance=conductance
    )


def _pack(x: dict, k: int):
    """``(params, coef)``: the parameters of ``x`` (by ``_operand_names``, each of size
    ``P`` = 1 or n) packed as ``(7, P)`` (``_PARAMS``) and the traces' decay, reversal and
    step-mean factors as ``(3, k, P)``."""
    params = jnp.stack([x[p] for p in _PARAMS])
    if not k:
        return params, jnp.zeros((3, 0, x["n_ref"].size), x["v"].dtype)
    trace = lambda name: jnp.stack([x[f"{name}{j}"] for j in range(k)])
    return params, jnp.stack([trace(t) for t in ("a", "e_rev", "mean")])


def _packed_call(v, refractory, spike, current, params, n_ref, coef, g, e, *, mode, conductance):
    """One ``BrainsimLifUpdateF32``/``F64`` call (``lif_update.cc``): its typed operands
    ``v``, ``refractory``, ``spike``, ``current``, the packed ``params``, ``n_ref`` and
    ``coef`` (``_pack``), then the traces ``g`` and events ``e`` (``k`` each); its results
    ``v``, ``spike``, ``refractory`` and the traces, updated in place where XLA allows.
    ``mode`` 0/1 ``V += step dV`` (Euler, or exponential Euler with ``step`` the
    precomputed factor), 2 exponential Euler with conductances (``step`` = dt);
    ``conductance[j]``: trace ``j`` is a conductance."""
    k = len(g)
    operands = [v, refractory, spike, current, params, n_ref, coef, *g, *e]
    names = ["v", "refractory", "spike", "current", "params", "n_ref", "coef"]
    names += [f"g{j}" for j in range(k)] + [f"e{j}" for j in range(k)]
    results = _result_names(k)
    types = {"refractory": jnp.int32}
    out = [jax.ShapeDtypeStruct(v.shape, types.get(r, v.dtype)) for r in results]
    aliases = {names.index(r): j for j, r in enumerate(results)}
    target = "brainsim_lif_update_f32" if v.dtype == jnp.float32 else "brainsim_lif_update_f64"
    call = jax.ffi.ffi_call(target, out, input_output_aliases=aliases)
    mask = sum(1 << j for j in range(k) if conductance[j])
    return tuple(call(*operands, mode=np.int64(mode), conductance=np.int64(mask)))


@_lif.register("cpu")
def _lif_native(*flat, k, mode, conductance, spike_fn):
    """The kernel, batched in one call over the state (a batched parameter takes the
    reference)."""
    static = dict(k=k, mode=mode, conductance=conductance)
    i_current = _operand_names(k).index("current")

    @jax.custom_batching.custom_vmap
    def native(*f):
        return _call(f, **static)

    @native.def_vmap
    def _(axis_size, in_batched, *f):
        if any(in_batched[i_current + 1 :]):  # a parameter differs across the batch
            axes = [0 if b else None for b in in_batched]
            ref = functools.partial(_reference, spike_fn=spike_fn, **static)
            return jax.vmap(ref, in_axes=axes)(*f), (True,) * (3 + k)
        f = list(f)
        n, full = f[0].shape[-1], f[0].shape
        for j, b in enumerate(in_batched[: i_current + 1]):
            x = f[j]
            if j == i_current and not b and x.size in (1, n):
                continue  # the input current stays a scalar or per-neuron vector
            f[j] = x if b else jnp.broadcast_to(x, (axis_size, *x.shape))
            if f[j].shape != full:
                f[j] = jnp.broadcast_to(f[j], full)
        return native(*f), (True,) * (3 + k)

    return native(*flat)


def _derived(tau_syn, e_rev, tau_m, c_m, v_rest, v_th, v_reset, i_ext, t_ref, dt, exp_euler):
    """The kernel's parameters, computed as the unfused modules compute them: ``(mode,
    [g_l, c_m, v_rest, v_th, v_reset, i_ext, step], n_ref, [a_k], [E_k], [m_k])``."""
    g_l = jnp.asarray(c_m) / jnp.asarray(tau_m)
    n_ref = jnp.round(jnp.asarray(t_ref) / dt).astype(jnp.int32)
    a = [jnp.exp(-dt / jnp.asarray(tau)) for tau in tau_syn]
    m = [jnp.asarray(exp_mean(dt, tau)) for tau in tau_syn]
    conductance = [e is not None for e in e_rev]
    e_rev = [jnp.asarray(0.0 if e is None else e) for e in e_rev]
    if not exp_euler:
        mode, step = 0, dt
    elif not any(conductance):  # exponential Euler at a rate fixed per neuron
        mode, step = 1, _phi1((-g_l + -0.0) / jnp.asarray(c_m), dt)
    else:
        mode, step = 2, dt
    params = [g_l, c_m, v_rest, v_th, v_reset, i_ext, step]
    return mode, [jnp.asarray(p) for p in params], n_ref, a, e_rev, m


def lif_update(
    v,
    refractory,
    spike,
    g: Sequence,
    events: Sequence,
    *,
    tau_syn: Sequence,
    e_rev: Sequence,
    tau_m,
    c_m,
    v_rest,
    v_th,
    v_reset,
    i_ext,
    t_ref,
    current,
    dt,
    exp_euler: bool,
    spike_fn: Callable = lambda x: (x > 0).astype(x.dtype),
    native: bool | None = None,
):
    """One step of LIF neurons with ``K = len(g)`` exponential synaptic traces (see the
    module docstring for the equations).

    - ``v`` (mV), ``spike`` (the last step's spikes, only reused as a buffer),
      ``refractory`` (int32 steps left): arrays of one shape ``(..., n)``.
    - ``g``, ``events``: ``K`` arrays of that shape, the traces (nS or pA) and the
      weights arriving now; ``tau_syn``: their time constants (ms); ``e_rev``: the
      reversal potential (mV) of each conductance trace, ``None`` for a current.
    - ``tau_m`` (ms), ``c_m`` (pF), ``v_rest``, ``v_th``, ``v_reset`` (mV), ``i_ext``
      (pA), ``t_ref`` (ms): scalars or ``(n,)``; ``current``: the external input (pA),
      broadcastable to ``v``; ``dt`` (ms).
    - ``exp_euler``: exponential Euler for the membrane, else forward Euler.
    - ``spike_fn``: ``H(x)`` on the pure path (a ``bs.spikes.Heaviside``, whose
      surrogate gives the derivative); the native kernel computes ``x > 0``, so its
      forward value must be that.

    - ``native``: ``None`` takes the native kernel on CPU for states of at least
      ``NATIVE_MIN_SIZE`` elements, ``True`` wherever it can run, ``False`` never (as
      ``lif_update_pure``).

    Returns ``(v, spike, refractory, g)`` with ``g`` a tuple of the new traces.
    """
    k = len(g)
    if not (len(events) == len(tau_syn) == len(e_rev) == k):
        raise ValueError("g, events, tau_syn and e_rev must have one length each")
    conductance = tuple(e is not None for e in e_rev)
    v = jnp.asarray(v)
    shape, n = v.shape, v.shape[-1]
    mode, params, n_ref, a, e_rev, m = _derived(
        tau_syn, e_rev, tau_m, c_m, v_rest, v_th, v_reset, i_ext, t_ref, dt, exp_euler
    )
    static = dict(k=k, mode=mode, conductance=conductance)
    dtype = v.dtype
    current = jnp.asarray(current)
    state = [v, jnp.asarray(refractory), jnp.asarray(spike), *g, *events]
    state = [jnp.asarray(x) for x in state]
    floats = [*params, *a, *e_rev, *m, current, *state[2:]]
    if native is None:
        native = v.size >= NATIVE_MIN_SIZE
    native_ok = (
        native
        and dtype in (jnp.float32, jnp.float64)
        and state[1].dtype == jnp.int32
        and all(x.shape == shape for x in state)
        and jnp.result_type(v, *floats) == dtype
        and all(p.ndim == 0 or p.shape == (n,) for p in [*params, n_ref, *a, *e_rev, *m])
        and jnp.broadcast_shapes(current.shape, shape) == shape
    )
    if current.size == 1:
        current = current.reshape(())
    elif current.size == n and current.shape[-1] == n:
        current = current.reshape(n)
    else:
        current = jnp.broadcast_to(current, shape)
    if not native_ok:
        flat = [*state, current, *params, n_ref, *a, *e_rev, *m]
        out = _step_pure(flat, spike_fn=spike_fn, **static)
        return out[0], out[1], out[2], tuple(out[3:])
    per = any(p.ndim for p in [*params, n_ref, *a, *e_rev, *m])
    fit = lambda p, t: jnp.broadcast_to(jnp.asarray(p, t), (n,) if per else (1,))
    flat = [
        *state,
        current.astype(dtype).reshape(-1) if current.ndim < 2 else current.astype(dtype),
        *(fit(p, dtype) for p in params),
        fit(n_ref, jnp.int32),
        *(fit(x, dtype) for x in a),
        *(fit(x, dtype) for x in e_rev),
        *(fit(x, dtype) for x in m),
    ]
    out = _lif(*flat, spike_fn=spike_fn, **static)
    return out[0], out[1], out[2], tuple(out[3:])


def lif_update_pure(*args, **kwargs):
    """``lif_update`` through the pure-JAX path only (the reference)."""
    return lif_update(*args, **kwargs, native=False)
