"""Projections with per-synapse delays onto one population with equal linear kinetics
share one synaptic trace (``Network.trace_of``): the summed input against the NumPy
convolution of the recorded rasters, a LIF network against the same network with one
trace per projection (float64), and which projections share."""

import jax
import jax.numpy as jnp
import numpy as np

import brainsim as bs

DT = 0.1


def _delta(pre, post, delays, weight=0.5):
    return bs.Projection(
        pre,
        post,
        bs.conn.FixedProb(0.2),
        weight=weight,
        synapse=bs.synapses.Delta(),
        output=bs.synapses.VoltageJump(),
        delays=delays,
        max_delay=3.0,
    )


def test_summed_input_equals_convolution_of_both_rasters(getkey):
    """Two Poisson sources (50 and 30 neurons) onto 40 neurons through FixedProb
    projections with NormalDelay delays and Delta kinetics (weights 0.5 and -0.8), plus
    a third with Exponential kinetics (not shared): the first trace holds the sum of
    both projections' input, equal per step to the NumPy convolution
    sum_syn w S[n - d, i] over both recorded rasters (float32 sums of a few O(1)
    terms: 1e-5); the second keeps no state; the third keeps its own."""
    steps = 80
    pops = {
        "a": bs.neurons.PoissonSource(50, rate=300.0),
        "b": bs.neurons.PoissonSource(30, rate=400.0),
        "post": bs.neurons.LIF(40, v_th=1e3),
    }
    exp = bs.Projection(
        "a",
        "post",
        bs.conn.FixedProb(0.2),
        weight=1.0,
        synapse=bs.synapses.Exponential(2.0),
        output=bs.synapses.Current(),
        delays=bs.delays.NormalDelay(1.0, 0.5, DT),
        max_delay=3.0,
    )
    projs = [
        _delta("a", "post", bs.delays.NormalDelay(0.8, 0.5, DT)),
        _delta("b", "post", bs.delays.NormalDelay(1.2, 0.6, DT), weight=-0.8),
        exp,
    ]
    net = bs.Network(pops, projs, key=getkey())
    assert net.trace_of == (0, 0, 2)
    state = net.init(getkey(), dt=DT)
    assert state.synapses[1] is None and state.synapses[2] is not None

    def body(s, i):
        s, spikes = net.step(s, None, t=i * DT, dt=DT)
        return s, (spikes["a"], spikes["b"], s.synapses[0].g)

    ra, rb, g = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)[1]
    expect = np.zeros(g.shape)
    for raster, proj, w in ((ra, net.projections[0], 0.5), (rb, net.projections[1], -0.8)):
        layout, raster = proj.conn, np.asarray(raster)
        assert raster.sum() > 50
        indptr, post = np.asarray(layout.csr.indptr), np.asarray(layout.csr.indices)
        group = np.asarray(layout.group)
        for i in range(layout.n_pre):
            for k in range(indptr[i], indptr[i + 1]):
                d = round(layout.delays[group[k]] / DT)
                expect[d:, post[k]] += w * raster[: steps - d, i]  # n -> n + d
    np.testing.assert_allclose(np.asarray(g), expect, rtol=1e-5, atol=1e-5)


def _lif_network(tau, key):
    """Three Poisson sources (E, E, I) onto 60 LIF neurons (iaf_psc_exp parameters of
    the microcircuit, 420 pA DC: near rheobase), 1500 synapses each with normal
    weights and delays (as the microcircuit's) and Exponential(tau) current synapses."""
    pops = {
        "e1": bs.neurons.PoissonSource(80, rate=60.0),
        "e2": bs.neurons.PoissonSource(50, rate=90.0),
        "i": bs.neurons.PoissonSource(40, rate=80.0),
        "post": bs.neurons.LIF(
            60,
            tau_m=10.0,
            c_m=250.0,
            v_rest=-65.0,
            v_th=-50.0,
            v_reset=-65.0,
            t_ref=2.0,
            i_ext=420.0,
        ),
    }
    projs = [
        bs.Projection(
            src,
            "post",
            bs.conn.FixedTotalNumber(
                1500,
                weights=bs.conn.NormalWeights(w, 0.1 * abs(w), keep_sign=True),
                delays=bs.conn.NormalDelay(d, 0.5 * d, DT),
            ),
            weight=None,
            synapse=bs.synapses.Exponential(tau),
            output=bs.synapses.Current(),
        )
        for src, w, d in (("e1", 350.0, 1.5), ("e2", 350.0, 1.5), ("i", -700.0, 0.75))
    ]
    return bs.Network(pops, projs, key=key)


def test_lif_network_equals_one_trace_per_projection(x64):
    """The LIF network (fused step) with one shared trace against the same network with
    one trace per projection (a tau passed as an array is not compared, so nothing is
    shared), float64, 400 steps of Poisson input driving the neurons through threshold:
    the same spikes and V within 1e-9 mV (the shared trace only sums in another order:
    rounding of ~1e-13 mV per step)."""
    shared = _lif_network(0.5, jax.random.key(0))
    apart = _lif_network(jnp.asarray(0.5), jax.random.key(0))
    assert shared.trace_of == (0, 0, 0) and apart.trace_of == (0, 1, 2)

    def run(net):
        state = net.init(jax.random.key(1), dt=DT)

        def body(s, i):
            s, spikes = net.step(s, None, t=i * DT, dt=DT)
            return s, (spikes["post"], s.populations["post"].v)

        return jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(400)))(state)[1]

    (s1, v1), (s2, v2) = run(shared), run(apart)
    assert v1.dtype == jnp.float64 and float(s1.sum()) > 20
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_allclose(v1, v2, rtol=0, atol=1e-9)


def test_which_projections_share():
    """In the microcircuit every population's eight recurrent projections share the
    first one's trace; the background (one-to-one, no ring) keeps its own; conductance
    outputs with different reversal potentials do not share."""
    net = bs.models.potjans_diesmann(0.005, key=jax.random.key(0))
    for k, p in enumerate(net.projections):
        first = next(j for j, q in enumerate(net.projections) if q.post == p.post)
        assert net.trace_of[k] == (k if p.pre.startswith("bg_") else first)
    pops = {"a": bs.neurons.PoissonSource(20, rate=10.0), "post": bs.neurons.LIF(10)}
    projs = [
        bs.Projection(
            "a",
            "post",
            bs.conn.FixedProb(0.5),
            weight=1.0,
            synapse=bs.synapses.Exponential(5.0),
            output=bs.synapses.Conductance(e_rev=e),
            delays=bs.delays.NormalDelay(1.0, 0.5, DT),
            max_delay=3.0,
        )
        for e in (0.0, -80.0, 0.0)
    ]
    assert bs.Network(pops, projs, key=jax.random.key(1)).trace_of == (0, 1, 0)
