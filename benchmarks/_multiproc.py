"""Launch one script as P processes on localhost (``bs.distributed.initialize`` with a free
port), each told ``--worker ... --pid p --processes P --port port``, and collect the JSON
line each prints last."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(script: str, args: list[str], processes: int, timeout: float = 3600.0) -> list[dict]:
    """Run ``python script --worker args --pid p --processes P --port port`` for ``p < P``;
    every process's last stdout line as JSON (``{"error": ...}`` for a failed one)."""
    port = str(free_port())
    env = {**os.environ, "PYTHONPATH": str(Path(script).resolve().parent.parent)}
    procs = [
        subprocess.Popen(
            [sys.executable, script, "--worker", *args]
            + ["--pid", str(p), "--processes", str(processes), "--port", port],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in range(processes)
    ]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            lines = out.strip().splitlines()
            if proc.returncode or not lines:
                tail = " | ".join(err.strip().splitlines()[-3:])
                results.append({"error": f"exit {proc.returncode}: {tail}"})
            else:
                results.append(json.loads(lines[-1]))
    except subprocess.TimeoutExpired:
        results.append({"error": f"timeout after {timeout:.0f} s"})
    finally:
        for proc in procs:
            proc.kill()
    return results
