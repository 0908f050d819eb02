"""Plastic projections over several processes (jax.distributed on localhost, Gloo CPU
collectives): each process learns and keeps the weights of its own neurons' synapses;
spikes merged and weights gathered equal the single-process run's bit for bit."""

import json
import textwrap

import jax
import numpy as np
from test_multiprocess import _launch

import brainsim as bs

# Each process: 2 host CPU devices (4 shards). Two calls, the first's final state (its
# weights: this process's blocks) passed back into the second in every process.
CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import brainsim as bs

    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bs.distributed.initialize(f"localhost:{port}", 2, pid, timeout=120)
    import jax
    from jax.experimental import multihost_utils
    from test_multiprocess_plastic import plastic_network

    assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
    net = plastic_network()
    state = net.init(jax.random.key(1))
    mid, first = bs.simulate_sharded(net, state, 20.0, 0.1, events=True)
    end, second = bs.simulate_sharded(net, mid, 20.0, 0.1, t0=20.0, events=True)
    w = end.components[0][0][0].w  # this process's two blocks of E->E, block order
    held = {"global": not w.is_fully_addressable,
            "blocks": sorted(s.index[-1].start for s in w.addressable_shards),
            "block": int(w.addressable_shards[0].data.shape[-1]), "total": int(w.shape[-1])}
    whole = bs.distributed.gather_plastic(net, end)
    # built per process: weights in block order from the start; two calls again
    own = plastic_network(bs.distributed.network)
    own_mid, own_first = bs.simulate_sharded(own, own.init(jax.random.key(1)), 20.0, 0.1,
                                             events=True)
    own_end, own_second = bs.simulate_sharded(own, own_mid, 20.0, 0.1, t0=20.0, events=True)
    blocks = {f"b{k}": multihost_utils.process_allgather(own_end.components[k][0][0].w,
                                                         tiled=True) for k in (0, 2, 3)}
    np.savez(f"{out}/p{pid}.npz",
             **{f"w{k}": np.asarray(whole.components[k][0][0].w) for k in (0, 2, 3)}, **blocks,
             **{f"{p}_{k}_{tag}": np.asarray(getattr(e, k))
                for tag, ev in (("first", first), ("second", second),
                                ("own_first", own_first), ("own_second", own_second))
                for p, e in ev.items()
                for k in ("steps", "neurons")})
    print(json.dumps(held))
    """
)


def plastic_network(network=bs.Network) -> bs.Network:
    """101 E and 27 I LIF neurons (padded to multiples of 4), stored FixedProb(0.1)
    projections, built by ``network``: pair STDP on E->E; Vogels-Sprekeler with sleep
    toward the layer's total on I->E (its total pooled over every device of both
    processes); reward-modulated STDP driven by Izhikevich's distal reward from I 3 to
    I 20 on I->I (I 20 on a device of the second process, every device sees it)."""
    lif = lambda n: bs.neurons.LIF(n, v_init=bs.initializers.Uniform(-60.0, -50.0), i_ext=250.0)
    P = bs.plasticity
    stdp = P.PairSTDP(0.05, 0.06, 20.0, 15.0, bounds=P.Bounds(0.0, 2.0))
    vogels = P.VogelsSprekeler(eta=0.05, rho0=5.0, tau=20.0, bounds=P.Bounds(0.0, 10.0))
    phases = P.Sleep(wake=5.0, sleep=5.0, factor=0.3, baseline="layer")
    reward = P.RewardSTDP(P.PairSTDP(1.0, 1.2, 20.0, 20.0, P.Bounds(0.0, 4.0)), 50.0, 20.0)
    distal = P.DistalReward(3, 20, window=10.0, delay_min=1.0, delay_max=3.0)
    proj = lambda pre, post, w, *components, **kw: bs.Projection(
        pre,
        post,
        bs.conn.FixedProb(0.1),
        weight=w,
        synapse=bs.synapses.Exponential(5.0),
        components=components,
        **kw,
    )
    conductance = bs.synapses.Conductance(-80.0)
    projections = [
        proj("E", "E", 0.5, bs.Plastic(stdp)),
        proj("E", "I", 0.5),
        proj("I", "E", 1.0, bs.Plastic(vogels, sleep=phases), output=conductance),
        proj("I", "I", 1.0, bs.Plastic(reward, modulator=distal), output=conductance),
    ]
    return network({"E": lif(101), "I": lif(27)}, projections, key=jax.random.key(0))


def _blocks(conn, w, n_shards: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat weights ``w`` (layout order) of ``conn`` (a CSR) in the devices' block
    order: for each of ``n_shards`` blocks of targets, its synapses in layout order,
    padded to the largest block; and where the synapses are (not padding). NumPy,
    independently of the library."""
    width = -(-conn.n_post // n_shards)
    block = np.asarray(conn.indices) // width
    parts = [np.asarray(w)[block == d] for d in range(n_shards)]
    most = max(p.size for p in parts)
    real = np.concatenate([np.arange(most) < p.size for p in parts])
    return np.concatenate([np.pad(p, (0, most - p.size)) for p in parts]), real


def _merged(files, tag: str, pop: str, size: int, steps: int) -> np.ndarray:
    """The raster of ``pop`` merged from the processes' recordings ``tag`` (each of its
    own neurons only: checked)."""
    parts = [
        bs.SpikeEvents(f[f"{pop}_steps_{tag}"], f[f"{pop}_neurons_{tag}"], (steps, size))
        for f in files
    ]
    dense = [p.dense() for p in parts]
    assert not np.any(dense[0] & dense[1])
    return bs.distributed.merge_events(parts).dense()


def test_two_processes_learn_the_single_process_weights(tmp_path):
    """The E/I network above for 400 steps as 2 processes of 2 devices each, in two
    calls (the first's final state passed back in every process): each process holds
    only its own two blocks of the learned weights (a global array), the merged
    recordings equal ``bs.simulate``'s spike trains and the weights gathered by
    ``bs.distributed.gather_plastic`` (in every process) equal its final weights, bit
    for bit: every synapse is updated from its own two neurons in the same order as on
    one device, the layer's total is summed in neuron order and the distal reward is
    the same on every device. The weights feed back into the recurrent network's
    spikes, so a weight lost or misplaced between the calls shows in both. Then the
    same network built per process (``bs.distributed.network``: each process indexes
    and initializes only its own blocks, the layer's sleep baseline summed from every
    process's per-neuron totals), in two calls too: its weights, in the devices' block
    order (cut from ``bs.Network``'s here in NumPy), and its spikes equal them too."""
    codes, outs = _launch(CHILD, tmp_path, n=2, devices=2, timeout=400)
    assert codes == [0, 0], [o[1][-3000:] for o in outs]
    net = plastic_network()
    state = net.init(jax.random.key(1))
    one, rec = bs.simulate(net, state, 40.0, 0.1, record={"E": ["spikes"], "I": ["spikes"]})
    assert float(one.components[3][0][0].d) > 0.01  # the distal reward came
    files = [np.load(tmp_path / f"p{p}.npz") for p in (0, 1)]
    for p, (out, _) in enumerate(outs):
        held = json.loads(out.strip().splitlines()[-1])
        assert held["global"] and held["total"] == 4 * held["block"], held
        assert held["blocks"] == [2 * p * held["block"], (2 * p + 1) * held["block"]], held
    for k in (0, 2, 3):
        ref, w0 = (np.asarray(s.components[k][0][0].w) for s in (one, state))
        assert np.sum(ref != w0) > ref.size // 4  # it did learn
        blocks, real = _blocks(net.projections[k].conn, ref, 4)
        for f in files:
            np.testing.assert_array_equal(f[f"w{k}"], ref, err_msg=f"projection {k}")
            got = f[f"b{k}"]  # built per process
            assert got.shape == blocks.shape
            np.testing.assert_array_equal(got[real], blocks[real], err_msg=f"projection {k}")
    for pop in ("E", "I"):
        ref = np.asarray(rec[pop]["spikes"]) != 0
        assert ref.sum() > 50
        size = net.populations[pop].size
        for tag in ("", "own_"):
            got = [_merged(files, f"{tag}{t}", pop, size, 200) for t in ("first", "second")]
            np.testing.assert_array_equal(np.concatenate(got), ref, err_msg=tag + pop)
