"""The ``brainsim`` command line: ``brainsim demo`` and ``brainsim run MODEL``."""

import argparse
import sys
import time

# The networks ``brainsim run`` builds: name -> what it is (populations "E" and "I").
MODELS = {
    "coba": "conductance-based LIF network (Brette et al. 2007, benchmark 1)",
    "cuba": "current-based LIF network (Brette et al. 2007, benchmark 2)",
    "cobahh": "Hodgkin-Huxley (Traub-Miles) network (Brette et al. 2007, benchmark 3)",
    "brunel2000": "Brunel (2000) model A, Poisson-driven (n: E + I, 80 % / 20 %)",
}


class _Parser(argparse.ArgumentParser):
    """Errors as one line on stderr (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(kind):
    """An argparse type: a finite ``kind`` (int or float) > 0."""
    noun = "an integer" if kind is int else "a number"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {noun} > 0, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be {noun} > 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _models_help() -> str:
    return "models:\n" + "\n".join(f"  {name:<11} {text}" for name, text in MODELS.items())


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(
        prog="brainsim",
        description="Simulate spiking networks.",
        epilog=_models_help() + "\n\nOptions of a command: brainsim demo --help, "
        "brainsim run --help.",
        formatter_class=fmt,
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="run COBA (4000 neurons, 1 s) and write a raster plot")
    demo.add_argument(
        "--plot",
        default="coba_raster.png",
        help="raster plot file (PNG) to write (default: coba_raster.png)",
    )
    run = sub.add_parser(
        "run", help="run a canonical network", epilog=_models_help(), formatter_class=fmt
    )
    run.add_argument("model", choices=tuple(MODELS), help="the network (see models below)")
    run.add_argument(
        "--n",
        type=_positive(int),
        default=4000,
        help="number of neurons, 80%% E / 20%% I (default 4000)",
    )
    run.add_argument(
        "--duration",
        type=_positive(float),
        default=1000.0,
        help="simulated time in ms, a multiple of dt (default 1000)",
    )
    run.add_argument(
        "--dt", type=_positive(float), default=0.1, help="time step in ms (default 0.1)"
    )
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
    run.add_argument(
        "--stream",
        default=None,
        metavar="FILE.h5",
        help="append the spikes to this HDF5 file chunk by chunk (bounded memory; read "
        "with bs.io.read_recording)",
    )
    run.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="save network, state and time to this file at the end (and every "
        "--checkpoint-every ms)",
    )
    run.add_argument(
        "--checkpoint-every",
        type=_positive(float),
        default=None,
        metavar="MS",
        help="simulated time between checkpoints, a multiple of dt (default: only at the end)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue from --checkpoint up to --duration (the total), appending to the "
        "--stream file it was saved with",
    )
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


def run_model(
    model: str,
    n: int,
    duration: float,
    dt: float,
    seed: int,
    out=None,
    plot=None,
    *,
    stream=None,
    checkpoint=None,
    checkpoint_every=None,
    resume=False,
):
    """Build, simulate and report one network; returns the ``Recording``. ``stream``:
    an HDF5 file the spikes go to chunk by chunk; ``checkpoint``: a file the run is saved
    to every ``checkpoint_every`` ms and at the end; ``resume``: continue the run saved
    in ``checkpoint`` up to ``duration`` ms (the total)."""
    import jax
    import numpy as np

    import brainsim as bs

    if resume and not checkpoint:
        raise ValueError("--resume needs --checkpoint FILE (the run to continue)")
    if checkpoint_every is not None and not checkpoint:
        raise ValueError("--checkpoint-every needs --checkpoint FILE")
    start = time.perf_counter()
    key, init_key = jax.random.key(seed), jax.random.key(seed + 1)
    if model == "brunel2000":  # sized by its E population; I is a quarter of it
        net = bs.models.brunel2000(n * 4 // 5, key=key)
    else:
        net = getattr(bs.models, model)(n, key=key)
    if model == "cobahh":  # Brian2's initial state (random conductances)
        state = bs.models.cobahh_state(net, init_key, dt=dt)
    else:
        state = net.init(init_key, dt=dt)
    t = 0.0
    if resume:
        ck = bs.restore_run(checkpoint, net, state)
        net, state, t, stream = ck.net, ck.state, ck.t, ck.recording or stream
        if ck.dt != dt:
            raise ValueError(f"--dt {dt:g} differs from the checkpoint's dt = {ck.dt:g} ms")
        if t >= duration:
            raise ValueError(f"--duration {duration:g} ms: the checkpoint is at t = {t:g} ms")
    build = time.perf_counter() - start
    # Spike events: host memory grows with the spikes, not with steps x neurons.
    record = {p: bs.Record("spikes", events=True) for p in ("E", "I")}
    compile_time = run_time = 0.0
    first, began = resume, t
    while True:
        length = duration - t if checkpoint_every is None else min(checkpoint_every, duration - t)
        sink = stream and bs.io.HDF5Sink(stream, resume=first)
        state, rec = bs.simulate(net, state, length, dt, record=record, t0=t, stream=sink)
        compile_time, run_time = compile_time + rec.compile_time, run_time + rec.run_time
        t, first = t + length, bool(stream)
        if checkpoint:
            bs.save_run(checkpoint, net, state, t=t, dt=dt, recording=stream)
        if t >= duration - dt / 2:
            break
    duration = rec.n_steps * dt  # recorded: a stream's whole file, else the last run
    rates = {p: bs.analysis.firing_rate(rec[p]["spikes"], dt) for p in rec}
    cv = bs.analysis.isi_cv(rec["E"]["spikes"], dt)
    cv = f"{cv[np.isfinite(cv)].mean():.2f}" if np.isfinite(cv).any() else "n/a (< 3 spikes)"
    print(f"{model.upper()}: {n} neurons, {duration:g} ms at dt = {dt:g} ms (seed {seed})")
    print(
        f"  rates: E {rates['E'].mean():.2f} Hz, I {rates['I'].mean():.2f} Hz; "
        f"mean ISI CV (E) {cv}"
    )
    print(
        f"  build {build:.2f} s, compile {compile_time:.2f} s, run {run_time:.3f} s "
        f"({run_time / ((t - began) * 1e-3):.3f} s per simulated second)"
    )
    for what, path in (("the spikes to", stream), ("a checkpoint to", checkpoint)):
        if path:
            print(f"  wrote {what} {path}")
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
    """Run the command line; returns the exit status (2: bad arguments, reported on one
    line)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cache:
        from .compilation_cache import enable_compilation_cache

        enable_compilation_cache(args.cache_dir)
    try:
        if args.command == "demo":
            run_model("coba", 4000, 1000.0, 0.1, 0, plot=args.plot)
        else:
            run_model(
                args.model,
                args.n,
                args.duration,
                args.dt,
                args.seed,
                args.out,
                args.plot,
                stream=args.stream,
                checkpoint=args.checkpoint,
                checkpoint_every=args.checkpoint_every,
                resume=args.resume,
            )
    except (ValueError, FileNotFoundError) as e:  # refused before running, or no such file
        print(f"brainsim: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
