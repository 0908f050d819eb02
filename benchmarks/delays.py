"""Cost per step of per-synapse heterogeneous delays vs one delay per projection.

COBA (Brette et al. 2007 benchmark 1, ``bs.models.coba``) at N = 4000 · scale, with the
same connectivity and weights in three variants:

- ``min``: the minimum delay (one step, no buffer);
- ``homogeneous``: one delay of ``--delay`` ms for every synapse;
- ``heterogeneous``: per-synapse delays drawn uniformly from the dt grid in
  [``--d-min``, ``--d-max``] ms (``Projection(delays=...)``).

    python benchmarks/delays.py --duration 1000 --scales 1 4

Prints a table (best of ``--repeat`` runs, the modes interleaved: run time per simulated
second, µs per step, E/I rates) and writes ``benchmarks/results/delays[_label].json``.
Timings on a shared machine are noisy.
"""

import argparse

import equinox as eqx
import jax
import numpy as np

import brainsim as bs

try:
    from _harness import save, table
except ImportError:  # run as a module
    from benchmarks._harness import save, table


def variant(net: bs.Network, mode: str, a, seed: int = 0) -> bs.Network:
    """The same built network with its delays replaced."""
    rng = np.random.default_rng(seed)
    grid = np.arange(round(a.d_min / a.dt), round(a.d_max / a.dt) + 1) * a.dt
    projections = []
    for p in net.projections:
        if mode == "min":
            kw = dict(delay=None)
        elif mode == "homogeneous":
            kw = dict(delay=a.delay)
        else:
            kw = dict(delays=rng.choice(grid, p.conn.weight_shape))
        projections.append(
            bs.Projection(
                p.pre,
                p.post,
                p.conn,
                weight=p.weight,
                synapse=p.synapse,
                output=p.output,
                capacity=p.capacity,
                **kw,
            )
        )
    return bs.Network(net.populations, projections, key=jax.random.key(seed + 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", type=int, nargs="+", default=[1])
    ap.add_argument("--duration", type=float, default=1000.0)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--d-min", type=float, default=0.1)
    ap.add_argument("--d-max", type=float, default=2.0)
    ap.add_argument("--modes", nargs="+", default=["min", "homogeneous", "heterogeneous"])
    ap.add_argument("--repeat", type=int, default=3, help="best of, modes interleaved")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    rows = []
    for scale in a.scales:
        base = bs.models.coba(4000 * scale, key=jax.random.key(0))
        nets = {mode: variant(base, mode, a) for mode in a.modes}
        best, compile_s = {}, {}
        for _ in range(a.repeat):  # modes interleaved, so they share the machine's load
            for mode, net in nets.items():
                state = net.init(jax.random.key(1), dt=a.dt)
                _, rec = bs.simulate(
                    net,
                    state,
                    duration=a.duration,
                    dt=a.dt,
                    record={"E": ["spikes"], "I": ["spikes"]},
                    progress=False,
                )
                compile_s.setdefault(mode, rec.compile_time)  # the first run compiles
                if mode not in best or rec.run_time < best[mode].run_time:
                    best[mode] = rec
        for mode, rec in best.items():
            n_steps = round(a.duration / a.dt)
            rate = {p: float(rec[p]["spikes"].mean() / (a.dt * 1e-3)) for p in ("E", "I")}
            rows.append(
                dict(
                    n=4000 * scale,
                    mode=mode,
                    compile_s=compile_s[mode],
                    run_s=rec.run_time,
                    per_sim_s=rec.run_time / (a.duration * 1e-3),
                    us_per_step=1e6 * rec.run_time / n_steps,
                    rate_E=rate["E"],
                    rate_I=rate["I"],
                    synapses=sum(p.conn.n_synapses for p in nets[mode].projections),
                )
            )
            print(rows[-1], flush=True)
        del nets, best
        eqx.clear_caches()
    print(
        table(
            rows,
            [
                ("n", "N", "d"),
                ("mode", "delays", ""),
                ("compile_s", "compile (s)", ".2f"),
                ("per_sim_s", "run / sim. s (s)", ".3f"),
                ("us_per_step", "µs / step", ".1f"),
                ("rate_E", "E (Hz)", ".1f"),
                ("rate_I", "I (Hz)", ".1f"),
            ],
        )
    )
    name = "delays" + (f"_{a.label}" if a.label else "")
    print("wrote", save(name, dict(args=vars(a), backend=jax.default_backend(), rows=rows)))


if __name__ == "__main__":
    main()
