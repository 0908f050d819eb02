"""Populations whose spikes stay on their shard: in ``bs.simulate_sharded``, a
population whose every projection is a stored block diagonal over the shards (e.g. a
Poisson background ``OneToOne`` onto its own population, as in the Potjans-Diesmann
model) is not exchanged; each shard propagates its own sources' spikes. The spike
trains stay those of one device."""

import textwrap

import jax
import numpy as np
import pytest
from helpers import driven_lif, on_eight_devices
from test_min_delay import _gathers

import brainsim as bs

SIZES = {"E": 642, "I": 158}  # neither a multiple of 8: padded


def background_network() -> bs.Network:
    """An E/I network (LIF, 642 + 158, padded on 8 devices) with every delay >= 1 ms
    (exchanges every 10 steps at 0.1 ms) and three sources: Poisson counts ``bgE`` and
    ``bgI`` (``OneToOne`` onto E with 1.5 ms, a presynaptic buffer of 14 steps, and onto
    I with 1 ms: diagonal, never exchanged) and a Poisson train ``X`` onto E
    (``OneToOne``: diagonal) and onto I (``FixedProb``: not), so X is exchanged and its
    diagonal projection keeps every row."""
    syn = lambda tau, e: dict(
        synapse=bs.synapses.Exponential(tau), output=bs.synapses.Conductance(e)
    )
    exc, inh = syn(5.0, 0.0), syn(10.0, -80.0)
    projections = [
        bs.Projection("E", "E", bs.conn.FixedProb(0.1, allow_self=False), 0.6, delay=1.0, **exc),
        bs.Projection("E", "I", bs.conn.ProceduralFixedOutDegree(16), 0.6, delay=1.2, **exc),
        bs.Projection("I", "E", bs.conn.FixedProb(0.1), 6.7, delay=1.0, **inh),
        bs.Projection("I", "I", bs.conn.FixedProb(0.1, allow_self=False), 6.7, delay=2.0, **inh),
        bs.Projection("bgE", "E", bs.conn.OneToOne(), 0.2, delay=1.5, **exc),
        bs.Projection("bgI", "I", bs.conn.OneToOne(), 0.2, delay=1.0, **exc),
        bs.Projection("X", "E", bs.conn.OneToOne(), 3.0, delay=1.0, **exc),
        bs.Projection("X", "I", bs.conn.FixedProb(0.05), 1.0, delay=1.0, **exc),
    ]
    populations = {
        "E": driven_lif(SIZES["E"]),
        "I": driven_lif(SIZES["I"]),
        # 8 kHz per channel: 0.8 counts per step, most channels active (the dense
        # fallback of an exchange in every step, were they exchanged)
        "bgE": bs.neurons.PoissonCounts(SIZES["E"], 8000.0),
        "bgI": bs.neurons.PoissonCounts(SIZES["I"], 8000.0),
        "X": bs.neurons.PoissonSource(SIZES["E"], 20.0),
    }
    return bs.Network(populations, projections, key=jax.random.key(7))


def reference(duration: float) -> dict:
    """``bs.simulate`` on one device: ``{population: (steps, size) bool}`` of E and I."""
    net = background_network()
    record = {p: ["spikes"] for p in SIZES}
    _, rec = bs.simulate(net, net.init(jax.random.key(8)), duration, 0.1, record=record)
    return {p: np.asarray(r["spikes"]) != 0 for p, r in rec.items()}


EIGHT = textwrap.dedent(
    """
    import sys
    import jax, numpy as np
    import brainsim as bs
    from test_sharded_local import background_network

    assert jax.device_count() == 8, jax.devices()
    net = background_network()
    state = net.init(jax.random.key(8))
    # 100 ms of events exchanging every 7 steps, in chunks of 250 (35 blocks of 7 and
    # one of 5 each)
    _, ev = bs.simulate_sharded(net, state, 100.0, 0.1, events=True, exchange_every=7,
                                chunk_steps=250, record=["E", "I"])
    np.savez(f"{sys.argv[1]}/spikes.npz", **{p: ev[p].dense() for p in "EI"})
    print("{}")
    """
)


def test_diagonal_sources_stay_on_their_shard(tmp_path):
    """On 8 forced CPU devices for 100 ms (exchanging every 7 steps in chunks of 250:
    full and partial blocks), the spike trains of E and I equal one device's, every
    spike at the same step (chaotic network: a background count delivered to the wrong
    neuron, a step late or not at all moves spikes within tens of ms), and the compiled
    programs' all-gathers carry the lists of E, I and X only: the backgrounds are not
    exchanged."""
    dump = tmp_path / "dump"
    on_eight_devices(EIGHT, str(tmp_path), dump=dump)
    spikes = reference(100.0)
    assert spikes["E"].sum() > 1000 and spikes["I"].sum() > 200  # an active network
    got = np.load(tmp_path / "spikes.npz")
    for p, one in spikes.items():
        np.testing.assert_array_equal(got[p], one, err_msg=p)
    # an exchange of D steps: a count, then D x every population's slots x (index, value)
    lists = lambda n: 2 * bs.ops.exchange_slots(n, None, 8)
    step = lists(642) + lists(158) + lists(642)  # E, I, X
    backgrounds = lists(642) + lists(158)
    widths = set().union(*_gathers(dump))
    assert {1 + 7 * step, 1 + 5 * step} <= widths, (step, widths)
    assert not {1 + d * (step + backgrounds) for d in (1, 5, 7)} & widths, (step, widths)


def test_one_device_stored_network_exchanges_nothing():
    """On a mesh of one device every stored projection is diagonal: a network of stored
    projections only (delays >= 1 ms) runs with no exchange at all, and its spikes
    equal ``bs.simulate``'s."""
    syn = dict(synapse=bs.synapses.Exponential(5.0), output=bs.synapses.Conductance(0.0))
    net = bs.Network(
        {"E": driven_lif(300), "bg": bs.neurons.PoissonCounts(300, 8000.0)},
        [
            bs.Projection("E", "E", bs.conn.FixedProb(0.1), 0.6, delay=1.0, **syn),
            bs.Projection("bg", "E", bs.conn.OneToOne(), 0.2, delay=1.5, **syn),
        ],
        key=jax.random.key(3),
    )
    state = net.init(jax.random.key(4))
    _, rec = bs.simulate(net, state, 30.0, 0.1, record={"E": ["spikes"]})
    mesh = jax.make_mesh((1,), ("neurons",))
    _, got = bs.simulate_sharded(net, state, 30.0, 0.1, mesh=mesh, record=["E"])
    want = np.asarray(rec["E"]["spikes"]) != 0
    assert want.sum() > 300
    np.testing.assert_array_equal(got["E"], want)
    assert list(got) == ["E"]


def test_own_rows_refuses_a_shard_with_synapses_across_shards():
    """``StoredShard.own_rows`` on a shard not ``diagonal`` is a ValueError (its blocks
    hold synapses from other shards' sources, which its own spikes cannot carry)."""
    csr = bs.conn.CSR(4, 2, np.array([0, 1, 2, 2, 2]), np.array([0, 1]))
    shard = bs.ops.StoredShard(csr, "neurons", 2)
    with pytest.raises(ValueError, match="synapses across shards"):
        shard.own_rows(jax.make_mesh((1,), ("neurons",)))
