"""The inputs of the kernel equivalence suite (``test_kernel_values.py``,
``test_kernel_vjp.py``, ``test_kernel_vmap.py``): one ``Example`` per registered kernel
(``bs.ops._kernel.KERNELS``), built on realistic inputs (Poisson spikes, states near
threshold, scans of 40-200 steps).

Each entry builds ``(args, static)`` for the op's call ``KERNELS[name](*args, **static)``
from a key and a dtype, names the FFI target that must appear in the kernel path's
program (so the comparison is never the reference against itself), the positions of the
float arguments its VJP is checked in, the arguments vmap batches, and how values are
compared (``kernel_checks.py``'s kinds).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

import brainsim as bs


@dataclass(frozen=True)
class Example:
    make: Callable  # (key, dtype) -> (args, static)
    target: str  # the FFI call the kernel path must contain
    compare: object  # "exact", ("sum", n) or ("ulp", k)
    grad: tuple = ()  # positions of the float arguments the VJP is checked in
    vmap: tuple | None = ()  # positions batched by vmap (None: the op is not batched)
    outputs: Callable = field(default=lambda out, args: out)  # what is compared
    # The VJP test's inputs (default: make's). An event op's reference sums the nonzero
    # spikes only, so JAX differentiates it in those alone; its VJP is bilinear (the
    # same formula at any input), so it is checked where no spike is zero.
    grad_make: Callable | None = None


def poisson(key, shape, rate, dtype):
    """Spikes of a Poisson process per step: 1 with probability ``rate``."""
    return (jax.random.uniform(key, shape) < rate).astype(dtype)


def csr(key, n_pre, n_post, p=0.2):
    return bs.conn.FixedProb(p).build(key, n_pre, n_post)[0]


def _event_matvec(key, dtype):
    k = jax.random.split(key, 3)
    layout = csr(k[0], 120, 90)
    w = jax.random.normal(k[1], (layout.n_synapses,), dtype)
    return (layout, w, poisson(k[2], (4, 120), 0.1, dtype)), dict(capacity=40)


def _nonzero_spikes(make, key, dtype, position, **static):
    """``make``'s inputs with every spike at ``position`` (an array, or a tuple of them)
    nonzero, uniform in [0.5, 1.5), and ``static`` (event slots for every row)."""
    args, base = make(key, dtype)
    u = lambda x: jax.random.uniform(jax.random.fold_in(key, 5), x.shape, dtype, 0.5, 1.5)
    x = args[position]
    args = list(args)
    args[position] = tuple(u(s) for s in x) if isinstance(x, tuple) else u(x)
    return tuple(args), {**base, **static}


def _event_matvec_many(key, dtype):
    k = jax.random.split(key, 5)
    a, b = csr(k[0], 120, 90), csr(k[1], 60, 90, 0.3)
    w = (jax.random.normal(k[2], (a.n_synapses,), dtype), jnp.asarray(0.7, dtype))
    sources = (poisson(k[3], (4, 120), 0.1, dtype), poisson(k[4], (4, 60), 0.2, dtype))
    return ((a, b), w, sources), dict(source_of=(0, 1), capacities=(40, 30))


def _procedural(key, dtype):
    layout = bs.conn.ProceduralFixedOutDegree(12, weights=bs.conn.UniformWeights(0.5, 1.5)).build(
        key, 100, 80
    )[0]
    return (poisson(jax.random.fold_in(key, 1), (4, 100), 0.1, dtype),), dict(
        layout=layout, capacity=40
    )


def _procedural_window(key, dtype):
    """The last of 3 blocks of 27 targets of 80 (padded to 81: one padding target), and
    a Poisson spike vector (no batch: one shard's step)."""
    (spikes,), static = _procedural(key, dtype)
    return (spikes[1], jnp.int32(54)), dict(static, n_out=27)


def _procedural_gather(key, dtype):
    layout = bs.conn.ProceduralFixedOutDegree(12, weights=bs.conn.UniformWeights(0.5, 1.5)).build(
        key, 100, 80
    )[0]
    ct = jax.random.normal(jax.random.fold_in(key, 1), (4, 80), dtype)
    return (ct,), dict(layout=layout)


def _delayed(key, dtype):
    k = jax.random.split(key, 5)
    layout = csr(k[0], 60, 50)
    steps = np.asarray(jax.random.randint(k[1], (layout.n_synapses,), 1, 7))
    dl, _ = bs.conn.with_delays(layout, steps * 0.1, np.ones(layout.n_synapses))
    table = jnp.asarray([round(v / 0.1) - 1 for v in dl.delays], jnp.int32)
    cursor = jnp.int32(3)
    w = jax.random.normal(k[2], (dl.n_synapses,), dtype)
    ring = jax.random.normal(k[3], (4, 8, 50), dtype)
    spikes = poisson(k[4], (4, 60), 0.15, dtype)
    slot = (cursor + table) % 8
    return (dl, w, spikes, ring, slot, cursor), dict(capacity=30)


def _delayed_many(key, dtype):
    """Three projections in one call: two out of one source (one homogeneous weight),
    one out of another; the first and third write into one ring (depths 8 and 6 of its
    8), the second into its own; rings of different depths and cursors."""
    k = jax.random.split(key, 12)
    layouts, weights, steps = [], [], []
    for j, (n_pre, n_post, depth) in enumerate([(60, 50, 8), (40, 30, 5), (60, 50, 6)]):
        layout = csr(k[3 * j], n_pre, n_post)
        d = np.asarray(jax.random.randint(k[3 * j + 1], (layout.n_synapses,), 1, depth + 1))
        dl, _ = bs.conn.with_delays(layout, d * 0.1, np.ones(layout.n_synapses))
        layouts.append(dl)
        steps.append(tuple(round(v / 0.1) for v in dl.delays))
        weights.append(jax.random.normal(k[9 + j], (dl.n_synapses,), dtype))
    rings = tuple(
        jax.random.normal(k[3 * j + 2], (4, depth, n_post), dtype)
        for j, (depth, n_post) in enumerate([(8, 50), (5, 30)])
    )
    weights[1] = jnp.asarray(0.7, dtype)
    sources = (poisson(k[11], (4, 60), 0.15, dtype), poisson(k[10], (4, 40), 0.2, dtype))
    cursors = tuple(jnp.int32(c) for c in (3, 4))
    args = (tuple(layouts), tuple(weights), sources, rings, cursors)
    return args, dict(
        source_of=(0, 1, 0), ring_of=(0, 1, 0), steps=tuple(steps), capacities=(30, 30, 30)
    )


def _compact(key, dtype):
    return (jax.random.uniform(key, (3, 200)) < 0.05,), dict(capacity=20)


def _valid_slots(out, args):
    """``compact``'s indices past its count are unspecified: only the valid ones."""
    idx, count = out
    slots = jax.lax.broadcasted_iota(jnp.int32, idx.shape, idx.ndim - 1)
    return jnp.where(slots < count[..., None], idx, -1), count


def _append(key, dtype):
    spikes = poisson(key, (300,), 0.05, dtype)
    return (spikes, jnp.full((64,), -7, jnp.int32), jnp.int32(5)), {}


def _rows_matmul(key, dtype):
    k = jax.random.split(key)
    return (poisson(k[0], (5, 3, 70), 0.2, dtype), jax.random.normal(k[1], (70, 40), dtype)), dict(
        swap=False
    )


def _rows_outer(key, dtype):
    k = jax.random.split(key)
    return (poisson(k[0], (15, 70), 0.2, dtype), jax.random.normal(k[1], (15, 40), dtype)), dict(
        swap=False
    )


def _rows_matmul_vjp(key, dtype):
    k = jax.random.split(key)
    g = jax.random.normal(k[0], (15, 10), dtype)
    return (g, jax.random.normal(k[1], (10, 70), dtype)), dict(swap=False)


def _fixed(key, dtype):
    k = jax.random.split(key)
    w = jax.random.normal(k[1], (70, 40), dtype)
    wp = bs.ops._native.pack_rows_weight(w)
    return (poisson(k[0], (6, 70), 0.1, dtype), w, wp), dict(n=40)


def _lagged(key, dtype):
    k = jax.random.split(key)
    x = poisson(k[0], (12, 3, 70), 0.2, dtype)
    return (x, jax.random.normal(k[1], (12, 3, 40), dtype)), {}


def _lif_args(key, dtype):
    """The fused LIF step's operand list (``ops.lif._operand_names``) for 300 neurons
    with one excitatory (0 mV) and one inhibitory (-80 mV) conductance, membrane
    potentials spread across threshold, Poisson arrivals, some neurons refractory."""
    k = jax.random.split(key, 6)
    n = 300
    v = jax.random.uniform(k[0], (n,), dtype, -62.0, -48.0)
    ref = jnp.where(jax.random.uniform(k[1], (n,)) < 0.1, 3, 0).astype(jnp.int32)
    g = [jax.random.uniform(kk, (n,), dtype, 0.0, 5.0) for kk in jax.random.split(k[2])]
    e = [
        poisson(kk, (n,), 0.2, dtype) * w
        for kk, w in zip(jax.random.split(k[3]), (0.6, 6.7), strict=True)
    ]
    one = lambda x: jnp.full((1,), x, dtype)
    params = [one(10.0), one(200.0), one(-60.0), one(-50.0), one(-60.0), one(0.0), one(0.1)]
    n_ref = jnp.full((1,), 50, jnp.int32)
    a = [one(np.exp(-0.1 / 5.0)), one(np.exp(-0.1 / 10.0))]
    e_rev = [one(0.0), one(-80.0)]
    m = [one(float(bs.synapses.exp_mean(0.1, t))) for t in (5.0, 10.0)]
    current = jax.random.uniform(k[4], (n,), dtype, 0.0, 200.0)
    flat = (v, ref, jnp.zeros((n,), dtype), *g, *e, current, *params, n_ref, *a, *e_rev, *m)
    return flat, dict(k=2, mode=2, conductance=(True, True), spike_fn=lambda x: x > 0)


def _lif_update(key, dtype):
    flat, static = _lif_args(key, dtype)
    static["spike_fn"] = lambda x: (x > 0).astype(x.dtype)
    return flat, static


def _izhikevich(key, dtype):
    """300 Izhikevich neurons with per-neuron parameters (Izhikevich 2003's excitatory
    mix, ``r`` uniform), ``t_ref`` 0.3 ms, some refractory, membranes below threshold or
    near the peak (away from 0 mV, where an ulp of the terms is many of the result), a
    per-neuron current and two voltage-jump inputs with Poisson arrivals."""
    k = jax.random.split(key, 8)
    n = 300
    r = jax.random.uniform(k[0], (n,), dtype)
    neuron = bs.neurons.Izhikevich(
        n,
        a=jnp.full((n,), 0.02, dtype),
        b=jnp.full((n,), 0.2, dtype),
        c=-65.0 + 15.0 * r**2,
        d=8.0 - 6.0 * r**2,
        t_ref=0.3,
    )
    high = jax.random.uniform(k[1], (n,)) < 0.2
    v = jnp.where(
        high,
        jax.random.uniform(k[2], (n,), dtype, 20.0, 32.0),
        jax.random.uniform(k[3], (n,), dtype, -80.0, -45.0),
    )
    ref = jnp.where(jax.random.uniform(k[4], (n,)) < 0.1, 2, 0).astype(jnp.int32)
    state = bs.neurons.IzhikevichState(v, 0.2 * v, jnp.zeros((n,), dtype), ref)
    events = tuple(
        poisson(kk, (n,), 0.2, dtype) * w
        for kk, w in zip(jax.random.split(k[5]), (0.5, -1.0), strict=True)
    )
    syn = (bs.synapses.Delta(), bs.synapses.VoltageJump())
    syn_states = tuple(bs.synapses.Delta().init(None, (n,)) for _ in events)
    drive = bs.neurons.Drive(current=jax.random.uniform(k[6], (n,), dtype, 0.0, 10.0))
    t = jnp.asarray(0.0, dtype)
    return (neuron, (syn, syn), state, syn_states, events, drive, t), dict(dt=0.1)


def _lif_network(key, dtype):
    k = jax.random.split(key, 8)
    n_e, n_i = 160, 40

    def pop(kk, n):
        ka, kb = jax.random.split(kk)
        return dict(
            v=jax.random.uniform(ka, (n,), dtype, -62.0, -48.0),
            refractory=jnp.where(jax.random.uniform(kb, (n,)) < 0.1, 3, 0).astype(jnp.int32),
            spike=poisson(kb, (n,), 0.1, dtype),
            current=jnp.asarray(200.0, dtype),
            tau_m=20.0,
            c_m=200.0,
            v_rest=-60.0,
            v_th=-50.0,
            v_reset=-60.0,
            i_ext=0.0,
            t_ref=5.0,
            exp_euler=True,
            spike_fn=bs.spikes.Heaviside(),
        )

    pops = [pop(k[0], n_e), pop(k[1], n_i)]
    projections = []
    for j, (src, post, e_rev, w) in enumerate(
        ((0, 0, 0.0, 0.6), (0, 1, 0.0, 0.6), (1, 0, -80.0, 6.7))
    ):
        n_pre, n_post = (n_e, n_i)[src], (n_e, n_i)[post]
        projections.append(
            dict(
                layout=csr(k[2 + j], n_pre, n_post),
                weight=w,
                spikes=pops[src]["spike"],
                post=post,
                g=jax.random.uniform(k[5 + j], (n_post,), dtype, 0.0, 5.0),
                tau=5.0 if e_rev == 0.0 else 10.0,
                e_rev=e_rev,
                capacity=n_pre,
            )
        )
    from brainsim.ops.lif_network import _prepare

    args, static = _prepare(pops, projections, 0.1, 0)
    return (args,), static


def _lif_network_run(key, dtype, steps=200):
    """``_lif_network``'s E/I network (Poisson spikes in its first step) with input
    currents spread per neuron (400-1200 pA: every neuron above threshold, at its own
    rate) and inhibition onto E weakened to 2 nS (E keeps spiking), ``steps`` steps, both
    populations recorded: E into 64 slots from offset 3 (overflows in 200 steps: the
    dropped positions must be counted all the same), I into 4 000 from 0."""
    ((pops, projs, extra),), static = _lif_network(key, dtype)
    ks = jax.random.split(jax.random.fold_in(key, 7), len(pops))
    pops = tuple(
        {**p, "current": jax.random.uniform(k, p["v"].shape, dtype, 400.0, 1200.0)}
        for p, k in zip(pops, ks, strict=True)
    )
    projs = (*projs[:2], {**projs[2], "weight": jnp.asarray(2.0)})  # I -> E
    buffers = (jnp.full((64,), -7, jnp.int32), jnp.full((4000,), -7, jnp.int32))
    offsets = (jnp.int32(3), jnp.int32(0))
    static_projections = (None,) * len(projs)  # no plasticity
    args = ((pops, projs, extra), buffers, offsets, static_projections)
    return args, dict(static, steps=steps, record=(0, 1))


def _izhikevich_network_run(key, dtype, steps=200, shared=False):
    """Izhikevich (2003)'s E (240, its RS/chattering mix: per-neuron c and d; a current
    per neuron) and FS I (60, per-neuron a and b, a scalar current) with voltage jumps
    0.5 / -2 mV (E -> E a weight per synapse in [0.3, 0.7]; in-degree ~ 20 % of each
    population), Poisson first spikes, membranes
    spread below the peak, ``steps`` steps, both populations recorded: E into 64 slots
    from offset 3 (overflows: the dropped positions are counted all the same), I into
    4 000 from 0. ``shared``: E's parameters shared (RS), the kernel's other branch, whose
    rounding matches XLA's where they are compile-time constants (as in a simulation;
    passed as arguments, XLA does not fold dt a)."""
    from brainsim.ops.izhikevich_network import _prepare

    k = jax.random.split(key, 12)
    n_e, n_i = 240, 60
    r = jax.random.uniform(k[0], (n_e + n_i,), dtype)
    re, ri = r[:n_e], r[n_e:]
    full = lambda x: jnp.full((n_e,), x, dtype)
    e_params = (0.02, 0.2, -65.0, 8.0) if shared else (
        full(0.02), full(0.2), -65.0 + 15.0 * re**2, 8.0 - 6.0 * re**2
    )  # fmt: skip
    neurons = (
        bs.neurons.Izhikevich(n_e, *e_params, i_ext=5.0),
        bs.neurons.Izhikevich(n_i, 0.02 + 0.08 * ri, 0.25 - 0.05 * ri, -65.0, 2.0, i_ext=5.0),
    )
    currents = (jax.random.uniform(k[1], (n_e,), dtype, 4.0, 12.0), jnp.asarray(2.0, dtype))
    jumps = (bs.synapses.Delta(), bs.synapses.VoltageJump())
    pops, projs = [], []
    for p, (neuron, current) in enumerate(zip(neurons, currents, strict=True)):
        n = neuron.size
        v = jax.random.uniform(k[2 + p], (n,), dtype, -75.0, -50.0)
        state = bs.neurons.IzhikevichState(
            v, 0.2 * v, poisson(k[4 + p], (n,), 0.1, dtype), jnp.zeros((n,), jnp.int32)
        )
        pops.append(dict(neuron=neuron, synapses=(jumps, jumps), state=state, current=current))
    for j, (pre, post, w) in enumerate(((0, 0, 0.5), (1, 0, -2.0), (0, 1, 0.5), (1, 1, -2.0))):
        n_pre, n_post = (n_e, n_i)[pre], (n_e, n_i)[post]
        layout = csr(k[6 + j], n_pre, n_post)
        if j == 0:  # E -> E: a weight per synapse (the kernel's other event loop)
            w = jax.random.uniform(k[10], (layout.n_synapses,), dtype, 0.3, 0.7)
        projs.append(
            dict(
                layout=layout,
                weight=w,
                pre=pre,
                post=post,
                g=jnp.zeros((n_post,), dtype),
                capacity=n_pre,
            )
        )
    net, static = _prepare(pops, projs, 0.1, steps, (0, 1), 0)
    buffers = (jnp.full((64,), -7, jnp.int32), jnp.full((4000,), -7, jnp.int32))
    return (net, buffers, (jnp.int32(3), jnp.int32(0))), static


def _network_outputs(out, args):
    return jax.tree.leaves(out)


def _lif_scan(key, dtype):
    k = jax.random.split(key, 5)
    n = 70  # a full 32-double block and a partial one
    w = jax.random.normal(k[0], (n, n), dtype) * 0.3
    al = jnp.full((n,), 0.9, dtype)
    be = jnp.full((n,), 0.95, dtype)
    th = jnp.full((n,), 1.0, dtype)
    h = poisson(k[1], (40, 3, n), 0.3, dtype) * 0.8  # 40 steps of Poisson input
    zero = jnp.zeros((3, n), dtype)
    return (w, al, be, th, h, zero, zero, zero), {}


def _lif_scan_bwd(key, dtype):
    (w, al, be, th, h, i0, v0, s0), _ = _lif_scan(key, dtype)
    from brainsim.train import _bptt

    _, vt = _bptt._forward_scan(w, al, be, th, h, i0, v0, s0)
    sg = 1.0 / (1.0 + 25.0 * jnp.abs(vt - jnp.broadcast_to(th, vt.shape))) ** 2
    ct = jax.random.normal(jax.random.fold_in(key, 9), h.shape, dtype)
    return (w, al, be, th, ct, sg, vt, i0, v0), {}


def _plastic(key, dtype):
    """One step of additive STDP with hard bounds on an 80 -> 60 CSR projection: Poisson
    spikes on both sides, random traces, weights inside [0, 1]."""
    k = jax.random.split(key, 8)
    layout = csr(k[0], 80, 60)
    idx = bs.ops.index(layout)
    trace = lambda kk, n: jax.random.uniform(kk, (n,), dtype, 0.0, 0.05)
    args = (
        layout,
        idx.cols,
        jax.random.uniform(k[1], (layout.n_synapses,), dtype, 0.0, 1.0),
        poisson(k[2], (80,), 0.1, dtype),
        poisson(k[3], (60,), 0.1, dtype),
        trace(k[4], 80),
        jnp.ones((60,), dtype),
        -trace(k[5], 60),
        jnp.ones((80,), dtype),
        (jnp.asarray(0.0, dtype), jnp.asarray(1.0, dtype)),
    )
    return args, dict(mu=(0.0, 0.0), caps=(idx.pre_capacity, idx.post_capacity))


EXAMPLES = {
    "event_matvec": Example(
        _event_matvec,
        "brainsim_csr_event_matvec",
        ("sum", 120),
        (1, 2),
        (2,),
        grad_make=lambda key, dtype: _nonzero_spikes(_event_matvec, key, dtype, 2, capacity=120),
    ),
    "event_matvec_many": Example(
        _event_matvec_many,
        "brainsim_csr_event_multi",
        ("sum", 180),
        (1, 2),
        None,
        grad_make=lambda key, dtype: _nonzero_spikes(
            _event_matvec_many, key, dtype, 2, capacities=(120, 60)
        ),
    ),
    "procedural_matvec": Example(_procedural, "brainsim_procedural_event", ("sum", 100), (), (0,)),
    "procedural_matvec_window": Example(
        _procedural_window, "brainsim_procedural_event", ("sum", 100), (), None
    ),
    "procedural_gather": Example(
        _procedural_gather, "brainsim_procedural_gather", ("sum", 12), (), (0,)
    ),
    "delayed_propagate": Example(
        _delayed,
        "brainsim_delayed_event_step",
        ("sum", 61),
        (1, 2, 3),
        (2, 3),
        grad_make=lambda key, dtype: _nonzero_spikes(_delayed, key, dtype, 2, capacity=60),
    ),
    "delayed_propagate_many": Example(
        _delayed_many,
        "brainsim_delayed_event_multi",
        ("sum", 61),
        (1, 2, 3),
        None,  # tuples of arrays: tests/test_delayed_many.py checks vmap
        grad_make=lambda key, dtype: _nonzero_spikes(
            _delayed_many, key, dtype, 2, capacities=(60, 40, 60)
        ),
    ),
    "compact": Example(_compact, "brainsim_spike_compact", "exact", (), (0,), _valid_slots),
    "append_spikes": Example(_append, "brainsim_spike_append", "exact", (), None),
    "rows_matmul": Example(_rows_matmul, "brainsim_rows_matmul", ("sum", 70), (0, 1), (0,)),
    "rows_outer": Example(_rows_outer, "brainsim_rows_outer", ("sum", 15), (), None),
    "rows_matmul_vjp": Example(_rows_matmul_vjp, "brainsim_rows_matmul", ("sum", 10), (), None),
    "fixed_rows_matmul": Example(_fixed, "brainsim_rows_matmul", ("sum", 70), (), None),
    "rows_outer_lagged": Example(_lagged, "brainsim_rows_outer_lagged", ("sum", 33), (), None),
    "lif_update": Example(_lif_update, "brainsim_lif_update", ("ulp", 4), (0, 3, 4, 5, 7), (0, 3)),
    # The model's step in its operation order; XLA folds products of constants and may
    # contract a multiply-add into one FMA where the kernel rounds twice.
    "izhikevich_update": Example(
        _izhikevich, "brainsim_izhikevich_update", ("ulp", 4), (4, 5), None
    ),
    "lif_network_update": Example(
        _lif_network, "brainsim_lif_network", ("ulp", 4), (), None, _network_outputs
    ),
    # T = 200 steps of sums of at most n_pre = 160 weights (module docstring); spike
    # buffers, ends and counts (int32) and the spikes (0/1 against a bound < 1) exact.
    "lif_network_run": Example(
        _lif_network_run, "brainsim_lif_network_run", ("scaled", 200 * 161), (), None
    ),
    # The Izhikevich step rounded as XLA's program of the model's step (izhikevich_step.h),
    # the events summed in the event op's order: states, spikes and events exact.
    "izhikevich_network_run": Example(
        _izhikevich_network_run, "brainsim_izhikevich_network_run", "exact", (), None
    ),
    # The plastic kernel rounds as its reference, operation by operation (CMakeLists.txt).
    "plastic_bounded": Example(_plastic, "brainsim_plastic_bounded", "exact", (2,), None),
    "lif_scan": Example(_lif_scan, "brainsim_lif_scan", ("scaled", 40 * 71), (), None),
    "lif_scan_bwd": Example(_lif_scan_bwd, "brainsim_lif_scan_bwd", ("scaled", 40 * 71), (), None),
}
