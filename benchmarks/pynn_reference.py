"""Record the references of ``tests/test_pynn.py``: small PyNN scripts run with a
PyNN backend (``pyNN.nest`` for the fixtures); each writes its recordings to an ``.npz``.

    python benchmarks/pynn_reference.py pyNN.nest tests/references/pynn_cond_exp_nest.npz
    python benchmarks/pynn_reference.py pyNN.nest tests/references/pynn_features_nest.npz features
    python benchmarks/pynn_reference.py pyNN.nest tests/references/pynn_cells_nest.npz cells
    python benchmarks/pynn_reference.py pyNN.nest tests/references/pynn_gsyn_nest.npz gsyn
    python benchmarks/pynn_reference.py pyNN.nest tests/references/pynn_point_nest.npz point
    python benchmarks/pynn_reference.py pyNN.nest tests/references/pynn_chain_nest.npz chain

``cond_exp``: one IF_cond_exp cell receiving excitatory and inhibitory input spikes.
``features``: an IF_curr_alpha, an IF_cond_alpha and an EIF_cond_exp_isfa_ista cell
receiving a spike train and driven by DCSource and StepCurrentSource; an IF_curr_exp
cell receiving the train through a TsodyksMarkramSynapse; and an STDP projection whose
final weights are recorded.
``cells``: an HH_cond_exp and an Izhikevich cell driven by a DC source and spikes.
``gsyn``: IF_cond_exp and IF_cond_alpha cells receiving Poisson trains (times off the
grid) through excitatory and inhibitory projections with several delays; their
``gsyn_exc``/``gsyn_inh`` and ``v`` over two consecutive runs.
``point``: PyNN's composed ``PointNeuron`` (AdExp with alpha conductances, LIF with
exponential currents) with three receptor types each, as PyNN's scenario
``test_composed_neuron_model_homogeneous_receptors`` builds them.
``chain``: a cell driven to fire regularly, projecting onto two cells with delays of
one step and of 1 ms (the transmission delay between cells).
"""

import importlib
import sys

import numpy as np

SCRIPT = dict(
    dt=0.1,
    duration=100.0,
    exc=[10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 50.0],
    inh=[30.0, 60.0],
    w_exc=0.02,
    w_inh=0.05,
)  # ms, µS


def _trace(pop):
    seg = pop.get_data().segments[0]
    v = seg.filter(name="v")[0]
    spikes = [np.asarray(s.rescale("ms")) for s in seg.spiketrains]
    return np.asarray(v.times.rescale("ms")), np.asarray(v.rescale("mV")), spikes


def run(sim, s=SCRIPT):
    """The ``cond_exp`` script; returns (times ms, v mV, spike times ms)."""
    sim.setup(timestep=s["dt"])
    exc = sim.Population(1, sim.SpikeSourceArray(spike_times=s["exc"]))
    inh = sim.Population(1, sim.SpikeSourceArray(spike_times=s["inh"]))
    cell = sim.Population(1, sim.IF_cond_exp(tau_refrac=2.0))
    cell.record(["v", "spikes"])
    conn = sim.AllToAllConnector()  # (OneToOne of size 1 fails in pyNN.nest 0.13 + numpy 2)
    for src, w, receptor in ((exc, s["w_exc"], "excitatory"), (inh, s["w_inh"], "inhibitory")):
        syn = sim.StaticSynapse(weight=w, delay=s["dt"])
        sim.Projection(src, cell, conn, syn, receptor_type=receptor)
    sim.run(s["duration"])
    t, v, spikes = _trace(cell)
    sim.end()
    return t, v[:, 0], spikes[0]


def run_features(sim):
    """The ``features`` script; returns a dict of arrays. Every delay is the timestep:
    with ``min_delay="auto"`` pyNN.nest shifts the spikes of sources and the onset of
    current sources by the network's minimum delay, known only once projections exist."""
    sim.setup(timestep=0.1, spike_precision="on_grid")  # pyNN.nest's default: off_grid
    train = sim.Population(1, sim.SpikeSourceArray(spike_times=np.arange(20.0, 200.0, 20.0)))
    cells = [
        sim.Population(1, sim.IF_curr_alpha(tau_syn_E=2.0, tau_refrac=2.0)),
        sim.Population(1, sim.IF_cond_alpha(tau_syn_E=2.0, tau_refrac=2.0)),
        sim.Population(1, sim.EIF_cond_exp_isfa_ista()),
        sim.Population(1, sim.IF_curr_exp(tau_syn_E=2.0)),
    ]
    weights = (0.8, 0.02, 0.02, 2.0)  # nA, µS, µS, nA
    for pop, w in zip(cells, weights, strict=True):
        pop.record(["v", "spikes"])
        syn = sim.StaticSynapse(weight=w)
        if pop is cells[3]:
            syn = sim.TsodyksMarkramSynapse(U=0.5, tau_rec=100.0, tau_facil=50.0, weight=w)
        sim.Projection(train, pop, sim.AllToAllConnector(), syn, receptor_type="excitatory")
    sim.DCSource(amplitude=0.4, start=50.0, stop=150.0).inject_into(cells[0])
    sim.StepCurrentSource(times=[60.0, 120.0], amplitudes=[0.5, 0.2]).inject_into(cells[1])
    sim.DCSource(amplitude=0.6, start=100.0, stop=180.0).inject_into(cells[2])
    # STDP: 5 presynaptic trains against one postsynaptic cell made to fire by a DC
    pre = sim.Population(
        5,
        sim.SpikeSourceArray(
            spike_times=[[t0 + k for t0 in range(30, 250, 25)] for k in range(5)]
        ),
    )
    post = sim.Population(1, sim.IF_curr_exp(tau_refrac=2.0))
    sim.DCSource(amplitude=1.2, start=1.0).inject_into(post)
    post.record("spikes")
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(
            tau_plus=20.0, tau_minus=20.0, A_plus=0.05, A_minus=0.06
        ),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.5),
        weight=0.25,
    )
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), stdp)
    sim.run(240.0)  # NEST applies STDP at pre spikes: none after the last post spike
    out = {}
    for name, pop in zip(("alpha_curr", "alpha_cond", "adex", "tm"), cells, strict=True):
        t, v, spikes = _trace(pop)
        out[f"{name}_v"], out[f"{name}_spikes"] = v[:, 0], spikes[0]
    out["t"] = t
    out["post_spikes"] = np.asarray(post.get_data().segments[0].spiketrains[0].rescale("ms"))
    out["stdp_w"] = np.asarray(prj.get("weight", format="array"))[:, 0]
    sim.end()
    return out


def run_cells(sim):
    """The ``cells`` script: an HH_cond_exp and an Izhikevich cell driven by a
    DCSource and a spike train; returns a dict of arrays."""
    sim.setup(timestep=0.1, spike_precision="on_grid")
    train = sim.Population(1, sim.SpikeSourceArray(spike_times=[10.0, 30.0, 32.0]))
    hh = sim.Population(1, sim.HH_cond_exp())
    izh = sim.Population(1, sim.Izhikevich(i_offset=0.005))
    for pop, w in ((hh, 0.05), (izh, 5.0)):  # µS; mV (pyNN.nest's Izhikevich weight)
        pop.record(["v", "spikes"])
        syn = sim.StaticSynapse(weight=w)
        sim.Projection(train, pop, sim.AllToAllConnector(), syn, receptor_type="excitatory")
    sim.DCSource(amplitude=0.4, start=50.0, stop=80.0).inject_into(hh)
    sim.run(100.0)
    out = {}
    for name, pop in (("hh", hh), ("izh", izh)):
        t, v, spikes = _trace(pop)
        out[f"{name}_v"], out[f"{name}_spikes"] = v[:, 0], spikes[0]
    out["t"] = t
    sim.end()
    return out


def run_gsyn(sim):
    """The ``gsyn`` script; returns a dict of arrays (µS, mV, ms)."""
    sim.setup(timestep=0.1, spike_precision="on_grid")
    rng = np.random.default_rng(7)
    trains = [np.unique(np.round(np.sort(rng.uniform(1.0, 118.0, 8)), 2)) for _ in range(3)]
    src = sim.Population(3, sim.SpikeSourceArray(spike_times=[sim.Sequence(t) for t in trains]))
    cells = {
        "exp": sim.Population(2, sim.IF_cond_exp(tau_syn_E=2.0, tau_syn_I=4.0)),
        "alpha": sim.Population(1, sim.IF_cond_alpha(tau_syn_E=1.5, tau_syn_I=3.0)),
    }
    for pop in cells.values():
        pop.record(["v", "gsyn_exc", "gsyn_inh"])
        for pre, w, d, receptor in (
            (src[0:1], 0.01, 0.1, "excitatory"),
            (src[1:2], 0.006, 1.0, "excitatory"),
            (src[2:3], 0.02, 0.5, "inhibitory"),
        ):
            syn = sim.StaticSynapse(weight=w, delay=d)
            sim.Projection(pre, pop, sim.AllToAllConnector(), syn, receptor_type=receptor)
    sim.run(60.0)
    sim.run(60.0)
    out = {f"train{k}": t for k, t in enumerate(trains)}
    for name, pop in cells.items():
        seg = pop.get_data().segments[0]
        for var in ("v", "gsyn_exc", "gsyn_inh"):
            x = seg.filter(name=var)[0]
            unit = "mV" if var == "v" else "uS"
            out[f"{name}_{var}"] = np.asarray(x.rescale(unit))
            out["t"] = np.asarray(x.times.rescale("ms"))
    sim.end()
    return out


def run_point(sim):
    """The ``point`` script; returns a dict of arrays (mV, µS, nA, ms)."""
    sim.setup(timestep=0.1)
    psr = {"AMPA": (1.0, 0.0), "NMDA": (20.0, 0.0), "GABAA": (1.5, -70.0)}  # tau, e_syn
    cond = sim.PointNeuron(
        sim.AdExp(tau_m=10.0, v_rest=-60.0),
        **{k: sim.AlphaPSR(tau_syn=tau, e_syn=e) for k, (tau, e) in psr.items()},
    )
    curr = sim.PointNeuron(
        sim.LIF(tau_m=10.0, v_rest=-60.0),
        **{k: sim.CurrExpPostSynapticResponse(tau_syn=tau) for k, (tau, _) in psr.items()},
    )
    cells = {
        "cond": sim.Population(1, cond, initial_values={"v": -60.0}),
        "curr": sim.Population(1, curr, initial_values={"v": -60.0}),
    }
    trains = {"AMPA": [30.0, 35.0, 120.0], "GABAA": [60.0, 62.5], "NMDA": [90.0, 91.0]}
    src = sim.Population(
        3, sim.SpikeSourceArray(spike_times=list(map(sim.Sequence, trains.values())))
    )
    weights = {"cond": (0.01, 0.1, 0.005), "curr": (0.5, -0.4, 0.2)}  # µS / nA
    for name, pop in cells.items():
        var = "gsyn" if name == "cond" else "isyn"
        pop.record(["v", *(f"{r}.{var}" for r in trains)])
        for k, (receptor, w) in enumerate(zip(trains, weights[name], strict=True)):
            syn = sim.StaticSynapse(weight=w, delay=0.1)  # (see run_features)
            sim.Projection(
                src[k : k + 1], pop, sim.AllToAllConnector(), syn, receptor_type=receptor
            )
    sim.run(200.0)
    out = {}
    for name, pop in cells.items():
        seg = pop.get_data().segments[0]
        for x in seg.analogsignals:
            out[f"{name}_{x.name}"] = np.asarray(x.magnitude)[:, 0]
            out["t"] = np.asarray(x.times.rescale("ms"))
    sim.end()
    return out


def run_chain(sim):
    """The ``chain`` script; returns a dict of arrays (mV, ms)."""
    sim.setup(timestep=0.1, spike_precision="on_grid")
    driver = sim.Population(1, sim.IF_curr_exp(i_offset=2.0, tau_refrac=2.0))
    driver.record("spikes")
    out = {}
    targets = {
        "cond": (sim.IF_cond_exp(), 0.01, 0.1),  # µS, delay ms
        "curr": (sim.IF_curr_alpha(), 1.0, 1.0),  # nA
    }
    for name, (cell, w, d) in targets.items():
        pop = sim.Population(1, cell)
        pop.record("v")
        syn = sim.StaticSynapse(weight=w, delay=d)
        sim.Projection(driver, pop, sim.AllToAllConnector(), syn, receptor_type="excitatory")
        out[name] = pop
    sim.run(60.0)
    for name, pop in list(out.items()):
        x = pop.get_data().segments[0].analogsignals[0]
        out[f"{name}_v"], out["t"] = np.asarray(x.magnitude)[:, 0], np.asarray(x.times)
        del out[name]
    out["spikes"] = np.asarray(driver.get_data().segments[0].spiketrains[0])
    sim.end()
    return out


if __name__ == "__main__":
    backend = importlib.import_module(sys.argv[1])
    if len(sys.argv) > 3 and sys.argv[3] == "features":
        np.savez(sys.argv[2], **run_features(backend))
    elif len(sys.argv) > 3 and sys.argv[3] == "chain":
        np.savez(sys.argv[2], **run_chain(backend))
    elif len(sys.argv) > 3 and sys.argv[3] == "point":
        np.savez(sys.argv[2], **run_point(backend))
    elif len(sys.argv) > 3 and sys.argv[3] == "gsyn":
        np.savez(sys.argv[2], **run_gsyn(backend))
    elif len(sys.argv) > 3 and sys.argv[3] == "cells":
        np.savez(sys.argv[2], **run_cells(backend))
    else:
        t, v, spikes = run(backend)
        np.savez(sys.argv[2], t=t, v=v, spikes=spikes)
