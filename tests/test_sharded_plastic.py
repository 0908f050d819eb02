"""Plastic projections (``bs.Plastic``) in ``bs.simulate_sharded``: each device learns
the weights of the synapses onto its own neurons; spikes and learned weights equal the
single-device run's bit for bit."""

import textwrap

from helpers import on_eight_devices

SCRIPT = textwrap.dedent(
    """
    import json
    import jax, numpy as np
    import brainsim as bs

    assert jax.device_count() == 8, jax.devices()
    lif = lambda n: bs.neurons.LIF(
        n, v_init=bs.initializers.Uniform(-60.0, -50.0), i_ext=250.0)
    rule = bs.plasticity.PairSTDP(A_plus=0.05, A_minus=0.06, tau_plus=20.0, tau_minus=15.0,
                                  bounds=bs.plasticity.Bounds(0.0, 2.0))
    inhibitory = bs.plasticity.VogelsSprekeler(eta=0.05, rho0=5.0, tau=20.0,
                                               bounds=bs.plasticity.Bounds(0.0, 10.0))
    def net(delay, rule):
        proj = lambda pre, post, w, **kw: bs.Projection(
            pre, post, bs.conn.FixedProb(0.1), weight=w, synapse=bs.synapses.Exponential(5.0),
            **({"delays": delay} if isinstance(delay, bs.delays.NormalDelay) else
               {"delay": delay}), **kw)
        # 101 E and 27 I: neither a multiple of the 8 devices (padded blocks)
        return bs.Network({"E": lif(101), "I": lif(27)},
                          [proj("E", "E", 0.5, components=(bs.Plastic(rule),)),
                           proj("E", "I", 0.5),
                           proj("I", "E", 1.0, output=bs.synapses.Conductance(-80.0),
                                components=(bs.Plastic(inhibitory),)),
                           proj("I", "I", -1.0)],
                          key=jax.random.key(0))
    out = {}
    triplet = bs.plasticity.TripletSTDP(bounds=bs.plasticity.Bounds(0.0, 2.0))
    # pair STDP, one-step delay; triplet STDP, a 3-step postsynaptic delay buffer; pair
    # STDP with per-synapse delays (1 to 10 steps: one postsynaptic trace per group)
    spread = bs.delays.NormalDelay(0.4, 0.2)
    for name, delay, r in (("one", None, rule), ("three", 0.3, triplet),
                           ("spread", spread, rule)):
        n = net(delay, r)
        state = n.init(jax.random.key(1))
        w0 = [np.asarray(state.components[k][0][0].w) for k in (0, 2)]
        one, rec = bs.simulate(n, state, 40.0, 0.1, record={"E": ["spikes"], "I": ["spikes"]})
        if name == "one":  # in 4 chunks: the sharded state crosses them
            end, first = bs.simulate_sharded(n, state, 40.0, 0.1, chunk_steps=100)
            second = {p: np.zeros((0, x.shape[1]), bool) for p, x in first.items()}
        else:  # in two calls: the first's final state (padded) passed back in
            mid, first = bs.simulate_sharded(n, state, 20.0, 0.1)
            end, events = bs.simulate_sharded(n, mid, 20.0, 0.1, t0=20.0, events=True)
            second = {p: x.dense() for p, x in events.items()}
        case = {"groups": len(getattr(n.projections[0].conn, "delays", ()))}
        for k, w in zip((0, 2), w0):  # E->E pair STDP, I->E Vogels-Sprekeler
            ref = np.asarray(one.components[k][0][0].w)
            got = np.asarray(end.components[k][0][0].w)
            case[f"w{k}"] = {"equal": bool(np.array_equal(ref, got)),
                             "changed": int(np.sum(ref != w)), "n": int(w.size)}
        for p in ("E", "I"):
            ref = np.asarray(rec[p]["spikes"]) != 0
            got = np.concatenate([first[p], second[p]])
            case[p] = {"n": int(ref.sum()), "equal": bool(np.array_equal(ref, got))}
        out[name] = case
    print(json.dumps(out))
    """
)


def test_eight_devices_learn_the_single_device_weights():
    """An E/I LIF network (101 E, 27 I: padded blocks on 8 forced host devices) with
    pair (or triplet) STDP on its stored E->E FixedProb projection and Vogels-Sprekeler
    on I->E (pre and post of different sizes), 400 steps: the sharded run's spikes and
    final weights (gathered back into layout order) equal ``bs.simulate``'s bit for bit
    (every synapse is updated from its own two neurons, in the same order of
    operations). The weights
    feed back into the recurrent network's spikes, and a weight in the wrong place shows
    in the weights (checked: a reversed block order fails). Pair STDP in chunks (one-step
    delay); triplet STDP, and pair STDP with per-synapse delays (each device holding
    its neurons' postsynaptic traces of every delay group), in two calls, the first's
    final state (padded) passed back in."""
    out = on_eight_devices(SCRIPT)
    assert out["spread"]["groups"] > 3, out
    for delay, case in out.items():
        for k in ("w0", "w2"):
            assert case[k]["equal"], (delay, case)
            assert case[k]["changed"] > case[k]["n"] // 4, (delay, case)  # it did learn
        for p in ("E", "I"):
            assert case[p]["n"] > 50 and case[p]["equal"], (delay, p, case)


POOLING = textwrap.dedent(
    """
    import json
    import jax, numpy as np
    import brainsim as bs

    P = bs.plasticity
    assert jax.device_count() == 8, jax.devices()
    lif = lambda n: bs.neurons.LIF(
        n, v_init=bs.initializers.Uniform(-60.0, -50.0), i_ext=250.0)
    pair = P.PairSTDP(A_plus=0.05, A_minus=0.06, tau_plus=20.0, tau_minus=15.0,
                      bounds=P.Bounds(0.0, 2.0))
    reward = P.RewardSTDP(P.PairSTDP(1.0, 1.2, 20.0, 20.0, P.Bounds(0.0, 4.0)),
                          tau_c=50.0, tau_d=20.0)
    sleep = lambda base: P.Sleep(wake=5.0, sleep=5.0, factor=0.3, baseline=base)
    values = np.zeros(400, np.float32)
    values[::37] = 0.5
    plastic = {  # every pooling rule; E neuron 90 is in device 6's block (13 a block)
        "E->E": bs.Plastic(pair, sleep=sleep("layer")),
        "E->I": bs.Plastic(P.Normalized(pair, total=3.0), sleep=sleep("static")),
        "I->E": bs.Plastic(reward, modulator=P.DistalReward(
            3, 90, window=10.0, delay_min=1.0, delay_max=3.0)),
        "I->I": bs.Plastic(reward, sleep=sleep("post"), modulator=P.RewardSignal(values)),
    }
    proj = lambda pre, post, w, **kw: bs.Projection(
        pre, post, bs.conn.FixedProb(0.1), weight=w, synapse=bs.synapses.Exponential(5.0),
        components=(plastic[f"{pre}->{post}"],), **kw)
    inhibitory = bs.synapses.Conductance(-80.0)
    net = bs.Network({"E": lif(101), "I": lif(27)},
                     [proj("E", "E", 0.5), proj("E", "I", 0.5),
                      proj("I", "E", 1.0, output=inhibitory),
                      proj("I", "I", 1.0, output=inhibitory)],
                     key=jax.random.key(0))
    state = net.init(jax.random.key(1))
    one, rec = bs.simulate(net, state, 40.0, 0.1, record={"E": ["spikes"], "I": ["spikes"]})
    mid, first = bs.simulate_sharded(net, state, 20.0, 0.1)
    end, events = bs.simulate_sharded(net, mid, 20.0, 0.1, t0=20.0, events=True)
    out = {}
    for k, p in enumerate(net.projections):
        ref, got, w0 = (np.asarray(s.components[k][0][0].w) for s in (one, end, state))
        out[p.name] = {"equal": bool(np.array_equal(ref, got)),
                       "changed": int(np.sum(ref != w0)), "n": int(w0.size)}
    for k in (2, 3):  # the neuromodulator of the reward-modulated rules
        out[net.projections[k].name]["d"] = [float(s.components[k][0][0].d) for s in (one, end)]
    for p in ("E", "I"):
        ref = np.asarray(rec[p]["spikes"]) != 0
        got = np.concatenate([first[p], events[p].dense()])
        out[p] = {"n": int(ref.sum()), "equal": bool(np.array_equal(ref, got))}
    print(json.dumps(out))
    """
)


def test_eight_devices_pool_as_one_device():
    """The rules that pool over postsynaptic neurons, on 8 forced host devices (101 E,
    27 I: padded blocks), 400 steps in two calls (the first's final state passed back):
    sleep toward a whole layer's total (E->E: each device's per-neuron totals gathered,
    summed in neuron order as on one device), toward the mean weight (E->I) and toward
    per-neuron totals (I->I: each device its block of the targets); ``Normalized``
    (E->I, per neuron: a device's own); reward-modulated STDP driven by a reward signal
    (I->I) and by Izhikevich's distal reward from presynaptic I 3 and postsynaptic
    E 90, on another device than most synapses (I->E: every device sees every
    postsynaptic spike). Every float is summed in the same order as on one device, so
    spikes, final weights and neuromodulator equal ``bs.simulate``'s bit for bit.
    Checked to fail when a device sums its own layer total only, and when a block's
    padding synapses count in its first neuron's total (``Normalized`` after the static
    sleep moved them off 0)."""
    out = on_eight_devices(POOLING)
    for name in ("E->E", "E->I", "I->E", "I->I"):
        assert out[name]["equal"] and out[name]["changed"] == out[name]["n"], (name, out)
    for name in ("I->E", "I->I"):  # a reward came, the same on every device
        d = out[name]["d"]
        assert d[0] > 0.01 and d[0] == d[1], (name, out)
    for p in ("E", "I"):
        assert out[p]["n"] > 50 and out[p]["equal"], (p, out)


PER_PROCESS = textwrap.dedent(
    """
    import json
    import jax, numpy as np
    import brainsim as bs
    from helpers import driven_lif
    from test_multiprocess_plastic import _blocks

    assert jax.device_count() == 8, jax.devices()
    P = bs.plasticity
    rule = P.PairSTDP(0.05, 0.06, 20.0, 15.0, bounds=P.Bounds(0.0, 2.0))
    def build(network):
        delayed = bs.conn.FixedTotalNumber(3000, weights=bs.conn.NormalWeights(0.5, 0.3),
                                           delays=bs.conn.NormalDelay(1.0, 0.4))
        proj = lambda conn, plastic, w=None: bs.Projection(
            "A", "A", conn, weight=w, synapse=bs.synapses.Exponential(5.0),
            output=bs.synapses.Conductance(0.0), components=(plastic,))
        sleep = lambda base: P.Sleep(wake=5.0, sleep=5.0, factor=0.3, baseline=base)
        weighted = bs.conn.FixedTotalNumber(1000, weights=bs.conn.NormalWeights(0.5, 0.3))
        return network({"A": driven_lif(203)}, [
            proj(delayed, bs.Plastic(rule)),
            proj(weighted, bs.Plastic(rule, sleep=sleep("post"))),
            proj(bs.conn.FixedProb(0.02), bs.Plastic(rule, sleep=sleep("static")), 0.3),
        ], key=jax.random.key(2))
    net = build(bs.Network)
    state = net.init(jax.random.key(3))
    one, rec = bs.simulate(net, state, 40.0, 0.1, record={"A": ["spikes"]})
    own = build(bs.distributed.network)
    mid, first = bs.simulate_sharded(own, own.init(jax.random.key(3)), 20.0, 0.1)
    end, second = bs.simulate_sharded(own, mid, 20.0, 0.1, t0=20.0)
    out = {"groups": len(net.projections[0].conn.delays),
           "spikes": int(np.sum(np.asarray(rec["A"]["spikes"]) != 0)),
           "equal": bool(np.array_equal(np.concatenate([first["A"], second["A"]]),
                                        np.asarray(rec["A"]["spikes"]) != 0))}
    for k, proj in enumerate(net.projections):
        ref, w0 = (np.asarray(s.components[k][0][0].w) for s in (one, state))
        csr = proj.conn.csr if k == 0 else proj.conn
        blocks, real = _blocks(csr, ref, 8)  # (the padding is no synapse)
        got = np.asarray(end.components[k][0][0].w)
        out[k] = {"changed": int(np.sum(ref != w0)), "n": int(ref.size),
                  "w": got.shape == blocks.shape and bool(np.array_equal(got[real], blocks[real]))}
    print(json.dumps(out))
    """
)


def test_eight_devices_learn_built_per_process():
    """Pair STDP on 3 000 synapses with per-synapse normal weights and delays
    (``FixedTotalNumber``, a ``Delayed`` layout of many delay groups) onto 203 LIF
    neurons, built per process (``bs.distributed.network``: the column index and the
    initial weights of each device's block only, in block order), on 8 forced host
    devices, 400 steps in two calls (the state passed back): the final weights equal
    ``bs.simulate``'s (built whole by ``bs.Network``), cut into the devices' blocks
    in NumPy, and the spikes equal its spikes, bit for bit."""
    out = on_eight_devices(PER_PROCESS)
    assert out["groups"] > 3 and out["spikes"] > 100 and out["equal"], out
    for k in "012":
        assert out[k]["w"] and out[k]["changed"] > out[k]["n"] // 4, (k, out)
