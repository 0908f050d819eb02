"""Run PyNN's system scenarios (``test/system/scenarios`` of the PyNN 0.13 source
distribution) against one backend and print one JSON line per scenario.

    python benchmarks/pynn_scenarios.py SCENARIOS_DIR brainsim.pynn > brainsim.jsonl
    python benchmarks/pynn_scenarios.py SCENARIOS_DIR pyNN.nest > nest.jsonl
    python benchmarks/pynn_scenarios.py --table nest.jsonl brainsim.jsonl  # markdown

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


def _load(path: str) -> dict:
    """The JSON lines of a run (the scenarios also print other lines)."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.startswith('{"scenario"')]
    return {r["scenario"]: r for r in rows}


def table(nest_file: str, brainsim_file: str) -> str:
    """A markdown table: scenario, NEST outcome, brainsim outcome, why brainsim fails."""
    nest, bs = _load(nest_file), _load(brainsim_file)
    lines = [
        "| scenario | NEST 3.10 | brainsim | why brainsim does not pass |",
        "|---|---|---|---|",
    ]
    for name in sorted(set(nest) | set(bs)):
        n, b = nest.get(name, {}), bs.get(name, {})
        why = "" if b.get("outcome") == "pass" else b.get("why", "not run")
        lines.append(f"| `{name}` | {n.get('outcome', '-')} | {b.get('outcome', '-')} | {why} |")
    count = lambda d: sum(r["outcome"] == "pass" for r in d.values())  # noqa: E731
    lines.append(
        f"\nNEST passes {count(nest)} of {len(nest)}; brainsim passes {count(bs)} of {len(bs)}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        print(table(sys.argv[2], sys.argv[3]))
    else:
        main(sys.argv[1], sys.argv[2])
