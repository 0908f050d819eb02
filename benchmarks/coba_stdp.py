"""COBA with pair STDP on every E→E synapse vs the same network without plasticity
(issue 17 targets: run time <= 1.5x the static network and <= 0.5x the fastest of
Brian2 C++ standalone and NEST ``stdp_synapse`` running the same rule).

``bs.models.coba(n)`` (Brette et al. 2007); the E→E projection gets
``bs.Plastic(PairSTDP(A_plus=0.01, A_minus=0.0105, tau 20 ms, Bounds(0, 12 nS)))`` (the
static weight is 6 nS). 1 s of biological time at dt = 0.1 ms, each configuration in a
fresh subprocess; run time is the fastest of three runs, compilation excluded (reported
separately); the memory of the plastic state is reported per synapse.

    python benchmarks/coba_stdp.py                 # n = 4000, 16000, 64000
    python benchmarks/coba_stdp.py --n 4000        # one size
    python benchmarks/coba_stdp.py --quick         # n = 1000, 100 ms: checks the script
    python benchmarks/coba_stdp.py --peer-python /work/peers-venv/bin/python   # + peers
    python benchmarks/coba_stdp.py --parts 2       # both networks' steps in 2 ranges
    python benchmarks/coba_stdp.py --rule triplet  # TripletSTDP on E→E (the rule's
                                                   # defaults, Bounds(0, 12 nS))
    python benchmarks/coba_stdp.py --rule vogels   # VogelsSprekeler on I→E (rho0 5 Hz,
                                                   # tau 20 ms, eta 0.01 nS)

Peers (``--peer-python``: a Python where ``brian2`` and ``nest`` import), each with and
without the rule: Brian2 C++ standalone (one thread; the rule as synaptic equations,
``peers.brian2_runner.STDP_EQS``) and NEST (``stdp_synapse``, additive, one thread);
their ``run_s`` is their own simulation loop, as in ``benchmarks/coba.py``. Their
networks are drawn by their own generators (same statistics, other synapses).

Results: benchmarks/results/coba_stdp.json.
"""

import argparse
import ast
import sys

from _harness import emit, run_worker, save, table

DT = 0.1
# the rule (nS, ms): PairSTDP(A_plus, A_minus, tau_plus, tau_minus, Bounds(0, w_max))
STDP = dict(A_plus=0.01, A_minus=0.0105, tau_plus=20.0, tau_minus=20.0, w_max=12.0)
# Vogels-Sprekeler on I→E (nS, Hz, ms): eta small against the 67 nS weight
VOGELS = dict(eta=0.01, rho0=5.0, tau=20.0)
# name -> (runner module, options, largest N run by default: NEST takes minutes per
# configuration beyond it here, as in benchmarks/coba.py; --all-sizes lifts the cap)
PEERS = {
    "brian2-cpp_standalone": ("brian2", {"target": "cpp_standalone"}, 256_000),
    "nest": ("nest", {}, 16_000),
}


def make_rule(name: str, bs):
    """The rule of ``--rule`` (nS, ms) and the projection it learns on."""
    if name == "pair":
        bounds = bs.plasticity.Bounds(0.0, STDP["w_max"])
        a_p, a_m, t_p, t_m = (STDP[k] for k in ("A_plus", "A_minus", "tau_plus", "tau_minus"))
        return bs.plasticity.PairSTDP(a_p, a_m, t_p, t_m, bounds), "E->E"
    if name == "triplet":  # the rule's defaults (all-to-all visual-cortex fit), bounded
        bounds = bs.plasticity.Bounds(0.0, STDP["w_max"])
        return bs.plasticity.TripletSTDP(bounds=bounds), "E->E"
    return bs.plasticity.VogelsSprekeler(**VOGELS), "I->E"


def worker(n: int, plastic: bool, duration: float, parts: int = 0, rule: str = "pair") -> dict:
    import functools

    import equinox as eqx
    import jax
    import numpy as np

    import brainsim as bs

    if parts:  # the native loop's neuron ranges per step (ops.lif_network_run's parts)
        bs.ops.lif_network_run = functools.partial(bs.ops.lif_network_run, parts=parts)

    net = bs.models.coba(n, key=jax.random.key(0))
    extra_bytes = 0
    learning, target = make_rule(rule, bs)
    if plastic:
        comp = (bs.Plastic(learning),)
        projs = [
            eqx.tree_at(lambda p: p.components, p, comp) if p.name == target else p
            for p in net.projections
        ]
        net = bs.Network(net.populations, projs, key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=DT)
    if plastic:  # the plastic state and the column index (the layout is shared, not counted)
        cols = next(p for p in net.projections if p.components).components[0].index.cols
        extra_bytes = sum(x.nbytes for x in jax.tree.leaves((state.components, cols)))
    # Every E spike recorded as an event (step, neuron), as the peers' spike monitors do:
    # both networks then run whole chunks in one native call (Network.step_block).
    record = {"E": bs.Record(["spikes"], events=True)}
    _, rec = bs.simulate(net, state, duration, DT, record=record)
    runs = [bs.simulate(net, state, duration, DT, record=record)[1].run_time for _ in range(3)]
    # the learning projection's synapses (E→E, or I→E for --rule vogels)
    n_syn = next(p for p in net.projections if p.name == target).conn.n_synapses
    return dict(
        simulator="brainsim",
        n=n,
        rule=rule,
        plastic=plastic,
        run_s=float(np.min(runs)),
        compile_s=rec.compile_time,
        rate_E_hz=len(rec["E"]["spikes"].neurons) / rec["E"]["spikes"].shape[1] / duration * 1e3,
        ee_synapses=int(n_syn),
        parts=parts,
        plastic_bytes_per_ee_synapse=extra_bytes / n_syn if plastic else 0.0,
    )


def peer_worker(name: str, n: int, plastic: bool, duration: float) -> dict:
    import importlib

    module, opts, _ = PEERS[name]
    runner = importlib.import_module(f"peers.{module}_runner")
    stdp = STDP if plastic else None
    r = runner.run("coba", n, duration_ms=duration, dt_ms=DT, stdp=stdp, **opts)
    return dict(r, simulator=name, plastic=plastic)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs="+")
    parser.add_argument("--n", type=int, nargs="*", default=[4000, 16000, 64000])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--peer-python", help="a Python where brian2 and nest import")
    parser.add_argument("--all-sizes", action="store_true", help="run NEST at every N")
    parser.add_argument(
        "--parts",
        type=int,
        default=0,
        help="brainsim: neuron ranges per step, run in parallel (0: by network size)",
    )
    parser.add_argument(
        "--rule",
        choices=("pair", "triplet", "vogels"),
        default="pair",
        help="brainsim's rule: pair or triplet STDP on E→E, Vogels–Sprekeler on I→E",
    )
    args = parser.parse_args()
    if args.peer_python and args.rule != "pair":
        parser.error("the peers' runners run pair STDP only: --peer-python needs --rule pair")
    if args.worker:
        if args.worker[0] == "peer":
            _, name, n, plastic, duration = args.worker
            emit(peer_worker(name, int(n), ast.literal_eval(plastic), float(duration)))
            return
        n, plastic, duration, parts, rule = args.worker
        emit(worker(int(n), plastic == "1", float(duration), int(parts), rule))
        return
    sizes, duration = ([1000], 100.0) if args.quick else (args.n, 1000.0)
    rows = []
    for n in sizes:
        runs = [
            (
                "brainsim",
                sys.executable,
                [str(n), str(int(p)), str(duration), str(args.parts), args.rule],
            )
            for p in (0, 1)
        ]
        for name, (_, _, largest) in PEERS.items() if args.peer_python else ():
            if n > largest and not args.all_sizes:
                print(f"skip {name} at N = {n} (slow here; --all-sizes runs it)")
                continue
            w = [["peer", name, str(n), str(p), str(duration)] for p in (False, True)]
            runs += [(name, args.peer_python, a) for a in w]
        size = {}  # (simulator, plastic) -> row
        for k, (name, python, worker_args) in enumerate(runs):
            row = {"simulator": name, "n": n, "plastic": bool(k % 2)}
            size[name, bool(k % 2)] = row | run_worker(python, __file__, worker_args)
        for (name, plastic), row in size.items():
            static = size[name, False].get("run_s")
            if plastic and static and row.get("run_s"):
                row["ratio"] = row["run_s"] / static
        ours = size["brainsim", True].get("run_s")
        peers = [
            r["run_s"] for (m, p), r in size.items() if p and m != "brainsim" and r.get("run_s")
        ]
        if ours and peers:
            size["brainsim", True]["x_fastest_peer"] = ours / min(peers)
        rows += size.values()
    columns = [
        ("simulator", "simulator", ""),
        ("n", "N", ""),
        ("plastic", "plastic", ""),
        ("run_s", "run (s)", ".3f"),
        ("compile_s", "compile (s)", ".2f"),
        ("rate_E_hz", "E rate (Hz)", ".1f"),
        ("ratio", "× static", ".2f"),
        ("x_fastest_peer", "× fastest plastic peer", ".2f"),
        ("plastic_bytes_per_ee_synapse", "plastic B/syn", ".1f"),
    ]
    print(table(rows, columns))
    if not args.quick:
        name = "coba_stdp" + (f"_{args.rule}" if args.rule != "pair" else "")
        name += f"_parts{args.parts}" if args.parts else ""
        save(name, dict(duration_ms=duration, dt=DT, rows=rows))


if __name__ == "__main__":
    main()
