"""Multi-process runs reproduce the single-process spike trains: COBA (procedural and
stored ``FixedProb`` connectivity) as P = 1, 2, 4 processes on localhost, each process
recording its own neurons to its own file, merged and compared spike for spike with one
``bs.simulate`` run; the stored synapses are built per process
(``bs.distributed.network``), and the largest share of them one process holds and the
largest peak resident memory of a process are reported. The Potjans–Diesmann
microcircuit too, at ``--n`` of its neurons (its populations padded to multiples of P).

    python benchmarks/multiprocess_check.py [--n 16000] [--duration 1000] [--processes 1 2 4]

A check, not a timing (4 processes on 2 cores are over-subscribed). Results:
benchmarks/results/multiprocess_check.json.
"""

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
from _harness import emit, save, table
from _multiproc import launch

MODELS = ("coba-procedural", "coba-stored", "potjans_diesmann")


def build(model: str, n: int, network=None):
    """The model's network (built by ``network``, default ``bs.Network``) and state."""
    import jax

    import brainsim as bs

    network = bs.Network if network is None else network
    if model == "potjans_diesmann":  # reduced scale: n / 77 169 of the neurons
        net = bs.models.potjans_diesmann(n / 77_169, key=jax.random.key(0), network=network)
    else:
        procedural = model == "coba-procedural"
        net = bs.models.coba(n, key=jax.random.key(0), procedural=procedural, network=network)
    return net, net.init(jax.random.key(1))


def held_synapses(net) -> int:
    """The synapses this process holds of the network's ``StoredShard`` projections."""
    import brainsim as bs

    return sum(
        int(np.asarray(s.data)[0, -1])
        for p in net.projections
        if isinstance(p.conn, bs.ops.StoredShard)
        for s in p.conn.csr.indptr.addressable_shards
    )


def worker(a):
    import brainsim as bs

    bs.distributed.initialize(f"localhost:{a.port}", a.processes, a.pid, timeout=120)
    try:  # stored synapses: each process builds only those onto its own neurons
        net, state = build(a.model, a.n, bs.distributed.network)
        _, ev = bs.simulate_sharded(net, state, a.duration, 0.1, events=True)
    except ValueError as e:
        return emit({"error": str(e)})
    parts = {
        f"{p}_{k}": np.asarray(getattr(e, k)) for p, e in ev.items() for k in ("steps", "neurons")
    }
    np.savez(Path(a.out) / f"p{a.pid}.npz", **parts)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    emit(
        {
            "spikes": int(sum(e.steps.size for e in ev.values())),
            "held": held_synapses(net),
            "peak_rss_mib": peak,
        }
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--model", choices=MODELS)
    ap.add_argument("--n", type=int, default=16_000)
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--pid", type=int)
    ap.add_argument("--port")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.worker:
        a.processes = a.processes[0]
        return worker(a)
    import brainsim as bs

    rows = []
    for model in MODELS:
        net, state = build(model, a.n)
        record = {p: ["spikes"] for p in net.populations}
        _, rec = bs.simulate(net, state, a.duration, 0.1, record=record)
        reference = {p: np.asarray(rec[p]["spikes"]) != 0 for p in net.populations}
        for p_count in a.processes:
            with tempfile.TemporaryDirectory() as out:
                args = ["--model", model, "--n", str(a.n), "--duration", str(a.duration)]
                got = launch(sys.argv[0], [*args, "--out", out], p_count)
                row = {"model": model, "processes": p_count, "n": a.n}
                errors = [g["error"] for g in got if "error" in g]
                if errors:
                    rows.append({**row, "error": errors[0][:200]})
                    continue
                files = [np.load(Path(out) / f"p{p}.npz") for p in range(p_count)]
                equal = True
                for pop, dense in reference.items():
                    merged = bs.distributed.merge_events(
                        [
                            bs.SpikeEvents(f[f"{pop}_steps"], f[f"{pop}_neurons"], dense.shape)
                            for f in files
                        ]
                    )
                    equal &= bool(np.array_equal(merged.dense(), dense))
                total = int(sum(d.sum() for d in reference.values()))
                stored = sum(p.conn.n_synapses for p in net.projections)
                per_process = model != "coba-procedural"  # stored, built per process
                share = max(g["held"] for g in got) / stored if per_process else None
                peak = max(g["peak_rss_mib"] for g in got)
                rows.append(
                    {
                        **row,
                        "spikes": total,
                        "identical": equal,
                        "held_share": share,
                        "peak_rss_mib": peak,
                    }
                )
            print(json.dumps(rows[-1]), flush=True)
    columns = [
        ("model", "model", ""),
        ("processes", "P", ""),
        ("spikes", "spikes", ""),
        ("identical", "identical to 1 process", ""),
        ("held_share", "largest share of synapses held by a process", ".3f"),
        ("peak_rss_mib", "largest peak RSS of a process (MiB)", ".0f"),
        ("error", "error", ""),
    ]
    print(table(rows, columns))
    print("saved", save("multiprocess_check", {"n": a.n, "duration_ms": a.duration, "rows": rows}))


if __name__ == "__main__":
    main()
