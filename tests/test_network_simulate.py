import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs


@pytest.fixture(scope="module")
def small_coba():
    net = bs.models.coba(400, key=jax.random.key(0))
    return net, net.init(jax.random.key(1))


def test_chunking_and_intervals_do_not_change_results(small_coba):
    """The same run in one chunk, in uneven chunks of 7 steps, and with every-5 sampling
    gives the same spikes and voltages (the pure-Python semantics of ``simulate``)."""
    net, state = small_coba
    rec = {"E": ["spikes", "v"]}
    s1, r1 = bs.simulate(net, state, 20.0, 0.1, record=rec)
    s2, r2 = bs.simulate(net, state, 20.0, 0.1, record=rec, chunk_steps=7)
    np.testing.assert_array_equal(r1["E"]["spikes"], r2["E"]["spikes"])
    np.testing.assert_array_equal(s1.populations["E"].v, s2.populations["E"].v)
    _, r3 = bs.simulate(
        net, state, 20.0, 0.1, record={"E": bs.Record(["spikes", "v"], indices=[3, 1, 4], every=5)}
    )
    np.testing.assert_array_equal(r3["E"]["v"], r1["E"]["v"][4::5][:, [3, 1, 4]])
    windows = r1["E"]["spikes"][:, [3, 1, 4]].reshape(-1, 5, 3).any(axis=1)
    np.testing.assert_array_equal(r3["E"]["spikes"], windows)
    np.testing.assert_allclose(r3["E"]["t"], 0.5 * np.arange(1, 41))


def test_manual_stepping_equals_simulate(small_coba):
    """``simulate`` is a scan of ``net.step``: a Python loop gives the same spikes."""
    net, state = small_coba
    _, rec = bs.simulate(net, state, 3.0, 0.1, record={"I": ["spikes"]})
    step = jax.jit(lambda s, t: net.step(s, None, t=t, dt=0.1))
    spikes = []
    for i in range(30):
        state, out = step(state, i * 0.1)
        spikes.append(np.asarray(out["I"]) > 0)
    np.testing.assert_array_equal(rec["I"]["spikes"], np.stack(spikes))


def test_spike_events_equal_manual_stepping(small_coba):
    """``Record(events=True)`` gives, across uneven chunks, for a neuron subset and from a
    too small initial capacity, exactly the (step, neuron) pairs of a Python loop over
    ``net.step``; every-3 windows give the
    events of the windowed raster; analysis functions give the same numbers on events as
    on the dense raster."""
    net, state = small_coba
    n_steps, sel = 99, list(range(300, 0, -3))  # 100 neurons, out of order
    step = jax.jit(lambda s, t: net.step(s, None, t=t, dt=0.1))
    manual, st = [], state
    for i in range(n_steps):
        st, out = step(st, i * 0.1)
        manual.append(np.asarray(out["E"]) > 0)
    manual = np.stack(manual)
    # capacity 2 (spikes per chunk): chunks with more make simulate grow the buffer and rerun
    rec = {"E": bs.Record("spikes", indices=sel, events=True, capacity=2)}
    _, r = bs.simulate(net, state, n_steps * 0.1, 0.1, record=rec, chunk_steps=7)
    ev = r["E"]["spikes"]
    assert isinstance(ev, bs.SpikeEvents) and ev.shape == (n_steps, len(sel))
    steps, neurons = np.nonzero(manual[:, sel])
    assert steps.size > 10  # the check is not vacuous
    assert np.bincount(steps).max() > 2  # so the capacity had to grow
    np.testing.assert_array_equal(ev.steps, steps)
    np.testing.assert_array_equal(ev.neurons, neurons)
    np.testing.assert_array_equal(ev.dense(), manual[:, sel])
    _, r3 = bs.simulate(
        net, state, n_steps * 0.1, 0.1, record={"E": bs.Record("spikes", every=3, events=True)}
    )
    windows = manual.reshape(-1, 3, manual.shape[1]).any(axis=1)
    np.testing.assert_array_equal(r3["E"]["spikes"].dense(), windows)
    for f in (bs.analysis.firing_rate, bs.analysis.population_rate, bs.analysis.isi_cv):
        np.testing.assert_array_equal(f(ev, 0.1), f(manual[:, sel], 0.1))


def test_spike_events_need_unbatched_population(small_coba):
    net, _ = small_coba
    state = net.init(jax.random.key(1), batch_shape=(2,))
    with pytest.raises(ValueError, match="events=True needs an unbatched"):
        bs.simulate(net, state, 1.0, 0.1, record={"E": bs.Record("spikes", events=True)})


def test_determinism():
    """Same seeds: identical spike trains; another connectivity seed: different ones."""

    def spikes(seed):
        net = bs.models.cuba(300, key=jax.random.key(seed))
        _, rec = bs.simulate(net, net.init(jax.random.key(5)), 50.0, 0.1, record={"E": ["spikes"]})
        return rec["E"]["spikes"]

    a, b, c = spikes(0), spikes(0), spikes(1)
    assert a.sum() > 0
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_init_inside_jit_and_vmap_equals_eager(small_coba):
    """``init`` under the caller's transformations gives the eagerly computed state bit
    for bit (the initializers' draws do not depend on the program around them:
    ``bs.initializers``). jit over the key; vmap over keys against one eager ``init`` per
    key; and a network of every population kind the initial potentials of which are
    random (LIF, AdEx, Izhikevich, Traub-Miles HH)."""
    net, state = small_coba
    jitted = jax.jit(lambda k: net.init(k, dt=0.1))(jax.random.key(1))
    _assert_same_state(state, jitted)
    keys = jax.random.split(jax.random.key(2), 3)
    stack = jax.vmap(lambda k: net.init(k, dt=0.1))(keys)
    for i in range(3):
        _assert_same_state(net.init(keys[i], dt=0.1), jax.tree.map(lambda x, i=i: x[i], stack))
    v = stack.populations["E"].v
    assert not np.array_equal(v[0], v[1])
    mixed = bs.Network(
        {
            "lif": bs.neurons.LIF(50, v_init=bs.initializers.Normal(-60.0, 4.0)),
            "adex": bs.neurons.AdEx(50, v_init=bs.initializers.Uniform(-70.0, -55.0)),
            "izh": bs.neurons.Izhikevich(50, v_init=bs.initializers.Normal(-65.0, 3.0)),
            "hh": bs.neurons.TraubMiles(50, v_init=bs.initializers.Normal(-65.0, 5.0)),
        }
    )
    key = jax.random.key(3)
    _assert_same_state(mixed.init(key, dt=0.1), jax.jit(lambda k: mixed.init(k, dt=0.1))(key))


def _assert_same_state(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_inputs_drive_populations():
    """External input as a dict or a function of t (pA): a LIF driven by 300 pA from t=5 ms
    spikes only after 5 ms."""
    net = bs.Network({"n": bs.neurons.LIF(2, t_ref=2.0)})
    state = net.init(jax.random.key(0))
    _, rec = bs.simulate(
        net,
        state,
        10.0,
        0.1,
        record={"n": ["spikes"]},
        inputs=lambda t: {"n": jnp.where(t >= 5.0, 3000.0, 0.0)},
    )
    first = np.nonzero(rec["n"]["spikes"][:, 0])[0][0]
    assert first >= 50
    _, rec = bs.simulate(
        net, state, 10.0, 0.1, record={"n": ["spikes"]}, inputs={"n": jnp.array([3000.0, 0.0])}
    )
    assert rec["n"]["spikes"][:, 0].sum() > 0 and rec["n"]["spikes"][:, 1].sum() == 0


def test_nan_is_detected():
    net = bs.Network({"n": bs.neurons.LIF(2)})
    with pytest.raises(FloatingPointError, match="population 'n' variable 'v'"):
        bs.simulate(net, net.init(jax.random.key(0)), 1.0, 0.1, inputs={"n": jnp.nan})


def _ei(**proj):
    pops = {"E": bs.neurons.LIF(10), "I": bs.neurons.LIF(5)}
    return lambda: bs.Network(
        pops,
        [bs.Projection(**{"pre": "E", "post": "I", "conn": bs.conn.FixedProb(0.5), **proj})],
        key=jax.random.key(0),
    )


@pytest.mark.parametrize(
    "make, match",
    [
        (_ei(pre="X"), "unknown pre population 'X'"),
        (_ei(post="Y"), "unknown post population 'Y'"),
        (
            _ei(conn=bs.conn.FixedProb(0.5).build(jax.random.key(0), 10, 10)[0]),
            "layout is 10x10 but the populations have sizes 10 and 5",
        ),
        (_ei(weight=np.ones(3)), "weight must be a scalar or have shape"),
        (_ei(weight=np.nan), "weight must be finite"),
        (_ei(capacity=100), "capacity must be an integer in"),
        (lambda: bs.models.coba(3, key=jax.random.key(0)), "n must be >= 5"),
    ],
)
def test_bad_network_raises(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dt=0.0), "dt must be > 0"),
        (dict(dt=-0.1), "dt must be > 0"),
        (dict(duration=1.05), "duration must be a whole multiple of dt"),
        (dict(duration=-1.0), "duration must be >= 0"),
        (dict(dt=0.05), "does not match the dt the state was initialised"),
        (dict(record={"X": ["spikes"]}), "unknown population 'X'"),
        (dict(record={"E": ["w"]}), "has no variable 'w'"),
        (dict(record={"E": bs.Record("v", every=3)}), "multiple of every"),
        (dict(record={"E": bs.Record("v", indices=[400])}), r"indices for 'E' must be in"),
    ],
)
def test_bad_simulate_arguments(kwargs, match):
    net = bs.Network(
        {"E": bs.neurons.LIF(10)},
        [bs.Projection("E", "E", bs.conn.FixedProb(0.5), delay=0.2)],
        key=jax.random.key(0),
    )
    state = net.init(jax.random.key(0), dt=0.1)
    args = dict(duration=1.0, dt=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        bs.simulate(net, state, args.pop("duration"), args.pop("dt"), **args)
