"""NEST runner for the Potjans & Diesmann (2014) microcircuit (``benchmarks/pd_race.py``).

The network is NEST's own microcircuit example (PyNEST ``Potjans_2014``) written with
NEST's connection rules: ``iaf_psc_exp`` neurons, V(0) ~ Normal(-58, 10) mV (the
example's ``"original"`` initialisation), ``fixed_total_number`` connectivity per pair
of populations (multapses, no autapses), weights ``redraw(normal(w, 0.1|w|))`` keeping
their sign, delays ``redraw(normal(d, 0.5 d), min=dt/2)`` (rounded to the step by NEST),
one ``poisson_generator`` of rate K_ext x 8 Hz per population connected to all its
neurons with the external weight and a one-step delay (as brainsim's background).

The numbers (sizes, synapse counts, mean weights in pA, delays, K_ext) come in a
``spec`` dict that the harness computes from ``brainsim.models.potjans_diesmann``'s
tables, which are the example's (``network_params.py``): one source for both
simulators. Full in-degrees only (no DC compensation).

Timings: ``create_s`` (ResetKernel, Create, background and recorders), ``connect_s``
(the recurrent ``Connect`` calls), ``prepare_s`` (``nest.Prepare``), ``run_s``
(``nest.Run(duration)``). ``peak_rss_mib``: the process's peak resident memory.
"""

import os
import resource
import time


def run(spec: dict, duration_ms: float, transient_ms: float, seed: int, threads: int) -> dict:
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest
    import numpy as np

    dt = spec["dt"]
    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus(
        {
            "resolution": dt,
            "local_num_threads": int(threads),
            "rng_seed": int(seed) + 1,
            "print_time": False,
        }
    )
    pops, recorders = [], []
    for n, k_ext in zip(spec["sizes"], spec["k_ext"], strict=True):
        pop = nest.Create("iaf_psc_exp", n, params=spec["neuron"])
        pop.V_m = nest.random.normal(mean=spec["v0"][0], std=spec["v0"][1])
        bg = nest.Create("poisson_generator", params={"rate": k_ext * spec["bg_rate"]})
        nest.Connect(bg, pop, "all_to_all", {"weight": spec["w_ext"], "delay": dt})
        rec = nest.Create("spike_recorder", params={"start": transient_ms})
        nest.Connect(pop, rec)
        pops.append(pop)
        recorders.append(rec)
    t1 = time.perf_counter()
    for t, row in enumerate(spec["synapses"]):
        for s, n_syn in enumerate(row):
            if n_syn == 0:
                continue
            w, d = spec["weights"][t][s], spec["delays"][s]
            low, high = (0.0, np.inf) if w > 0 else (-np.inf, 0.0)
            conn = dict(rule="fixed_total_number", N=int(n_syn), allow_autapses=False)
            syn = dict(
                synapse_model="static_synapse",
                weight=nest.math.redraw(
                    nest.random.normal(mean=w, std=spec["w_rel_sd"] * abs(w)), min=low, max=high
                ),
                delay=nest.math.redraw(
                    nest.random.normal(mean=d, std=spec["d_rel_sd"] * d), min=dt / 2, max=np.inf
                ),
            )
            nest.Connect(pops[s], pops[t], conn, syn)
    t2 = time.perf_counter()
    nest.Prepare()
    t3 = time.perf_counter()
    nest.Run(duration_ms)
    t4 = time.perf_counter()
    nest.Cleanup()
    window = (duration_ms - transient_ms) * 1e-3
    rates = [
        rec.get("n_events") / (len(pop) * window) for pop, rec in zip(pops, recorders, strict=True)
    ]
    return dict(
        simulator=f"nest-{threads}threads",
        version=nest.__version__,
        neurons=int(sum(spec["sizes"])),
        synapses=int(nest.num_connections - sum(spec["sizes"]) * 2),
        create_s=t1 - t0,
        connect_s=t2 - t1,
        prepare_s=t3 - t2,
        run_s=t4 - t3,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        rates=[float(r) for r in rates],
    )
