"""Record NEST 3.10 plastic-synapse weight trajectories, once (see PROVENANCE.md).

    /work/peers-venv/bin/python tests/references/record_plasticity.py

One synapse from a presynaptic ``parrot_neuron`` to a postsynaptic ``parrot_neuron``
(``receptor_type=1``: the postsynaptic parrot does not repeat the plastic input, so
its spikes are exactly its own generator's), each parrot driven by a
``spike_generator`` with given spike trains: Poisson trains (seed 7) on the 0.1 ms grid
plus post spikes placed a few ms before and after some pre spikes. The weight recorder
gives the weight after each presynaptic spike; the spike recorders the parrots' spike
times. Synapse delay ``DELAY`` (NEST treats all of it as dendritic). Writes
``plasticity_nest.json``.
"""

import json
from pathlib import Path

import nest
import numpy as np

DT, T, DELAY = 0.1, 3000.0, 1.5
CASES = {
    # name: (synapse model, synapse parameters, postsynaptic parrot parameters)
    "stdp_additive": (
        "stdp_synapse",
        dict(
            weight=0.5,
            Wmax=1.0,
            **{"lambda": 0.02},
            alpha=1.1,
            mu_plus=0.0,
            mu_minus=0.0,
            tau_plus=20.0,
        ),
        dict(tau_minus=30.0),
    ),
    "stdp_multiplicative": (
        "stdp_synapse",
        dict(
            weight=0.5,
            Wmax=1.0,
            **{"lambda": 0.05},
            alpha=1.2,
            mu_plus=1.0,
            mu_minus=1.0,
            tau_plus=15.0,
        ),
        dict(tau_minus=25.0),
    ),
    "stdp_power": (
        "stdp_synapse",
        dict(
            weight=2.0,
            Wmax=5.0,
            **{"lambda": 0.04},
            alpha=1.0,
            mu_plus=0.4,
            mu_minus=0.4,
            tau_plus=20.0,
        ),
        dict(tau_minus=20.0),
    ),
    "stdp_additive_bound": (  # large steps: the weight hits both bounds
        "stdp_synapse",
        dict(
            weight=0.5,
            Wmax=1.0,
            **{"lambda": 0.3},
            alpha=1.05,
            mu_plus=0.0,
            mu_minus=0.0,
            tau_plus=20.0,
        ),
        dict(tau_minus=20.0),
    ),
    "triplet": (
        "stdp_triplet_synapse",
        dict(
            weight=1.0,
            Wmax=100.0,
            tau_plus=16.8,
            tau_plus_triplet=101.0,
            Aplus=0.05,
            Aminus=0.07,
            Aplus_triplet=0.093,
            Aminus_triplet=0.023,
        ),
        dict(tau_minus=33.7, tau_minus_triplet=125.0),
    ),
    "vogels_sprekeler": (
        "vogels_sprekeler_synapse",
        dict(weight=0.5, Wmax=10.0, tau=20.0, eta=0.01, alpha=0.2),
        dict(tau_minus=20.0),
    ),
}


def trains():
    rng = np.random.default_rng(7)
    grid = lambda t: np.unique(np.round(t / DT).astype(int))

    def poisson(rate):
        n = rng.poisson(rate * T / 1000.0)
        return rng.uniform(5.0, T - 20.0, n)

    pre = grid(poisson(15.0))
    near = rng.choice(pre, 25, replace=False) * DT + rng.choice([-1, 1], 25) * rng.uniform(
        1.0, 12.0, 25
    )
    post = grid(np.concatenate([poisson(12.0), near]))
    return pre * DT, post[post * DT > 1.0] * DT


def run(model, syn, post_params, pre_times, post_times):
    nest.ResetKernel()
    nest.resolution = DT
    gens = nest.Create("spike_generator", 2)
    gens[0].spike_times = list(pre_times)
    gens[1].spike_times = list(post_times)
    pre, post = nest.Create("parrot_neuron", 2)
    post.set(post_params)
    nest.Connect(gens[0], pre, syn_spec={"delay": DT})
    nest.Connect(gens[1], post, syn_spec={"delay": DT})
    wr = nest.Create("weight_recorder")
    nest.CopyModel(model, "plastic", {"weight_recorder": wr})
    nest.Connect(
        pre, post, syn_spec={"synapse_model": "plastic", "receptor_type": 1, "delay": DELAY, **syn}
    )
    recs = nest.Create("spike_recorder", 2)
    nest.Connect(pre, recs[0])
    nest.Connect(post, recs[1])
    nest.Simulate(T + 50.0)
    conn = nest.GetConnections(pre, post)
    ev = wr.events
    return dict(
        pre_spikes=sorted(recs[0].events["times"].tolist()),
        post_spikes=sorted(recs[1].events["times"].tolist()),
        weight_times=ev["times"].tolist(),
        weights=ev["weights"].tolist(),
        final_weight=float(conn.get("weight")),
    )


def main():
    pre_times, post_times = trains()
    out = dict(nest_version=nest.__version__, dt=DT, duration=T, delay=DELAY, cases={})
    for name, (model, syn, post_params) in CASES.items():
        rec = run(model, syn, post_params, pre_times, post_times)
        out["cases"][name] = dict(model=model, synapse=syn, post=post_params, **rec)
        print(name, len(rec["pre_spikes"]), len(rec["post_spikes"]), rec["final_weight"])
    path = Path(__file__).with_name("plasticity_nest.json")
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
