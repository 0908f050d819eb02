"""Many steps of a network as one native call (``Network.step_block``,
``ops.lif_network_run``) against the per-step path it replaces in ``simulate``: ``step``
(one ``ops.lif_network_update`` per step) and ``ops.append_spikes`` per recorded
population. The block runs the same C++ step on the same state, so spike trains, event
buffers and states must be equal bit for bit (no tolerance); the per-step path is tested
against float64 NumPy and the modules in test_neurons_lif_fused.py and test_event_recording.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import native_run_calls

import brainsim as bs

native_only = pytest.mark.skipif(
    not bs.ops._native.available(), reason="native kernel unavailable"
)
N_STEPS = 1200  # >= 1000 steps, in chunks of 400 (three chunks, each one call)


@pytest.fixture
def counted(monkeypatch):
    """Records whether each ``lif_network_run`` call traced from now on applied."""
    return native_run_calls(monkeypatch)


def _assert_same(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b) and len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def _run(net, state, record, inputs=None, per_step=False):
    """``per_step``: ``inputs`` passed as a function of ``t``, so ``Network.step_block``
    does not apply and ``simulate`` steps one at a time (a new function: a new compiled
    program, never a cached block one)."""
    final, rec = bs.simulate(
        net,
        state,
        N_STEPS * 0.1,
        0.1,
        record=record,
        inputs=(lambda t: inputs) if per_step else inputs,
        chunk_steps=400,
        progress=False,
    )
    assert rec.compile_time > 0  # traced in this call (so native_run_calls saw it)
    events = {
        p: (rec[p]["spikes"].steps, rec[p]["spikes"].neurons, rec[p]["spikes"].shape) for p in rec
    }
    return final, events


def _izhikevich(n, key):
    """Izhikevich (2003)'s RS E / FS I network (the race's, ``benchmarks/_nonlif_models.py``:
    voltage jumps 0.5 / -2 mV, in-degree 80, 5 pA bias), I with per-neuron a and b."""
    ne = int(0.8 * n)
    r = np.random.default_rng(0).uniform(size=n - ne)
    izh = lambda size, a, b, d: bs.neurons.Izhikevich(
        size, a, b, -65.0, d, i_ext=5.0, v_init=bs.initializers.Normal(-65.0, 5.0)
    )
    conn = bs.conn.FixedProb(80.0 / n, allow_self=False)
    jump = lambda w: dict(weight=w, synapse=bs.synapses.Delta(), output=bs.synapses.VoltageJump())
    return bs.Network(
        {"E": izh(ne, 0.02, 0.2, 8.0), "I": izh(n - ne, 0.1 * (0.9 + 0.2 * r), 0.2, 2.0)},
        [
            bs.Projection(pre, post, conn, **jump(0.5 if pre == "E" else -2.0))
            for pre in ("E", "I")
            for post in ("E", "I")
        ],
        key=key,
    )


@native_only
@pytest.mark.parametrize(
    ("model", "op"),
    [("coba", "lif_network_run"), ("cuba", "lif_network_run"),
     ("izhikevich", "izhikevich_network_run")],
)  # fmt: skip
def test_simulate_block_equals_per_step(model, op, monkeypatch):
    """COBA, CUBA and Izhikevich's network (800 neurons, 1200 steps): the spike events of
    both populations and the final state from the block calls (``op``) equal those of
    the per-step path exactly; so do the final state without recording and with a
    constant input current. A buffer of 16 slots (far fewer than a chunk's spikes)
    overflows inside the block: the end offsets still count every spike, ``simulate``
    grows the buffer and reruns, and the events are again equal."""
    counted = native_run_calls(monkeypatch, op)
    make = _izhikevich if model == "izhikevich" else getattr(bs.models, model)
    net = make(800, key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=0.1)
    rec = {p: bs.Record("spikes", events=True) for p in ("E", "I")}
    small = {p: bs.Record("spikes", events=True, capacity=16) for p in ("E", "I")}
    drive = {"E": 5.0}
    block = [_run(net, state, rec), _run(net, state, None)[0], _run(net, state, rec, drive)]
    block.append(_run(net, state, small))
    assert counted and all(counted)  # every chunk was one block call
    counted.clear()
    step = [
        _run(net, state, rec, per_step=True),
        _run(net, state, None, per_step=True)[0],
        _run(net, state, rec, drive, per_step=True),
        _run(net, state, small, per_step=True),
    ]
    assert not counted  # no block call
    assert len(block[0][1]["E"][0]) > 300 and len(block[0][1]["I"][0]) > 50  # not vacuous
    for a, b in zip(block, step, strict=True):
        _assert_same(a, b)


def _loop(net, state, n_steps, bufs, inputs=None):
    """``n_steps`` calls of ``step`` and ``append_spikes``: the per-step oracle."""

    def body(carry, _):
        state, bufs = carry
        state, _ = net.step(state, inputs, t=0.0, dt=0.1)
        new, counts = {}, {}
        for name, (buf, off) in bufs.items():
            buf, end = bs.ops.append_spikes(state.populations[name].spike, buf, off)
            new[name], counts[name] = (buf, end), end - off
        return (state, new), counts

    return jax.lax.scan(body, (state, bufs), None, length=n_steps)


@native_only
def test_step_block_overflow_and_saturation(x64):
    """``step_block`` against a scan of ``step`` and ``append_spikes`` (float64 state): a
    buffer that overflows keeps the first positions that fit and the end counts every
    spike; an offset near 2**31 - 1 saturates the end there; the per-step counts and the
    final state are equal bit for bit."""
    net = bs.models.cuba(600, key=jax.random.key(2))
    state = net.init(jax.random.key(3), dt=0.1)
    state = jax.tree.map(lambda x: x.astype(jnp.float64) if x.dtype == jnp.float32 else x, state)
    near = np.iinfo(np.int32).max - 10  # I spikes 24 times in these steps
    bufs = {
        "E": (jnp.full(50, -1, jnp.int32), jnp.int32(3)),
        "I": (jnp.full(8, -1, jnp.int32), jnp.int32(near)),
    }
    f = jax.jit(lambda s, b: net.step_block(s, None, steps=300, dt=0.1, record=b))
    got_state, got = f(state, bufs)
    (want_state, want_bufs), want_counts = jax.jit(lambda s, b: _loop(net, s, 300, b))(state, bufs)
    assert got_state.populations["E"].v.dtype == jnp.float64
    _assert_same(got_state, want_state)
    for name in bufs:
        buf, end, counts = got[name]
        _assert_same((buf, end, counts), (*want_bufs[name], want_counts[name]))
    assert int(got["E"][1]) > 3 + 50  # overflowed, the end counts past the capacity
    assert int(got["I"][1]) == np.iinfo(np.int32).max  # saturated


def test_falls_back_where_not_equivalent(counted):
    """``step_block`` is ``None`` (``simulate`` steps one at a time, unchanged) for an
    input that is a function of time, a delay longer than one step, a batched state, and
    where the native kernels are off; ``simulate`` does not try it when a recording holds
    more than spike events (a membrane potential, a subset of neurons, a window, a
    dense raster)."""
    net = bs.models.coba(300, key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=0.1)
    block = lambda n, s, inputs=None: n.step_block(s, inputs, steps=4, dt=0.1)
    assert block(net, state, lambda t: {"E": t}) is None
    batched = net.init(jax.random.key(1), dt=0.1, batch_shape=(2,))
    assert block(net, batched) is None
    pops = dict(net.populations)
    projs = [
        bs.Projection(
            p.pre, p.post, p.conn, weight=p.weight, synapse=p.synapse, output=p.output, delay=0.3
        )
        for p in net.projections
    ]
    slow = bs.Network(pops, projs)
    assert block(slow, slow.init(jax.random.key(1), dt=0.1)) is None
    with pytest.MonkeyPatch.context() as m:
        m.setattr(bs.ops._native, "available", lambda: False)
        assert block(net, state) is None
    assert counted == [False, False]  # the batched state, the kernels off
    del counted[:]
    for record in (
        {"E": bs.Record(["spikes", "v"], events=True)},
        {"E": bs.Record("spikes", indices=[3, 1], events=True)},
        {"E": bs.Record("spikes", every=10, events=True)},
        {"E": bs.Record(["spikes"], events=False)},
    ):
        assert bs.simulate(net, state, 2.0, 0.1, record=record)[1].compile_time > 0
    assert counted == []


@native_only
def test_step_block_population_without_outgoing_projection():
    """A recorded population that is no projection's source (its spikes are appended by
    a scan of the spike vector, the others' from the next step's active rows) and one
    recorded that is: the buffers, ends, counts and state equal the per-step oracle."""
    lif = lambda n: bs.neurons.LIF(
        n, tau_m=20.0, v_rest=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=2.0,
        v_init=bs.initializers.Uniform(-60.0, -50.0),
    )  # fmt: skip
    proj = lambda pre, post, w: bs.Projection(pre, post, bs.conn.FixedProb(0.05), weight=w)
    net = bs.Network(
        {"A": lif(300), "B": lif(200)},
        [proj("A", "A", 20.0), proj("A", "B", 30.0)],
        key=jax.random.key(4),
    )
    state = net.init(jax.random.key(5), dt=0.1)
    bufs = {name: (jnp.full(4000, -1, jnp.int32), jnp.int32(0)) for name in ("B", "A")}
    got_state, got = jax.jit(lambda s, b: net.step_block(s, None, steps=200, dt=0.1, record=b))(
        state, bufs
    )
    (want_state, want_bufs), want_counts = jax.jit(lambda s, b: _loop(net, s, 200, b))(state, bufs)
    _assert_same(got_state, want_state)
    for name in bufs:
        _assert_same(got[name], (*want_bufs[name], want_counts[name]))
    assert int(got["A"][1]) > 100 and int(got["B"][1]) > 100  # not vacuous
