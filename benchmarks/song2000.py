"""Song, Miller & Abbott (2000) at full size against Brian2 (issue 17).

1000 Poisson inputs (15 Hz) onto one conductance LIF with additive STDP
(``bs.models.song2000``; A_plus = 0.01 gmax, 100 s of biological time, dt = 0.1 ms),
for seeds 0-2. Compared with Brian2 2.11 running the same model
(``tests/references/song_brian2.json``, config ``full``, recorded by
``tests/references/record_song.py``): the final weight histogram (two-sample KS
distance), the fractions of weights below 0.1 gmax and above 0.9 gmax, the output rate
over the last 10 s. Run time per run is reported (compile included: a validation, not
a race).

    python benchmarks/song2000.py            # full: 100 s per seed
    python benchmarks/song2000.py --quick    # 5 s, one seed: checks the script runs

Results: benchmarks/results/song2000.json.
"""

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
from _harness import save, table

import brainsim as bs

REF = Path(__file__).parents[1] / "tests" / "references" / "song_brian2.json"


def run(seed: int, duration_ms: float, a_plus: float, gmax: float) -> dict:
    t0 = time.perf_counter()
    w, counts = bs.models.song2000(jax.random.key(seed), duration=duration_ms, a_plus=a_plus)
    w, counts = np.asarray(w), np.asarray(counts)
    return dict(
        seed=seed,
        hist=np.histogram(w, bins=20, range=(0, gmax))[0].tolist(),
        frac_low=float(np.mean(w < 0.1 * gmax)),
        frac_high=float(np.mean(w > 0.9 * gmax)),
        rate_last_10s=float(counts[-10:].sum() / min(10, len(counts))),
        wall_s=time.perf_counter() - t0,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    ref = json.loads(REF.read_text())
    full = ref["configs"]["full"]
    duration = 5e3 if args.quick else full["duration_s"] * 1e3
    seeds = [0] if args.quick else [0, 1, 2]
    runs = [run(s, duration, full["a_plus_rel"], ref["gmax"]) for s in seeds]
    cdf = lambda h: np.cumsum(h) / np.sum(h)
    brian = np.sum([r["hist"] for r in full["runs"]], axis=0)
    rows = []
    for name, rs in (("brainsim", runs), ("brian2", full["runs"])):
        for r in rs:
            ks = float(np.max(np.abs(cdf(r["hist"]) - cdf(brian)))) if name == "brainsim" else 0.0
            rows.append(
                dict(
                    simulator=name,
                    seed=r["seed"],
                    frac_low=r["frac_low"],
                    frac_high=r["frac_high"],
                    rate_hz=r["rate_last_10s"],
                    ks_vs_brian2=ks,
                    wall_s=r["wall_s"],
                )
            )
    columns = [
        ("simulator", "simulator", ""),
        ("seed", "seed", ""),
        ("frac_low", "w < 0.1 gmax", ".3f"),
        ("frac_high", "w > 0.9 gmax", ".3f"),
        ("rate_hz", "rate (Hz)", ".1f"),
        ("ks_vs_brian2", "KS vs Brian2", ".3f"),
        ("wall_s", "wall (s)", ".1f"),
    ]
    print(table(rows, columns))
    save("song2000", dict(duration_ms=duration, brainsim=runs, brian2=full["runs"], rows=rows))


if __name__ == "__main__":
    main()
