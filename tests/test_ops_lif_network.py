"""``bs.ops.lif_network_update`` (``brainsim/ops/lif_network.py``), the whole step of a
network of LIF populations and stored sparse projections in one call: against float64
NumPy, the kernel against its portable composition (batched, vmapped, float64), and its
split over threads (parts) bit for bit."""

import concurrent.futures

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lif_reference import (
    EPS32,
    PARAMS,
    assert_close_ulp,
    native_only,
    numpy_step,
    random_state,
)

import brainsim as bs


def _layout(builder, key, n_pre, n_post):
    layout, _ = builder.build(key, n_pre, n_post)
    return layout


def _network_case(batch=(), dtype=jnp.float32):
    """Two LIF populations (A: scalar parameters, exponential Euler; B: per-neuron
    parameters, forward Euler) and four projections: CSR homogeneous conductance, CSR
    per-synapse current, ELL homogeneous conductance, and one whose spikes are not a
    population's own (as after an axonal delay line). With a batch, B's parameters and
    input are scalars (the portable path broadcasts per-neuron ones only unbatched)."""
    n_a, n_b = 300, 200
    per = lambda lo, hi: jnp.linspace(lo, hi, n_b, dtype=dtype) if not batch else (lo + hi) / 2
    ks = jax.random.split(jax.random.key(11), 12)
    v_a, r_a, _, g_a, _ = random_state(ks[0], (*batch, n_a), 2, dtype)
    v_b, r_b, _, g_b, _ = random_state(ks[1], (*batch, n_b), 2, dtype)
    spikes = lambda k, n: (jax.random.uniform(k, (*batch, n)) < 0.05).astype(dtype)
    s_a, s_b, s_x = spikes(ks[2], n_a), spikes(ks[3], n_b), spikes(ks[4], n_a)
    pops = [
        dict(
            v=v_a,
            refractory=r_a,
            spike=s_a,
            current=jnp.asarray(12.0, dtype),
            **{**PARAMS, "t_ref": 0.3},
            exp_euler=True,
            spike_fn=bs.spikes.Heaviside(),
        ),
        dict(
            v=v_b,
            refractory=r_b,
            spike=s_b,
            current=per(0.0, 30.0),
            **{**PARAMS, "tau_m": per(10.0, 30.0), "v_th": per(-52.0, -48.0)},
            exp_euler=False,
            spike_fn=bs.spikes.Heaviside(),
        ),
    ]
    for p in pops:
        p.pop("dt")
    csr_aa = _layout(bs.conn.FixedProb(0.1), ks[5], n_a, n_a)
    csr_ba = _layout(bs.conn.FixedProb(0.2), ks[6], n_b, n_a)
    ell_ab = _layout(bs.conn.FixedOutDegree(15), ks[7], n_a, n_b)
    csr_xb = _layout(bs.conn.FixedProb(0.1), ks[8], n_a, n_b)
    w_ba = jax.random.uniform(ks[9], csr_ba.weight_shape, dtype, -40.0, -5.0)
    projs = [
        dict(layout=csr_aa, weight=3.0, spikes=s_a, post=0, g=g_a[0], tau=5.0, e_rev=0.0),
        dict(layout=csr_ba, weight=w_ba, spikes=s_b, post=0, g=g_a[1], tau=10.0, e_rev=None),
        dict(layout=ell_ab, weight=2.0, spikes=s_a, post=1, g=g_b[0], tau=5.0, e_rev=0.0),
        dict(layout=csr_xb, weight=4.0, spikes=s_x, post=1, g=g_b[1], tau=2.0, e_rev=-70.0),
    ]
    for p in projs:
        p["capacity"] = 64
    return pops, projs


def _dense(layout, weight):
    return np.asarray(bs.ops.to_dense(layout, jnp.asarray(weight, jnp.float32)), np.float64)


def test_network_step_matches_float64_numpy():
    """One call against the equations in float64 NumPy: events by a dense product, then
    ``numpy_step`` per population (an independent implementation of both halves)."""
    pops, projs = _network_case()
    (out_pops, out_g) = jax.jit(lambda: bs.ops.lif_network_update(pops, projs, dt=0.1))()
    events = [
        np.asarray(p["spikes"], np.float64) @ _dense(p["layout"], p["weight"]) for p in projs
    ]
    spikes_seen = 0
    for i, pop in enumerate(pops):
        ks = [q for q, p in enumerate(projs) if p["post"] == i]
        kw = {k: pop[k] for k in ("tau_m", "c_m", "v_rest", "v_th", "v_reset", "i_ext", "t_ref")}
        v_ref, s_ref, r_ref, g_ref = numpy_step(
            pop["v"],
            pop["refractory"],
            [projs[q]["g"] for q in ks],
            [events[q] for q in ks],
            tau_syn=[projs[q]["tau"] for q in ks],
            e_rev=[projs[q]["e_rev"] for q in ks],
            current=pop["current"],
            dt=0.1,
            exp_euler=pop["exp_euler"],
            **kw,
        )
        v, s, r = (np.asarray(x) for x in out_pops[i])
        # As test_one_step_matches_float64_numpy: neurons within 1e-3 mV of threshold may
        # flip on float32 rounding; 1e-4 mV is ~13 ulp of the O(60 mV) membrane terms.
        ok = np.abs(v_ref - np.asarray(pop["v_th"])) >= 1e-3
        assert ok.mean() > 0.99
        np.testing.assert_array_equal(s[ok], s_ref[ok])
        np.testing.assert_array_equal(r[ok], r_ref[ok])
        np.testing.assert_allclose(v[ok], v_ref[ok], rtol=0, atol=1e-4)
        spikes_seen += s_ref.sum()
        for q, gq_ref in zip(ks, g_ref, strict=True):
            # Decay and sum of at most ~20 events of weights <= 40: a few float32 roundings
            # of values <= 400 -> 1e-4 absolute (about 4 ulp at 400).
            np.testing.assert_allclose(out_g[q], gq_ref, rtol=4 * EPS32, atol=1e-4)
    assert spikes_seen > 10 and all(np.abs(e).max() > 0 for e in events)


def _one_call(f, *args):
    text = jax.jit(f).lower(*args).as_text()
    return text.count("brainsim_lif_network"), text.count("brainsim_lif_update")


@native_only
@pytest.mark.parametrize("batch", [(), (2, 3)], ids=["single", "batch"])
def test_network_native_equals_composition(batch):
    """The kernel against ``matvec_many`` + ``lif_update_pure`` (its portable path)."""
    pops, projs = _network_case(batch)
    native = lambda: bs.ops.lif_network_update(pops, projs, dt=0.1)
    pure = lambda: bs.ops.lif_network_update(pops, projs, dt=0.1, native=False)
    assert _one_call(native) == (1, 0)
    assert _one_call(pure)[0] == 0
    got, want = jax.jit(native)(), jax.jit(pure)()
    # The membrane as in test_native_equals_pure (FMA contraction, expm1: 4 ulp).
    for a, b in zip(jax.tree.leaves(got[0]), jax.tree.leaves(want[0]), strict=True):
        assert a.shape == (*batch, a.shape[-1])
        assert_close_ulp(a, b, ulp=4)
    _assert_traces_close(projs, got[1], want[1])


def _assert_traces_close(projs, got, want):
    """The events are summed in the same order; ``g a + e`` may be contracted to one FMA
    on one side only: one rounding of ``g a``, whose size (not the result's: inhibitory
    events cancel excitatory traces here) bounds the difference, 2 ulp of |g| + |e|."""
    for p, a, b in zip(projs, got, want, strict=True):
        e = np.asarray(p["spikes"], np.float64) @ _dense(p["layout"], p["weight"])
        scale = np.abs(np.asarray(p["g"], np.float64)) + np.abs(e)
        eps = np.finfo(np.asarray(a).dtype).eps
        assert np.all(np.abs(np.asarray(a, np.float64) - b) <= 2 * eps * scale)


def _with_state(pops, projs, vr, g, spikes):
    """``_network_case``'s arguments with the state ``vr`` (v, refractory of A, of B),
    the traces ``g`` and the spikes of A, B and the extra source."""
    s_a, s_b, s_x = spikes
    p = [dict(pops[0], v=vr[0], refractory=vr[1], spike=s_a)]
    p += [dict(pops[1], v=vr[2], refractory=vr[3], spike=s_b)]
    q = [
        dict(pr, g=gq, spikes=s) for pr, gq, s in zip(projs, g, (s_a, s_b, s_a, s_x), strict=True)
    ]
    return p, q


def _parts_steps(batch, parts, native=True, n_steps=8):
    """``n_steps`` calls of ``lif_network_update`` on ``_network_case``, carrying v,
    refractory and the traces, with fresh input spikes every step (all sources) whose
    density alternates between 10 % (events dense: the update zeroes them as it reads
    them) and 0.5 % (sparse: zeroed where they arrived). Returns, per step, its inputs and
    outputs."""
    pops, projs = _network_case(batch)

    @jax.jit
    def step(vr, g, s_a, s_b, s_x):
        p, q = _with_state(pops, projs, vr, g, (s_a, s_b, s_x))
        return bs.ops.lif_network_update(p, q, dt=0.1, native=native, parts=parts)

    vr = [pops[0]["v"], pops[0]["refractory"], pops[1]["v"], pops[1]["refractory"]]
    g = [p["g"] for p in projs]
    ks = jax.random.split(jax.random.key(3), n_steps)
    steps = []
    for t in range(n_steps):
        rate = 0.1 if t % 2 == 0 else 0.005
        spikes = [
            (jax.random.uniform(k, (*batch, n)) < rate).astype(jnp.float32)
            for k, n in zip(jax.random.split(ks[t], 3), (300, 200, 300), strict=True)
        ]
        out_pops, out_g = step(vr, g, *spikes)
        steps.append(((vr, g, spikes), (out_pops, out_g)))
        vr = [out_pops[0][0], out_pops[0][2], out_pops[1][0], out_pops[1][2]]
        g = list(out_g)
    return steps


@native_only
@pytest.mark.parametrize("batch", [(), (2,)], ids=["single", "batch"])
def test_network_parts_bitwise_equal(batch):
    """The kernel splits the neurons into ranges ("parts", run in parallel on XLA's
    threads: 1 below the size threshold, the free threads above it). Each target's events
    are summed in one order whatever the split, so 2, 3 and 7 parts (uneven, one boundary
    inside every population and inside the 64-neuron blocks) give the states of 1 part
    bit for bit at every step; and every step of 1 part equals the portable path's step
    from the same inputs (as test_network_native_equals_composition), so no event of a
    dense or a sparse step is left in the kernel's scratch for the next."""
    one = _parts_steps(batch, 1)
    for parts in (2, 3, 7):
        for t, ((_, a), (_, b)) in enumerate(zip(one, _parts_steps(batch, parts), strict=True)):
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
                np.testing.assert_array_equal(x, y, err_msg=f"{parts} parts, step {t}")
    pops, projs = _network_case(batch)

    @jax.jit
    def portable(vr, g, s_a, s_b, s_x):
        p, q = _with_state(pops, projs, vr, g, (s_a, s_b, s_x))
        return bs.ops.lif_network_update(p, q, dt=0.1, native=False)

    for (vr, g, spikes), (got_pops, got_g) in one:
        want_pops, want_g = portable(vr, g, *spikes)
        q = _with_state(pops, projs, vr, g, spikes)[1]
        for a, b in zip(jax.tree.leaves(got_pops), jax.tree.leaves(want_pops), strict=True):
            assert_close_ulp(a, b, ulp=4)
        _assert_traces_close(q, got_g, want_g)


@native_only
def test_network_parts_concurrent_calls():
    """Calls in parallel (several simulations in one process): the kernel's helper team
    serves one call at a time and the others run their parts on XLA's pool as before;
    2 000 steps of 3 parts run by four threads at once equal the same run alone, bit for
    bit."""
    pops, projs = _network_case()

    def body(carry, _):
        vr, s_a, s_b, g = carry
        p, q = _with_state(pops, projs, vr, g, (s_a, s_b, s_a))
        (a, b), g = bs.ops.lif_network_update(p, q, dt=0.1, parts=3)
        return ((a[0], a[2], b[0], b[2]), a[1], b[1], g), a[1].sum() + b[1].sum()

    vr = (pops[0]["v"], pops[0]["refractory"], pops[1]["v"], pops[1]["refractory"])
    init = (vr, pops[0]["spike"], pops[1]["spike"], tuple(p["g"] for p in projs))
    run = jax.jit(lambda: jax.lax.scan(body, init, None, length=2000))
    alone = jax.block_until_ready(run())
    assert alone[1].sum() > 1000  # the events path is exercised
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = [f.result() for f in [ex.submit(run) for _ in range(8)]]
    for res in results:
        for x, y in zip(jax.tree.leaves(res), jax.tree.leaves(alone), strict=True):
            np.testing.assert_array_equal(x, y)


def test_network_parts_checked():
    pops, projs = _network_case()
    with pytest.raises(ValueError, match="parts must be an integer in \\[0, 65535\\], got -1"):
        bs.ops.lif_network_update(pops, projs, dt=0.1, parts=-1)


@native_only
def test_network_native_vmap_and_float64(x64):
    """vmap over part of the state (the batch joins the kernel's rows; the unbatched state
    is broadcast) and over a parameter (the portable path), float64; against a loop."""
    pops, projs = _network_case((), jnp.float64)

    def f(v_a, g0, i_ext):
        p = [dict(pops[0], v=v_a, i_ext=i_ext), *pops[1:]]
        q = [dict(projs[0], g=g0), *projs[1:]]
        return bs.ops.lif_network_update(p, q, dt=0.1)

    v_a = pops[0]["v"][None] + jnp.array([[0.0], [0.5], [-0.5]])
    g0 = projs[0]["g"][None] * jnp.array([[1.0], [0.5], [2.0]])
    for i_axis, i_ext in ((None, 150.0), (0, jnp.array([100.0, 150.0, 200.0]))):
        fn = jax.vmap(f, in_axes=(0, 0, i_axis))
        if i_axis is None:
            assert _one_call(fn, v_a, g0, i_ext) == (1, 0)
        vm = jax.jit(fn)(v_a, g0, i_ext)
        for j in range(3):
            one = jax.jit(f)(v_a[j], g0[j], i_ext if i_axis is None else i_ext[j])
            for a, b in zip(jax.tree.leaves(vm[0]), jax.tree.leaves(one[0]), strict=True):
                assert a.dtype == b.dtype
                assert_close_ulp(a[j], b, ulp=4)
            projs_j = [dict(projs[0], g=g0[j]), *projs[1:]]
            _assert_traces_close(projs_j, [g[j] for g in vm[1]], one[1])


def _step_of_floats(pops, projs, native, spike_fn):
    """The step as a function of its float inputs (per population ``v`` and ``current``,
    per projection ``g``, the per-synapse weights of projection 1), ``spike_fn`` for
    both populations; the spike arrays stay the projections' own (their sources)."""

    def f(vs, currents, gs, w):
        p = [
            dict(pp, v=v, current=c, spike_fn=spike_fn)
            for pp, v, c in zip(pops, vs, currents, strict=True)
        ]
        q = [dict(qq, g=g) for qq, g in zip(projs, gs, strict=True)]
        q[1] = dict(q[1], weight=w)
        return bs.ops.lif_network_update(p, q, dt=0.1, native=native)

    x = (
        [p["v"] for p in pops],
        [jnp.asarray(p["current"]) for p in pops],
        [q["g"] for q in projs],
        projs[1]["weight"],
    )
    return f, x


def _random_cotangent(out, key):
    leaves, tree = jax.tree.flatten(out)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree,
        [
            jax.random.normal(k, x.shape, x.dtype)
            if x.dtype != jnp.int32
            else np.zeros(x.shape, jax.dtypes.float0)
            for k, x in zip(keys, leaves, strict=True)
        ],
    )


def _dot(a, b):
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return sum(float(jnp.vdot(x, y)) for x, y in pairs)


def _floats(tree):
    return [a for a in jax.tree.leaves(tree) if a.dtype == jnp.float64]


@native_only
def test_network_vjp_matches_finite_differences(x64):
    """The VJP of the kernel path (its custom VJP) against central differences of the
    kernel's own forward values, float64, in three random directions of every float input
    (membrane potentials, input currents, traces, per-synapse weights). The spike
    function's surrogate is a triangle of support 1e-6 mV: away from threshold (every
    neuron here; no spike flips under the differences, checked) the step is smooth and
    its derivative has no surrogate term, so the VJP is the exact derivative. Central
    differences with h = 1e-4: truncation O(h^2) ~ 1e-8 relative, rounding
    eps |f| / h ~ 1e-10; a missing or wrong term (a decay, a reversal, a weight's events)
    is at least 1e-3 relative, far above the 1e-6 allowed."""
    pops, projs = _network_case((), jnp.float64)
    spike_fn = bs.spikes.Heaviside(bs.spikes.Triangle(1e6))
    f, x = _step_of_floats(pops, projs, None, spike_fn)
    fj = jax.jit(f)
    assert "brainsim_lif_network" in fj.lower(*x).as_text()  # the kernel runs
    out, vjp = jax.vjp(f, *x)
    ct = _random_cotangent(out, jax.random.key(3))
    grads = vjp(ct)
    spikes = lambda o: [np.asarray(s) for s in jax.tree.leaves([p[1] for p in o[0]])]
    assert sum(int(s.sum()) for s in spikes(out)) > 0  # the resets are covered
    h = 1e-4
    leaves, tree = jax.tree.flatten(x)
    for j in range(3):
        ks = jax.random.split(jax.random.key(20 + j), len(leaves))
        dirs = [
            jax.random.normal(k, jnp.shape(a), a.dtype) for k, a in zip(ks, leaves, strict=True)
        ]
        d = jax.tree.unflatten(tree, dirs)
        up = fj(*jax.tree.unflatten(tree, [a + h * b for a, b in zip(leaves, dirs, strict=True)]))
        down = fj(
            *jax.tree.unflatten(tree, [a - h * b for a, b in zip(leaves, dirs, strict=True)])
        )
        for a, b, c in zip(spikes(up), spikes(down), spikes(out), strict=True):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, c)
        fd = sum(
            float(jnp.vdot(c, (a - b) / (2 * h)))
            for c, a, b in zip(_floats(ct), _floats(up), _floats(down), strict=True)
        )
        got = _dot(grads, d)
        assert abs(got - fd) <= 1e-6 * abs(fd), (j, got, fd)


@native_only
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["f32", "f64"])
def test_network_vjp_equals_reference_autodiff(dtype, x64):
    """The kernel path's VJP (the op's custom VJP: residuals, integer arguments) against
    JAX's autodiff of the portable composition, with the default surrogate: the same
    backward computation, so equal to a few ulp of the largest cotangent."""
    pops, projs = _network_case((), dtype)
    f, x = _step_of_floats(pops, projs, None, bs.spikes.Heaviside())
    g, _ = _step_of_floats(pops, projs, False, bs.spikes.Heaviside())
    assert "brainsim_lif_network" in jax.jit(f).lower(*x).as_text()
    out, vjp = jax.vjp(f, *x)
    ct = _random_cotangent(out, jax.random.key(4))
    got = vjp(ct)
    want = jax.vjp(g, *x)[1](ct)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.dtype == b.dtype == dtype
        assert_close_ulp(a, b, ulp=4)
