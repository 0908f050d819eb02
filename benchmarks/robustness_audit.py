"""Audit of issue 19 ("inputs that lie"): run every bad input the issue names, and every
row of the bad-input matrix (tests/test_bad_inputs.py), against the brainsim on the path;
print the matrix input -> exception: message, and write it into docs/robustness.md.

    python benchmarks/robustness_audit.py            # print the tables, exit 1 on a failure
    python benchmarks/robustness_audit.py --write    # and regenerate docs/robustness.md

Each input is checked for: the exception type the issue asks for, a message naming the
argument and the value, and that it was raised before JAX traced anything (no frame of
JAX's own code between the call and the raise; equinox's module constructors are
plain Python). Besides the inputs: ``fit``'s non-finite loss, damaged checkpoints, the
command line (exit status 2 and one line; ``--help``), ``population_rate`` at the edges,
API reference coverage and the ``notebook`` extra. Text after the ``KEEP`` marker line in
docs/robustness.md is hand-written and kept.
"""

import argparse
import contextlib
import importlib.util
import io
import re
import subprocess
import sys
import tempfile
import tomllib
import traceback
import types
from pathlib import Path

import jax
import numpy as np

import brainsim as bs
from brainsim import cli

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs" / "robustness.md"
KEEP = "<!-- KEEP: hand-written below -->"


def _module(name: str):
    """A module of tests/ (``test_bad_inputs``'s rows and builders, the docs coverage)."""
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def raise_of(call):
    """``(exception or None, raised inside JAX's own code, what the call wrote to
    stderr)`` of ``call()`` (the command line's one-line errors go there)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            call()
        except BaseException as e:  # noqa: BLE001 (SystemExit of the CLI included)
            frames = traceback.extract_tb(e.__traceback__)
            return e, any("/jax/" in f.filename for f in frames), err.getvalue()
    return None, False, err.getvalue()


def _shd(path: Path, times, labels, drop_labels=False):
    """A minimal SHD file (``spikes/times``, ``spikes/units``, ``labels``)."""
    import h5py

    with h5py.File(path, "w") as f:
        vf, vi = h5py.vlen_dtype(np.float32), h5py.vlen_dtype(np.uint16)
        t = f.create_dataset("spikes/times", (1,), dtype=vf)
        u = f.create_dataset("spikes/units", (1,), dtype=vi)
        t[0], u[0] = np.asarray(times, np.float32), np.arange(len(times), dtype=np.uint16)
        if not drop_labels:
            f.create_dataset("labels", data=np.asarray(labels))
    return path


def _damaged(path: Path, how: str) -> Path:
    raw = bytearray(path.read_bytes())
    if how == "flipped byte":
        raw[len(raw) // 2] ^= 0x01
    elif how == "appended bytes":
        raw += b"\0\0\0"
    else:
        raw = raw[: len(raw) // 2]
    path.write_bytes(bytes(raw))
    return path


def issue_inputs(m, tmp: Path):
    """``[(input as the issue names it, call, exception type, pattern)]``; ``m``:
    test_bad_inputs (its small model, data and network builders)."""
    x, y = m._data()
    snn = m._snn()
    ckpt = tmp / "model.ckpt"

    def train_ckpt(how, template=snn):
        bs.train.save(ckpt, snn, None)
        return bs.train.restore(_damaged(ckpt, how) if how else ckpt, template)

    net, state = m._net_state()
    run = tmp / "run.ckpt"

    def run_ckpt(how):
        bs.save_run(run, net, state, t=0.0, dt=0.1)
        return bs.restore_run(_damaged(run, how), net, state)

    def nan_loss():
        def loss(model, xb, yb):
            value, logits = bs.train.losses.ce_max_membrane(model, xb, yb)
            return value * np.nan, logits

        return bs.train.fit(snn, x, y, loss_fn=loss, batch_size=8, progress=False)

    err = (ValueError, TypeError)
    # fmt: off
    return [
        ("one NaN in fit's x", lambda: m._fit(data=m._nan_x()), ValueError, r"x .*nan"),
        ("fit(batch_size=0)", lambda: m._fit(batch_size=0), ValueError, "batch_size.* 0"),
        ("fit(epochs=-1)", lambda: m._fit(epochs=-1), ValueError, "epochs.* -1"),
        ("fit(truncate_every=-5)", lambda: m._fit(truncate_every=-5), ValueError, "-5"),
        ("fit(checkpoint_every=0)", lambda: m._fit(checkpoint_every=0), ValueError, "every.* 0"),
        ("fit: wrong input width (7, model takes 5)", lambda: m._fit(data=m._data(width=7)),
         ValueError, "7 input channels.*n_in = 5"),
        ("fit: a NaN loss", nan_loss, FloatingPointError, "epoch 1, batch 1"),
        ("readout(tau_mem=-1)", lambda: bs.train.readout(m.KEY, 4, 2, tau_mem=-1.0),
         ValueError, "tau_mem.* -1"),
        ("readout(tau_syn=0)", lambda: bs.train.readout(m.KEY, 4, 2, tau_syn=0.0), ValueError,
         "tau_syn.* 0"),
        ("readout(dt=0)", lambda: bs.train.readout(m.KEY, 4, 2, dt=0.0), ValueError, "dt.* 0"),
        ("UltraSNN(tau_mem=0.5) (below dt)", lambda: bs.train.UltraSNN(4, 3, 2, tau_mem=0.5),
         ValueError, "tau_mem.*0.5"),
        ("UltraSNN(10, -1, 2)", lambda: bs.train.UltraSNN(10, -1, 2), ValueError,
         "n_hidden.* -1"),
        ("FeedForwardSNN(10, 5, 0)", lambda: bs.train.FeedForwardSNN(10, 5, 0), ValueError,
         "n_out.* 0"),
        ("simulate(inputs={'e': ...}) (misspelt population)",
         lambda: m._sim(inputs={"e": 1.0}), ValueError, r"unknown population.*'e'"),
        ("LIF(3, tau_m=np.full(5, 10.))", lambda: bs.neurons.LIF(3, tau_m=np.full(5, 10.0)),
         ValueError, r"tau_m.*\(5,\)"),
        ("net.init(dt=0)", lambda: m._net().init(m.KEY, dt=0), ValueError, "dt.* 0"),
        ("net.init(dt=-0.1) (with a delay)", lambda: m._net(delay=1.0).init(m.KEY, dt=-0.1),
         ValueError, r"dt must be > 0.*-0\.1"),
        ("a delay of 1e9 ms", lambda: m._net(delay=1e9).init(m.KEY, dt=0.1), ValueError,
         r"a->a: delay 1e\+09 ms"),
        ("a delay that is not a multiple of dt",
         lambda: m._net(delay=0.25).init(m.KEY, dt=0.1), ValueError, r"a->a: delay .*0\.25"),
        ("load_shd: a NaN spike time", lambda: bs.datasets.load_shd(
            _shd(tmp / "nan.h5", [0.1, np.nan], [3])), ValueError, "times must be >= 0"),
        ("load_shd: a negative spike time", lambda: bs.datasets.load_shd(
            _shd(tmp / "neg.h5", [-0.2, 0.1], [3])), ValueError, r"times must be >= 0.*-0\.2"),
        ("load_shd: float labels (2.5)", lambda: bs.datasets.load_shd(
            _shd(tmp / "lab.h5", [0.1], [2.5])), ValueError, "labels must be integers.*2.5"),
        ("load_shd: no 'labels' dataset", lambda: bs.datasets.load_shd(
            _shd(tmp / "nolab.h5", [0.1], [1], drop_labels=True)), ValueError,
         "no dataset 'labels'"),
        ("train checkpoint, one flipped byte", lambda: train_ckpt("flipped byte"),
         bs.train.CheckpointError, r"model\.ckpt: content checksum mismatch"),
        ("train checkpoint, bytes appended", lambda: train_ckpt("appended bytes"),
         bs.train.CheckpointError, r"model\.ckpt: 3 unexpected bytes"),
        ("train checkpoint, truncated", lambda: train_ckpt("truncated"),
         bs.train.CheckpointError, r"model\.ckpt: truncated"),
        ("train checkpoint into another model (hidden 9, saved 8)", lambda: train_ckpt(
            None, bs.train.FeedForwardSNN(5, 9, 3, key=m.KEY)), bs.train.CheckpointError,
         r"\(5, 8\) float32 in the file.*\(5, 9\)"),
        ("run checkpoint, one flipped byte", lambda: run_ckpt("flipped byte"),
         bs.CheckpointError, r"run\.ckpt: .*checksum mismatch"),
        ("run checkpoint, bytes appended", lambda: run_ckpt("appended bytes"),
         bs.CheckpointError, r"run\.ckpt: .*3 unexpected bytes"),
        ("run checkpoint, truncated", lambda: run_ckpt("truncated"), bs.CheckpointError,
         r"run\.ckpt: .*truncated"),
        ("brainsim run coba --duration 0", lambda: cli.main(
            ["run", "coba", "--duration", "0"]), SystemExit, "^2$"),
        ("population_rate(dt=0)", lambda: bs.analysis.population_rate(np.ones((4, 2)), 0.0),
         err, "dt.* 0"),
    ]
    # fmt: on


def _resumed_run(tmp: Path) -> tuple[bool, str]:
    """Brunel (2000) with Poisson input: 20 ms, ``save_run``, ``restore_run``, 20 ms more
    vs 40 ms in one call: the same spikes (the sources' PRNG keys are in the state)."""
    net = bs.models.brunel2000(200, key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=0.1)
    record = {"E": bs.Record("spikes", events=True)}
    _, whole = bs.simulate(net, state, 40.0, record=record)
    half, first = bs.simulate(net, state, 20.0, record=record)
    bs.save_run(tmp / "half.ckpt", net, half, t=20.0, dt=0.1)
    ck = bs.restore_run(tmp / "half.ckpt", net, state)
    _, second = bs.simulate(ck.net, ck.state, 20.0, record=record, t0=ck.t)
    a, b, c = (r["E"]["spikes"] for r in (whole, first, second))
    steps = np.concatenate([b.steps, c.steps + first.n_steps])
    same = np.array_equal(a.steps, steps) and np.array_equal(
        a.neurons, np.concatenate([b.neurons, c.neurons])
    )
    return same, f"{len(a.steps)} spikes in 40 ms; identical: {same}"


def _resumed_fit(m, tmp: Path) -> tuple[bool, str]:
    """``fit`` 2 epochs, ``save``, ``restore``, 2 more (``initial_epoch=2``) vs 4 epochs."""
    x, y = m._data()
    kw = dict(loss_fn=bs.train.losses.ce_max_membrane, batch_size=8, progress=False)
    kw["key"] = jax.random.key(7)
    whole, _, _ = bs.train.fit(m._snn(), x, y, epochs=4, **kw)
    half, st, _ = bs.train.fit(m._snn(), x, y, epochs=2, **kw)
    bs.train.save(tmp / "fit.ckpt", half, st)
    half, st, _ = bs.train.restore(tmp / "fit.ckpt", half, st)
    resumed, _, _ = bs.train.fit(half, x, y, epochs=2, opt_state=st, initial_epoch=2, **kw)
    leaves = zip(jax.tree.leaves(whole), jax.tree.leaves(resumed), strict=True)
    same = all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in leaves)
    return same, f"weights identical: {same}"


def _cli_stream_resume(tmp: Path) -> tuple[bool, str]:
    """``brainsim run brunel2000 --stream --checkpoint`` for 20 ms, ``--resume`` to 30 ms:
    the file holds the spikes of one uninterrupted 30 ms run in memory."""
    h5, ck = tmp / "cli.h5", tmp / "cli.ckpt"
    base = ["run", "brunel2000", "--n", "250", "--no-cache", "--checkpoint", str(ck)]
    with contextlib.redirect_stdout(io.StringIO()):
        first = cli.main([*base, "--duration", "20", "--stream", str(h5)])
        second = cli.main([*base, "--duration", "30", "--resume"])
    net = bs.models.brunel2000(200, key=jax.random.key(0))  # as the command builds it
    record = {p: bs.Record("spikes", events=True) for p in ("E", "I")}
    _, want = bs.simulate(net, net.init(jax.random.key(1), dt=0.1), 30.0, record=record)
    got = bs.io.read_recording(h5)
    same = got.n_steps == want.n_steps and all(
        np.array_equal(got[p]["spikes"].steps, want[p]["spikes"].steps)
        and np.array_equal(got[p]["spikes"].neurons, want[p]["spikes"].neurons)
        for p in ("E", "I")
    )
    n = len(want["E"]["spikes"].steps)
    ok = first == second == 0 and same and n > 0
    text = f"exit {first}, {second}; {got.n_steps} steps in the file, {n} E spikes"
    return ok, f"{text}; identical: {same}"


def other_checks(m, tmp: Path):
    """``[(what, observed, ok)]`` of the issue's items that are not bad inputs."""
    same, text = _resumed_run(tmp)
    out = [("simulate: 2 x 20 ms through save_run/restore_run == 40 ms", text, same)]
    same, text = _resumed_fit(m, tmp)
    out.append(("fit: 2 + 2 epochs through save/restore == 4 epochs", text, same))
    ok, text = _cli_stream_resume(tmp)
    out.append(
        ("`brainsim run` streams to HDF5, checkpoints and resumes (20 + 10 ms == 30 ms)", text, ok)
    )
    rate = bs.analysis.population_rate(np.ones((1000, 10)), 1.0, window=10)
    out.append(
        (
            "population_rate(np.ones((1000, 10)), 1.0, window=10): 1000 Hz everywhere",
            f"min {rate.min():g}, max {rate.max():g} Hz",
            bool(np.all(rate == 1000.0)),
        )
    )
    cmd = [sys.executable, "-m", "brainsim.cli", "run", "coba", "--duration", "0"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    out.append(
        (
            "`brainsim run coba --duration 0`: exit status 2, one line on stderr",
            f"status {p.returncode}: {p.stderr.strip()}",
            p.returncode == 2 and p.stderr.count("\n") == 1,
        )
    )
    help_text = subprocess.run(
        [sys.executable, "-m", "brainsim.cli", "run", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    models = [name for name in cli.MODELS if name not in help_text]
    options = [o for o in ("--stream", "--checkpoint", "--resume", "--n") if o not in help_text]
    out.append(
        (
            "`brainsim run --help` lists every model and option",
            f"missing models {models}, options {options}",
            not models and not options,
        )
    )
    docs = _module("test_docs_api")
    entries = docs.documented()
    ids = {id(obj) for obj in entries}
    modules = {obj.__name__ for obj in entries if isinstance(obj, types.ModuleType)}
    names = docs.public_names()
    missing = [
        name
        for name, obj in names.items()
        if id(obj) not in ids and getattr(obj, "__module__", None) not in modules
    ]
    out.append(
        (
            "API reference: every public name has an entry (as tests/test_docs_api.py counts)",
            f"{len(names) - len(missing)} of {len(names)}; missing {missing}",
            not missing,
        )
    )
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    notebook = extras["optional-dependencies"].get("notebook", [])
    out.append(
        (
            "`notebook` extra installs ipywidgets (progress bars render in Jupyter)",
            ", ".join(notebook) or "none",
            any(d.startswith("ipywidgets") for d in notebook),
        )
    )
    return out


def _cell(text: str, width: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def audit():
    """``(markdown, n_failures)``."""
    m = _module("test_bad_inputs")
    lines, failures = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        rows = issue_inputs(m, Path(tmp))
        tables = (
            ("The bad inputs of issue 19", rows),
            ("The bad-input matrix (tests/test_bad_inputs.py)", [r[:4] for r in m.ROWS]),
        )
        for title, table in tables:
            lines += [f"## {title}", "", "| input | exception: message | ok |", "|---|---|---|"]
            for name, call, want, pattern in table:
                e, in_jax, stderr = raise_of(call)
                ok = (
                    e is not None
                    and isinstance(e, want)
                    and not in_jax
                    and re.search(pattern, str(e)) is not None
                )
                failures += not ok
                got = "no error" if e is None else f"`{type(e).__name__}`: {_cell(e)}"
                if isinstance(e, SystemExit):  # the command line: status and its line
                    got = f"exit status {e.code}: {_cell(stderr)}"
                if in_jax:
                    got += " (raised inside JAX)"
                got = got.replace(tmp, "TMP")  # (a temporary directory's name)
                lines.append(f"| `{_cell(name, 70)}` | {got} | {'yes' if ok else '**no**'} |")
            lines.append("")
        lines += ["## Other checks", "", "| check | observed | ok |", "|---|---|---|"]
        for what, observed, ok in other_checks(m, Path(tmp)):
            failures += not ok
            lines.append(f"| {what} | {_cell(observed)} | {'yes' if ok else '**no**'} |")
    return "\n".join(lines) + "\n", failures


HEAD = """# Bad inputs and their errors

Every public constructor and entry point checks its arguments before anything is
traced or compiled, and refuses bad input with an exception whose message names the
argument, the value it got and the allowed range. The tables below are the output of
`python benchmarks/robustness_audit.py --write` (brainsim {version}, JAX {jax}): each
input was run, and "ok" means the exception is of the expected type, its message names
the argument and value, and it was raised before JAX traced anything.
`tests/test_bad_inputs.py` asserts the same rows, and fails when a public entry point
has none.

"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"regenerate {DOCS}")
    args = parser.parse_args(argv)
    text, failures = audit()
    print(text)
    print(f"{failures} failure(s)")
    if args.write:
        kept = DOCS.read_text().split(KEEP, 1)[1] if DOCS.exists() else "\n"
        head = HEAD.format(version=bs.__version__, jax=jax.__version__)
        DOCS.write_text(head + text + "\n" + KEEP + kept)
        print(f"wrote {DOCS}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
