"""Record single-neuron reference traces with NEST 3.10, once (see PROVENANCE.md).

    /work/peers-venv/bin/python tests/references/record_neurons.py

Three neurons with NEST's default parameters, each driven by its own piecewise-constant
current ``I(t) = i0 + i1 * p_k`` for ``k ms <= t < (k+1) ms``, where ``p_k`` is one shared
sequence of uniform(0, 1) numbers (seed 42): ``iaf_psc_exp`` (LIF), ``aeif_psc_exp``
(AdEx) and ``izhikevich``. The current is set through ``I_e`` before each 1-ms
``Simulate`` call, so it is exactly piecewise constant. dt = 0.1 ms, 300 ms. Writes
``neurons_nest.npz``: the current per ms, the parameters, V (and w / U) every 0.1 ms
(the value at the end of each step) and the spike times.
"""

import json
from pathlib import Path

import nest
import numpy as np

DT, T = 0.1, 300
MODELS = {  # NEST model: (i0, i1) in pA, recordables
    "iaf_psc_exp": ((300.0, 300.0), ["V_m"]),
    "aeif_psc_exp": ((600.0, 600.0), ["V_m", "w"]),
    "izhikevich": ((4.0, 10.0), ["V_m", "U_m"]),
}


def main():
    p = np.random.default_rng(42).uniform(size=T)
    nest.ResetKernel()
    nest.resolution = DT
    out = {"p": p, "dt": DT, "nest_version": nest.__version__}
    nodes = {}
    for model, ((i0, i1), rec) in MODELS.items():
        n = nest.Create(model)
        mm = nest.Create("multimeter", params={"record_from": rec, "interval": DT})
        sr = nest.Create("spike_recorder")
        nest.Connect(mm, n)
        nest.Connect(n, sr)
        nodes[model] = (n, mm, sr, i0, i1, rec)
        status = n.get()
        params = {k: v for k, v in status.items() if isinstance(v, float | int)}
        out[f"{model}/params"] = json.dumps(params, default=float)
    for k in range(T):
        for n, _, _, i0, i1, _ in nodes.values():
            n.I_e = i0 + i1 * p[k]
        nest.Simulate(1.0)
    for model, (_, mm, sr, i0, i1, rec) in nodes.items():
        ev = mm.get("events")
        order = np.argsort(ev["times"])
        out[f"{model}/times"] = np.asarray(ev["times"])[order]
        for r in rec:
            out[f"{model}/{r}"] = np.asarray(ev[r])[order]
        out[f"{model}/spikes"] = np.asarray(sr.get("events")["times"])
        out[f"{model}/current"] = i0 + i1 * p
        print(model, "spikes:", len(out[f"{model}/spikes"]))
    np.savez_compressed(Path(__file__).parent / "neurons_nest.npz", **out)


if __name__ == "__main__":
    main()
