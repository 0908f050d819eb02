"""The ``brainsim`` command line: ``brainsim demo`` and ``brainsim run MODEL``."""

import argparse
import sys
import time

MODELS = ("coba", "cuba")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="brainsim", description="Simulate spiking networks.")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run COBA (4000 neurons, 1 s) and write a raster plot")
    demo.add_argument(
        "--plot",
        default="coba_raster.png",
        help="raster plot file (PNG) to write (default: coba_raster.png)",
    )
    run = sub.add_parser("run", help="run a canonical network")
    run.add_argument("model", choices=MODELS, help="network: coba or cuba (Brette et al. 2007)")
    run.add_argument(
        "--n",
        type=int,
        default=4000,
        help="number of neurons, 80%% E / 20%% I, mean in-degree 80 (default 4000)",
    )
    run.add_argument(
        "--duration", type=float, default=1000.0, help="simulated time in ms (default 1000)"
    )
    run.add_argument("--dt", type=float, default=0.1, help="time step in ms (default 0.1)")
    run.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the connectivity and initial state (default 0)",
    )
    run.add_argument(
        "--out",
        default=None,
        help="write spike times (ms) and indices and the rates (Hz) to this .npz",
    )
    run.add_argument("--plot", default=None, help="write a raster plot (PNG) to this file")
    for sp in (demo, run):
        sp.add_argument(
            "--no-cache",
            dest="cache",
            action="store_false",
            help="do not keep compiled programs on disk (default: kept in --cache-dir, "
            "so a rerun skips compilation)",
        )
        sp.add_argument(
            "--cache-dir",
            default=None,
            help="where compiled programs are kept (default: ~/.cache/brainsim/xla, "
            "or under $XDG_CACHE_HOME)",
        )
    return p


def run_model(model: str, n: int, duration: float, dt: float, seed: int, out=None, plot=None):
    """Build, simulate and report one network; returns the ``Recording``."""
    import jax
    import numpy as np

    import brainsim as bs

    start = time.perf_counter()
    net = getattr(bs.models, model)(n, key=jax.random.key(seed))
    state = net.init(jax.random.key(seed + 1), dt=dt)
    build = time.perf_counter() - start
    # Spike events: host memory grows with the spikes, not with steps x neurons.
    record = {p: bs.Record("spikes", events=True) for p in ("E", "I")}
    state, rec = bs.simulate(net, state, duration, dt, record=record)
    rates = {p: bs.analysis.firing_rate(rec[p]["spikes"], dt) for p in rec}
    cv = bs.analysis.isi_cv(rec["E"]["spikes"], dt)
    cv = f"{cv[np.isfinite(cv)].mean():.2f}" if np.isfinite(cv).any() else "n/a (< 3 spikes)"
    print(f"{model.upper()}: {n} neurons, {duration:g} ms at dt = {dt:g} ms (seed {seed})")
    print(
        f"  rates: E {rates['E'].mean():.2f} Hz, I {rates['I'].mean():.2f} Hz; "
        f"mean ISI CV (E) {cv}"
    )
    print(
        f"  build {build:.2f} s, compile {rec.compile_time:.2f} s, run {rec.run_time:.3f} s "
        f"({rec.run_time / (duration * 1e-3):.3f} s per simulated second)"
    )
    if out:
        arrays = {}
        for p in rec:
            t, i = bs.analysis.spike_times(rec[p]["spikes"], dt)
            arrays |= {f"{p}_times": t, f"{p}_indices": i, f"{p}_rates": rates[p]}
        np.savez(out, **arrays)
        print(f"  wrote {out}")
    if plot:
        fig = bs.plot.raster(rec)
        fig.savefig(plot, dpi=120)
        print(f"  wrote {plot}")
    return rec


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.cache:
        from .compilation_cache import enable_compilation_cache

        enable_compilation_cache(args.cache_dir)
    if args.command == "demo":
        run_model("coba", 4000, 1000.0, 0.1, 0, plot=args.plot)
    else:
        run_model(args.model, args.n, args.duration, args.dt, args.seed, args.out, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
