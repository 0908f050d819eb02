"""Potjans & Diesmann (2014) microcircuit, brainsim against NEST side by side: build,
compile / connect, run per simulated second, time to first result, peak memory and
per-population rates, at several scales with full in-degrees (each simulator in a fresh
process).

    python benchmarks/pd_race.py --scales 0.1,0.25,1.0 --peer-python /work/peers-venv/bin/python

NEST runs ``benchmarks/peers/nest_microcircuit.py`` (NEST's own microcircuit with the
same tables, ``--threads`` threads, default 2); brainsim runs
``bs.models.potjans_diesmann`` (per-synapse delays, Poisson background) with spikes
recorded as events. Rates are over ``--transient`` to ``--duration`` ms against the
full-scale rates of NEST's example. Writes ``benchmarks/results/<--out>.json`` (default
``pd_race``: name another file to keep a committed result).

- brainsim: ``build_s`` (the model: connectivity drawn), ``compile_s`` and ``run_s``
  from ``bs.simulate``; first result = build + init + the whole ``simulate`` call.
- NEST: build = create + connect; ``prepare_s`` is NEST's ``Prepare``; first result =
  create + connect + prepare + run.
- ``run per s``: run time per simulated second (the real-time factor).
"""

import argparse
import importlib
import json
import sys
import tempfile
import time

try:
    from _harness import emit, peak_rss_mib, run_worker, save, table
except ImportError:  # run as a module
    from benchmarks._harness import emit, peak_rss_mib, run_worker, save, table


def nest_spec(scale: float, dt: float) -> dict:
    """The network as NEST's runner takes it, from brainsim's tables (full in-degrees)."""
    import numpy as np

    pd = importlib.import_module("brainsim.models.potjans_diesmann")  # not the function

    sizes = np.maximum(1, (pd.N_FULL * scale).astype(int))
    return dict(
        dt=dt,
        sizes=sizes.tolist(),
        synapses=np.round(pd.in_degrees() * sizes[:, None]).astype(int).tolist(),
        weights=pd.mean_weights().tolist(),  # PSC amplitudes (pA): NEST integrates exactly
        w_rel_sd=pd.PSP_REL_SD,
        w_ext=pd.psc_from_psp(pd.PSP_E),
        delays=[pd.DELAY_E if s % 2 == 0 else pd.DELAY_I for s in range(8)],
        d_rel_sd=pd.DELAY_REL_SD,
        k_ext=pd.K_EXT.tolist(),
        bg_rate=pd.BG_RATE,
        v0=[-58.0, 10.0],
        neuron=dict(
            C_m=pd.C_M,
            tau_m=pd.TAU_M,
            tau_syn_ex=pd.TAU_SYN,
            tau_syn_in=pd.TAU_SYN,
            t_ref=pd.T_REF,
            E_L=pd.E_L,
            V_th=pd.V_TH,
            V_reset=pd.V_RESET,
            I_e=0.0,
        ),
    )


def brainsim_worker(scale: float, duration: float, transient: float, dt: float) -> dict:
    import jax
    import numpy as np

    import brainsim as bs
    from brainsim.models.potjans_diesmann import POPULATIONS

    t = time.perf_counter()
    net = bs.models.potjans_diesmann(scale, key=jax.random.key(0), dt=dt)
    build = time.perf_counter() - t
    state = net.init(jax.random.key(1), dt=dt)
    init = time.perf_counter() - t - build
    record = {p: bs.Record(["spikes"], events=True) for p in POPULATIONS}
    t = time.perf_counter()
    _, rec = bs.simulate(net, state, duration=duration, dt=dt, record=record, progress=False)
    call = time.perf_counter() - t
    rates = []
    for p in POPULATIONS:
        ev = rec[p]["spikes"]
        late = np.count_nonzero(ev.steps >= round(transient / dt))
        rates.append(late / (ev.shape[1] * (duration - transient) * 1e-3))
    synapses = sum(q.conn.n_synapses for q in net.projections if not q.pre.startswith("bg_"))
    return dict(
        simulator="brainsim",
        version=bs.__version__,
        backend=jax.default_backend(),
        neurons=sum(pop.size for name, pop in net.populations.items() if name in POPULATIONS),
        synapses=int(synapses),
        build_s=build,
        init_s=init,
        compile_s=rec.compile_time,
        run_s=rec.run_time,
        first_result_s=build + init + call,
        peak_rss_mib=peak_rss_mib(),
        rates=[float(r) for r in rates],
    )


def nest_worker(spec_path: str, duration: float, transient: float, threads: int) -> dict:
    from peers.nest_microcircuit import run

    with open(spec_path) as f:
        spec = json.load(f)
    out = run(spec, duration, transient, seed=0, threads=threads)
    out["build_s"] = out["create_s"] + out["connect_s"]
    out["first_result_s"] = out["build_s"] + out["prepare_s"] + out["run_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="0.1,0.25,1.0")
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--transient", type=float, default=100.0)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2, help="NEST's local_num_threads")
    ap.add_argument("--peer-python", default=None, help="a Python with NEST (else skipped)")
    ap.add_argument("--out", default="pd_race", help="results file name (no .json)")
    ap.add_argument("--worker", choices=["brainsim", "nest"])
    ap.add_argument("--scale", type=float)
    ap.add_argument("--spec")
    a = ap.parse_args()
    if a.worker == "brainsim":
        emit(brainsim_worker(a.scale, a.duration, a.transient, a.dt))
        return
    if a.worker == "nest":
        emit(nest_worker(a.spec, a.duration, a.transient, a.threads))
        return
    from brainsim.models.potjans_diesmann import FULL_MEAN_RATES, POPULATIONS

    common = ["--duration", str(a.duration), "--transient", str(a.transient)]
    rows = []
    for scale in [float(s) for s in a.scales.split(",")]:
        args = ["brainsim", "--scale", str(scale), "--dt", str(a.dt), *common]
        results = [run_worker(sys.executable, __file__, args, timeout=3600)]
        if a.peer_python:
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(nest_spec(scale, a.dt), f)
            args = ["nest", "--spec", f.name, "--threads", str(a.threads), *common]
            results.append(run_worker(a.peer_python, __file__, args, timeout=3600))
        for r in results:
            r["scale"] = scale
            if "run_s" in r:
                r["run_per_s"] = r["run_s"] / (a.duration * 1e-3)
                r["bytes_per_synapse"] = r["peak_rss_mib"] * 2**20 / max(r["synapses"], 1)
            print(json.dumps(r), flush=True)
        rows += results
    print(
        table(
            rows,
            [
                ("scale", "scale", "g"),
                ("simulator", "simulator", ""),
                ("synapses", "synapses", ",d"),
                ("build_s", "build (s)", ".2f"),
                ("compile_s", "compile (s)", ".2f"),
                ("prepare_s", "NEST prepare (s)", ".2f"),
                ("run_per_s", "run per s (s)", ".2f"),
                ("first_result_s", "first result (s)", ".2f"),
                ("peak_rss_mib", "peak RSS (MiB)", ".0f"),
                ("bytes_per_synapse", "peak RSS / synapse (B)", ".1f"),
                ("error", "error", ""),
            ],
        )
    )
    rate_rows = [
        dict(
            scale=r["scale"],
            simulator=r["simulator"],
            **dict(zip(POPULATIONS, r["rates"], strict=True)),
        )
        for r in rows
        if "rates" in r
    ]
    rate_rows.append(
        dict(
            scale="full",
            simulator="published",
            **dict(zip(POPULATIONS, FULL_MEAN_RATES, strict=True)),
        )
    )
    print(
        table(
            rate_rows,
            [("scale", "scale", ""), ("simulator", "simulator", "")]
            + [(p, f"{p} (Hz)", ".2f") for p in POPULATIONS],
        )
    )
    print("wrote", save(a.out, dict(args=vars(a), rows=rows)))


if __name__ == "__main__":
    main()
