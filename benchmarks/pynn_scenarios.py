"""Run PyNN's system scenarios (``test/system/scenarios`` of the PyNN 0.13 source
distribution) against one backend and print one JSON line per scenario.

    python benchmarks/pynn_scenarios.py SCENARIOS_DIR brainsim.pynn
    python benchmarks/pynn_scenarios.py SCENARIOS_DIR pyNN.nest

Only scenarios that PyNN marks for NEST are run (``run_with_simulators("nest", ...)``).
Outcome: ``pass``, ``skip`` (the scenario called ``pytest.skip``) or ``fail`` with the
exception's first line.
"""

import importlib
import json
import sys
import traceback
from pathlib import Path

import pytest


def _scenarios(package: str):
    pkg_dir = Path(importlib.import_module(package).__file__).parent
    for path in sorted(pkg_dir.glob("test_*.py")):
        module = importlib.import_module(f"{package}.{path.stem}")
        for name, fn in list(vars(module).items()):
            marks = getattr(fn, "pytestmark", [])
            sims = (
                [str(p.values[0]) for m in marks if m.name == "parametrize" for p in m.args[1]]
                if marks
                else []
            )
            if name.startswith("test") and callable(fn) and "pyNN.nest" in sims:
                yield f"{path.stem}::{name}", fn


def main(scenarios_dir: str, backend: str):
    sys.path.insert(0, str(Path(scenarios_dir).parent))
    sim = importlib.import_module(backend)
    for name, fn in _scenarios(Path(scenarios_dir).name):
        try:
            fn(sim)
            outcome, why = "pass", ""
        except pytest.skip.Exception as err:
            outcome, why = "skip", str(err).splitlines()[0] if str(err) else ""
        except (Exception, pytest.fail.Exception) as err:  # noqa: BLE001 - all reported
            outcome = "fail"
            why = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            if "-v" in sys.argv:
                traceback.print_exc()
        print(json.dumps({"scenario": name, "outcome": outcome, "why": why[:200]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
