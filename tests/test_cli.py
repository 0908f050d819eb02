import numpy as np

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
