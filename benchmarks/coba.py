"""COBA and CUBA (Brette et al. 2007), 1 s of biological time at dt = 0.1 ms, in-degree 80,
on brainsim and (optionally) Brian2 and NEST, side by side on this machine.

    python benchmarks/coba.py                          # brainsim, N = 4k, 16k, 64k
    python benchmarks/coba.py --peer-python /path/to/venv/bin/python   # + Brian2, NEST

Each configuration runs in a fresh subprocess: build time (connectivity + state),
compile time, run time (1 s simulated, excluding compile), E/I rates, peak memory (max
RSS of the process). Peers run from a Python where ``brian2`` / ``nest`` import (Brian2
2.11 needs Python >= 3.13; see tests/references/PROVENANCE.md); each missing one is
skipped with a line saying so. Results: benchmarks/results/coba.json.
"""

import argparse
import os
import platform
import sys
import time

from _harness import emit, peak_rss_mib, run_worker, save, table

DURATION, DT = 1000.0, 0.1


def brainsim_worker(model: str, n: int, seed: int) -> dict:
    import jax
    import numpy as np

    import brainsim as bs

    start = time.perf_counter()
    net = getattr(bs.models, model)(n, key=jax.random.key(seed))
    if model == "cobahh":  # Brian2's example starts from random conductances
        state = bs.models.cobahh_state(net, jax.random.key(seed + 1), dt=DT)
    else:
        state = net.init(jax.random.key(seed + 1), dt=DT)
    state = jax.block_until_ready(state)
    build = time.perf_counter() - start
    # Spikes sampled per 1 ms window are exact counts: the 5 ms refractory period allows
    # at most one spike per window. Keeps the recording 10x smaller at large N.
    rec = {p: bs.Record(["spikes"], every=10) for p in ("E", "I")}
    _, out = bs.simulate(net, state, DURATION, DT, record=rec)
    rates = {p: np.asarray(out[p]["spikes"]).sum(0).mean() / (DURATION * 1e-3) for p in out}
    # Median of three runs (the first included): the machine may be shared.
    runs = [out.run_time]
    runs += [bs.simulate(net, state, DURATION, DT, record=rec)[1].run_time for _ in range(2)]
    return dict(
        simulator="brainsim",
        version=bs.__version__,
        model=model,
        n=n,
        seed=seed,
        build_s=build,
        compile_s=out.compile_time,
        run_s=float(np.median(runs)),
        total_s=build + out.compile_time + runs[0],
        rate_E_hz=float(rates["E"]),
        rate_I_hz=float(rates["I"]),
        native=bool(bs.ops._native.available()),
        peak_mib=peak_rss_mib(),
    )


def peer_worker(simulator: str, model: str, n: int, seed: int, opts: dict) -> dict:
    import importlib

    runner = importlib.import_module(f"peers.{simulator}_runner")
    if model == "cobahh":  # only the Brian2 runner has it (runtime target)
        result = runner.run_cobahh(n, duration_ms=DURATION, dt_ms=DT, seed=seed)
    else:
        result = runner.run(model, n, duration_ms=DURATION, dt_ms=DT, seed=seed, **opts)
    result["total_s"] = result["build_s"] + result["run_s"]  # build includes compilation
    result["peak_mib"] = peak_rss_mib()
    return result


PEERS = {  # name -> (runner, options, largest N to run: NEST's COBA takes minutes beyond)
    "brainpy-eventcsr": ("brainpy", {}, 64_000),
    "brian2-runtime": ("brian2", {"target": "runtime"}, 64_000),
    "brian2-cpp_standalone": ("brian2", {"target": "cpp_standalone"}, 64_000),
    "nest-2threads": ("nest", {"threads": 2}, 16_000),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models", nargs="+", default=["coba", "cuba"], choices=["coba", "cuba", "cobahh"]
    )
    p.add_argument("--out", default="coba", help="results file benchmarks/results/OUT.json")
    p.add_argument("--n", nargs="+", type=int, default=[4000, 16000, 64000])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--peer-python", default=None, help="Python interpreter with brian2 and/or nest installed"
    )
    p.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    p.add_argument(
        "--docs",
        action="store_true",
        help="also write docs/benchmarks.md and docs/benchmarks_coba.png",
    )
    args = p.parse_args()

    rows = []
    for model in args.models:
        for n in args.n:
            r = run_worker(sys.executable, __file__, ["brainsim", model, str(n), str(args.seed)])
            rows.append({"simulator": "brainsim", "model": model, "n": n, **r})
            print(rows[-1], flush=True)
            if not args.peer_python:
                continue
            for name in args.peers:
                sim, opts, max_n = PEERS[name]
                if model == "cobahh" and name != "brian2-runtime":
                    print(f"skip {name} for cobahh (no runner for it)")
                    continue
                if n > max_n:
                    print(f"skip {name} at N={n} (> {max_n}: too slow for this race)")
                    continue
                r = run_worker(
                    args.peer_python, __file__, [sim, model, str(n), str(args.seed), repr(opts)]
                )
                rows.append({"model": model, "n": n, **r, "simulator": name})
                print(rows[-1], flush=True)
    if not args.peer_python:
        print("peers skipped: pass --peer-python PATH (a Python with brian2 / nest)")
    for r in rows:
        if "run_s" in r:
            r["realtime_factor"] = r["run_s"] / (DURATION * 1e-3)
    fastest = {}
    for r in rows:
        if "run_s" in r and r["simulator"] != "brainsim":
            key = (r["model"], r["n"])
            fastest[key] = min(fastest.get(key, float("inf")), r["run_s"])
    for r in rows:
        key = (r["model"], r["n"])
        if r["simulator"] == "brainsim" and key in fastest and "run_s" in r:
            r["ratio_to_fastest_peer"] = r["run_s"] / fastest[key]
    text = table(rows, COLUMNS)
    print(text)
    machine = dict(
        platform=platform.platform(),
        processor=platform.processor(),
        cores=os.cpu_count(),
        python=platform.python_version(),
    )
    payload = dict(
        machine=machine,
        duration_ms=DURATION,
        dt_ms=DT,
        rows=rows,
        command="python benchmarks/coba.py " + " ".join(sys.argv[1:]),
    )
    print("wrote", save(args.out, payload))
    if args.docs:
        write_docs(payload, text)


COLUMNS = [
    ("model", "model", ""),
    ("n", "N", ""),
    ("simulator", "simulator", ""),
    ("version", "version", ""),
    ("build_s", "build s", ".2f"),
    ("compile_s", "compile s", ".2f"),
    ("run_s", "run s (1 s bio)", ".3f"),
    ("ratio_to_fastest_peer", "÷ fastest peer", ".2f"),
    ("total_s", "first result s", ".2f"),
    ("rate_E_hz", "E Hz", ".1f"),
    ("rate_I_hz", "I Hz", ".1f"),
    ("peak_mib", "peak MiB", ".0f"),
    ("error", "error", ""),
]


def write_docs(payload: dict, text: str) -> None:
    """Write docs/benchmarks.md and a log-log plot of run time vs N."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = Path(__file__).parents[1] / "docs"
    rows = [r for r in payload["rows"] if "run_s" in r]
    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for sim in sorted({r["simulator"] for r in rows if r["model"] == model}):
            pts = sorted(
                (r["n"], r["run_s"]) for r in rows if r["model"] == model and r["simulator"] == sim
            )
            ax.loglog(*zip(*pts, strict=True), "o-", label=sim)
        ax.set(title=model.upper(), xlabel="neurons N", ylabel="run time for 1 s bio (s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(docs / "benchmarks_coba.png", dpi=110)
    m = payload["machine"]
    machine = f"{m['processor'] or m['platform']}, {m['cores']} cores, Python {m['python']}"
    (docs / "benchmarks.md").write_text(
        BENCH_MD.format(command=payload["command"], machine=machine, table=text)
    )


BENCH_MD = """# Benchmarks

COBA and CUBA (Brette et al. 2007), 1 s of biological time at dt = 0.1 ms, mean
in-degree 80, on brainsim and its peers, run side by side on the same machine by one
command:

```
{command}
```

Machine: {machine}. Each configuration runs in a fresh process. *run* excludes build and
compilation (brainsim: median of three runs; peers: one run); *first result* is build +
compile + first run; *peak MiB* is the process's maximum resident memory. Rates are
printed so that a fast but wrong run is visible. Timings on this virtual machine vary by
about ±20 % between repeated runs (more when other jobs share its two cores).

{table}

![run time vs N](benchmarks_coba.png)

Peers run from their own Python (Brian2 2.11 needs Python >= 3.13, BrainPy 2.9 >= 3.12 and
numba): `python3.13 -m venv peers && peers/bin/pip install brian2 nest-simulator brainpy
numba`, then pass `--peer-python peers/bin/python`. NEST's COBA (`iaf_cond_exp`, adaptive
solver) takes minutes beyond N = 16 000 and is skipped there.
"""


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, model, n, seed = sys.argv[2:6]
        if kind == "brainsim":
            emit(brainsim_worker(model, int(n), int(seed)))
        else:
            import ast

            emit(peer_worker(kind, model, int(n), int(seed), ast.literal_eval(sys.argv[6])))
    else:
        main()
