"""Predicted against published scaling: the model of ``multiprocess_scaling.py``
(fitted to the P = 1, 2 runs on this machine, one core per process where measured so
(``--threads-per-process 1``), its JSON in ``results/``) drawn for
1–1 024 processes over this machine's fitted link and over the InfiniBand links of
``results/published_scaling.json`` (vendor figures), beside the measured points and the
published run times of NEST and NEST GPU recorded in that file. No network access, no
simulation: it reads JSON files only.

    python benchmarks/scaling_plot.py

Writes docs/scaling_model.png and prints, as markdown, the model at the published sizes
and where the modelled scaling stops (the processes at which the spike exchange costs as
much as the compute, and the fastest process count).
"""

import json
from pathlib import Path

from _harness import RESULTS, table
from multiprocess_scaling import predict, predict_weak

DOCS = Path(__file__).parents[1] / "docs"
PROCESSES = [2**k for k in range(11)]  # 1 ... 1 024: the measured P = 1, 2 and beyond
FITTED = "this machine (fitted)"


def seconds_per_sim_s(run: dict) -> list[float | None]:
    """Wall-clock seconds per simulated second of a published ``run`` at each of its
    sizes: ``time_s / model_s``, ``1 / faster_than_real_time`` or ``real_time_factor``;
    ``None`` where the publication says only that the run is faster than real time."""
    if "time_s" in run:
        return [t / run["model_s"] for t in run["time_s"]]
    if "faster_than_real_time" in run:
        return [None if f is None else 1.0 / f for f in run["faster_than_real_time"]]
    if "real_time_factor" in run:
        return list(run["real_time_factor"])
    raise ValueError(f"run of {run['source']!r} has no time, factor or real-time factor")


def sizes(run: dict) -> list[int]:
    """The devices (GPUs) of a published run, or its nodes where no device is named."""
    return run["devices"] or run["nodes"]


def points(run: dict) -> list[tuple[int, float | None]]:
    """``(size, seconds per simulated second)`` of a published ``run`` at each size."""
    return list(zip(sizes(run), seconds_per_sim_s(run), strict=True))


def links(fit: dict, interconnects: list[dict]) -> dict[str, tuple[float, float]]:
    """``{name: (alpha s, bandwidth B/s)}``: the link fitted to this machine's
    all-gathers (``fit``: a ``multiprocess_scaling`` JSON's ``model``), then each
    published interconnect's latency per stage and bandwidth."""
    out = {FITTED: (fit["alpha_s"], fit["bandwidth_B_per_s"])}
    for i in interconnects:
        out[i["name"]] = (i["latency_us"] * 1e-6, i["gbytes_per_s"] * 1e9)
    return out


def model_time(fit: dict, p: int, alpha: float, bandwidth: float, weak: bool = False):
    """The model's seconds per simulated second over ``p`` processes: the network of
    ``fit`` (strong scaling) or one ``p`` times larger (``weak``)."""
    t1, pre = fit["measured_vs_model"]["1"][0], fit["exchanges_per_step"]
    law = predict_weak if weak else predict
    return law(t1, pre, p, alpha, bandwidth, fit["exchange_every"])


def limits(fit: dict, alpha: float, bandwidth: float, weak: bool = False, top: int = 1 << 13):
    """``(p_equal, p_best, t_best)`` over ``p`` = 2 … ``top`` processes: the fewest
    processes at which a step's exchange costs at least its compute (``None`` if never),
    and the process count of the fastest run with its seconds per simulated second
    (strong scaling; ``None, None`` for ``weak``, whose time only grows)."""
    t1 = fit["measured_vs_model"]["1"][0]
    p_equal, p_best, t_best = None, None, None
    for p in range(2, top + 1):
        t = model_time(fit, p, alpha, bandwidth, weak)
        compute = t1 if weak else t1 / p
        if p_equal is None and t - compute >= compute:
            p_equal = p
        if not weak and (t_best is None or t < t_best):
            p_best, t_best = p, t
    return p_equal, p_best, t_best


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def measured(result: dict) -> tuple[list[int], list[float]]:
    """Processes and measured seconds per simulated second of a scaling run."""
    rows = [r for r in result["rows"] if "error" not in r]
    return [r["processes"] for r in rows], [r["run_s_per_sim_s"] for r in rows]


def plot(pd: dict, cobas: dict, published: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2))
    colors = {FITTED: "tab:gray", "InfiniBand HDR100": "tab:blue", "InfiniBand HDR": "tab:green"}
    nets = published["interconnects"]

    ax = axes[0]  # Potjans-Diesmann, strong scaling
    for name, (alpha, bw) in links(pd["model"], nets).items():
        ts = [model_time(pd["model"], p, alpha, bw) for p in PROCESSES]
        ax.plot(PROCESSES, ts, color=colors[name], label=f"model, {name}")
    ps, ts = measured(pd)
    ax.plot(ps, ts, "ko", label="brainsim measured (2-core CPU)")
    kurth = next(r for r in published["runs"] if r["source"].startswith("Kurth"))
    for n, t in points(kurth):
        if t is None:  # 'sub realtime': below 1
            arrow = {"arrowstyle": "->", "color": "tab:red"}
            ax.annotate("", (n, 0.5), (n, 1.0), arrowprops=arrow)
        else:
            ax.plot(n, t, "r^", label="NEST 2.14, 128-core EPYC nodes (Kurth 2021)")
    ax.set_title(
        "Potjans–Diesmann, full scale: strong scaling\n(model: this CPU's step / P + exchange)"
    )

    ax = axes[1]  # COBA, weak scaling (256 000 neurons per process)
    for (label, fit), style in zip(cobas.items(), ("-", "--"), strict=True):
        for name, (alpha, bw) in links(fit["model"], nets).items():
            ts = [model_time(fit["model"], p, alpha, bw, weak=True) for p in PROCESSES]
            ax.plot(PROCESSES, ts, style, color=colors[name], label=f"model, {label}, {name}")
        ps, ts = measured(fit)
        ax.plot(ps, ts, "k" + ("o" if style == "-" else "s"), label=f"measured, {label}")
    villamar = next(r for r in published["runs"] if r["source"].startswith("Villamar"))
    ax.plot(
        sizes(villamar),
        seconds_per_sim_s(villamar),
        "r^",
        label="NEST GPU, 12 000 A100, other model (Villamar 2025)",
    )
    ax.set_title(
        "COBA, 256 000 neurons per process: weak scaling\n(model: this CPU's step + exchange)"
    )

    ax = axes[2]  # multi-area model, published only
    mam = [r for r in published["runs"] if r["model"].startswith("multi-area")]
    for run in mam:
        n, t = sizes(run), seconds_per_sim_s(run)
        state = run["model"].split(", ")[-1]
        color = {"ground state": "tab:purple", "metastable state": "tab:orange"}[state]
        gpu = run["simulator"] == "NEST GPU"
        marker = {"marker": "^", "ms": 10, "mec": "k", "ls": ""} if gpu else {"marker": "o"}
        ax.plot(n, t, color=color, label=f"{run['simulator']}, {state}", **marker)
        if not gpu:  # ideal strong scaling from the smallest run
            ax.plot(n, [t[0] * n[0] / k for k in n], ":", color=color)
    ax.set_title("multi-area model: published only\n(dotted: ideal strong scaling from 4 nodes)")
    ax.set_xlabel("compute nodes (NEST: 128 cores; NEST GPU: one V100)")

    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.set_ylabel("wall-clock s per simulated s")
        ax.legend(fontsize=6.5)
    for ax in axes[:2]:
        ax.set_xlabel("processes (brainsim) / nodes or GPUs (published)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def tables(pd: dict, cobas: dict, published: dict) -> str:
    """Markdown: the model at the published sizes, and where its scaling stops."""
    nets = published["interconnects"]
    runs = {r["source"].split(",")[0]: r for r in published["runs"]}
    kurth, villamar = runs["Kurth et al. 2021"], runs["Villamar et al. 2025"]
    rows = []
    for n, t in points(kurth):
        row = {"case": f"Potjans–Diesmann, strong, P = {n}", "published": t}
        row["against"] = "NEST 2.14, " + ("1 node (< 1)" if t is None else f"{n} nodes")
        for name, (alpha, bw) in links(pd["model"], nets).items():
            row[name] = model_time(pd["model"], n, alpha, bw)
        rows.append(row)
    coba = cobas["1-step delay"]["model"]
    for n, t in points(villamar):
        row = {"case": f"COBA, weak, P = {n}", "published": t, "against": "NEST GPU, other model"}
        for name, (alpha, bw) in links(coba, nets).items():
            row[name] = model_time(coba, n, alpha, bw, weak=True)
        rows.append(row)
    names = list(links(pd["model"], nets))
    columns = [("case", "network, scaling, processes", ""), ("against", "published run", "")]
    columns += [("published", "published s/s", ".3g")]
    columns += [(name, f"model s/s, {name}", ".3g") for name in names]
    out = [table(rows, columns), ""]

    stops = []
    cases = [("Potjans–Diesmann, strong", pd["model"], False)]
    cases += [(f"COBA 256k, {k}, strong", v["model"], False) for k, v in cobas.items()]
    cases += [(f"COBA 256k/process, {k}, weak", v["model"], True) for k, v in cobas.items()]
    for case, fit, weak in cases:
        for name, (alpha, bw) in links(fit, nets).items():
            p_equal, p_best, t_best = limits(fit, alpha, bw, weak)
            stops.append(
                {"case": case, "link": name, "equal": p_equal, "best": p_best, "t_best": t_best}
            )
    columns = [
        ("case", "network", ""),
        ("link", "link", ""),
        ("equal", "P: exchange = compute", ""),
        ("best", "fastest P", ""),
        ("t_best", "its s/s", ".3g"),
    ]
    out.append(table(stops, columns))
    return "\n".join(out)


def main():
    pd = load("multiprocess_scaling_potjans_diesmann_1_threads1")
    cobas = {
        "1-step delay": load("multiprocess_scaling_256000_threads1"),
        "1 ms delay, D = 10": load("multiprocess_scaling_256000_delay1_every10"),
    }
    published = load("published_scaling")
    print(tables(pd, cobas, published))
    path = DOCS / "scaling_model.png"
    plot(pd, cobas, published, path)
    print("saved", path)


if __name__ == "__main__":
    main()
