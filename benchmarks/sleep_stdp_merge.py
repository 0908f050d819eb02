"""Merge the STDP rows of several ``sleep_stdp.py`` results files (seeds run separately,
``--first-seed``) into one table of mean ± sd over seeds per sleep fraction, for the
final values and for every point of the training curve.

    python benchmarks/sleep_stdp_merge.py OUT FILE [FILE ...]

``FILE``: results names without ``.json`` (in ``benchmarks/results``); ``OUT``: the merged
file (``benchmarks/results/OUT.json``: the rows, the sources, and the summary). The
files must share one set-up: the same arguments apart from the seeds, fractions and
output name; a seed given twice for one fraction is an error.
"""

import argparse
import json

import numpy as np
from _harness import RESULTS, save, table

PER_RUN = ("seeds", "first_seed", "fractions", "out", "arms", "sg_epochs")
KEYS = ("vote", "logreg", "w_xe_mean", "w_xe_at_max", "w_ee_mean", "w_ee_at_max")


def merge(names: list[str]) -> tuple[list[dict], dict]:
    """The STDP rows of the files ``names`` and their common arguments."""
    rows, setup = [], None
    for name in names:
        got = json.loads((RESULTS / f"{name}.json").read_text())
        args = {k: v for k, v in got["args"].items() if k not in PER_RUN}
        args.setdefault("recurrent", 0.0)
        if setup is not None and args != setup:
            raise ValueError(f"{name}: arguments {args} differ from the others' {setup}")
        setup = args
        rows += [r for r in got["rows"] if r["arm"] == "stdp"]
    seen = [(r["seed"], r["sleep"]) for r in rows]
    if len(set(seen)) != len(seen):
        raise ValueError(f"a (seed, sleep) appears twice in {names}: {sorted(seen)}")
    return rows, setup


def summarize(rows: list[dict]) -> list[dict]:
    """Per sleep fraction: the seeds, and mean ± sd of the final values and of every
    curve point (over seeds)."""
    out = []
    for f in sorted({r["sleep"] for r in rows}):
        got = sorted((r for r in rows if r["sleep"] == f), key=lambda r: r["seed"])
        stat = lambda v: dict(mean=float(np.mean(v)), sd=float(np.std(v)))
        curve = [
            {k: stat([r["curve"][i][k] for r in got]) for k in got[0]["curve"][i]}
            for i in range(len(got[0]["curve"]))
        ]
        final = {k: stat([r[k] for r in got]) for k in KEYS if k in got[0]}
        out.append(dict(sleep=f, seeds=[r["seed"] for r in got], **final, curve=curve))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    rows, setup = merge(args.files)
    summary = summarize(rows)
    fmt = lambda s: f"{s['mean']:.3f} ± {s['sd']:.3f}"
    keys = [k for k in KEYS if k in summary[0]]
    shown = [
        dict(sleep=f"{s['sleep']:.0%}", seeds=len(s["seeds"]), **{k: fmt(s[k]) for k in keys})
        for s in summary
    ]
    columns = [("sleep", "sleep", ""), ("seeds", "seeds", "")] + [(k, k, "") for k in keys]
    print(table(shown, columns))
    save(args.out, dict(args=setup, sources=args.files, summary=summary, rows=rows))


if __name__ == "__main__":
    main()
