"""Record single neurons under Poisson synaptic input with NEST 3.10, once (see
PROVENANCE.md).

    /work/peers-venv/bin/python tests/references/record_poisson_nest.py

Two neurons with NEST's default parameters, each with a constant bias current and
Poisson input through its exponential synapses, both excitatory and inhibitory:

- ``iaf_psc_exp`` (current-based, exact propagators), bias 370 pA (just below the
  rheobase of 375 pA), at dt = 0.1 ms;
- ``aeif_cond_exp`` (AdEx with conductances; GSL RKF45 with error control), bias 700 pA,
  excitatory tau = 0.2 ms (NEST's default), at dt = 0.1 and 0.01 ms.

The input is drawn here (numpy, seed 11) as a count of arrivals per 0.1-ms step per
synapse type and given to NEST as ``spike_generator`` spike times with multiplicities
(delay = dt): the fixture stores it, so the tests replay exactly the same input without
NEST. A spike of the generator stamped ``t`` changes the synaptic variable at ``t + dt``.
Writes ``poisson_nest.json``: per model the parameters, bias, weights, input and the
output spike times (ms, end of the step in which V crossed the threshold).
"""

import json
from pathlib import Path

import nest
import numpy as np

T = 1000.0  # ms
GRID = 0.1  # ms, the input's time grid (a multiple of every dt below)
CASES = {
    # model: bias (pA), (rate Hz, weight) exc, (rate Hz, weight) inh, dts
    "iaf_psc_exp": (370.0, (2000.0, 30.0), (500.0, -30.0), [0.1]),
    # NEST's sign convention: a negative weight goes to the inhibitory synapse (for
    # aeif_cond_exp, a conductance of |w| nS)
    "aeif_cond_exp": (700.0, (2000.0, 10.0), (500.0, -2.0), [0.1, 0.01]),
}


def _poisson(rng, rate_hz):
    """Per-step arrival counts on the 0.1-ms grid -> (times, multiplicities). A count in
    step k is stamped at (k + 1) * GRID (the generator emits at the end of a step)."""
    counts = rng.poisson(rate_hz * GRID / 1000.0, round(T / GRID) - 1)
    k = np.nonzero(counts)[0]
    return np.round((k + 1) * GRID, 6).tolist(), counts[k].astype(int).tolist()


def _run(model, dt, bias, exc, inh, inputs):
    nest.ResetKernel()
    nest.resolution = dt
    n = nest.Create(model, params={"I_e": bias})
    sr = nest.Create("spike_recorder")
    nest.Connect(n, sr)
    for (_, w), (times, mult) in zip((exc, inh), inputs, strict=True):
        gen = nest.Create(
            "spike_generator", params={"spike_times": times, "spike_multiplicities": mult}
        )
        nest.Connect(gen, n, syn_spec={"weight": w, "delay": dt})
    params = {k: v for k, v in n.get().items() if isinstance(v, float | int)}
    nest.Simulate(T)
    return params, np.asarray(sr.get("events")["times"]).tolist()


def main():
    rng = np.random.default_rng(11)
    out = {"nest_version": nest.__version__, "duration_ms": T, "grid_ms": GRID}
    for model, (bias, exc, inh, dts) in CASES.items():
        inputs = [_poisson(rng, exc[0]), _poisson(rng, inh[0])]
        case = {
            "bias_pA": bias,
            "exc": {
                "rate_hz": exc[0],
                "weight": exc[1],
                "times": inputs[0][0],
                "mult": inputs[0][1],
            },
            "inh": {
                "rate_hz": inh[0],
                "weight": inh[1],
                "times": inputs[1][0],
                "mult": inputs[1][1],
            },
        }
        for dt in dts:
            params, spikes = _run(model, dt, bias, exc, inh, inputs)
            case["params"] = params
            case[f"spikes_dt{dt:g}"] = spikes
            print(model, dt, "spikes:", len(spikes))
        out[model] = case
    path = Path(__file__).parent / "poisson_nest.json"
    path.write_text(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
