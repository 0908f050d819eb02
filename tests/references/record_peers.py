"""Record Brian2 and NEST results on the COBA / CUBA benchmarks into a JSON fixture.

Run once, with the peers' virtualenv (not brainsim's)::

    /work/peers-venv/bin/python tests/references/record_peers.py

It runs both simulators (Brian2 ``runtime`` target, NEST with 1 thread) on both
models at N = 4000, 1000 ms, dt = 0.1 ms, seeds 0..4, and writes
``tests/references/peers_coba_cuba.json``: per-seed values, mean and sample standard
deviation (ddof=1) of rate_E_hz, rate_I_hz, cv_isi_E, and the versions. With
``--timing`` (default on) it also runs seed 0 of each model with Brian2
``cpp_standalone`` and NEST with 2 threads, and stores those runs under ``timings``
(wall-clock figures, informational only). See PROVENANCE.md next to this file.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from benchmarks.peers import brian2_runner, nest_runner  # noqa: E402

RUNNERS = {"brian2": (brian2_runner, {"target": "runtime"}), "nest": (nest_runner, {"threads": 1})}
TIMING = [
    ("brian2", brian2_runner, {"target": "cpp_standalone"}),
    ("nest", nest_runner, {"threads": 2}),
]
STATS = ("rate_E_hz", "rate_I_hz", "cv_isi_E")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def summarise(runs: list) -> dict:
    out = {"per_seed": runs, "mean": {}, "sd": {}}
    for k in STATS:
        v = np.array([r[k] for r in runs], dtype=float)
        out["mean"][k] = float(v.mean())
        out["sd"][k] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return out


def log(r: dict) -> None:
    print(
        f"{r['simulator']:>28} {r['model']} seed={r['seed']} "
        f"E={r['rate_E_hz']:.2f} I={r['rate_I_hz']:.2f} CV={r['cv_isi_E']:.3f} "
        f"build={r['build_s']:.2f}s run={r['run_s']:.2f}s",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--duration-ms", type=float, default=1000.0)
    ap.add_argument("--dt-ms", type=float, default=0.1)
    ap.add_argument("--simulators", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    ap.add_argument("--no-timing", dest="timing", action="store_false")
    ap.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "peers_coba_cuba.json")
    )
    args = ap.parse_args()

    started = time.time()
    results, timings = {}, []
    for name in args.simulators:
        runner, opts = RUNNERS[name]
        entry = {"options": opts}
        for model in ("coba", "cuba"):
            runs = []
            for seed in args.seeds:
                r = runner.run(model, args.n, args.duration_ms, args.dt_ms, seed, **opts)
                log(r)
                runs.append(r)
            entry["simulator"] = runs[0]["simulator"]
            entry["version"] = runs[0]["version"]
            entry[model] = summarise(runs)
        results[name] = entry
    if args.timing:
        for name, runner, opts in TIMING:
            if name in args.simulators:
                for model in ("coba", "cuba"):
                    r = runner.run(
                        model, args.n, args.duration_ms, args.dt_ms, args.seeds[0], **opts
                    )
                    log(r)
                    timings.append(r)

    fixture = {
        "description": "Brette et al. 2007 COBA/CUBA networks simulated by peer "
        "simulators; spec in benchmarks/peers/__init__.py and "
        "tests/references/PROVENANCE.md. sd is the sample sd (ddof=1) "
        "over seeds; rates in Hz averaged over all neurons of each "
        "population over the whole run; cv_isi_E is the mean ISI CV of "
        "E neurons with >= 3 spikes.",
        "n": args.n,
        "duration_ms": args.duration_ms,
        "dt_ms": args.dt_ms,
        "seeds": args.seeds,
        "recorded": datetime.date.today().isoformat(),
        "command": "python "
        + " ".join([os.path.relpath(os.path.abspath(__file__), REPO)] + sys.argv[1:]),
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "results": results,
        "timings": timings,
        "total_wall_s": time.time() - started,
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", args.out)
    for name, entry in results.items():
        for model in ("coba", "cuba"):
            m, s = entry[model]["mean"], entry[model]["sd"]
            print(
                f"{name:>7} {entry['version']:>7} {model}: "
                + "  ".join(f"{k}={m[k]:.2f}±{s[k]:.2f}" for k in STATS)
            )


if __name__ == "__main__":
    main()
