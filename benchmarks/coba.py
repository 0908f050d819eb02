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
    state = jax.block_until_ready(net.init(jax.random.key(seed + 1), dt=DT))
    build = time.perf_counter() - start
    # Spikes sampled per 1 ms window are exact counts: the 5 ms refractory period allows
    # at most one spike per window. Keeps the recording 10x smaller at large N.
    rec = {p: bs.Record(["spikes"], every=10) for p in ("E", "I")}
    _, out = bs.simulate(net, state, DURATION, DT, record=rec)
    rates = {p: np.asarray(out[p]["spikes"]).sum(0).mean() / (DURATION * 1e-3) for p in out}
    return dict(
        simulator="brainsim",
        version=bs.__version__,
        model=model,
        n=n,
        seed=seed,
        build_s=build,
        compile_s=out.compile_time,
        run_s=out.run_time,
        rate_E_hz=float(rates["E"]),
        rate_I_hz=float(rates["I"]),
        native=bool(bs.ops._native.available()),
        peak_mib=peak_rss_mib(),
    )


def peer_worker(simulator: str, model: str, n: int, seed: int, opts: dict) -> dict:
    from peers import brian2_runner, nest_runner

    runner = {"brian2": brian2_runner, "nest": nest_runner}[simulator]
    result = runner.run(model, n, duration_ms=DURATION, dt_ms=DT, seed=seed, **opts)
    result["peak_mib"] = peak_rss_mib()
    return result


PEERS = {  # name -> (simulator, options, largest N to run)
    "brian2-runtime": ("brian2", {"target": "runtime"}, 64_000),
    "brian2-cpp_standalone": ("brian2", {"target": "cpp_standalone"}, 64_000),
    "nest-2threads": ("nest", {"threads": 2}, 16_000),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["coba", "cuba"])
    p.add_argument("--n", nargs="+", type=int, default=[4000, 16000, 64000])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--peer-python", default=None, help="Python interpreter with brian2 and/or nest installed"
    )
    p.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
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
    print(
        table(
            rows,
            [
                ("model", "model", ""),
                ("n", "N", ""),
                ("simulator", "simulator", ""),
                ("build_s", "build s", ".2f"),
                ("compile_s", "compile s", ".2f"),
                ("run_s", "run s (1 s bio)", ".3f"),
                ("rate_E_hz", "E Hz", ".1f"),
                ("rate_I_hz", "I Hz", ".1f"),
                ("peak_mib", "peak MiB", ".0f"),
                ("error", "error", ""),
            ],
        )
    )
    machine = dict(
        platform=platform.platform(),
        processor=platform.processor(),
        python=platform.python_version(),
    )
    print(
        "wrote",
        save(
            "coba",
            dict(
                machine=machine,
                duration_ms=DURATION,
                dt_ms=DT,
                rows=rows,
                command=" ".join(sys.argv),
            ),
        ),
    )


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
