"""The bad-input matrix: every public constructor and entry point refuses bad input
before anything is compiled, with an exception whose message names the argument and
the value (and the allowed range where there is one).

Each row is ``(id, call, exception type, regex the message must match)``; ``call``
builds its inputs lazily. A new entry point belongs here with at least one row.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim import cli
from brainsim.train import losses

# The tables are laid out by hand, one row per bad input.
# fmt: off
KEY = jax.random.key(0)


def _snn():
    return bs.train.FeedForwardSNN(5, 8, 3, key=KEY)


def _data(n=16, t=10, width=5):
    x = (np.random.default_rng(0).random((n, t, width)) < 0.3).astype(np.float32)
    return x, np.arange(n) % 3


def _fit(**kw):
    x, y = kw.pop("data", None) or _data()
    return bs.train.fit(_snn(), x, y, loss_fn=losses.ce_max_membrane, progress=False, **kw)


def _nan_x():
    x, y = _data()
    x[3, 4, 2] = np.nan
    return x, y


TRAIN = [
    ("fit-batch_size-0", lambda: _fit(batch_size=0), ValueError,
     r"fit.batch_size must be an integer >= 1, got 0"),
    ("fit-epochs--1", lambda: _fit(epochs=-1), ValueError,
     r"fit.epochs must be an integer >= 1, got -1"),
    ("fit-epochs-float", lambda: _fit(epochs=2.5), ValueError,
     r"fit.epochs must be an integer >= 1, got 2.5"),
    ("fit-truncate_every--5", lambda: _fit(truncate_every=-5), ValueError,
     r"fit.truncate_every must be None or an integer in \[1, 10\] \(steps\), got -5"),
    ("fit-checkpoint_every-0", lambda: _fit(checkpoint_every=0), ValueError,
     r"fit.checkpoint_every must be None or an integer in \[1, 10\] \(steps\), got 0"),
    ("fit-checkpoint_every-T+1", lambda: _fit(checkpoint_every=11), ValueError,
     r"fit.checkpoint_every must be None or an integer in \[1, 10\] \(steps\), got 11"),
    ("fit-truncate-not-multiple", lambda: _fit(checkpoint_every=4, truncate_every=6),
     ValueError, r"truncate_every \(6\) must be a multiple of checkpoint_every \(4\)"),
    ("fit-initial_epoch--1", lambda: _fit(initial_epoch=-1), ValueError,
     r"fit.initial_epoch must be an integer >= 0, got -1"),
    ("fit-input-width", lambda: _fit(data=_data(width=7)), ValueError,
     r"fit: x has 7 input channels \(shape \(16, 10, 7\)\) but the model's first layer "
     r"takes n_in = 5"),
    ("fit-x-nan", lambda: _fit(data=_nan_x()), ValueError,
     r"fit: x must be finite, got nan at index \(3, 4, 2\)"),
    ("fit-batch_mode", lambda: _fit(batch_mode="batch"), ValueError,
     r"fit: batch_mode must be 'axis' or 'vmap', got 'batch'"),
    ("fit-float-labels", lambda: _fit(data=(_data()[0], np.arange(16) / 3)), ValueError,
     r"fit: labels must be integers, got dtype float64"),
]


LAYERS = [
    ("readout-tau_mem", lambda: bs.train.readout(KEY, 4, 2, tau_mem=-1.0), ValueError,
     r"Readout.tau_mem must be > 0 \(ms\), got -1"),
    ("readout-tau_syn", lambda: bs.train.readout(KEY, 4, 2, tau_syn=0.0), ValueError,
     r"Readout.tau_syn must be > 0 \(ms\), got 0"),
    ("readout-dt", lambda: bs.train.readout(KEY, 4, 2, dt=0.0), ValueError,
     r"Readout.dt must be > 0 \(ms\), got 0"),
    ("readout-n_out", lambda: bs.train.readout(KEY, 4, 0), ValueError,
     r"readout.n_out must be an integer >= 1, got 0"),
    ("lif_layer-n", lambda: bs.train.lif_layer(KEY, 4, -2), ValueError,
     r"lif_layer.n must be an integer >= 1, got -2"),
    ("lif_layer-tau_mem", lambda: bs.train.lif_layer(KEY, 4, 3, tau_mem=0.0), ValueError,
     r"LIFLayer.tau_mem must be > 0 \(ms\), got 0"),
    ("lif_layer-threshold", lambda: bs.train.lif_layer(KEY, 4, 3, threshold=np.nan),
     ValueError, r"LIFLayer.threshold must be finite, got array of shape \(3,\) containing nan"),
    ("LIFLayer-shape", lambda: bs.train.LIFLayer(np.zeros((4, 3)), np.ones(5), 1.0, 1.0),
     ValueError, r"LIFLayer.tau_mem must be a scalar or have shape \(3,\), got shape \(5,\)"),
    ("UltraSNN-tau_mem-below-dt", lambda: bs.train.UltraSNN(4, 3, 2, tau_mem=0.5), ValueError,
     r"UltraSNN.tau_mem must be > dt = 1 ms .* got 0.5"),
    ("UltraSNN-n_hidden", lambda: bs.train.UltraSNN(10, -1, 2), ValueError,
     r"UltraSNN.n_hidden must be an integer >= 1, got -1"),
    ("UltraSNN-tau_syn", lambda: bs.train.UltraSNN(4, 3, 2, tau_syn=0.0), ValueError,
     r"UltraLIFLayer.tau_syn must be > 0 \(ms\), got"),
    ("UltraSNN-tau_psp", lambda: bs.train.UltraSNN(4, 3, 2, tau_psp=-1.0), ValueError,
     r"UltraLIFLayer.tau_psp must be > 0 \(ms\), got"),
    ("UltraSNN-rest", lambda: bs.train.UltraSNN(4, 3, 2, rest=np.inf), ValueError,
     r"UltraSNN.rest must be finite, got inf"),
    ("UltraLIFLayer-shape", lambda: bs.train.UltraLIFLayer(
        np.zeros((4, 3)), np.zeros(2), None, bs.spikes.UltraLIF(3)), ValueError,
     r"UltraLIFLayer: need w \(n_in, 3\) and b \(3,\) .* got w \(4, 3\), b \(2,\)"),
    ("FeedForwardSNN-n_out", lambda: bs.train.FeedForwardSNN(10, 5, 0), ValueError,
     r"FeedForwardSNN.n_out must be an integer >= 1, got 0"),
    ("FeedForwardSNN-n_hidden", lambda: bs.train.FeedForwardSNN(10, (5, 0), 2), ValueError,
     r"FeedForwardSNN.n_hidden must be an integer >= 1, got 0"),
    ("RecurrentSNN-n_hidden-empty", lambda: bs.train.RecurrentSNN(10, (), 2), ValueError,
     r"RecurrentSNN.n_hidden must be an integer >= 1 or a non-empty tuple, got \(\)"),
    ("RecurrentSNN-n_in", lambda: bs.train.RecurrentSNN(1.5, 4, 2), ValueError,
     r"RecurrentSNN.n_in must be an integer >= 1, got 1.5"),
    ("Readout-shape", lambda: bs.train.Readout(np.zeros((4, 3)), np.ones(2), 1.0), ValueError,
     r"Readout.tau_mem must be a scalar or have shape \(3,\), got shape \(2,\)"),
    ("DelayedDense-shapes", lambda: bs.train.DelayedDense(np.ones((2, 3)), np.ones((2, 2)), 3),
     ValueError, r"DelayedDense: w \(2, 3\) and delay \(2, 2\) differ"),
    ("delayed_dense-max_delay", lambda: bs.train.delayed_dense(KEY, 2, 3, max_delay=-1),
     ValueError, r"DelayedDense.max_delay must be an integer >= 0, got -1"),
    ("scan_time-checkpoint_every", lambda: bs.train.scan_time(
        lambda c, x: (c, x), 0.0, np.zeros((5, 1)), checkpoint_every=0), ValueError,
     r"scan_time.checkpoint_every must be an integer >= 1, got 0"),
    ("evaluate-batch_size", lambda: _evaluate(0), ValueError,
     r"evaluate.batch_size must be an integer >= 1, got 0"),
    ("van_rossum-tau", lambda: losses.van_rossum(np.ones((3, 2)), np.ones((3, 2)), -1.0, 1.0),
     ValueError, r"van_rossum.tau must be > 0 \(ms\), got -1"),
    ("RateBounds-order", lambda: bs.train.regularizers.RateBounds(lower=0.5, upper=0.1),
     ValueError, r"RateBounds: need lower <= upper, got lower=0.5 > upper=0.1"),
    ("save-metadata", lambda: bs.train.save("never-written", _snn(), None, {"f": print}),
     TypeError, r"checkpoint metadata must be JSON-serialisable: .*builtin_function"),
    ("default_optimizer-lr", lambda: bs.train.default_optimizer(lr=-1.0), ValueError,
     r"default_optimizer.lr must be > 0, got -1"),
]



class _Noisy(bs.neurons.AbstractNeuron):
    """A neuron drawing from a PRNG key in its state (not a Poisson source)."""

    size: int = eqx.field(static=True)

    def init(self, key, batch_shape=()):
        return bs.neurons.SourceState(jnp.zeros((*batch_shape, self.size)), key)

    def step(self, state, drive=None, *, t, dt):
        key, sub = jax.random.split(state.key)
        s = jax.random.bernoulli(sub, 0.1, state.spike.shape).astype(state.spike.dtype)
        return bs.neurons.SourceState(s, key), s


def _net(**kw):
    proj = bs.Projection("a", "a", kw.pop("conn", bs.conn.FixedProb(0.5)), **kw)
    return bs.Network({"a": bs.neurons.LIF(4)}, [proj], key=KEY)


def _sim(net=None, duration=1.0, **kw):
    net = _net() if net is None else net
    return bs.simulate(net, net.init(KEY, dt=kw.get("dt", 0.1)), duration, **kw)


def _batched():
    net = _net()
    return net, net.init(KEY, dt=0.1, batch_shape=(2,))


def _net_state():
    net = _net()
    return net, net.init(KEY, dt=0.1)


def _recording():
    return bs.Recording({"E": {"v": np.zeros((3, 2))}}, 0.1, 0.0, 0.0, 3)


def _sim_dt(dt):
    net = _net()
    return bs.simulate(net, net.init(KEY), 1.0, dt=dt)


def _evaluate(batch_size):
    x, y = _data()
    return bs.train.evaluate(_snn(), losses.ce_max_membrane, x, y, batch_size=batch_size)


NEURONS = [
    ("LeakyIntegrator-tau_m", lambda: bs.neurons.LeakyIntegrator(3, tau_m=0.0), ValueError,
     r"LeakyIntegrator.tau_m must be > 0 \(ms\), got 0"),
    ("LeakyIntegrator-c_m", lambda: bs.neurons.LeakyIntegrator(3, c_m=-1.0), ValueError,
     r"LeakyIntegrator.c_m must be > 0 \(pF\), got -1"),
    ("LIF-size", lambda: bs.neurons.LIF(0), ValueError,
     r"LIF.size must be an integer >= 1, got 0"),
    ("LIF-tau_m-shape", lambda: bs.neurons.LIF(3, tau_m=np.full(5, 10.0)), ValueError,
     r"LIF.tau_m must be a scalar or have shape \(3,\), got shape \(5,\)"),
    ("LIF-tau_m", lambda: bs.neurons.LIF(3, tau_m=-1.0), ValueError,
     r"LIF.tau_m must be > 0 \(ms\), got -1"),
    ("LIF-v_th-nan", lambda: bs.neurons.LIF(3, v_th=np.nan), ValueError,
     r"LIF.v_th must be finite, got nan"),
    ("AdEx-a-shape", lambda: bs.neurons.AdEx(3, a=np.ones(2)), ValueError,
     r"AdEx.a must be a scalar or have shape \(3,\), got shape \(2,\)"),
    ("Izhikevich-a-shape", lambda: bs.neurons.Izhikevich(3, a=np.ones(2)), ValueError,
     r"Izhikevich.a must be a scalar or have shape \(3,\), got shape \(2,\)"),
    ("HH-g_na-shape", lambda: bs.neurons.HH(3, g_na=np.ones(2)), ValueError,
     r"HH.g_na must be a scalar or have shape \(3,\), got shape \(2,\)"),
    ("PoissonSource-rate", lambda: bs.neurons.PoissonSource(3, rate=-1.0), ValueError,
     r"PoissonSource.rate must be >= 0 \(Hz\), got -1"),
    ("PoissonSource-rate-shape", lambda: bs.neurons.PoissonSource(3, rate=np.ones(4)),
     ValueError, r"PoissonSource.rate must be a scalar or have shape \(3,\), got shape \(4,\)"),
    ("ALIF-tau_a", lambda: bs.neurons.ALIF(3, tau_a=-1.0), ValueError,
     r"ALIF.tau_a must be > 0 \(ms\), got -1"),
    ("ExpIF-delta_t", lambda: bs.neurons.ExpIF(3, delta_t=0.0), ValueError,
     r"ExpIF.delta_t must be > 0 \(mV\), got 0"),
    ("QIF-tau_m", lambda: bs.neurons.QIF(3, tau_m=0.0), ValueError,
     r"QIF.tau_m must be > 0 \(ms\), got 0"),
    ("GIF-c_m", lambda: bs.neurons.GIF(3, c_m=-1.0), ValueError,
     r"GIF.c_m must be > 0 \(pF\), got -1"),
    ("TraubMiles-g_na-shape", lambda: bs.neurons.TraubMiles(3, g_na=np.ones(2)), ValueError,
     r"TraubMiles.g_na must be a scalar or have shape \(3,\), got shape \(2,\)"),
    ("WangBuzsaki-c_m", lambda: bs.neurons.WangBuzsaki(3, c_m=0.0), ValueError,
     r"WangBuzsaki.c_m must be > 0 \(µF/cm²\), got 0"),
    ("PoissonCounts-rate", lambda: bs.neurons.PoissonCounts(3, rate=-2.0), ValueError,
     r"PoissonCounts.rate must be >= 0 \(Hz\), got -2"),
    ("UltraLIF-tau_m", lambda: bs.spikes.UltraLIF(3, tau_m=-1.0), ValueError,
     r"UltraLIF.tau_m must be > 0 \(ms\), got -1"),
    ("UltraDLIF-size", lambda: bs.spikes.UltraDLIF(0), ValueError,
     r"UltraDLIF.size must be an integer >= 1, got 0"),
    ("SpikeTimes-times", lambda: bs.neurons.SpikeTimes(3, [-1.0], [0]), ValueError,
     r"SpikeTimes.times must be >= 0 \(ms\), got -1"),
    ("SpikeTimes-indices", lambda: bs.neurons.SpikeTimes(3, [1.0, 2.0], [0, 5]), ValueError,
     r"SpikeTimes.indices must be in \[0, 2\], got \[0 5\]"),
]

SYNAPSES = [
    ("Exponential-tau", lambda: bs.synapses.Exponential(0.0), ValueError,
     r"Exponential.tau must be > 0 \(ms\), got 0"),
    ("DualExponential-tau_rise", lambda: bs.synapses.DualExponential(-1.0, 5.0), ValueError,
     r"DualExponential.tau_rise must be > 0 \(ms\), got -1"),
    ("Alpha-tau", lambda: bs.synapses.Alpha(tau=np.nan), ValueError,
     r"Alpha.tau must be > 0 \(ms\), got nan"),
    ("Conductance-e_rev", lambda: bs.synapses.Conductance(e_rev=np.nan), ValueError,
     r"Conductance.e_rev must be finite \(mV\), got nan"),
    ("GABAB-k1", lambda: bs.synapses.GABAB(k1=-1.0), ValueError, r"GABAB.k1 must be > 0, got -1"),
    ("TwoStateReceptor-alpha", lambda: bs.synapses.TwoStateReceptor(alpha=-1.0, beta=1.0),
     ValueError, r"TwoStateReceptor.alpha must be > 0 \(1/\(mM ms\)\), got -1"),
    ("MgBlock-mg", lambda: bs.synapses.MgBlock(mg=-1.0), ValueError,
     r"MgBlock.mg must be >= 0 \(mM\), got -1"),
    ("TsodyksMarkram-U", lambda: bs.synapses.TsodyksMarkram(U=1.5), ValueError,
     r"TsodyksMarkram.U must be in \(0, 1\], got 1.5"),
]

CONN = [
    ("FixedProb-p", lambda: bs.conn.FixedProb(1.5), ValueError,
     r"FixedProb.p must be a probability in \[0, 1\], got 1.5"),
    ("FixedInDegree-k", lambda: bs.conn.FixedInDegree(-1), ValueError,
     r"FixedInDegree.k must be an integer >= 0, got -1"),
    ("FixedOutDegree-k", lambda: bs.conn.FixedOutDegree(2.5), ValueError,
     r"FixedOutDegree.k must be an integer >= 0, got 2.5"),
    ("FixedInDegree-k-too-many", lambda: _net(conn=bs.conn.FixedInDegree(10)), ValueError,
     r"FixedInDegree.k must be an integer in \[0, 4\], got 10"),
    ("FixedTotalNumber-n", lambda: bs.conn.FixedTotalNumber(-5), ValueError,
     r"FixedTotalNumber.n must be an integer in \[0, 2147483647\], got -5"),
    ("ProceduralFixedOutDegree-k", lambda: bs.conn.ProceduralFixedOutDegree(-3), ValueError,
     r"ProceduralFixedOutDegree.k must be an integer >= 0, got -3"),
    ("UniformWeights-high", lambda: bs.conn.UniformWeights(2.0, 1.0), ValueError,
     r"UniformWeights.high must be >= low=2, got 1"),
    ("NormalWeights-sd", lambda: bs.conn.NormalWeights(0.0, -1.0), ValueError,
     r"NormalWeights.sd must be >= 0, got -1"),
    ("FromDense-shape", lambda: _net(conn=bs.conn.FromDense(np.ones((3, 4))), weight=None),
     ValueError, r"FromDense.matrix must have shape \(4, 4\), got \(3, 4\)"),
    ("FromEdges-pre", lambda: _net(conn=bs.conn.FromEdges([0, 9], [1, 2]), weight=None),
     ValueError, r"FromEdges.pre must be in \[0, 3\], got min 0, max 9"),
]

NETWORK = [
    ("Projection-pre", lambda: bs.Projection(1, "a", bs.conn.FixedProb(0.1)), ValueError,
     r"Projection.pre must be a population name \(str\), got 1"),
    ("Projection-delay", lambda: bs.Projection("a", "a", bs.conn.OneToOne(), delay=-1.0),
     ValueError, r"Projection a->a: delay must be >= 0 \(ms\), got -1"),
    ("Projection-capacity", lambda: bs.Projection("a", "a", bs.conn.OneToOne(), capacity=-2),
     ValueError, r"Projection a->a: capacity must be an integer >= 0, got -2"),
    ("Projection-unknown-post", lambda: bs.Network(
        {"a": bs.neurons.LIF(4)}, [bs.Projection("a", "b", bs.conn.OneToOne())]),
     ValueError, r"Projection a->b: unknown post population 'b'; known: \['a'\]"),
    ("Projection-weight-shape", lambda: _net(weight=np.ones(3)), ValueError,
     r"Projection a->a: weight must be a scalar or have shape \(\d+,\), got \(3,\)"),
    ("Projection-weight-nan", lambda: _net(weight=np.nan), ValueError,
     r"Projection a->a: weight must be finite, got nan"),
    ("NormalDelay-mean", lambda: bs.delays.NormalDelay(-1.0, 1.0), ValueError,
     r"NormalDelay.mean must be > 0 \(ms\), got -1"),
    ("GapJunction-pre", lambda: bs.GapJunction(1, "a", bs.conn.OneToOne()), ValueError,
     r"GapJunction.pre must be a population name \(str\), got 1"),
    ("Network-population", lambda: bs.Network({"a": 3}), ValueError,
     r"population 'a' must be a neuron model, got 3"),
    ("init-dt-0", lambda: _net().init(KEY, dt=0), ValueError, r"dt must be > 0 \(ms\), got 0"),
    ("init-dt-negative", lambda: _net(delay=1.0).init(KEY, dt=-0.1), ValueError,
     r"dt must be > 0 \(ms\), got -0.1"),
    ("init-batch_shape", lambda: _net().init(KEY, batch_shape=(-1,)), ValueError,
     r"batch_shape \(-1,\): each entry must be an integer >= 1, got -1"),
    ("init-delay-1e9", lambda: _net(delay=1e9).init(KEY, dt=0.1), ValueError,
     r"Projection a->a: delay 1e\+09 ms at dt=0.1 ms needs a buffer of 9999999999 steps x 4 "
     r"neurons = 4e\+10 values, more than the limit"),
    ("init-delays-1e9", lambda: _net(delays=bs.delays.NormalDelay(1e9, 1.0)).init(KEY),
     ValueError,
     r"Projection a->a: delay 1e\+09 ms at dt=0.1 ms needs a buffer of"),
    ("init-delay-not-multiple", lambda: _net(delay=0.25).init(KEY, dt=0.1), ValueError,
     r"Projection a->a: delay must be a whole multiple of dt=0.1 ms, got delay=0.25 ms"),
    ("init-delay-below-dt", lambda: _net(delay=0.0).init(KEY, dt=0.1), ValueError,
     r"Projection a->a: delay must be >= dt=0.1 ms \(the minimum delay\), got 0 ms"),
]

SIMULATE = [
    ("simulate-inputs-population", lambda: _sim(inputs={"e": 1.0}), ValueError,
     r"inputs: unknown population\(s\) \['e'\]; known populations: \['a'\]"),
    ("simulate-inputs-function", lambda: _sim(inputs=lambda t: {"e": t}), ValueError,
     r"inputs: unknown population\(s\) \['e'\]; known populations: \['a'\]"),
    ("simulate-duration", lambda: _sim(duration=-1.0), ValueError,
     r"duration must be >= 0 \(ms\), got -1"),
    ("simulate-duration-multiple", lambda: _sim(duration=1.05), ValueError,
     r"duration must be a whole multiple of dt=0.1 ms, got duration=1.05 ms \(10.5 steps\)"),
    ("simulate-dt", lambda: _sim_dt(0.0), ValueError, r"dt must be > 0 \(ms\), got 0"),
    ("simulate-dt-mismatch", lambda: bs.simulate(
        _net(delay=1.0), _net(delay=1.0).init(KEY), 1.0, dt=0.2), ValueError,
     r"dt=0.2 ms does not match the dt the state was initialised with \(projection a->a\)"),
    ("simulate-record-population", lambda: _sim(record={"b": ["spikes"]}), ValueError,
     r"record: unknown population 'b'; known: \['a'\]"),
    ("simulate-record-variable", lambda: _sim(record={"a": ["vv"]}), ValueError,
     r"record: population 'a' has no variable 'vv'"),
    ("simulate-record-synaptic", lambda: _sim(record={"a": [bs.synaptic(0, "h")]}),
     ValueError, r"record: population 'a' has no synaptic variable 'synapses\[0\]\.h' \(a "
     r"field of a projection onto it\); available: \['synapses\[0\]\.g'\]"),
    ("StochasticRelease-p", lambda: bs.StochasticRelease(-0.1), ValueError,
     r"StochasticRelease.p must be a probability in \[0, 1\], got -0.1"),
    ("StochasticRelease-p-shape", lambda: _net(components=(bs.StochasticRelease(np.ones(3)),)),
     ValueError, r"Projection a->a: StochasticRelease.p must be a scalar or have the layout's "
     r"weight shape \(\d+,\), got \(3,\)"),
    ("simulate-chunk_steps", lambda: _sim(chunk_steps=0), ValueError,
     r"chunk_steps must be an integer >= 1, got 0"),
    ("Record-every", lambda: bs.Record("spikes", every=0), ValueError,
     r"Record.every must be an integer >= 1, got 0"),
    ("Record-indices", lambda: _sim(record={"a": bs.Record("v", indices=[7])}), ValueError,
     r"record: indices for 'a' must be in \[0, 3\]"),
    ("simulate_sharded-dt", lambda: bs.simulate_sharded(_net(), _net().init(KEY), 1.0, dt=0.0),
     ValueError, r"dt must be > 0 \(ms\), got 0"),
    ("simulate_sharded-duration", lambda: bs.simulate_sharded(_net(), _net().init(KEY), -1.0),
     ValueError, r"duration must be >= 0 \(ms\), got -1"),
    ("simulate_sharded-layout", lambda: bs.simulate_sharded(
        _net(conn=bs.conn.AllToAll()), _net().init(KEY), 1.0),
     ValueError, r"Projection a->a: sharded runs need procedural connectivity .* got Dense"),
    ("simulate_sharded-random", lambda: bs.simulate_sharded(
        bs.Network({"p": _Noisy(4)}), bs.Network({"p": _Noisy(4)}).init(KEY), 1.0),
     ValueError, r"population 'p' draws random numbers from one PRNG key: sharded runs "
     r"support it for PoissonSource and PoissonCounts only"),
    ("simulate_sharded-exchange_every", lambda: bs.simulate_sharded(
        *_net_state(), 1.0, exchange_every=2),
     ValueError, r"exchange_every must be an integer number of steps from 1 to 1 \(the "
     r"network's smallest delay in steps at dt=0.1 ms, bs.exchange_interval\), got 2"),
    ("exchange_interval-dt", lambda: bs.exchange_interval(_net(), 0.0), ValueError,
     r"dt must be > 0 \(ms\), got 0"),
    ("merge_events-parts", lambda: bs.distributed.merge_events([]), ValueError,
     "merge_events needs at least one SpikeEvents, got none"),
    ("initialize-timeout", lambda: bs.distributed.initialize("localhost:1", 2, 0, timeout=0),
     ValueError, r"timeout must be an integer number of seconds >= 1, got 0"),
    ("CSR-max_degree", lambda: bs.conn.CSR(2, 2, [0, 1, 3], [0, 0, 1], max_degree=1),
     ValueError, r"CSR.max_degree must be >= the largest out-degree 2, got 1"),
]

OTHER = [
    ("rate-n_steps", lambda: bs.encoders.rate(KEY, np.ones(3), 0), ValueError,
     r"rate.n_steps must be an integer >= 1, got 0"),
    ("latency-x", lambda: bs.encoders.latency(np.full(3, 2.0), 10), ValueError,
     r"latency: x must lie in \[0, 1\], got min 2, max 2"),
    ("load_shd-n_steps", lambda: bs.datasets.load_shd("missing.h5", n_steps=0), ValueError,
     r"load_shd.n_steps must be an integer >= 1, got 0"),
    ("bin_events-times", lambda: bs.datasets.bin_events([-1.0], [0], 10, 1.0, 700), ValueError,
     r"shd: times must be >= 0 \(s\), got -1"),
    ("digits-test_fraction", lambda: bs.datasets.digits(test_fraction=1.5), ValueError,
     r"test_fraction.*1.5"),
    ("yinyang-n_samples", lambda: bs.datasets.yinyang(0, n_samples=0), ValueError,
     r"yinyang.n_samples must be an integer >= 1, got 0"),
    ("randman-n_classes", lambda: bs.datasets.randman(KEY, n_classes=0), ValueError,
     r"randman.n_classes must be an integer >= 1, got 0"),
    ("population_rate-dt", lambda: bs.analysis.population_rate(np.ones((10, 3)), 0.0),
     ValueError, r"population_rate.dt must be > 0 \(ms\), got 0"),
    ("population_rate-window", lambda: bs.analysis.population_rate(np.ones((10, 3)), 1.0, -2),
     ValueError, r"population_rate.window must be > 0 \(ms\), got -2"),
    ("firing_rate-dt", lambda: bs.analysis.firing_rate(np.ones((10, 3)), -1.0), ValueError,
     r"firing_rate.dt must be > 0 \(ms\), got -1"),
    ("delta-threshold", lambda: bs.encoders.delta(np.ones((3, 2)), -1.0), ValueError,
     r"delta.threshold must be >= 0, got -1"),
    ("spike_raster-n_steps", lambda: bs.datasets.spike_raster(np.ones(3), 0), ValueError,
     r"spike_raster.n_steps must be an integer >= 1, got 0"),
    ("Heaviside-surrogate", lambda: bs.spikes.Heaviside(3.0), TypeError,
     r"Heaviside.surrogate must be a surrogate .*got 3.0"),
    ("Sigmoid-alpha", lambda: bs.spikes.Sigmoid(-1.0), ValueError,
     r"Sigmoid.alpha must be > 0, got -1"),
    ("ArcTan-alpha", lambda: bs.spikes.ArcTan(-1.0), ValueError,
     r"ArcTan.alpha must be > 0, got -1"),
    ("Triangle-alpha", lambda: bs.spikes.Triangle(-1.0), ValueError,
     r"Triangle.alpha must be > 0, got -1"),
    ("Gaussian-sigma", lambda: bs.spikes.Gaussian(-1.0), ValueError,
     r"Gaussian.sigma must be > 0, got -1"),
    ("MultiGaussian-sigma", lambda: bs.spikes.MultiGaussian(sigma=-1.0), ValueError,
     r"MultiGaussian.sigma must be > 0, got -1"),
    ("Erf-alpha", lambda: bs.spikes.Erf(-1.0), ValueError, r"Erf.alpha must be > 0, got -1"),
    ("Exponential-alpha", lambda: bs.spikes.Exponential(-1.0), ValueError,
     r"Exponential.alpha must be > 0, got -1"),
    ("SLAYER-beta", lambda: bs.spikes.SLAYER(beta=-1.0), ValueError,
     r"SLAYER.beta must be > 0, got -1"),
    ("StraightThrough-scale", lambda: bs.spikes.StraightThrough(-1.0), ValueError,
     r"StraightThrough.scale must be > 0, got -1"),
    ("DormandPrince-rtol", lambda: bs.integrators.DormandPrince(rtol=-1.0), ValueError,
     r"DormandPrince.rtol must be > 0, got -1"),
    ("DormandPrince-atol", lambda: bs.integrators.DormandPrince(atol=0.0), ValueError,
     r"DormandPrince.atol must be > 0, got 0"),
    ("DormandPrince-max_substeps", lambda: bs.integrators.DormandPrince(max_substeps=0),
     ValueError, r"DormandPrince.max_substeps must be an integer >= 1, got 0"),
    ("AdaptiveThreshold-tau_rate", lambda: bs.plasticity.AdaptiveThreshold(tau_rate=-1.0),
     ValueError, r"AdaptiveThreshold.tau_rate must be > 0 \(ms\), got -1"),
    ("Bounds-order", lambda: bs.plasticity.Bounds(w_min=2.0, w_max=1.0), ValueError,
     r"Bounds: w_min must be <= w_max, got w_min=2, w_max=1"),
    ("PairSTDP-tau_plus", lambda: bs.plasticity.PairSTDP(tau_plus=-1.0), ValueError,
     r"PairSTDP.tau_plus must be > 0 \(ms\), got -1"),
    ("RewardSTDP-tau_c", lambda: bs.plasticity.RewardSTDP(tau_c=0.0), ValueError,
     r"RewardSTDP.tau_c must be > 0 \(ms\), got 0"),
    ("DistalReward-window", lambda: bs.plasticity.DistalReward(0, 0, window=0.0), ValueError,
     r"DistalReward.window must be > 0 \(ms\), got 0"),
    ("DistalReward-delays", lambda: bs.plasticity.DistalReward(0, 0, delay_min=5.0, delay_max=1.0),
     ValueError, r"DistalReward: need delay_min <= delay_max, got 5 and 1 ms"),
    ("RewardSignal-values", lambda: bs.plasticity.RewardSignal(jnp.zeros((2, 3))), ValueError,
     r"RewardSignal.values must be one value per step \(n_steps,\), got shape \(2, 3\)"),
    ("Sleep-factor", lambda: bs.plasticity.Sleep(wake=10.0, sleep=1.0, factor=1.5), ValueError,
     r"Sleep.factor must be a probability in \[0, 1\], got 1.5"),
    ("Sleep-sleep", lambda: bs.plasticity.Sleep(wake=10.0, sleep=-1.0), ValueError,
     r"Sleep.sleep must be >= 0 \(ms\), got -1"),
    ("Normalized-total",
     lambda: bs.plasticity.Normalized(bs.plasticity.TraceSTDP(), -1.0), ValueError,
     r"Normalized.total must be > 0, got -1"),
    ("Normalized-rule", lambda: bs.plasticity.Normalized("x", 1.0), ValueError,
     r"Normalized.rule must be a bs.plasticity rule, got 'x'"),
    ("TraceSTDP-tau", lambda: bs.plasticity.TraceSTDP(tau=-1.0), ValueError,
     r"TraceSTDP.tau must be > 0 \(ms\), got -1"),
    ("TraceSTDP-w_max",
     lambda: bs.plasticity.TraceSTDP(bounds=bs.plasticity.Bounds(0.0, float("inf"))),
     ValueError, r"TraceSTDP.bounds.w_max must be finite, got inf"),
    ("SynapticScaling-eta", lambda: bs.plasticity.SynapticScaling(eta=-1.0), ValueError,
     r"SynapticScaling.eta must be >= 0 \(1/ms\), got -1"),
    ("TripletSTDP-tau_plus", lambda: bs.plasticity.TripletSTDP(tau_plus=-1.0), ValueError,
     r"TripletSTDP.tau_plus must be > 0 \(ms\), got -1"),
    ("VogelsSprekeler-tau", lambda: bs.plasticity.VogelsSprekeler(tau=-1.0), ValueError,
     r"VogelsSprekeler.tau must be > 0 \(ms\), got -1"),
    ("from_nir-dt", lambda: bs.nir.from_nir(bs.nir.to_nir(_snn()), dt=0.0), ValueError,
     r"from_nir.dt must be > 0 \(ms\), got 0"),
    ("from_nir-method", lambda: bs.nir.from_nir(bs.nir.to_nir(_snn()), dt=1.0, method="rk9"),
     ValueError, r"method must be one of \('exp', 'euler'\), got 'rk9'"),
    ("to_nir-model", lambda: bs.nir.to_nir(3), bs.nir.UnsupportedModelError,
     r"to_nir: a int has no NIR equivalent; supported: bs.train.SNN"),
    ("Constant-value", lambda: bs.initializers.Constant(np.inf), ValueError,
     r"Constant.value must be finite, got inf"),
    ("Uniform-high", lambda: bs.initializers.Uniform(2.0, 1.0), ValueError,
     r"Uniform needs high >= low, got low=2.0, high=1.0"),
    ("cuba-n", lambda: bs.models.cuba(0, key=KEY), ValueError,
     r"cuba: n must be an integer >= 1, got 0"),
    ("cobahh-n", lambda: bs.models.cobahh(-3, key=KEY), ValueError,
     r"cobahh: n must be an integer >= 1, got -3"),
    ("potjans_diesmann-scale", lambda: bs.models.potjans_diesmann(-1.0, key=KEY), ValueError,
     r"potjans_diesmann: scale must be > 0, got -1"),
    ("UltraSpike-eps", lambda: bs.spikes.UltraSpike(-1.0), ValueError,
     r"UltraSpike.eps must be > 0, got -1"),
    ("FastSigmoid-scale", lambda: bs.spikes.FastSigmoid(-1.0), ValueError,
     r"FastSigmoid.scale must be > 0, got -1"),
    ("Scaled-width", lambda: bs.spikes.Scaled(bs.spikes.FastSigmoid(1.0), -2.0), ValueError,
     r"Scaled.width must be > 0 \(mV\), got -2"),
    ("Normal-std", lambda: bs.initializers.Normal(0.0, -1.0), ValueError,
     r"Normal.std must be >= 0, got -1"),
    # The command line exits with status 2 (its one-line messages: tests/test_cli.py).
    ("cli-duration", lambda: cli.main(["run", "coba", "--duration", "0"]), SystemExit, "^2$"),
    ("cli-dt", lambda: cli.main(["run", "coba", "--dt", "-0.1"]), SystemExit, "^2$"),
    ("coba-n", lambda: bs.models.coba(0, key=KEY), ValueError,
     r"coba: n must be an integer >= 1, got 0"),
    ("brunel2000-n_e", lambda: bs.models.brunel2000(0, key=KEY), ValueError,
     r"brunel2000: n_e must be an integer >= 1, got 0"),
    ("to_neo-populations", lambda: _recording().to_neo({"E": 3}), TypeError,
     r"to_neo: populations must be None, a population name or a list of names, got \{'E': 3\}"),
    ("to_neo-units", lambda: _recording().to_neo(units={"v": 3}), ValueError,
     r"to_neo: units\['v'\] must be a unit such as 'mV' or 'pA', got 3"),
]

# Long runs: streamed recordings and simulation checkpoints (files in the working
# directory are never created: every row fails before writing).
LONG_RUNS = [
    ("HDF5Sink-resume", lambda: bs.io.HDF5Sink("no/such/run.h5", resume=True),
     FileNotFoundError, r"HDF5Sink: resume=True but there is no file no/such/run.h5"),
    ("simulate-stream", lambda: _sim(stream="run.h5"), TypeError,
     r"simulate: stream must be a bs.io.HDF5Sink \(a RecordingSink\), got 'run.h5'"),
    ("read_recording-missing", lambda: bs.io.read_recording("no/such/run.h5"),
     bs.io.RecordingFileError, r"recording file no/such/run.h5: cannot be opened as HDF5"),
    ("save_run-t", lambda: bs.save_run("x.ckpt", *_net_state(), t=float("nan"), dt=0.1),
     ValueError, r"save_run: t must be a finite number \(ms\), got nan"),
    ("save_run-dt", lambda: bs.save_run("x.ckpt", *_net_state(), t=0.0, dt=0.0),
     ValueError, r"save_run: dt must be > 0 ms, got 0.0"),
    ("restore_run-path", lambda: bs.restore_run("no/such/run.ckpt", *_net_state()),
     FileNotFoundError, r"no/such/run.ckpt"),
    ("Record-events", lambda: bs.Record("spikes", events="yes"), ValueError,
     r"Record.events must be None, True or False, got 'yes'"),
    ("simulate_sharded-stream", lambda: bs.simulate_sharded(*_net_state(), 1.0, stream="a.h5"),
     TypeError, r"simulate_sharded: stream must be a bs.io.HDF5Sink \(a RecordingSink\), "
     r"got 'a.h5'"),
    ("simulate_sharded-record", lambda: bs.simulate_sharded(*_net_state(), 1.0, record=["b"]),
     ValueError, r"simulate_sharded: record must name populations of the network \(a\), "
     r"got \['b'\]"),
    ("read_recording-empty", lambda: bs.io.read_recording([]), ValueError,
     r"read_recording: path is an empty list; give one file or more"),
    ("read_recording-lazy", lambda: bs.io.read_recording(["a.h5", "b.h5"], lazy=True),
     ValueError, r"read_recording: lazy=True reads one file, got 2"),
    ("spike_events-batched", lambda: bs.simulate_core(
        *_batched(), 1.0, 0.1, record={"a": ["spikes"]})[1].spike_events("a"),
     ValueError, r"spike_events: a\['spikes'\] has shape \(10, 2, 4\); events need "
     r"\(n_samples, n_neurons\)"),
]

ROWS = TRAIN + LAYERS + NEURONS + SYNAPSES + CONN + NETWORK + SIMULATE + OTHER + LONG_RUNS


@pytest.mark.parametrize(
    "call, error, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message) as info:
        call()
    # Raised by brainsim's own checks before JAX traced anything: no frame of JAX's code
    # (tracing, lowering, compiling) between the call and the raise.
    inside = [f"{e.path}:{e.name}" for e in info.traceback if "/jax/" in str(e.path)]
    assert not inside, f"raised inside JAX: {inside}"


# fmt: on
# Entry points that are functions (or classes built through them): each needs a row.
ENTRY_POINTS = (
    "Network Projection GapJunction Record init simulate simulate_sharded exchange_interval cli "
    "merge_events initialize "
    "fit evaluate lif_layer readout LIFLayer Readout FeedForwardSNN RecurrentSNN UltraSNN "
    "DelayedDense delayed_dense default_optimizer scan_time "
    "load_shd bin_events randman yinyang digits spike_raster rate latency delta "
    "population_rate firing_rate coba cuba cobahh brunel2000 potjans_diesmann "
    "from_nir to_nir to_neo HDF5Sink read_recording save_run restore_run"
).split()


def _parameterised_classes():
    """The public model classes that take parameters: neurons, synapses, connectivity
    builders and weight rules, spike functions, initializers, integrators, plasticity
    rules."""
    import dataclasses
    import inspect

    namespaces = (bs.neurons, bs.synapses, bs.conn, bs.spikes, bs.initializers, bs.integrators)
    for ns in (*namespaces, bs.plasticity):
        for name in dir(ns):
            cls = getattr(ns, name)
            if not inspect.isclass(cls) or name.startswith("Abstract") or name.endswith("State"):
                continue
            if not dataclasses.is_dataclass(cls) or inspect.isabstract(cls):
                continue
            fields = [f for f in dataclasses.fields(cls) if f.type is not bool]
            if fields and "layouts" not in cls.__module__ and name not in NOT_IN_MATRIX:
                yield name


# Parameterised classes without a row, and why.
NOT_IN_MATRIX = {
    "EulerMaruyama": "its fields are a diffusion function and a key (checked when called)",
    "Drive": "an input value, not a model (its fields are currents and conductances)",
    "ButcherTableau": "a table of coefficients, checked by RungeKutta (test_integrators_rk)",
}


def test_every_entry_point_has_a_row():
    ids = [r[0] for r in ROWS]
    required = set(ENTRY_POINTS) | set(_parameterised_classes())
    missing = sorted(name for name in required if not any(i.startswith(f"{name}-") for i in ids))
    assert not missing, f"public entry points without a bad-input row: {missing}"
