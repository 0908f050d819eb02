"""Record the reference of ``tests/test_pynn.py::test_cond_exp_matches_nest``: one
IF_cond_exp cell receiving excitatory and inhibitory input spikes, run with a PyNN
backend; writes the membrane trace and spike times to an ``.npz``.

    python benchmarks/pynn_reference.py pyNN.nest tests/references/pynn_cond_exp_nest.npz
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


def run(sim, s=SCRIPT):
    """The script; returns (times ms, v mV, spike times ms)."""
    sim.setup(timestep=s["dt"])
    exc = sim.Population(1, sim.SpikeSourceArray(spike_times=s["exc"]))
    inh = sim.Population(1, sim.SpikeSourceArray(spike_times=s["inh"]))
    cell = sim.Population(1, sim.IF_cond_exp(tau_refrac=2.0))
    cell.record(["v", "spikes"])
    conn = sim.AllToAllConnector()  # (OneToOne of size 1 fails in pyNN.nest 0.13 + numpy 2)
    sim.Projection(
        exc,
        cell,
        conn,
        sim.StaticSynapse(weight=s["w_exc"], delay=s["dt"]),
        receptor_type="excitatory",
    )
    sim.Projection(
        inh,
        cell,
        conn,
        sim.StaticSynapse(weight=s["w_inh"], delay=s["dt"]),
        receptor_type="inhibitory",
    )
    sim.run(s["duration"])
    seg = cell.get_data().segments[0]
    v = seg.filter(name="v")[0]
    out = (
        np.asarray(v.times.rescale("ms")),
        np.asarray(v.rescale("mV"))[:, 0],
        np.asarray(seg.spiketrains[0].rescale("ms")),
    )
    sim.end()
    return out


if __name__ == "__main__":
    t, v, spikes = run(importlib.import_module(sys.argv[1]))
    np.savez(sys.argv[2], t=t, v=v, spikes=spikes)
