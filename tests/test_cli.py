import jax
import numpy as np
import pytest

import brainsim as bs
from brainsim import cli


def test_run_writes_results_and_plot(tmp_path, capsys):
    out, png = tmp_path / "r.npz", tmp_path / "r.png"
    assert (
        cli.main(
            [
                "run",
                "cuba",
                "--n",
                "400",
                "--duration",
                "50",
                "--seed",
                "2",
                "--out",
                str(out),
                "--plot",
                str(png),
                "--no-cache",  # the cache is process-wide: tested in test_compilation_cache
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "CUBA: 400 neurons" in text and "compile" in text
    data = np.load(out)
    assert set(data) == {"E_times", "E_indices", "E_rates", "I_times", "I_indices", "I_rates"}
    assert data["E_rates"].shape == (320,)
    # rates are the spike counts over 50 ms
    counts = np.bincount(data["E_indices"], minlength=320)
    np.testing.assert_allclose(data["E_rates"], counts / 0.05)
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["run", "coba", "--duration", "0"],
            "argument --duration: must be a number > 0, got 0",
        ),
        (["run", "coba", "--n", "-5"], "argument --n: must be an integer > 0, got -5"),
        (["run", "coba", "--n", "ten"], "argument --n: must be an integer > 0, got 'ten'"),
        (["run", "coba", "--dt", "nan"], "argument --dt: must be a number > 0, got nan"),
        (["run", "cobx"], "argument model: invalid choice: 'cobx'"),
        (
            ["run", "coba", "--n", "100", "--duration", "1.05", "--no-cache"],
            "duration must be a whole multiple of dt=0.1 ms, got duration=1.05 ms",
        ),
    ],
)
def test_argument_errors_are_one_line_with_status_2(argv, message, capsys):
    try:
        status = cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        status = e.code
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("brainsim") and message in err, err


def test_help_lists_every_model_and_option(capsys):
    for argv in (["--help"], ["run", "--help"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 0
        text = capsys.readouterr().out
        for name, what in cli.MODELS.items():
            assert f"{name:<11} {what}" in text
    for action in cli._parser()._subparsers._group_actions[0].choices["run"]._actions:
        assert all(opt in text for opt in action.option_strings)
    assert set(cli.MODELS) <= set(dir(bs.models))


def _run(*argv):
    return cli.main(["run", "brunel2000", "--n", "250", "--no-cache", *map(str, argv)])


def test_run_streams_checkpoints_and_resumes(tmp_path, capsys):
    """``--stream`` with ``--checkpoint-every``, then ``--resume`` to a longer duration,
    gives the spikes of one uninterrupted 60 ms run in memory (Poisson-driven: the
    sources' PRNG keys travel in the checkpoint), spike for spike."""
    h5, ck = tmp_path / "run.h5", tmp_path / "run.ckpt"
    assert (
        _run("--duration", 40, "--stream", h5, "--checkpoint", ck, "--checkpoint-every", 20) == 0
    )
    assert bs.io.read_recording(h5).n_steps == 400
    assert _run("--duration", 60, "--checkpoint", ck, "--resume") == 0
    assert f"wrote the spikes to {h5}" in capsys.readouterr().out
    net = bs.models.brunel2000(200, key=jax.random.key(0))  # as the command builds it
    record = {p: bs.Record("spikes", events=True) for p in ("E", "I")}
    state = net.init(jax.random.key(1), dt=0.1)
    _, want = bs.simulate(net, state, 60.0, record=record, chunk_steps=200)  # (compiled)
    got = bs.io.read_recording(h5)
    assert got.n_steps == want.n_steps == 600
    for pop in ("E", "I"):
        np.testing.assert_array_equal(got[pop]["spikes"].steps, want[pop]["spikes"].steps)
        np.testing.assert_array_equal(got[pop]["spikes"].neurons, want[pop]["spikes"].neurons)
    assert len(want["E"]["spikes"].steps) > 50  # the run spiked
    assert _run("--duration", 60, "--resume") == 2
    assert "--resume needs --checkpoint FILE" in capsys.readouterr().err
