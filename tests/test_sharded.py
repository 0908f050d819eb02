"""Neuron-sharded runs (jax.shard_map) reproduce the single-device spike trains."""

import functools
import textwrap
from pathlib import Path
from unittest import mock

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import driven_lif, on_eight_devices

import brainsim as bs
import brainsim.sharded as bs_sharded
from brainsim.ops.procedural import procedural_matvec_window

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json
    import jax, numpy as np
    import brainsim as bs

    assert jax.device_count() == 8, jax.devices()
    net = bs.models.coba(800, key=jax.random.key(0), procedural=True)
    state = net.init(jax.random.key(1))
    _, rec = bs.simulate(net, state, 100.0, 0.1, record={"E": ["spikes"], "I": ["spikes"]})
    _, sharded = bs.simulate_sharded(net, state, 100.0, 0.1)
    _, chunked = bs.simulate_sharded(net, state, 100.0, 0.1, chunk_steps=300, events=True)
    out = {}
    for p in ("E", "I"):
        one = np.asarray(rec[p]["spikes"]) != 0
        out[p] = dict(n=int(one.sum()), equal=bool(np.array_equal(one, sharded[p])),
                      shape=list(sharded[p].shape),
                      events_equal=bool(np.array_equal(one, chunked[p].dense())))

    # Synchronous bursts (every neuron starts above threshold): more active neurons per
    # shard than list slots, so the exchange falls back to dense vectors; normal weights.
    pop = bs.neurons.LIF(160, tau_m=20.0, c_m=200.0, v_rest=-60.0, v_th=-50.0,
                         v_reset=-60.0, t_ref=5.0, i_ext=300.0,
                         v_init=bs.initializers.Uniform(-50.0, -45.0),
                         integrator=bs.integrators.Euler())
    conn = bs.conn.ProceduralFixedOutDegree(
        20, weights=bs.conn.NormalWeights(1.0, 0.3), allow_self=False)
    net = bs.Network({"A": pop}, [bs.Projection(
        "A", "A", conn, weight=3.0, synapse=bs.synapses.Exponential(5.0),
        output=bs.synapses.Conductance(0.0))], key=jax.random.key(2))
    state = net.init(jax.random.key(3))
    _, rec = bs.simulate(net, state, 50.0, 0.1, record={"A": ["spikes"]})
    _, sharded = bs.simulate_sharded(net, state, 50.0, 0.1)
    one = np.asarray(rec["A"]["spikes"]) != 0
    # events from 8-slot device buffers: the 20-neuron burst of step 0 alone overflows them
    _, ev = bs.simulate_sharded(net, state, 50.0, 0.1, chunk_steps=170, events=True,
                                capacity=8)
    out["burst"] = dict(n=int(one.sum()), first=int(one[0].sum()),
                        equal=bool(np.array_equal(one, sharded["A"])),
                        events_equal=bool(np.array_equal(one, ev["A"].dense())),
                        events_sorted=bool(np.all(np.diff(ev["A"].steps) >= 0)))
    # per-synapse weights and delays (a Delayed layout built whole), cut into 8 blocks
    from test_multiprocess import weighted_network
    net = weighted_network()
    state = net.init(jax.random.key(3))
    _, rec = bs.simulate(net, state, 100.0, 0.1, record={"A": ["spikes"]})
    _, ev = bs.simulate_sharded(net, state, 100.0, 0.1, events=True)
    delayed = np.asarray(rec["A"]["spikes"]) != 0
    out["delayed"] = dict(n=int(delayed.sum()), equal=bool(np.array_equal(delayed,
                                                                           ev["A"].dense())))
    # Poisson-driven (PoissonCounts and PoissonSource, each a key): every device draws the
    # whole population from the same key and keeps its block
    lif = bs.neurons.LIF(160, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0,
                         t_ref=2.0, v_init=bs.initializers.Uniform(-60.0, -50.0))
    drive = lambda name, conn, w: bs.Projection(
        name, "A", conn, weight=w, synapse=bs.synapses.Exponential(2.0))
    net = bs.Network(
        {"A": lif, "C": bs.neurons.PoissonCounts(160, rate=2000.0),
         "S": bs.neurons.PoissonSource(80, rate=50.0)},
        [drive("C", bs.conn.FixedProb(0.05), 40.0), drive("C", bs.conn.OneToOne(), 100.0),
         drive("S", bs.conn.ProceduralFixedOutDegree(10), 30.0),
         drive("A", bs.conn.FixedProb(0.1, allow_self=False), -20.0)],
        key=jax.random.key(5))
    state = net.init(jax.random.key(6))
    _, rec = bs.simulate(net, state, 100.0, 0.1, record={p: ["spikes"] for p in "ACS"})
    _, ev = bs.simulate_sharded(net, state, 100.0, 0.1, events=True)
    out["poisson"] = {p: dict(n=int((np.asarray(rec[p]["spikes"]) != 0).sum()),
                              equal=bool(np.array_equal(np.asarray(rec[p]["spikes"]) != 0,
                                                        ev[p].dense())))
                      for p in "ACS"}
    # procedural connectivity between padded populations: COBA of 900 neurons, its 180
    # inhibitory ones padded to 184 (23 per device)
    net = bs.models.coba(900, key=jax.random.key(0), procedural=True)
    state = net.init(jax.random.key(1))
    _, rec = bs.simulate(net, state, 100.0, 0.1, record={"E": ["spikes"], "I": ["spikes"]})
    _, ev = bs.simulate_sharded(net, state, 100.0, 0.1, events=True)
    out["padded"] = {p: dict(n=int((np.asarray(rec[p]["spikes"]) != 0).sum()),
                             equal=bool(np.array_equal(np.asarray(rec[p]["spikes"]) != 0,
                                                       ev[p].dense())))
                     for p in "EI"}
    # scalar delays (presynaptic buffers of every shard's spikes) and short-term
    # plasticity, stored and procedural, 170 neurons (padded to 176)
    pop = bs.neurons.LIF(170, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0,
                         t_ref=2.0, i_ext=220.0, v_init=bs.initializers.Uniform(-60.0, -50.0))
    tm = bs.synapses.TsodyksMarkram(U=0.2, tau_f=50.0, tau_d=100.0)
    net = bs.Network({"A": pop}, [
        bs.Projection("A", "A", bs.conn.FixedProb(0.1, allow_self=False), weight=40.0,
                      delay=1.5, stp=tm, synapse=bs.synapses.Exponential(5.0)),
        bs.Projection("A", "A", bs.conn.ProceduralFixedOutDegree(10), weight=-30.0,
                      delay=0.7, synapse=bs.synapses.Exponential(5.0))], key=jax.random.key(7))
    state = net.init(jax.random.key(8))
    _, rec = bs.simulate(net, state, 100.0, 0.1, record={"A": ["spikes"]})
    _, ev = bs.simulate_sharded(net, state, 100.0, 0.1, events=True)
    one = np.asarray(rec["A"]["spikes"]) != 0
    out["stp"] = dict(n=int(one.sum()), equal=bool(np.array_equal(one, ev["A"].dense())))
    # the exchange alone: float spike values (counts, fractions) and booleans, 3 and 7
    # active per device of two populations, through 4 list slots (lists) and 2 (dense)
    from jax.sharding import PartitionSpec as P
    mesh = jax.make_mesh((8,), ("neurons",))
    rng = np.random.default_rng(0)
    a = np.zeros(8 * 12, np.float32)
    a[(np.arange(8)[:, None] * 12 + rng.permutation(12)[:3]).ravel()] = [0.5, 1.0, 2.0] * 8
    b = np.zeros(8 * 10, bool)
    b[(np.arange(8)[:, None] * 10 + rng.permutation(10)[:7]).ravel()] = True
    out["exchange"] = []
    for n_slots in (7, 2):
        f = jax.shard_map(lambda a, b: bs.ops.exchange({"a": a, "b": b}, "neurons",
                                                       {"a": n_slots, "b": n_slots}),
                          mesh=mesh, in_specs=P("neurons"), out_specs=P())
        put = lambda x: jax.device_put(x, jax.NamedSharding(mesh, P("neurons")))
        got = jax.jit(f)(put(a), put(b))
        out["exchange"].append([bool(np.array_equal(got["a"], a)) and got["a"].dtype == a.dtype,
                                bool(np.array_equal(got["b"], b)) and got["b"].dtype == b.dtype])
    # a named error, before compiling: a population smaller than the devices
    lif = lambda n: bs.neurons.LIF(n, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0)
    tiny = bs.Network({"A": lif(5)}, [], key=jax.random.key(0))
    out["errors"] = {}
    try:
        bs.simulate_sharded(tiny, tiny.init(jax.random.key(0)), 1.0)
        out["errors"]["tiny"] = None
    except ValueError as e:
        out["errors"]["tiny"] = str(e)
    print(json.dumps(out))
    """
)


def test_eight_devices_reproduce_single_device_spikes():
    """COBA (800 neurons: 80 E and 20 I per device) for 100 ms on 8 forced host CPU
    devices gives the same spike trains as the single-device run, every spike at the same
    step. The network is chaotic: a one-ulp difference in any conductance would change
    spike times within tens of ms, so equality is a bitwise check of the sharded sums.
    The same run in uneven chunks, returned as events, gives the same spikes.
    A second, synchronously bursting network checks the dense fallback of the exchange,
    and, recorded as events from too small device buffers, their growth; a third, with
    per-synapse weights and delays (stored, cut into the devices' blocks), the ring
    buffers of the delays; a fourth, driven by Poisson sources (random numbers from one
    key per population, through FixedProb, OneToOne and procedural projections), that
    every device draws them as one device does; a fifth, procedural between populations
    padded to a multiple of the devices (COBA of 900 neurons), the padding; a sixth, with
    scalar delays and short-term plasticity, their buffers and states of every device's
    spikes."""
    out = on_eight_devices(SCRIPT)
    assert out["E"]["shape"] == [1000, 640] and out["I"]["shape"] == [1000, 160]
    assert out["E"]["n"] > 500 and out["I"]["n"] > 100  # an active network (≈ 10–20 Hz)
    assert out["E"]["equal"] and out["I"]["equal"], out
    # In chunks of 300 steps (the last one shorter), as events: the same spikes.
    assert out["E"]["events_equal"] and out["I"]["events_equal"], out
    # 160 neurons start above threshold: 20 per device > 16 list slots -> dense fallback.
    assert out["burst"]["first"] == 160 and out["burst"]["n"] > 1000
    assert out["burst"]["equal"], out
    # Per-synapse weights and delays, the stored layout cut into the devices' blocks.
    assert out["delayed"]["n"] > 1000 and out["delayed"]["equal"], out
    # Poisson sources (drawn whole by every device, each keeping its block) and the
    # network they drive.
    assert out["poisson"]["A"]["n"] > 300 and out["poisson"]["S"]["n"] > 100, out
    assert all(v["equal"] for v in out["poisson"].values()), out
    # Grown from 8 slots per device (an overflow in the first chunk), the events are exact.
    assert out["burst"]["events_equal"] and out["burst"]["events_sorted"], out
    # Procedural connectivity onto and from a padded population (180 I neurons over 8).
    assert out["padded"]["I"]["n"] > 100 and out["padded"]["E"]["n"] > 500, out
    assert all(v["equal"] for v in out["padded"].values()), out
    # Scalar delays and short-term plasticity (replicated: they take every device's spikes).
    assert out["stp"]["n"] > 300 and out["stp"]["equal"], out
    # bs.ops.exchange: every device gets every device's spikes, values and dtype kept,
    # from the lists (7 slots) and from the dense fallback (2 slots, 7 active for "b").
    assert out["exchange"] == [[True, True], [True, True]], out
    errors = out["errors"]
    assert "population 'A' has 5 neurons, fewer than the 8 devices" in errors["tiny"], errors


def test_windows_tile_the_full_product_bitwise():
    """The blocks a shard computes, concatenated, are the full product bit for bit (same
    rows, same accumulation order)."""
    layout, _ = bs.conn.ProceduralFixedOutDegree(
        30, weights=bs.conn.UniformWeights(0.5, 1.5), allow_self=False
    ).build(jax.random.key(4), 120, 120, recurrent=True)
    s = (jax.random.uniform(jax.random.key(5), (120,)) < 0.3).astype(jnp.float32)
    with mock.patch.object(bs.ops._native, "available", lambda: False):
        full = bs.ops.matvec(layout, 2.0, s, capacity=8)
    block = jax.jit(lambda j0: procedural_matvec_window(layout, 2.0, s, 8, j0, 30))
    blocks = [block(j0) for j0 in range(0, 120, 30)]
    np.testing.assert_array_equal(jnp.concatenate(blocks), full)


def test_sharded_validation():
    net = bs.models.coba(100, key=jax.random.key(0), procedural=True)
    mesh = jax.make_mesh((1,), ("neurons",))
    _, spikes = bs.simulate_sharded(net, net.init(jax.random.key(1)), 1.0, mesh=mesh)
    assert spikes["E"].shape == (10, 80)


def test_repeated_calls_reuse_the_compiled_program():
    """A call with the structure and arguments of an earlier one runs the program that
    call compiled (no new program, no new trace), yet each network's own values: two
    procedural COBA networks of different seeds, from different states, through the one
    program, each equal its own ``bs.simulate`` spike trains. A call at another ``t0``
    gets a program of its own."""
    mesh = jax.make_mesh((1,), ("neurons",))
    record = {"E": ["spikes"], "I": ["spikes"]}
    before = set(bs_sharded._PROGRAMS)
    for k in (0, 1):
        net = bs.models.coba(400, key=jax.random.key(k), procedural=True)
        state = net.init(jax.random.key(k + 5))
        _, one = bs.simulate(net, state, 30.0, 0.1, record=record)
        _, got = bs.simulate_sharded(net, state, 30.0, 0.1, mesh=mesh)
        for p in ("E", "I"):
            np.testing.assert_array_equal(got[p], np.asarray(one[p]["spikes"]) != 0)
        new = set(bs_sharded._PROGRAMS) - before
        assert len(new) == 1, new  # the second network: the first one's program
        assert bs_sharded._PROGRAMS[next(iter(new))]._cache_size() == 1
    bs.simulate_sharded(net, state, 30.0, 0.1, mesh=mesh, t0=5.0)
    assert len(set(bs_sharded._PROGRAMS) - before) == 2


def test_stored_weights_propagate_as_stored_and_record_chooses():
    """Per-synapse weights built per process (``bs.distributed.network``: 400 LIF
    neurons, 80 000 synapses with their own weights and delays) propagate as stored: the
    compiled chunk holds no temporary of their size (before, it multiplied them by the
    projection's gain of 1 into a new array of every synapse at each chunk: 320 kB here,
    1.2 GB at Potjans–Diesmann's full scale, mapped and zeroed by the kernel at every
    call), and the spikes equal ``bs.simulate``'s on the network ``bs.Network`` builds
    (bit for bit: a chaotic network, any other sum would move spikes). A gain set after
    the build (2.0) is multiplied in once, before the run: the same spikes as the
    per-synapse weights doubled. ``record`` returns the populations named, their spikes
    unchanged, and names a population that does not exist in a ``ValueError``."""

    def build(network):
        conn = bs.conn.FixedTotalNumber(
            80_000, weights=bs.conn.NormalWeights(0.1, 0.05), delays=bs.conn.NormalDelay(1.5, 0.75)
        )
        syn = dict(synapse=bs.synapses.Exponential(5.0), output=bs.synapses.Conductance(0.0))
        proj = bs.Projection("A", "A", conn, weight=None, **syn)
        return network({"A": driven_lif(400), "B": driven_lif(16)}, [proj], key=jax.random.key(2))

    mesh = jax.make_mesh((1,), ("neurons",))
    temps, real = [], bs_sharded._program

    def spy(key, make):  # the temporary memory of every chunk program called
        fn = real(key, make)

        def call(*args):
            temps.append(fn.lower(*args).compile().memory_analysis().temp_size_in_bytes)
            return fn(*args)

        return call

    one, sharded = build(bs.Network), build(functools.partial(bs.distributed.network, mesh=mesh))
    state = one.init(jax.random.key(3))
    for gain in (None, 2.0):
        if gain is not None:
            one = eqx.tree_at(
                lambda n: n.projections[0].weight, one, one.projections[0].weight * gain
            )
            sharded = eqx.tree_at(lambda n: n.projections[0].weight, sharded, gain)
        _, want = bs.simulate(one, state, 40.0, 0.1, record={"A": ["spikes"], "B": ["spikes"]})
        with mock.patch.object(bs_sharded, "_program", spy):
            _, got = bs.simulate_sharded(sharded, state, 40.0, mesh=mesh, chunk_steps=100)
        for p in ("A", "B"):
            np.testing.assert_array_equal(got[p], np.asarray(want[p]["spikes"]) != 0)
        assert want["A"]["spikes"].sum() > 1000
    assert max(temps) < 80_000 * 4, temps  # (the weights: 80 000 float32)
    _, only = bs.simulate_sharded(sharded, state, 40.0, mesh=mesh, record=["B"], events=True)
    assert list(only) == ["B"] and np.array_equal(only["B"].dense(), got["B"])
    with pytest.raises(ValueError, match=r"record must name populations of the network \(A, B\)"):
        bs.simulate_sharded(sharded, state, 1.0, mesh=mesh, record=["C"])
