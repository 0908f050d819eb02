"""COBA, CUBA and COBAHH (Brette et al. 2007, benchmarks 1-3), and the AdEx COBA and
Izhikevich networks on the same connectivity (``_nonlif_models.py``; Brian2 and NEST
only), 1 s of biological time at dt = 0.1 ms, in-degree 80, on brainsim and
(optionally) BrainPy, Brian2 and NEST, side by side on this machine.

    python benchmarks/coba.py                          # brainsim, N = 4k, 16k, 64k
    python benchmarks/coba.py --peer-python /path/to/venv/bin/python   # + peers
    python benchmarks/coba.py --models cobahh --out cobahh --peer-python ... --docs
    python benchmarks/coba.py --models adex izhikevich --out nonlif --peer-python ...
    python benchmarks/coba.py --docs-only              # regenerate docs/benchmarks.md

Each configuration runs in a fresh subprocess: build time (connectivity + state),
compile time, run time (1 s simulated, excluding compile), time to first result, E/I
rates, peak memory (max RSS of the process). Peers run from a Python where ``brainpy``,
``brian2`` or ``nest`` import (Brian2 2.11 needs Python >= 3.13, BrainPy 2.9 >= 3.12 and
numba; see tests/references/PROVENANCE.md); each missing one is skipped with a line
saying so, and peers too slow at a size are skipped there with a line (``--all-sizes``
runs them anyway). Results: benchmarks/results/OUT.json; ``--docs`` regenerates
docs/benchmarks.md from every race results file (``docs_page.py``), so separate runs
(e.g. ``--models cobahh --out cobahh``, ``--n 256000 --out coba_256k``) merge into one page.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

from _harness import emit, peak_rss_mib, run_worker, save, table

DURATION, DT = 1000.0, 0.1


def brainsim_worker(model: str, n: int, seed: int, cache_dir: str) -> dict:
    import jax
    import numpy as np

    import brainsim as bs

    bs.enable_compilation_cache(cache_dir)  # empty on the first run, warm on the second
    start = time.perf_counter()
    from _nonlif_models import MODELS

    build_net = MODELS[model] if model in MODELS else getattr(bs.models, model)
    net = build_net(n, key=jax.random.key(seed))
    if model == "cobahh":  # Brian2's example starts from random conductances
        state = bs.models.cobahh_state(net, jax.random.key(seed + 1), dt=DT)
    else:
        state = net.init(jax.random.key(seed + 1), dt=DT)
    state = jax.block_until_ready(state)
    build = time.perf_counter() - start
    # Every spike recorded as an event (step, neuron), as the peers' spike monitors do.
    rec = {p: bs.Record(["spikes"], events=True) for p in ("E", "I")}
    _, out = bs.simulate(net, state, DURATION, DT, record=rec)
    rates = {
        p: len(out[p]["spikes"].neurons) / out[p]["spikes"].shape[1] / (DURATION * 1e-3)
        for p in out
    }
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
    result = runner.run(model, n, duration_ms=DURATION, dt_ms=DT, seed=seed, **opts)
    # Runners that time a separate first run report it; otherwise build includes compilation.
    result.setdefault("total_s", result["build_s"] + result["run_s"])
    result["peak_mib"] = peak_rss_mib()
    return result


CORES = os.cpu_count() or 1
# name -> (runner module, options, largest N per model run by default: beyond it the peer
# takes minutes per configuration here; --all-sizes lifts the caps; a model not listed
# has no runner for that peer).
NONLIF = {"adex": 256_000, "izhikevich": 256_000}
PEERS = {
    "brainpy-eventcsr": ("brainpy", {}, {"coba": 64_000, "cuba": 64_000, "cobahh": 16_000}),
    "brian2-runtime": (
        "brian2",
        {"target": "runtime"},
        {"coba": 256_000, "cuba": 256_000, "cobahh": 16_000, **NONLIF},
    ),
    "brian2-cpp_standalone": (
        "brian2",
        {"target": "cpp_standalone"},
        {"coba": 256_000, "cuba": 256_000, "cobahh": 64_000, **NONLIF},
    ),
    "brian2-cpp_standalone-omp": (
        "brian2",
        {"target": "cpp_standalone", "threads": CORES},
        {"coba": 256_000, "cuba": 256_000, "cobahh": 64_000, **NONLIF},
    ),
    "nest": (
        "nest",
        {"threads": CORES},
        {"coba": 16_000, "cuba": 64_000, "cobahh": 4_000, "adex": 4_000, "izhikevich": 64_000},
    ),
}
PEER_MODULES = {"brainpy": "brainpy", "brian2": "brian2", "nest": "nest"}


def missing_peers(python: str) -> set[str]:
    """Runner modules whose simulator does not import in ``python``."""
    import subprocess

    missing = set()
    for runner, module in PEER_MODULES.items():
        code = f"import {module}"
        env = {**os.environ, "PYNEST_QUIET": "1"}
        try:
            proc = subprocess.run([python, "-c", code], capture_output=True, env=env)
        except OSError:  # no such interpreter
            return set(PEER_MODULES)
        if proc.returncode:
            missing.add(runner)
    return missing


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models",
        nargs="+",
        default=["coba", "cuba"],
        choices=["coba", "cuba", "cobahh", "adex", "izhikevich"],
    )
    p.add_argument("--out", default="coba", help="results file benchmarks/results/OUT.json")
    p.add_argument("--n", nargs="+", type=int, default=[4000, 16000, 64000])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--peer-python",
        default=None,
        help="Python interpreter with brian2, brainpy and/or nest installed",
    )
    p.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    p.add_argument("--note", default="", help="a remark shown with this run in the docs")
    p.add_argument(
        "--all-sizes", action="store_true", help="run every peer at every N (no size caps)"
    )
    p.add_argument(
        "--docs",
        action="store_true",
        help="also regenerate docs/benchmarks.md and its plots from all results files",
    )
    p.add_argument(
        "--docs-only",
        action="store_true",
        help="only regenerate docs/benchmarks.md from the results files (no runs)",
    )
    args = p.parse_args()
    if args.docs_only:
        import docs_page

        print("wrote", docs_page.write())
        return

    missing = set()
    if args.peer_python:
        missing = missing_peers(args.peer_python)
        for runner in sorted(missing):
            names = [k for k, v in PEERS.items() if v[0] == runner]
            print(f"skip {', '.join(names)}: {runner} does not import in {args.peer_python}")
    else:
        print("skip all peers: pass --peer-python PATH (a Python with brian2 / brainpy / nest)")
    rows = []
    for model in args.models:
        for n in args.n:
            # Twice, sharing a fresh compilation cache: the first run compiles everything
            # (time to first result, cold); the second loads the compiled programs, as any
            # later run of these shapes does (warm: what Brian2 runtime's build time is too).
            cache = tempfile.mkdtemp(prefix="brainsim_xla_")
            worker = ["brainsim", model, str(n), str(args.seed), cache]
            r = run_worker(sys.executable, __file__, worker)
            warm = run_worker(sys.executable, __file__, worker)
            shutil.rmtree(cache, ignore_errors=True)
            if "total_s" in warm:
                r["total_warm_s"] = warm["total_s"]
            rows.append({"simulator": "brainsim", "model": model, "n": n, **r})
            print(rows[-1], flush=True)
            if not args.peer_python:
                continue
            for name in args.peers:
                sim, opts, max_n = PEERS[name]
                if sim in missing:
                    continue
                if model not in max_n:
                    print(f"skip {name} for {model}: no runner for it")
                    continue
                if n > max_n[model] and not args.all_sizes:
                    print(f"skip {name} for {model} at N={n} (> {max_n[model]}: too slow here)")
                    continue
                r = run_worker(
                    args.peer_python, __file__, [sim, model, str(n), str(args.seed), repr(opts)]
                )
                # The runner's own label (e.g. nest-2threads) names the configuration.
                rows.append({"model": model, "n": n, "simulator": name, **r})
                print(rows[-1], flush=True)
    for r in rows:
        if "run_s" in r:
            r["realtime_factor"] = r["run_s"] / (DURATION * 1e-3)
    import docs_page

    docs_page.add_ratios(rows)
    columns = [("model", "model", ""), *(c for c in docs_page.COLUMNS if c[0] != "source")]
    print(table(rows, columns))
    payload = dict(
        kind="race",
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        machine=docs_page.machine_info(),
        duration_ms=DURATION,
        dt_ms=DT,
        rows=rows,
        command="python benchmarks/coba.py " + " ".join(sys.argv[1:]),
        note=args.note,
    )
    print("wrote", save(args.out, payload))
    if args.docs:
        print("wrote", docs_page.write())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, model, n, seed = sys.argv[2:6]
        if kind == "brainsim":
            emit(brainsim_worker(model, int(n), int(seed), sys.argv[6]))
        else:
            import ast

            emit(peer_worker(kind, model, int(n), int(seed), ast.literal_eval(sys.argv[6])))
    else:
        main()
