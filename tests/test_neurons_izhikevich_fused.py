"""``Izhikevich.fuse`` (``neurons/_izhikevich_fused.py``, ``bs.ops.izhikevich_update``): the
fused step against its specification, the composition of the modules' ``step``s that
``Network.step`` runs for populations that do not fuse. The reference network is the same
network with every ``Izhikevich`` replaced by a subclass (``fuse`` applies to
``Izhikevich`` itself only), so both runs share connectivity, initial state and input.

Every configuration the fused path claims is compared at every step of a 1 500-step run
with Poisson-like input (a random current every step, a Poisson source population), in
float32: Izhikevich (2003)'s network (RS/FS parameter sets, and its per-neuron mix),
a refractory period, one voltage-jump input and none, a batch of trials (with scalar
parameters: per-neuron ones broadcast against a batch only under NumPy rank promotion,
which the tests turn off). A step's result is compared, not two free runs: a recurrent
network turns a last-bit difference into a different trajectory once a neuron lands on its
peak."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

N_STEPS = 1500
DT = 0.1
ULP = float(np.finfo(np.float32).eps) * 64  # one float32 ulp of a value at 32-64 (mV, mV/ms)


class ModulesIzhikevich(bs.neurons.Izhikevich):
    """An ``Izhikevich`` that the network steps through the modules' composition."""


def _params(n, kind, per_neuron, seed):
    """RS (E) or FS (I) parameters; ``per_neuron``: Izhikevich (2003)'s random mix."""
    if not per_neuron:
        a, b, c, d = (0.02, 0.2, -65.0, 8.0) if kind == "E" else (0.1, 0.2, -65.0, 2.0)
        return dict(a=a, b=b, c=c, d=d)
    r = np.random.default_rng(seed).uniform(size=n).astype(np.float32)
    if kind == "E":
        return dict(
            a=np.full(n, 0.02, np.float32),
            b=np.full(n, 0.2, np.float32),
            c=-65.0 + 15.0 * r**2,
            d=8.0 - 6.0 * r**2,
        )
    return dict(
        a=0.02 + 0.08 * r,
        b=0.25 - 0.05 * r,
        c=np.full(n, -65.0, np.float32),
        d=np.full(n, 2.0, np.float32),
    )


def _network(cls, case):
    """E (80) and I (20) ``cls`` populations with voltage-jump synapses and a Poisson
    source onto E."""
    per, t_ref = case.get("per_neuron", False), case.get("t_ref", 0.0)
    init = bs.initializers.Uniform(-70.0, -55.0)
    pops = {
        k: cls(n, **_params(n, k, per, seed), t_ref=t_ref, i_ext=4.0, v_init=init)
        for k, n, seed in (("E", 80, 0), ("I", 20, 1))
    }
    pops["P"] = bs.neurons.PoissonSource(50, rate=200.0)
    jump = lambda: dict(synapse=bs.synapses.Delta(), output=bs.synapses.VoltageJump())
    if case.get("sparse"):  # E's only input the source, I none: one jump input, and none
        return bs.Network(
            pops,
            [bs.Projection("P", "E", bs.conn.FixedProb(0.2), 1.0, **jump())],
            key=jax.random.key(2),
        )
    projs = [
        bs.Projection("E", "E", bs.conn.FixedProb(0.1), 0.5, **jump()),
        bs.Projection("E", "I", bs.conn.FixedOutDegree(4), 0.5, **jump()),
        bs.Projection("I", "E", bs.conn.FixedProb(0.2), -1.0, **jump()),
        bs.Projection("I", "I", bs.conn.FixedProb(0.2), -1.0, **jump()),
        bs.Projection("P", "E", bs.conn.FixedProb(0.2), 1.0, **jump()),
    ]
    return bs.Network(pops, projs, key=jax.random.key(2))


CASES = {
    "rs-fs": dict(),
    "per-neuron": dict(per_neuron=True),
    "refractory": dict(t_ref=0.5),
    "batch": dict(batch=(3,), t_ref=0.5),
    "one-input-and-none": dict(sparse=True),
}


def _compare(fused, modules, case):
    """Along the fused network's trajectory, every step also taken by the modules' network
    from the same state and input. Per step: spike counts, mismatches that are not ties at
    the peak (the neuron that did not spike within ``8 ULP`` of ``v_peak``), and the
    largest differences of ``v`` and ``u`` where the spikes agree."""
    state = fused.init(jax.random.key(4), dt=DT, batch_shape=case.get("batch", ()))
    shape = state.populations["E"].v.shape

    def body(state, i):
        noise = jax.random.normal(jax.random.fold_in(jax.random.key(5), i), shape) * 6.0
        inputs = {"E": noise, "I": 2.0}
        a, spikes = fused.step(state, inputs, t=i * DT, dt=DT)
        b, _ = modules.step(state, inputs, t=i * DT, dt=DT)
        out = dict(spikes=(spikes["E"].sum(), spikes["I"].sum()), untied=0, dv=0.0, du=0.0)
        for pop in ("E", "I"):
            x, y = a.populations[pop], b.populations[pop]
            differ = x.spike != y.spike
            quiet = jnp.where(x.spike > 0, y.v, x.v)  # the side that did not spike
            out["untied"] += jnp.sum(differ & (30.0 - quiet > 8 * ULP))
            out["untied"] += jnp.sum((x.refractory != y.refractory) & ~differ)
            for var in ("v", "u"):
                d = jnp.where(differ, 0.0, jnp.abs(getattr(x, var) - getattr(y, var)))
                out["d" + var] = jnp.maximum(out["d" + var], jnp.max(d))
        return a, out

    return jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(N_STEPS)))(state)[1]


@pytest.mark.parametrize("name", list(CASES))
def test_fused_step_equals_modules(name):
    case = CASES[name]
    fused, modules = _network(bs.neurons.Izhikevich, case), _network(ModulesIzhikevich, case)
    for pop in ("E", "I"):  # the fused path is taken where the kernel runs
        incoming = tuple((p.synapse, p.output) for p in fused.projections if p.post == pop)
        assert fused.populations[pop].fuse(incoming, bs.neurons.Drive()) is not None
        assert modules.populations[pop].fuse(incoming, bs.neurons.Drive()) is None
    state = fused.init(jax.random.key(4), dt=DT)
    program = jax.jit(lambda s: fused.step(s, None, t=0.0, dt=DT)).lower(state).as_text()
    assert ("brainsim_izhikevich_update" in program) == bs.ops._native.available()
    got = _compare(fused, modules, case)
    size = int(np.prod(case.get("batch", ()), dtype=int))
    rate = lambda count, n: float(count.sum()) / (n * size * N_STEPS * DT * 1e-3)
    assert rate(got["spikes"][0], 80) > 5 and rate(got["spikes"][1], 20) > 5  # Hz
    # Spikes and refractory counters equal at every step, but for ties at the peak.
    assert int(got["untied"].sum()) == 0
    # The same operations in the same order; XLA folds products of constants (a dt) and
    # may contract a multiply-add into an FMA: a few roundings of terms up to the
    # membrane's size (the quadratic's terms reach ~300 mV/ms, times dt), 8 ulp of 64.
    assert float(got["dv"].max()) <= 8 * ULP
    assert float(got["du"].max()) <= 8 * ULP


def _izhikevich_leaves(out):
    """The Izhikevich populations' states and the spikes of a ``Network.step`` result."""
    state, spikes = out
    return jax.tree.leaves((state.populations["E"], state.populations["I"], spikes))


def test_fused_step_vmap():
    """``jax.vmap`` of the fused step over stacked states equals the step of each state
    (one kernel call for the batch); over a parameter, it equals each parameter's step
    (the batched parameter takes the modules' path) to the paths' rounding."""
    net = _network(bs.neurons.Izhikevich, {})
    states = jax.vmap(lambda k: net.init(k, dt=DT))(jax.random.split(jax.random.key(7), 3))
    step = lambda n, s: n.step(s, {"E": 3.0}, t=0.0, dt=DT)
    batched = jax.jit(jax.vmap(lambda s: step(net, s)))
    if bs.ops._native.available():
        assert "brainsim_izhikevich_update" in batched.lower(states).as_text()
    got = batched(states)
    for j in range(3):
        one = jax.jit(lambda s: step(net, s))(jax.tree.map(lambda x, j=j: x[j], states))
        for a, b in zip(_izhikevich_leaves(one), _izhikevich_leaves(got), strict=True):
            np.testing.assert_array_equal(a, b[j])
    ds = jnp.array([2.0, 6.0, 8.0])
    with_d = lambda d: eqx.tree_at(lambda n: n.populations["E"].d, net, d)
    state = jax.tree.map(lambda x: x[0], states)
    got = jax.jit(jax.vmap(lambda d: step(with_d(d), state)))(ds)
    for j in range(3):
        one = jax.jit(lambda d: step(with_d(d), state))(ds[j])
        for a, b in zip(_izhikevich_leaves(one), _izhikevich_leaves(got), strict=True):
            np.testing.assert_allclose(a, b[j], rtol=0, atol=8 * ULP)  # as above


def test_fused_step_gradient_is_the_modules():
    """Derivatives go through the modules' composition (the surrogate of the spike)."""
    fused, modules = _network(bs.neurons.Izhikevich, {}), _network(ModulesIzhikevich, {})
    state = fused.init(jax.random.key(4), dt=DT)

    def loss(net, current):
        def body(s, i):
            s, _ = net.step(s, {"E": current}, t=i * DT, dt=DT)
            return s, None

        s, _ = jax.lax.scan(body, state, jnp.arange(20))
        return jnp.sum(s.populations["E"].v) + jnp.sum(s.populations["I"].u)

    current = jnp.full(80, 3.0)
    got = jax.jit(jax.grad(lambda c: loss(fused, c)))(current)
    want = jax.jit(jax.grad(lambda c: loss(modules, c)))(current)
    assert float(jnp.abs(want).max()) > 0
    # The same tangent program; the primal values it is taken at differ by the paths'
    # rounding (above), relative 1e-5 after 20 steps of factors of order one.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fuse_declines_what_it_does_not_compute():
    """No fused step for a subclass, another integrator or spike function, other synapse
    kinetics or outputs, or a drive with a conductance or a voltage jump."""
    izh = bs.neurons.Izhikevich(5)
    jump = (bs.synapses.Delta(), bs.synapses.VoltageJump())
    drive = bs.neurons.Drive()
    assert izh.fuse((jump,), drive) is not None
    assert izh.fuse((), drive) is not None
    assert ModulesIzhikevich(5).fuse((jump,), drive) is None
    assert bs.neurons.Izhikevich(5, integrator=bs.integrators.RK4()).fuse((jump,), drive) is None
    assert bs.neurons.Izhikevich(5, spike=bs.spikes.UltraSpike()).fuse((jump,), drive) is None
    exp, cur = bs.synapses.Exponential(5.0), bs.synapses.Current()
    assert izh.fuse(((exp, bs.synapses.VoltageJump()),), drive) is None
    assert izh.fuse(((bs.synapses.Delta(), cur),), drive) is None
    assert izh.fuse((jump,), bs.neurons.Drive(jump=jnp.ones(5))) is None
    assert izh.fuse((jump,), bs.neurons.Drive(conductance=jnp.ones(5))) is None


def test_traced_dt_takes_the_modules_path():
    """A ``dt`` traced by the caller's ``jax.jit`` (the kernel takes it as an attribute):
    the op runs its reference, the modules' composition, with the same result."""
    fused, modules = _network(bs.neurons.Izhikevich, {}), _network(ModulesIzhikevich, {})
    state = fused.init(jax.random.key(4), dt=DT)
    step = lambda net, dt: net.step(state, {"E": 3.0}, t=0.0, dt=dt)
    got = jax.jit(lambda dt: step(fused, dt))(DT)
    want = jax.jit(lambda dt: step(modules, dt))(DT)
    for a, b in zip(_izhikevich_leaves(got), _izhikevich_leaves(want), strict=True):
        np.testing.assert_array_equal(a, b)


def test_op_outside_the_kernel_is_the_modules():
    """``bs.ops.izhikevich_update`` called on what its kernel does not compute (an
    exponential current synapse) gives the modules' composition, not the kernel's step."""
    izh = bs.neurons.Izhikevich(6, i_ext=10.0)
    state = izh.init(jax.random.key(0))
    kinetics, output = bs.synapses.Exponential(5.0), bs.synapses.Current()
    syn = kinetics.init(None, (6,))
    events = jnp.linspace(0.0, 50.0, 6)
    got = bs.ops.izhikevich_update(
        izh, ((kinetics, output),), state, (syn,), (events,), bs.neurons.Drive(), t=0.0, dt=DT
    )
    syn, g = kinetics.step(syn, events, t=0.0, dt=DT)
    want_state, spikes = izh.step(state, bs.neurons.Drive() + output(g, state.v), t=0.0, dt=DT)
    want = jax.tree.leaves((want_state, (syn,), spikes))
    for a, b in zip(jax.tree.leaves(got), want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_whole_run_declines_what_it_does_not_run():
    """``IzhikevichFused.run_network`` (``Network.step_block``): a network with a
    population that is not a fused Izhikevich (the Poisson source) or with a subclass
    steps one call at a time (``None``); E and I alone run whole, and their block equals
    the steps of the modules' network (``ModulesIzhikevich``, XLA's program of
    ``Izhikevich.step``) over 1 500 steps: the spikes of every step (as event buffers)
    and the final state, bit for bit."""
    drive = {"E": 10.0, "I": 5.0}
    block = lambda net, state, record=None: net.step_block(
        state, drive, steps=N_STEPS, dt=DT, record=record
    )
    for cls in (bs.neurons.Izhikevich, ModulesIzhikevich):
        net = _network(cls, {})
        assert block(net, net.init(jax.random.key(4), dt=DT)) is None

    def alone(cls):
        net = _network(cls, {})
        pops = {k: v for k, v in net.populations.items() if k != "P"}
        return bs.Network(pops, [p for p in net.projections if p.pre != "P"])

    fused, modules = alone(bs.neurons.Izhikevich), alone(ModulesIzhikevich)
    state = fused.init(jax.random.key(4), dt=DT)
    record = {p: (jnp.full((40_000,), -1, jnp.int32), jnp.int32(0)) for p in ("E", "I")}
    got_state, got = jax.jit(lambda s, r: block(fused, s, r))(state, record)

    def body(s, i):
        return modules.step(s, drive, t=i * DT, dt=DT)

    want_state, want = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(N_STEPS)))(state)
    for pop in ("E", "I"):
        raster = np.asarray(want[pop]) != 0
        steps, neurons = np.nonzero(raster)  # row-major: the buffer's order
        buf, end, counts = (np.asarray(x) for x in got[pop])
        np.testing.assert_array_equal(counts, raster.sum(axis=1))
        np.testing.assert_array_equal(buf[: int(end)], neurons)
        for a, b in zip(
            jax.tree.leaves(got_state.populations[pop]),
            jax.tree.leaves(want_state.populations[pop]),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    assert int(np.asarray(want["E"]).sum()) > 400  # not vacuous (E ~ 40 Hz)
    assert int(np.asarray(want["I"]).sum()) > 300
