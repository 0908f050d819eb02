"""Shared benchmark plumbing: run one configuration in a fresh subprocess (clean peak
memory, no shared compile caches), collect its JSON line, print and save a table."""

import json
import os
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def run_worker(python: str, script: str, args: list[str], timeout: float = 1800.0) -> dict:
    """Run ``python script --worker args...`` and parse the last stdout line as JSON.
    Returns ``{"error": ...}`` when it fails, so one broken peer never stops the race."""
    cmd = [python, script, "--worker", *args]
    env = {**os.environ, "PYTHONPATH": str(Path(script).resolve().parent.parent)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


def peak_rss_mib() -> float:
    """Peak resident memory of this process (MiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(result: dict) -> None:
    """Worker side: print the result as the last stdout line."""
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Markdown table; ``columns`` are (key, header, format)."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = []
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            cells.append("—" if v is None else (format(v, fmt) if fmt else str(v)))
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, sep, *body])


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1))
    return path


def time_loops(fns: dict, args: tuple, steps: int, reps: int) -> dict[str, dict]:
    """Time compiled loops of ``steps`` steps (``fns``: ``{mode: compiled}``, each called
    as ``f(*args)`` returning ``(state, per-step spike counts)``) alternately, after one
    warm-up call each, ``reps`` times: ``{mode: {wall_us, wall_med_us, cpu_us,
    cpu_med_us, spikes}}``, best and median wall and process CPU time per step (µs), and
    the spike count of the last call."""
    import time

    import jax
    import numpy as np

    wall, cpu, spikes = {m: [] for m in fns}, {m: [] for m in fns}, {}
    for f in fns.values():
        jax.block_until_ready(f(*args))
    for _ in range(reps):
        for mode, f in fns.items():
            w, c = time.perf_counter(), time.process_time()
            out = jax.block_until_ready(f(*args))
            wall[mode].append(time.perf_counter() - w)
            cpu[mode].append(time.process_time() - c)
            spikes[mode] = int(out[1].sum())
    per_step = lambda x, stat: float(stat(x)) / steps * 1e6
    return {
        mode: dict(
            wall_us=per_step(wall[mode], min),
            wall_med_us=per_step(wall[mode], np.median),
            cpu_us=per_step(cpu[mode], min),
            cpu_med_us=per_step(cpu[mode], np.median),
            spikes=spikes[mode],
        )
        for mode in fns
    }


def timing_columns(fmt: str) -> list[tuple[str, str, str]]:
    """The ``table`` columns of ``time_loops``' figures (times formatted with ``fmt``)."""
    return [
        ("wall_us", "wall µs/step", fmt),
        ("wall_med_us", "median", fmt),
        ("cpu_us", "CPU µs/step", fmt),
        ("cpu_med_us", "median", fmt),
        ("compile_s", "compile s", ".2f"),
        ("spikes", "spikes", ""),
    ]
