"""Every registered kernel (``bs.ops._kernel.KERNELS``) against its pure-JAX reference:
the same values, the same VJPs (where the op is differentiable) and vmap, float32 and
float64, on realistic inputs (Poisson spikes, states near threshold, a 40-step scan).

A kernel is covered by adding one entry to ``EXAMPLES`` (``test_every_kernel_has_an_
example`` fails until it is). Each entry builds ``(args, static)`` for the op's call
``KERNELS[name](*args, **static)`` from a key and a dtype, names the FFI target that
must appear in the kernel path's program (so the comparison is never the reference
against itself), the positions of the float arguments its VJP is checked in, the
arguments vmap batches, and how values are compared:

- ``"exact"``: integer results (spike positions, counts), and spikes.
- ``("sum", n)``: sums of at most ``n`` products in another order. Any order of a
  recursive sum of ``n`` terms is within ``(n - 1) eps sum|terms|`` of the exact sum
  (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 4.4), so
  both are within twice that of each other; ``sum|terms|`` is the reference applied to
  the absolute values of the float arguments (the ops are linear in each).
- ``("scaled", m)``: within ``m eps max|reference|``: a time scan of ``T`` steps whose
  every step sums at most ``n + 1`` products in another order, the errors carried on by
  factors below 1 (the LIF recurrence, forward and reverse): ``m = T (n + 1)`` (to first
  order). Spikes (0/1) are then equal.
- ``("ulp", k)``: within ``k`` units in the last place: the fused LIF step runs the
  reference's operation order; XLA may contract a multiply-add into one FMA where the
  kernel rounds twice, and its ``expm1`` differs from the kernel's (fast_math.h) by an ulp or so
  (``tests/test_ops_lif.py``).
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lif_reference import assert_close_ulp

import brainsim as bs
from brainsim.ops._kernel import KERNELS

pytestmark = pytest.mark.skipif(
    not bs.ops._native.available(), reason="native kernels unavailable (no C++ compiler?)"
)


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
    """Three rings in one call: two projections out of one source (one homogeneous
    weight), one out of another, rings of different depths and cursors."""
    k = jax.random.split(key, 12)
    layouts, weights, rings, steps = [], [], [], []
    for j, (n_pre, n_post, depth) in enumerate([(60, 50, 8), (40, 30, 5), (60, 20, 6)]):
        layout = csr(k[3 * j], n_pre, n_post)
        d = np.asarray(jax.random.randint(k[3 * j + 1], (layout.n_synapses,), 1, depth + 1))
        dl, _ = bs.conn.with_delays(layout, d * 0.1, np.ones(layout.n_synapses))
        layouts.append(dl)
        steps.append(tuple(round(v / 0.1) for v in dl.delays))
        rings.append(jax.random.normal(k[3 * j + 2], (4, depth, n_post), dtype))
        weights.append(jax.random.normal(k[9 + j], (dl.n_synapses,), dtype))
    weights[1] = jnp.asarray(0.7, dtype)
    sources = (poisson(k[11], (4, 60), 0.15, dtype), poisson(k[10], (4, 40), 0.2, dtype))
    cursors = tuple(jnp.int32(c) for c in (3, 4, 0))
    args = (tuple(layouts), tuple(weights), sources, tuple(rings), cursors)
    return args, dict(source_of=(0, 1, 0), steps=tuple(steps), capacities=(30, 30, 30))


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
    "lif_network_update": Example(
        _lif_network, "brainsim_lif_network", ("ulp", 4), (), None, _network_outputs
    ),
    # T = 200 steps of sums of at most n_pre = 160 weights (module docstring); spike
    # buffers, ends and counts (int32) and the spikes (0/1 against a bound < 1) exact.
    "lif_network_run": Example(
        _lif_network_run, "brainsim_lif_network_run", ("scaled", 200 * 161), (), None
    ),
    # The plastic kernel rounds as its reference, operation by operation (CMakeLists.txt).
    "plastic_bounded": Example(_plastic, "brainsim_plastic_bounded", "exact", (2,), None),
    "lif_scan": Example(_lif_scan, "brainsim_lif_scan", ("scaled", 40 * 71), (), None),
    "lif_scan_bwd": Example(_lif_scan_bwd, "brainsim_lif_scan_bwd", ("scaled", 40 * 71), (), None),
}

DTYPES = [jnp.float32, jnp.float64]


def test_every_kernel_has_an_example():
    assert set(KERNELS) == set(EXAMPLES), "add an entry to EXAMPLES for each new kernel"


def _paths(name, args, static):
    """``(kernel, reference)``: the op's value through its kernel and with the kernels
    off (pure JAX), each jitted; the kernel path's program is checked to call it."""
    op, target = KERNELS[name], EXAMPLES[name].target
    f = jax.jit(lambda *a: op(*a, **static))
    assert target in f.lower(*args).as_text(), f"{name}: the kernel does not run"
    with bs.ops.configure(kernels=False):
        g = jax.jit(lambda *a: op(*a, **static))
        assert target not in g.lower(*args).as_text()
        want = g(*args)
    return f(*args), want


def _abs_reference(name, args, static):
    """The reference on the absolute values of the float arguments: ``sum|terms|`` of a
    linear op's sums."""
    absolute = jax.tree.map(
        lambda x: jnp.abs(x) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x, args
    )
    with bs.ops.configure(kernels=False):
        return KERNELS[name].reference(*absolute, **static)


def _assert_equivalent(name, got, want, args, static, abs_ref=None):
    ex = EXAMPLES[name]
    got, want = ex.outputs(got, args), ex.outputs(want, args)
    got, want = jax.tree.leaves(got), jax.tree.leaves(want)
    assert len(got) == len(want)
    kind = ex.compare if isinstance(ex.compare, str) else ex.compare[0]
    if kind == "sum" and abs_ref is None:
        abs_ref = ex.outputs(_abs_reference(name, args, static), args)
    scale = jax.tree.leaves(abs_ref) if kind == "sum" else [None] * len(got)
    for a, b, s in zip(got, want, scale, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        if kind == "exact" or a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b)
        elif kind == "ulp":
            assert_close_ulp(a, b, ulp=ex.compare[1])
        elif kind == "scaled":
            bound = ex.compare[1] * np.finfo(a.dtype).eps * np.max(np.abs(b))
            assert np.all(np.abs(a.astype(np.float64) - b) <= bound), float(np.max(a - b))
        else:  # twice Higham's bound for n terms, plus the smallest normal
            bound = 2 * ex.compare[1] * np.finfo(a.dtype).eps * np.abs(np.asarray(s))
            err = np.abs(a.astype(np.float64) - b)
            assert np.all(err <= bound + np.finfo(a.dtype).tiny), float(np.max(err - bound))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_kernel_values_equal_reference(name, dtype, x64):
    args, static = EXAMPLES[name].make(jax.random.key(0), dtype)
    got, want = _paths(name, args, static)
    _assert_equivalent(name, got, want, args, static)


GRAD = sorted(n for n, ex in EXAMPLES.items() if ex.grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", GRAD)
def test_kernel_vjp_equals_reference_autodiff(name, dtype, x64):
    """The VJP with the kernel (its hand-written backward pass, or the reference's
    tangents) against JAX's autodiff of the reference itself, in the arguments
    ``grad`` names, for a random cotangent."""
    ex, op = EXAMPLES[name], KERNELS[name]
    args, static = (ex.grad_make or ex.make)(jax.random.key(1), dtype)

    def restrict(f):
        def g(*xs):
            full = list(args)
            for i, x in zip(ex.grad, xs, strict=True):
                full[i] = x
            return f(*full)

        return g

    primals = [args[i] for i in ex.grad]
    out, vjp = jax.vjp(restrict(lambda *a: op(*a, **static)), *primals)
    leaves, tree = jax.tree.flatten(out)
    keys = jax.random.split(jax.random.key(2), len(leaves))
    ct = jax.tree.unflatten(
        tree,
        [
            jax.random.normal(k, x.shape, x.dtype)
            if jnp.issubdtype(x.dtype, jnp.floating)
            else np.zeros(x.shape, jax.dtypes.float0)
            for k, x in zip(keys, leaves, strict=True)
        ],
    )
    got = vjp(ct)
    with bs.ops.configure(kernels=False):
        ref = functools.partial(op.reference, **static)
        _, vjp_ref = jax.vjp(restrict(ref), *primals)
        want = vjp_ref(ct)
    # Both are linear in the cotangent; the backward passes sum in other orders.
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        n = max(np.prod(np.shape(x)) for x in leaves)  # terms per sum, at most
        scale = np.max(np.abs(b)) if b.size else 0.0
        tol = 2 * n * np.finfo(dtype).eps * max(scale, 1.0)
        assert np.all(np.abs(a - b) <= tol), (name, float(np.max(np.abs(a - b))), tol)


VMAP = sorted(n for n, ex in EXAMPLES.items() if ex.vmap)


@pytest.mark.parametrize("name", VMAP)
def test_kernel_vmap_equals_reference(name):
    """vmap over 3 draws of the batched arguments: the kernel's batching rule against
    the reference's, and against the kernel called on each draw."""
    ex, op = EXAMPLES[name], KERNELS[name]
    draws = [ex.make(jax.random.key(10 + j), jnp.float32) for j in range(3)]
    args, static = draws[0]
    stacked = list(args)
    for i in ex.vmap:
        stacked[i] = jnp.stack([d[0][i] for d in draws])
    axes = [0 if i in ex.vmap else None for i in range(len(args))]
    f = lambda *a: op(*a, **static)
    got = jax.jit(jax.vmap(f, in_axes=axes))(*stacked)
    assert ex.target in jax.jit(jax.vmap(f, in_axes=axes)).lower(*stacked).as_text()
    with bs.ops.configure(kernels=False):
        want = jax.jit(jax.vmap(f, in_axes=axes))(*stacked)
    for j in range(3):
        pick = lambda t, j=j: jax.tree.map(lambda x: x[j], t)
        one = [stacked[i][j] if i in ex.vmap else args[i] for i in range(len(args))]
        _assert_equivalent(name, pick(got), pick(want), one, static)
        _assert_equivalent(name, pick(got), jax.jit(f)(*one), one, static)
