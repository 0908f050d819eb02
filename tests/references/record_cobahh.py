"""Record Brian2's COBAHH rates once (see PROVENANCE.md).

    /work/peers-venv/bin/python tests/references/record_cobahh.py

N = 4000, dt = 0.1 ms, 1000 ms, seeds 0-4, via ``benchmarks/peers/brian2_runner.run_cobahh``.
Writes ``cobahh_brian2.json`` with each run and the mean / sample sd of every statistic.
"""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.peers import brian2_runner  # noqa: E402

WINDOWS = (200.0, 500.0)


def main():
    runs = []
    for seed in range(5):
        runs.append(brian2_runner.run_cobahh(4000, 1000.0, 0.1, seed=seed, windows_ms=WINDOWS))
        print(runs[-1], flush=True)
    keys = [k for k in runs[0] if k.startswith(("rate", "cv"))]
    summary = {
        "mean": {k: float(np.mean([r[k] for r in runs])) for k in keys},
        "sd": {k: float(np.std([r[k] for r in runs], ddof=1)) for k in keys},
    }
    out = {"spec": brian2_runner.run_cobahh.__doc__, "runs": runs, "summary": summary}
    (Path(__file__).parent / "cobahh_brian2.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
