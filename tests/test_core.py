"""``bs.simulate_core`` (``brainsim/core.py``) and ``bs.simulate`` under JAX
transformations: ``jax.jit`` of the core, ``jax.vmap`` over initial-state seeds, network
seeds and a parameter sweep against separate runs, ``jax.grad`` against finite differences of the
smooth relaxation, and states stacked by ``jax.vmap(net.init)``."""

import importlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

DT = 0.1
RECORD = {"E": ["spikes", "v"], "I": ["spikes"]}


@pytest.fixture(scope="module")
def coba():
    return bs.models.coba(500, key=jax.random.key(0))


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_jit_core_equals_simulate(coba):
    """The core under ``jax.jit`` runs the steps ``simulate`` runs in chunks from the
    host: the same recordings and final state, bit for bit."""
    state = coba.init(jax.random.key(1), dt=DT)
    final, rec = jax.jit(lambda s: bs.simulate_core(coba, s, 100.0, DT, record=RECORD))(state)
    want_final, want = bs.simulate(coba, state, 100.0, DT, record=RECORD, chunk_steps=400)
    assert isinstance(rec, bs.Recording) and rec["E"]["spikes"].shape == (1000, 400)
    assert want["E"]["spikes"].sum() > 200  # not vacuous
    _assert_same(final, want_final)
    for pop in RECORD:
        # spikes: the spike values here, booleans from simulate
        np.testing.assert_array_equal(rec[pop]["spikes"] != 0, want[pop]["spikes"])
        np.testing.assert_array_equal(rec[pop]["t"], want[pop]["t"])
    np.testing.assert_array_equal(rec["E"]["v"], want["E"]["v"])


def test_simulate_under_jit_is_the_core(coba):
    state = coba.init(jax.random.key(1), dt=DT)
    _, rec = jax.jit(lambda s: bs.simulate(coba, s, 20.0, DT, record=RECORD))(state)
    _, want = bs.simulate_core(coba, state, 20.0, DT, record=RECORD)
    _assert_same(rec, want)
    with pytest.raises(ValueError, match=r"events=True\) needs bs.simulate"):
        bs.simulate_core(coba, state, 1.0, DT, record={"E": bs.Record("spikes", events=True)})


def test_vmap_over_init_seeds(coba):
    """``jax.vmap`` of ``simulate`` over the initial states of 8 seeds of COBA N = 500:
    every trial equals its separate run, spike for spike and bit for bit in the
    membrane; so does ``simulate`` of the state stack (``jax.vmap(net.init)``, a batch)."""
    keys = jax.random.split(jax.random.key(2), 8)
    states = jax.vmap(lambda k: coba.init(k, dt=DT))(keys)
    run = lambda s: bs.simulate(coba, s, 100.0, DT, record=RECORD, progress=False)
    final, rec = jax.vmap(run)(states)
    s_final, s_rec = run(states)
    assert s_rec["E"]["spikes"].shape == (1000, 8, 400)
    counts = []
    for j in range(len(keys)):
        one_final, one = run(jax.tree.map(lambda x, j=j: x[j], states))
        counts.append(one["E"]["spikes"].sum())
        for pop in RECORD:
            for var in RECORD[pop]:
                np.testing.assert_array_equal(rec[pop][var][j], one[pop][var])
                np.testing.assert_array_equal(s_rec[pop][var][:, j], one[pop][var])
        _assert_same(jax.tree.map(lambda x, j=j: x[j], final), one_final)
        _assert_same(jax.tree.map(lambda x, j=j: x[j], s_final), one_final)
    assert min(counts) > 200 and len(set(counts)) > 1  # active and different trials


@pytest.mark.parametrize("conn, n_seeds, duration", [("dense", 8, 100.0), ("procedural", 4, 50.0)])
def test_vmap_over_network_seeds(conn, n_seeds, duration):
    """``jax.vmap`` over network seeds of COBA N = 500, the connectivity drawn from the
    traced key: 8 seeds of ``dense=True`` (``bs.conn.FixedProb(p, dense=True)``) and 4
    of ``procedural=True`` (its seed drawn from the key). Every trial equals the network
    built eagerly with that key and run separately, spike for spike and bit for bit in
    the membrane; under ``jax.jit`` too. The networks differ; a dense draw has COBA's
    connection probability 80/500 (within 5 standard deviations), no self-synapses."""
    keys = jax.random.split(jax.random.key(7), n_seeds)
    state_key = jax.random.key(1)
    build = lambda key: bs.models.coba(500, key=key, **{conn: True})

    def run(key):
        net = build(key)
        return bs.simulate(net, net.init(state_key, dt=DT), duration, DT, record=RECORD)

    final, rec = jax.vmap(run)(keys)
    counts = []
    for j, key in enumerate(keys):
        net = build(key)
        if conn == "dense":
            mask = np.asarray(net.projections[0].conn.mask)  # E -> E
            p, pairs = 80 / 500, 400 * 399
            assert abs(mask.sum() / pairs - p) < 5 * np.sqrt(p * (1 - p) / pairs)
            assert not mask.diagonal().any()
        one_final, one = bs.simulate(
            net, net.init(state_key, dt=DT), duration, DT, record=RECORD, progress=False
        )
        counts.append(int(one["E"]["spikes"].sum()))
        for pop in RECORD:
            for var in RECORD[pop]:
                np.testing.assert_array_equal(rec[pop][var][j], one[pop][var])
        _assert_same(jax.tree.map(lambda x, j=j: x[j], final), one_final)
        if j == 0:
            _, jitted = jax.jit(run)(key)
            np.testing.assert_array_equal(jitted["E"]["v"], one["E"]["v"])
    assert min(counts) > 100 and len(set(counts)) == len(counts)  # active, different


def test_numpy_builders_refuse_a_traced_key():
    with pytest.raises(ValueError, match=r"needs a concrete key.*FixedProb\(p, dense=True\)"):
        jax.jit(lambda k: bs.models.coba(100, key=k).projections[0].weight)(jax.random.key(0))


def _with_exc_weight(net, w):
    where = lambda n: [p.weight for p in n.projections if p.pre == "E"]
    return eqx.tree_at(where, net, [w] * len(where(net)))


def test_vmap_over_weight_sweep(coba):
    """``jax.vmap`` over 16 excitatory weights (3-9 nS, across COBA's asynchronous
    regime): each trial's spike raster equals that of its separate run."""
    state = coba.init(jax.random.key(3), dt=DT)
    weights = jnp.linspace(3.0, 9.0, 16)
    record = {"E": ["spikes"], "I": ["spikes"]}
    sweep = jax.vmap(
        lambda w: bs.simulate(_with_exc_weight(coba, w), state, 50.0, DT, record=record)[1]
    )(weights)
    rates = []
    for j, w in enumerate(weights):
        _, one = bs.simulate(_with_exc_weight(coba, w), state, 50.0, DT, record=record)
        rates.append(one["E"]["spikes"].mean())
        for pop in record:
            np.testing.assert_array_equal(sweep[pop]["spikes"][j], one[pop]["spikes"])
    assert rates[-1] > rates[0] > 0  # the sweep changes the activity


class SigmoidSpike(bs.spikes.AbstractSpike):
    """A smooth spike: ``sigmoid(x / width)`` (the relaxation of ``H(x)`` whose derivative
    is the ``bs.spikes.Sigmoid`` surrogate's)."""

    width: float = 1.0

    def __call__(self, x):
        return jax.nn.sigmoid(x / self.width)


def _smooth_net(tau_m, w_e, tau_e):
    """A small COBA-like E/I network whose every step is smooth in its parameters: the
    sigmoid spike, no refractory period, conductance synapses, Poisson input."""
    lif = lambda n: bs.neurons.LIF(
        n,
        tau_m=tau_m,
        v_rest=-60.0,
        v_th=-50.0,
        v_reset=-60.0,
        i_ext=150.0,
        v_init=bs.initializers.Uniform(-60.0, -50.0),
        spike=SigmoidSpike(1.0),
    )
    exc = dict(synapse=bs.synapses.Exponential(tau_e), output=bs.synapses.Conductance(0.0))
    inh = dict(synapse=bs.synapses.Exponential(10.0), output=bs.synapses.Conductance(-80.0))
    return bs.Network(
        {"E": lif(40), "I": lif(10), "P": bs.neurons.PoissonSource(20, rate=50.0)},
        [
            bs.Projection("E", "E", bs.conn.FixedProb(0.2), w_e, **exc),
            bs.Projection("E", "I", bs.conn.FixedProb(0.2), w_e, **exc),
            bs.Projection("I", "E", bs.conn.FixedProb(0.3), 4.0, **inh),
            bs.Projection("P", "E", bs.conn.FixedProb(0.3), 2.0, **exc),
        ],
        key=jax.random.key(4),
    )


def test_grad_matches_finite_differences(x64):
    """``jax.grad`` of a mean rate (the mean spike value over 50 ms) through
    ``bs.simulate`` w.r.t. the membrane time constant, the excitatory weight and the
    excitatory synaptic time constant, against central differences, float64. With the
    sigmoid spike the whole run is smooth, so the derivative exists and central
    differences with step 1e-4 (relative) are accurate to ~1e-8 (truncation h^2 f''' and
    rounding 1e-16 / h): 1e-5 relative leaves room and would catch any wrong term (a
    missing reset or synaptic path changes the gradient by far more)."""
    base = jnp.array([20.0, 2.0, 5.0])  # tau_m (ms), w_e (nS), tau_e (ms)
    net0 = _smooth_net(*base)
    state = net0.init(jax.random.key(5), dt=DT)
    exc = [k for k, p in enumerate(net0.projections) if p.pre in ("E", "P")]

    def rate(p):
        net = eqx.tree_at(
            lambda n: (
                [n.populations[k].tau_m for k in ("E", "I")]
                + [n.projections[k].weight for k in exc[:2]]
                + [n.projections[k].synapse.tau for k in exc]
            ),
            net0,
            [p[0], p[0], p[1], p[1]] + [p[2]] * len(exc),
        )
        _, rec = bs.simulate(net, state, 50.0, DT, record={"E": ["spikes"]})
        return jnp.mean(rec["E"]["spikes"])

    # Under jax.jit, simulate records the spike values (not booleans): the smooth rate itself.
    grad = jax.grad(rate)(base)
    rate = jax.jit(rate)
    value = float(rate(base))
    assert 0.01 < value < 0.9  # in the sigmoid's sensitive range, not saturated
    for j in range(3):
        h = 1e-4 * float(base[j])
        e = jnp.zeros(3).at[j].set(h)
        fd = (float(rate(base + e)) - float(rate(base - e))) / (2 * h)
        assert abs(fd) > 1e-6  # each parameter matters
        np.testing.assert_allclose(grad[j], fd, rtol=1e-5)


def test_nan_raises_in_core():
    """A non-finite state raises at run time through ``equinox.error_if``, also under
    ``jax.jit`` where no host check can run."""
    net = bs.Network({"E": bs.neurons.LIF(3, tau_m=20.0)})
    state = net.init(jax.random.key(0), dt=DT)
    bad = {"E": jnp.array([0.0, jnp.nan, 0.0])}
    run = jax.jit(lambda s: bs.simulate_core(net, s, 1.0, DT, inputs=bad))
    with pytest.raises(Exception, match="non-finite state values"):
        jax.block_until_ready(run(state))


def test_compiled_cache_is_bounded():
    """``simulate`` reuses a compiled chunk (no compile time) while it is among the
    ``CACHE_SIZE`` most recently used programs, and compiles again once evicted."""
    net = bs.Network({"E": bs.neurons.LIF(2)})
    state = net.init(jax.random.key(0), dt=DT)
    first = lambda: bs.simulate(net, state, 1.0, DT)[1].compile_time
    first()
    assert first() == 0.0
    for k in range(importlib.import_module("brainsim.simulate").CACHE_SIZE):
        bs.simulate(net, state, 2.0 + k * 1.6, DT)  # distinct lengths: distinct programs
    assert first() > 0.0


def test_continuing_from_another_t0_compiles_nothing():
    """``t0`` is traced, not baked into the program: continuing a Poisson-driven run with
    ``t0=`` reuses the compiled chunk and gives the spikes of one uninterrupted run
    (time enters the step only through ``t0 + i * dt``, the same float either way)."""
    net = bs.Network(
        {"P": bs.neurons.PoissonSource(20, rate=300.0), "E": bs.neurons.LIF(10, tau_m=10.0)},
        [bs.Projection("P", "E", bs.conn.AllToAll(), weight=20.0)],  # ~20 Hz
    )
    state = net.init(jax.random.key(0), dt=DT)
    _, whole = bs.simulate(net, state, 40.0, DT, record={"E": ["spikes", "v"]})
    mid, first = bs.simulate(net, state, 20.0, DT, record={"E": ["spikes", "v"]})
    _, second = bs.simulate(net, mid, 20.0, DT, record={"E": ["spikes", "v"]}, t0=20.0)
    assert second.compile_time == 0.0
    joined = np.concatenate([first["E"]["spikes"], second["E"]["spikes"]])
    assert joined.any() and np.array_equal(joined, whole["E"]["spikes"])
    joined_v = np.concatenate([first["E"]["v"], second["E"]["v"]])
    np.testing.assert_array_equal(joined_v, whole["E"]["v"])


def test_bad_arguments_raise_before_tracing(coba):
    """``simulate_core`` checks its arguments as ``simulate`` does, naming them."""
    state = coba.init(jax.random.key(1), dt=DT)
    with pytest.raises(ValueError, match="duration"):
        bs.simulate_core(coba, state, -1.0, DT)
    with pytest.raises(ValueError, match=r"dt must be > 0 \(ms\), got 0"):
        bs.simulate_core(coba, state, 1.0, 0.0)
    with pytest.raises(ValueError, match="unknown population"):
        bs.simulate_core(coba, state, 1.0, DT, inputs={"X": 1.0})
    with pytest.raises(ValueError, match="no variable 'w'"):
        bs.simulate_core(coba, state, 1.0, DT, record={"E": ["w"]})


def test_final_state_only(coba):
    """With nothing recorded the core may run the steps as one native call
    (``Network.step_block``); under ``jax.jit`` it equals ``simulate`` bit for bit, under
    ``jax.vmap`` the separate runs, and its gradient equals the one through the per-step
    scan (taken when something is recorded)."""
    state = coba.init(jax.random.key(1), dt=DT)
    final, rec = jax.jit(lambda s: bs.simulate_core(coba, s, 50.0, DT))(state)
    assert len(rec) == 0
    _assert_same(final, bs.simulate(coba, state, 50.0, DT)[0])
    states = jax.vmap(lambda k: coba.init(k, dt=DT))(jax.random.split(jax.random.key(2), 3))
    finals, _ = jax.vmap(lambda s: bs.simulate_core(coba, s, 20.0, DT))(states)
    for j in range(3):
        one = bs.simulate_core(coba, jax.tree.map(lambda x, j=j: x[j], states), 20.0, DT)[0]
        _assert_same(jax.tree.map(lambda x, j=j: x[j], finals), one)

    def loss(w, record):
        net = eqx.tree_at(lambda n: n.projections[0].weight, coba, w)
        final, _ = bs.simulate_core(net, state, 20.0, DT, record=record)
        return final.populations["E"].v.mean()

    g_block, g_scan = (jax.grad(loss)(6.0, r) for r in (None, {"E": ["v"]}))
    assert abs(float(g_scan)) > 1e-3
    np.testing.assert_array_equal(g_block, g_scan)  # the same derivative program


class ThetaState(eqx.Module):
    theta: jax.Array  # (..., n) phase, rad
    spike: jax.Array  # (..., n)


class Theta(bs.neurons.AbstractNeuron):
    """A neuron model written outside the library (Ermentrout-Kopell theta neurons):
    dtheta/dt = (1 - cos theta) + (1 + cos theta)(eta + I/c) per ms; a spike when theta
    passes pi (here: a smooth pulse of width ``width`` around pi, so it is differentiable).
    """

    size: int = eqx.field(static=True)
    eta: float | jax.Array = 0.05
    c: float = 100.0  # pA per unit of eta
    width: float = 0.3

    def init(self, key, batch_shape=()):
        theta = jax.random.uniform(key, (*batch_shape, self.size), minval=-np.pi, maxval=np.pi)
        return ThetaState(theta, jnp.zeros_like(theta))

    def step(self, state, drive, *, t, dt):
        drive = bs.neurons.Drive() if drive is None else drive
        i = drive.current  # current input only
        cos = jnp.cos(state.theta)
        theta = state.theta + dt * ((1 - cos) + (1 + cos) * (self.eta + i / self.c))
        theta = jnp.mod(theta + np.pi, 2 * np.pi) - np.pi
        spike = jnp.exp(-((jnp.abs(theta) - np.pi) ** 2) / (2 * self.width**2))
        return ThetaState(theta, spike), spike


def test_a_model_written_outside_runs_and_transforms(x64):
    """A new neuron model (a subclass, no library change) in a recurrent network: runs in
    ``simulate``, ``jax.vmap`` over its parameter equals separate runs, and ``jax.grad``
    of its mean activity w.r.t. that parameter matches central differences (float64,
    smooth model: step 1e-5, 1e-5 relative as in test_grad_matches_finite_differences)."""
    net = bs.Network(
        {"T": Theta(30)},
        [bs.Projection("T", "T", bs.conn.FixedProb(0.3), 0.5, bs.synapses.Exponential(5.0))],
        key=jax.random.key(0),
    )
    state = net.init(jax.random.key(1), dt=DT)

    def activity(eta):
        n = eqx.tree_at(lambda n: n.populations["T"].eta, net, eta)
        _, rec = bs.simulate(n, state, 20.0, DT, record={"T": ["spikes"]})
        return jnp.mean(rec["T"]["spikes"])

    etas = jnp.array([0.02, 0.05, 0.1])
    swept = jax.vmap(activity)(etas)
    for j, eta in enumerate(etas):
        np.testing.assert_array_equal(swept[j], jax.jit(activity)(eta))
    assert float(swept[2]) > float(swept[0]) > 0.0
    g = jax.grad(activity)(0.05)
    h = 1e-5
    fd = (float(jax.jit(activity)(0.05 + h)) - float(jax.jit(activity)(0.05 - h))) / (2 * h)
    assert abs(fd) > 1e-3
    np.testing.assert_allclose(g, fd, rtol=1e-5)
