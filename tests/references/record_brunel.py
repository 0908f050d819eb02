"""Record NEST 3.10's Brunel (2000) AI state once (see PROVENANCE.md).

    /work/peers-venv/bin/python tests/references/record_brunel.py

Model A of Brunel (2000) with the parameters of ``brainsim.models.brunel2000`` (which
differ from NEST's ``brunel_delta_nest.py`` example only in V_reset = 10 mV as in the
paper, instead of the example's 0 mV, neither autapses nor multapses, and V(0) ~
U(0, 20) mV): ``iaf_psc_delta`` neurons (τ = 20 ms, θ = 20 mV, V_r = 10 mV, τ_rp = 2 ms,
E_L = 0), N_E = 10 000, N_I = 2 500, ``fixed_indegree`` C_E = 1 000 / C_I = 250 distinct
presynaptic neurons (as ``bs.conn.FixedInDegree``), delta synapses J = 0.1 mV and −gJ,
delay 1.5 ms, one ``poisson_generator`` of rate C_E η ν_thr sending independent trains
to every neuron with weight J; (g, η) = (5, 2) (Fig. 8C); dt = 0.1 ms, 600 ms, 1 thread,
seeds 1 and 2 (``rng_seed``).
Statistics over [100, T) ms for T = 400 and 600: mean E rate, mean E ISI CV (neurons with
>= 3 spikes, population std / mean of each neuron's ISIs, as ``bs.analysis.isi_cv``),
the peak frequency (> 5 Hz) of the power spectrum of the E population's spike count in
1-ms bins, and that count's std / mean (``sync``, the size of the population
oscillation). Also stores the 1-ms E spike counts over [0, T). Writes ``brunel_nest.json``.
"""

import json
import sys
import time
from pathlib import Path

import nest
import numpy as np

NE, NI, CE, CI = 10000, 2500, 1000, 250
J, G, ETA, DELAY, THETA, TAU, DT, T = 0.1, 5.0, 2.0, 1.5, 20.0, 20.0, 0.1, 600.0
WINDOWS = (400.0, 600.0)
T0 = 100.0


def stats(senders, times, t1):
    keep = (times >= T0) & (times < t1)
    s, t = senders[keep], times[keep]
    rate = s.size / NE / ((t1 - T0) * 1e-3)
    cvs = []
    order = np.lexsort((t, s))
    s, t = s[order], t[order]
    bounds = np.flatnonzero(np.diff(s)) + 1
    for ts in np.split(t, bounds):
        if ts.size >= 3:
            isi = np.diff(ts)
            cvs.append(isi.std() / isi.mean())
    counts = np.histogram(t, bins=np.arange(T0, t1 + 1e-9, 1.0))[0].astype(float)
    sync = counts.std() / counts.mean()
    power = np.abs(np.fft.rfft(counts - counts.mean())) ** 2
    freqs = np.fft.rfftfreq(counts.size, 1e-3)
    band = freqs > 5.0
    return {
        "rate_E_hz": rate,
        "cv_isi_E": float(np.mean(cvs)),
        "n_cv": len(cvs),
        "peak_freq_hz": float(freqs[band][np.argmax(power[band])]),
        "sync": float(sync),
    }


def run(seed):
    nest.ResetKernel()
    nest.set(resolution=DT, rng_seed=seed, local_num_threads=1, print_time=False)
    nu_thr = THETA / (J * CE * TAU)  # 1/ms
    params = {"C_m": 250.0, "tau_m": TAU, "t_ref": 2.0, "E_L": 0.0, "V_reset": 10.0, "V_th": THETA}
    t0 = time.perf_counter()
    pop = nest.Create("iaf_psc_delta", NE + NI, params=params)
    pop.V_m = nest.random.uniform(0.0, THETA)
    exc, inh = pop[:NE], pop[NE:]
    noise = nest.Create("poisson_generator", params={"rate": 1e3 * ETA * nu_thr * CE})
    rec = nest.Create("spike_recorder")
    nest.Connect(noise, pop, syn_spec={"weight": J, "delay": DELAY})
    for src, k, w in ((exc, CE, J), (inh, CI, -G * J)):
        nest.Connect(
            src,
            pop,
            {
                "rule": "fixed_indegree",
                "indegree": k,
                "allow_autapses": False,
                "allow_multapses": False,
            },
            {"weight": w, "delay": DELAY},
        )
    nest.Connect(exc, rec)
    build = time.perf_counter() - t0
    nest.Simulate(T)
    ev = rec.events
    out = {"seed": seed, "build_s": build, "sim_s": time.perf_counter() - t0 - build}
    senders = np.asarray(ev["senders"]) - exc[0].global_id
    times = np.asarray(ev["times"])
    out["counts_1ms"] = np.histogram(times, bins=np.arange(0.0, T + 1e-9, 1.0))[0].tolist()
    for t1 in WINDOWS:
        out.update({f"{k}_{t1:g}": v for k, v in stats(senders, times, t1).items()})
    print({k: v for k, v in out.items() if k != "counts_1ms"}, flush=True)
    return out


def main():
    seeds = [int(s) for s in sys.argv[1:]] or [1, 2]
    runs = [run(s) for s in seeds]
    keys = [k for k in runs[0] if k.endswith(tuple(f"_{t:g}" for t in WINDOWS))]
    out = {
        "nest_version": nest.__version__,
        "spec": __doc__,
        "runs": runs,
        "mean": {k: float(np.mean([r[k] for r in runs])) for k in keys},
    }
    (Path(__file__).parent / "brunel_nest.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
