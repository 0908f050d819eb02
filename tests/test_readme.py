"""The README's example runs as written (and writes its raster plot)."""

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch):
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    rate = namespace["bs"].analysis.firing_rate(namespace["rec"]["E"]["spikes"], dt=0.1).mean()
    # The hand-built network is COBA: its E rate lies in the peers' range (test_models.py).
    assert 16.0 < rate < 24.5
    assert (tmp_path / "raster.png").stat().st_size > 10_000
