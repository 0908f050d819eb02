"""Charge delivered by one presynaptic spike through linear synaptic kinetics.

A spike of weight ``w`` through ``Exponential(tau)`` must deliver ``w tau`` (pA ms for a
current, nS ms for a conductance), through ``DualExponential`` ``w A (tau_d - tau_r)``,
through ``Alpha`` ``w e tau``: the time integrals of the analytic responses, whatever
``dt / tau``. Reproducer of the bug this guards against: a ``SpikeTimes`` source ->
synapse -> leak-free LIF (``tau_m = 1e9``), whose final V is the charge over ``C_m``.

Tolerance 1e-6 relative: float64 throughout (the sums run over up to 5000 steps); what
remains is the response's tail after the run (< e^-25, and ``t e^-t`` < 1e-9 at
``t = 25 tau``), the leak over the run (``T / tau_m`` <= 5e-7) and, for conductances,
``V / E_rev`` ~ 1e-8 (``C_m = 1e8``, ``E_rev = 1`` mV keep V tiny so the driving force
is ``E_rev`` to 1e-8). The old scheme (the start-of-step value held over the step) is
off by ``x / (1 - e^-x) - 1`` (0.25 % at ``x = dt / tau = 0.005``, 113 % at 2).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim.ops import _native

DT = 0.1
X = np.array([0.005, 0.05, 0.5, 2.0])  # dt / tau
TAUS = DT / X  # ms: 20, 2, 0.2, 0.05
STEPS = 5000  # 500 ms = 25 tau of the slowest
W = 0.75  # exact in float32 (projection weights are stored in float32)
TR_RATIO = 3.0  # DualExponential: tau_rise = tau_decay / 3


def _leak_free(n, c_m, generic):
    """LIF without leak or threshold; ``generic``: a model the fused step does not take
    (RK4 integrator), so ``Network.step`` uses the kinetics and outputs modules."""
    kw = dict(tau_m=1e9, c_m=c_m, v_rest=0.0, v_reset=0.0, v_th=1e9)
    return bs.neurons.LIF(
        n, **kw, integrator=bs.integrators.RK4() if generic else bs.integrators.ExpEuler()
    )


def _charges(output, c_m):
    """Final V * C_m of every population of one network (one compile for all cases)."""
    n = len(TAUS)
    pops = {"src": bs.neurons.SpikeTimes(1, times=[0.0], indices=[0])}
    projs, expected = [], {}

    def add(name, synapse, per_spike, generic=True):
        pops[name] = _leak_free(
            n if isinstance(synapse, bs.synapses.Exponential) else 1, c_m, generic
        )
        projs.append(
            bs.Projection(
                "src", name, bs.conn.AllToAll(), weight=W, synapse=synapse, output=output
            )
        )
        expected[name] = per_spike

    add("exp_fused", bs.synapses.Exponential(jnp.asarray(TAUS)), W * TAUS, generic=False)
    add("exp_generic", bs.synapses.Exponential(jnp.asarray(TAUS)), W * TAUS)
    for j, tau in enumerate(TAUS):
        tr, td = float(tau) / TR_RATIO, float(tau)
        a = bs.synapses.DualExponential(tr, td).peak_factor
        add(f"dual{j}", bs.synapses.DualExponential(tr, td), [W * a * (td - tr)])
        add(f"alpha{j}", bs.synapses.Alpha(float(tau)), [W * math.e * float(tau)])
    net = bs.Network(pops, projs, key=jax.random.key(0))
    assert network_fuses(net, "exp_fused") and not network_fuses(net, "exp_generic")
    state = jax.tree.map(_f64, net.init(jax.random.key(1), dt=DT))

    @eqx.filter_jit
    def run(net, state):
        body = lambda s, i: (net.step(s, None, t=i * DT, dt=DT)[0], None)
        return jax.lax.scan(body, state, jnp.arange(STEPS))[0]

    state = run(net, state)
    got = {k: np.asarray(state.populations[k].v) * c_m for k in expected}
    return got, {k: np.asarray(v, np.float64) for k, v in expected.items()}


def _f64(x):
    return x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x


def network_fuses(net, name):
    """Whether population ``name`` steps through its model's fused step."""
    incoming = tuple((p.synapse, p.output) for p in net.projections if p.post == name)
    return net.populations[name].fuse(incoming, bs.neurons.Drive()) is not None


@pytest.mark.parametrize(
    "output, c_m, scale",
    [
        (bs.synapses.Current(), 1.0, 1.0),
        # g (E - V) with E = 1 mV and V ~ 1e-8 mV: the charge is the conductance integral
        (bs.synapses.Conductance(e_rev=1.0), 1e8, 1.0),
    ],
)
def test_charge_per_spike_network(x64, output, c_m, scale):
    """Generic (kinetics + output modules) and fused (``ops.lif_update``) paths of
    ``Network.step``: every kinetics, dt / tau from 0.005 to 2."""
    got, expected = _charges(output, c_m)
    for name, want in expected.items():
        np.testing.assert_allclose(got[name], scale * want, rtol=1e-6, err_msg=name)


def _trace_run(step, tau, e_rev, steps):
    """Leak-free LIF driven by one arrival of W at step 0 through ``step`` (a fused op)."""
    n = len(tau)
    z = jnp.zeros(n)
    c_m = 1.0 if e_rev is None else 1e8
    kw = dict(
        tau_m=1e9, c_m=c_m, v_rest=0.0, v_th=1e9, v_reset=0.0, i_ext=0.0, t_ref=0.0, current=0.0
    )

    def body(carry, i):
        v, ref, s, g = carry
        e = jnp.where(i == 0, W, 0.0) * jnp.ones(n)
        v, s, ref, g = step(v, ref, s, g, e, jnp.asarray(tau), e_rev, kw)
        return (v, ref, s, g), None

    carry = (z, jnp.zeros(n, jnp.int32), z, z)
    return (
        np.asarray(jax.jit(lambda c: jax.lax.scan(body, c, jnp.arange(steps))[0])(carry)[0]) * c_m
    )


@pytest.mark.skipif(not _native.available(), reason="no native kernels")
@pytest.mark.parametrize("e_rev", [None, 1.0])
@pytest.mark.parametrize("exp_euler", [True, False])
def test_charge_per_spike_native_kernels(x64, e_rev, exp_euler):
    """The C++ kernels: ``lif_update`` and the network kernel (``lif_network_update``,
    an extra spike source through a one-synapse-per-target CSR layout)."""

    def single(v, ref, s, g, e, tau, e_rev, kw):
        v, s, ref, (g,) = bs.ops.lif_update(
            v,
            ref,
            s,
            [g],
            [e],
            tau_syn=[tau],
            e_rev=[e_rev],
            dt=DT,
            exp_euler=exp_euler,
            native=True,
            **kw,
        )
        return v, s, ref, g

    n = len(TAUS)
    layout = bs.conn.CSR(n, n, np.arange(n + 1), np.arange(n))  # source i -> neuron i

    def network(v, ref, s, g, e, tau, e_rev, kw):
        kw = dict(kw)
        pop = dict(
            v=v,
            refractory=ref,
            spike=s,
            current=kw.pop("current"),
            exp_euler=exp_euler,
            spike_fn=bs.spikes.Heaviside(),
            **kw,
        )
        proj = dict(
            layout=layout, weight=1.0, spikes=e, post=0, g=g, tau=tau, e_rev=e_rev, capacity=n
        )
        ((v, s, ref),), (g,) = bs.ops.lif_network_update([pop], [proj], dt=DT, native=True)
        return v, s, ref, g

    want = W * TAUS
    for step in (single, network):
        got = _trace_run(step, TAUS, e_rev, STEPS)
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=step.__name__)


@pytest.mark.parametrize(
    "kinetics",
    [
        bs.synapses.Exponential(0.2, step_mean=False),
        bs.synapses.DualExponential(0.1, 0.2, step_mean=False),
        bs.synapses.Alpha(0.2, step_mean=False),
    ],
)
def test_start_value_scheme(x64, kinetics):
    """``step_mean=False`` (Brian2's scheme, kept for COBAHH) returns the value at the
    start of each step: the sum over steps is the left Riemann sum of the analytic
    response, e.g. ``w dt / (1 - e^{-dt/tau})`` for ``Exponential`` (geometric series)."""
    dt, n, w = DT, 400, W
    t = np.arange(n) * dt
    if isinstance(kinetics, bs.synapses.Exponential):
        curve = w * np.exp(-t / 0.2)
        assert np.isclose(curve.sum() * dt, w * dt / -np.expm1(-dt / 0.2), rtol=1e-12)
    elif isinstance(kinetics, bs.synapses.DualExponential):
        curve = w * kinetics.peak_factor * (np.exp(-t / 0.2) - np.exp(-t / 0.1))
    else:
        curve = w * t / 0.2 * np.exp(1 - t / 0.2)
    state = kinetics.init(None, (1,), dt=dt)
    state = jax.tree.map(_f64, state)
    out = []
    for k in range(n):
        state, g = kinetics.step(state, jnp.full((1,), w if k == 0 else 0.0), t=k * dt, dt=dt)
        out.append(float(g[0]))
    np.testing.assert_allclose(out, curve, rtol=1e-9, atol=1e-12)
