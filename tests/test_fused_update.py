"""The fused LIF step (``bs.ops.lif_update``): against a float64 NumPy integration of the
LIF / exponential-synapse equations written here, native kernel against the pure-JAX
path, derivatives against the unfused network and finite differences, and whole COBA /
CUBA networks against the unfused ``Network.step``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import brainsim as bs
import brainsim.network as network
import brainsim.ops.lif
from brainsim.ops import _native, lif_update, lif_update_pure

N = 600
EPS32 = float(np.finfo(np.float32).eps)
native_only = pytest.mark.skipif(not _native.available(), reason="no native kernels")


def _numpy_step(
    v,
    ref,
    g,
    e,
    *,
    tau_syn,
    e_rev,
    tau_m,
    c_m,
    v_rest,
    v_th,
    v_reset,
    i_ext,
    t_ref,
    current,
    dt,
    exp_euler,
    native=None,
):
    """The equations, in float64 and in NumPy's own order (not the kernel's)."""
    f = lambda x: np.asarray(x, np.float64)
    v, g, e = f(v), [f(x) for x in g], [f(x) for x in e]
    g = [gk * np.exp(-dt / tau) + ek for gk, ek, tau in zip(g, e, tau_syn, strict=True)]
    i_syn = sum((gk if er is None else gk * (er - v)) for gk, er in zip(g, e_rev, strict=True))
    g_tot = sum((gk for gk, er in zip(g, e_rev, strict=True) if er is not None), 0.0)
    g_l = f(c_m) / f(tau_m)
    dvdt = (g_l * (f(v_rest) - v) + f(i_ext) + f(current) + i_syn) / f(c_m)
    if exp_euler:  # exact over the step for a linear ODE: (e^{a dt} - 1) / a
        a = -(g_l + g_tot) / f(c_m)
        v_new = v + np.expm1(a * dt) / a * dvdt
    else:
        v_new = v + dt * dvdt
    free = np.asarray(ref) == 0
    v_new = np.where(free, v_new, f(v_reset) + 0 * v)
    spike = free & (v_new > f(v_th))
    v_new = np.where(spike, f(v_reset) + 0 * v, v_new)
    n_ref = np.round(f(t_ref) / dt).astype(np.int64) + 0 * np.asarray(ref)
    ref = np.where(spike, n_ref, np.maximum(np.asarray(ref) - 1, 0))
    return v_new, spike.astype(np.float64), ref, g


def _random_state(key, shape, k=2, dtype=jnp.float32):
    ks = jax.random.split(key, 6)
    v = jax.random.uniform(ks[0], shape, dtype, -66.0, -44.0)
    ref = jax.random.randint(ks[1], shape, 0, 4) * (jax.random.uniform(ks[2], shape) < 0.3)
    g = [
        jax.random.uniform(jax.random.fold_in(ks[3], j), shape, dtype, 0.0, 30.0) for j in range(k)
    ]
    e = [
        jnp.where(jax.random.uniform(jax.random.fold_in(ks[4], j), shape) < 0.1, 8.0, 0.0).astype(
            dtype
        )
        for j in range(k)
    ]
    return v, ref.astype(jnp.int32), jnp.zeros(shape, dtype), g, e


PARAMS = dict(
    tau_m=20.0, c_m=200.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0, i_ext=150.0, t_ref=0.3, dt=0.1
)
COBA_SYN = dict(tau_syn=(5.0, 10.0), e_rev=(0.0, -80.0))
CUBA_SYN = dict(tau_syn=(5.0, 10.0), e_rev=(None, None))
MIXED_SYN = dict(tau_syn=(5.0, 10.0, 2.0), e_rev=(0.0, None, -70.0))


def _kwargs(syn, exp_euler, **over):
    # native=True: the kernel even below ops.lif.NATIVE_MIN_SIZE (where it is not faster).
    return {**PARAMS, **syn, "current": 12.0, "exp_euler": exp_euler, "native": True, **over}


CASES = [
    ("coba-euler", COBA_SYN, False),
    ("coba-expeuler", COBA_SYN, True),
    ("cuba-expeuler", CUBA_SYN, True),
    ("cuba-euler", CUBA_SYN, False),
    ("mixed-expeuler", MIXED_SYN, True),
]


@pytest.mark.parametrize("name,syn,exp_euler", CASES, ids=[c[0] for c in CASES])
def test_one_step_matches_float64_numpy(name, syn, exp_euler):
    k = len(syn["tau_syn"])
    v, ref, spike, g, e = _random_state(jax.random.key(1), (N,), k)
    kw = _kwargs(syn, exp_euler)
    out = jax.jit(lambda *a: lif_update(*a, **kw))(v, ref, spike, g, e)
    v_ref, s_ref, r_ref, g_ref = _numpy_step(v, ref, g, e, **kw)
    # Neurons within 1e-3 mV of threshold may flip on float32 rounding (below), none here.
    near = np.abs(v_ref - PARAMS["v_th"]) < 1e-3
    ok = ~near
    assert near.mean() < 0.01
    np.testing.assert_array_equal(np.asarray(out[1])[ok], s_ref[ok])
    np.testing.assert_array_equal(np.asarray(out[2])[ok], r_ref[ok])
    assert s_ref.sum() > 10 and (np.asarray(ref) > 0).sum() > 10  # both branches taken
    # float32: about ten roundings of O(60 mV) quantities -> 1e-4 mV is ~13 ulp at 64 mV.
    np.testing.assert_allclose(np.asarray(out[0])[ok], v_ref[ok], rtol=0, atol=1e-4)
    for gk, gk_ref in zip(out[3], g_ref, strict=True):
        # two roundings of values <= 40: 4 ulp relative.
        np.testing.assert_allclose(gk, gk_ref, rtol=4 * EPS32, atol=1e-6)


def _uses_native(f, *args):
    return "brainsim_lif_update" in jax.jit(f).lower(*args).as_text()


def _assert_close_ulp(a, b, ulp=4):
    """Equal to ``ulp`` units in the last place of the larger magnitude."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind != "f":
        np.testing.assert_array_equal(a, b)
        return
    eps = np.finfo(a.dtype).eps
    tol = ulp * eps * np.maximum(np.abs(a), np.abs(b)) + np.finfo(a.dtype).tiny
    assert np.all(np.abs(a - b) <= tol), float(np.max(np.abs(a - b) / (tol / ulp)))


NATIVE_CASES = {
    "scalar": (dict(), (N,)),
    "per-neuron": (
        dict(
            tau_m=jnp.linspace(10.0, 30.0, N),
            v_th=jnp.linspace(-52.0, -48.0, N),
            t_ref=jnp.linspace(0.0, 0.5, N),
            current=jnp.linspace(-20.0, 40.0, N),
        ),
        (N,),
    ),
    "batch": (dict(), (2, 3, N)),
    "batch-current": (dict(current=jnp.linspace(0.0, 30.0, 6 * N).reshape(2, 3, N)), (2, 3, N)),
}


@native_only
@pytest.mark.parametrize("case", list(NATIVE_CASES))
@pytest.mark.parametrize("name,syn,exp_euler", CASES, ids=[c[0] for c in CASES])
def test_native_equals_pure(case, name, syn, exp_euler):
    over, shape = NATIVE_CASES[case]
    k = len(syn["tau_syn"])
    args = _random_state(jax.random.key(2), shape, k)
    kw = _kwargs(syn, exp_euler, **over)
    fused = lambda *a: lif_update(*a, **kw)
    assert _uses_native(fused, *args)
    got = jax.jit(fused)(*args)
    kw_pure = {k: x for k, x in kw.items() if k != "native"}
    want = jax.jit(lambda *a: lif_update_pure(*a, **kw_pure))(*args)
    # Same operation order; XLA may contract a multiply-add into one FMA where the
    # kernel rounds twice, and its expm1 differs from the C library's by an ulp or so.
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        _assert_close_ulp(a, b, ulp=4)


@native_only
def test_native_float64_and_vmap(x64):
    args = _random_state(jax.random.key(3), (N,), 2, jnp.float64)
    kw = _kwargs(COBA_SYN, True)
    got = jax.jit(lambda *a: lif_update(*a, **kw))(*args)
    kw_pure = {k: x for k, x in kw.items() if k != "native"}
    want = jax.jit(lambda *a: lif_update_pure(*a, **kw_pure))(*args)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert a.dtype == b.dtype
        _assert_close_ulp(a, b, ulp=4)
    # vmap over the state (native, batched in the kernel) and over a parameter (pure).
    batch = _random_state(jax.random.key(4), (3, N), 2, jnp.float64)
    f = lambda v, r, s, g, e, i: lif_update(v, r, s, g, e, **{**kw, "i_ext": i})
    for i_axis, i_ext in ((None, 150.0), (0, jnp.array([100.0, 150.0, 200.0]))):
        vm = jax.jit(jax.vmap(f, in_axes=(0, 0, 0, 0, 0, i_axis)))(*batch, i_ext)
        loop = [
            f(*jax.tree.map(lambda x, j=j: x[j], batch), i_ext if i_axis is None else i_ext[j])
            for j in range(3)
        ]
        for a, b in zip(
            jax.tree.leaves(vm),
            jax.tree.leaves(jax.tree.map(lambda *x: jnp.stack(x), *loop)),
            strict=True,
        ):
            _assert_close_ulp(a, b, ulp=4)


# --- networks ----------------------------------------------------------------------------


def _run(net, state, n_steps, dt, fused=True, inputs=None):
    """Spike raster and final state of ``n_steps`` (fresh trace: no compiled cache)."""

    def go(state):
        def body(st, i):
            st, sp = net.step(st, inputs, t=i * dt, dt=dt)
            return st, sp

        return jax.lax.scan(body, state, jnp.arange(n_steps))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(brainsim.ops.lif, "NATIVE_MIN_SIZE", 0)  # the kernel at any size
        if not fused:
            mp.setattr(network, "_fusable_lif", lambda *a: False)
        return jax.jit(go)(state)


@pytest.fixture(scope="module")
def small_runs():
    """COBA and CUBA at N = 1000 for 1 s, fused and unfused."""
    out = {}
    for model in ("coba", "cuba"):
        net = getattr(bs.models, model)(1000, key=jax.random.key(0))
        state = net.init(jax.random.key(1), dt=0.1)
        out[model] = {fused: _run(net, state, 10_000, 0.1, fused) for fused in (True, False)}
    return out


@pytest.mark.parametrize("model", ["coba", "cuba"])
def test_network_fused_equals_unfused(small_runs, model):
    (_, fused), (_, plain) = small_runs[model][True], small_runs[model][False]
    a = np.concatenate([np.asarray(fused[p]) for p in ("E", "I")], axis=1)
    b = np.concatenate([np.asarray(plain[p]) for p in ("E", "I")], axis=1)
    differ = np.flatnonzero((a != b).any(axis=1))
    first = differ[0] if differ.size else a.shape[0]
    # The two paths agree to an ulp per step (FMA contraction); a recurrent network
    # amplifies a one-ulp difference only once a neuron lands within that ulp of
    # threshold, which at ~1000 spikes per 100 ms takes far longer than 100 ms here.
    assert first >= 1000, f"spike trains differ from step {first}"
    # Over 1 s the mean rates agree within the seed-to-seed spread (about 5 % at this
    # size, for both models; a 2 % tolerance is well inside it and catches a bias).
    for p in ("E", "I"):
        ra, rb = np.asarray(fused[p]).mean(), np.asarray(plain[p]).mean()
        assert rb > 0 and abs(ra - rb) <= 0.02 * rb + 1e-6, (p, ra, rb)


def _tiny_net(weight_scale=1.0):
    lif = lambda n: bs.neurons.LIF(
        n,
        tau_m=20.0,
        v_rest=-60.0,
        v_th=-50.0,
        v_reset=-60.0,
        t_ref=0.5,
        i_ext=220.0,
        v_init=bs.initializers.Uniform(-60.0, -50.0),
    )
    exc = dict(synapse=bs.synapses.Exponential(5.0), output=bs.synapses.Conductance(0.0))
    inh = dict(synapse=bs.synapses.Exponential(10.0), output=bs.synapses.Current())
    return bs.Network(
        {"E": lif(40), "I": lif(10)},
        [
            bs.Projection("E", "E", bs.conn.FixedProb(0.2), weight=3.0 * weight_scale, **exc),
            bs.Projection("E", "I", bs.conn.FixedProb(0.2), weight=3.0 * weight_scale, **exc),
            bs.Projection("I", "E", bs.conn.FixedProb(0.4), weight=-40.0 * weight_scale, **inh),
            bs.Projection("I", "I", bs.conn.FixedProb(0.4), weight=-40.0, **inh),
        ],
        key=jax.random.key(5),
    )


def test_gradients_equal_unfused():
    """Gradients through 60 steps (surrogate spikes, resets, refractory clamps) equal
    those of the unfused path: both differentiate the same pure equations."""
    net = _tiny_net()
    state = net.init(jax.random.key(6), dt=0.1)

    def loss(scale, fused):
        params = eqx_scale(net, scale)
        (st, spikes) = _run(params, state, 60, 0.1, fused)
        return jnp.mean(st.populations["E"].v) + jnp.sum(spikes["E"]) * 1e-2

    g_fused = jax.grad(lambda s: loss(s, True))(1.0)
    g_plain = jax.grad(lambda s: loss(s, False))(1.0)
    assert abs(float(g_plain)) > 1e-3
    # Same derivative program up to the order XLA fuses it in: float32 sums of 100
    # steps' contributions, 1e-4 relative.
    np.testing.assert_allclose(g_fused, g_plain, rtol=1e-4)


def eqx_scale(net, scale):
    """``net`` with every projection weight times ``scale`` (a differentiable knob)."""
    import equinox as eqx

    weights = lambda n: [p.weight for p in n.projections]
    return eqx.tree_at(weights, net, [p.weight * scale for p in net.projections])


def test_gradient_matches_finite_differences(x64):
    """Below threshold (no spike) the step is smooth: reverse-mode through the fused op
    against central differences, float64."""
    net = _tiny_net()
    net = eqx_scale(net, 1.0)
    import equinox as eqx

    net = eqx.tree_at(
        lambda n: [n.populations["E"].v_th, n.populations["I"].v_th], net, [0.0, 0.0]
    )
    state = net.init(jax.random.key(7), dt=0.1)
    as64 = lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x
    state = jax.tree.map(as64, state)

    def f(i_ext, scale):
        n2 = eqx.tree_at(lambda n: n.populations["E"].i_ext, eqx_scale(net, scale), i_ext)
        st, _ = _run(n2, state, 30, 0.1, True, inputs={"E": 5.0})
        return jnp.sum(st.populations["E"].v) + jnp.sum(st.synapses[2].g)

    # FD with step 1e-3 on a float64 function: truncation ~1e-6 relative.
    check_grads(f, (220.0, 1.0), order=1, modes=["rev"], eps=1e-3, atol=1e-5, rtol=1e-5)


def test_fused_rule():
    """The fused step applies to LIF + Exponential/Current|Conductance only."""
    net = _tiny_net()
    drive = bs.neurons.Drive()
    assert network._fusable_lif(net, "E", drive)
    assert not network._fusable_lif(net, "E", bs.neurons.Drive(jump=jnp.ones(40)))
    alpha = bs.Network(
        {"E": bs.neurons.LIF(5)},
        [bs.Projection("E", "E", bs.conn.FixedProb(0.5), synapse=bs.synapses.Alpha(2.0))],
        key=jax.random.key(0),
    )
    assert not network._fusable_lif(alpha, "E", drive)
    rk = bs.Network({"E": bs.neurons.LIF(5, integrator=bs.integrators.RK4())})
    assert not network._fusable_lif(rk, "E", drive)
