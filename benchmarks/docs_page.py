"""Generate docs/benchmarks.md and its plots from the results files in benchmarks/results/.

    python benchmarks/docs_page.py        # or: python benchmarks/coba.py --docs-only

Race files are those written by ``coba.py`` (``"kind": "race"``, or older ones whose
command starts with ``python benchmarks/coba.py``); all of them are merged, so separate
runs (COBA/CUBA, COBAHH, a 256 k run, ...) end up on one page. For each model: the
sources (file, date, machine, simulator versions, the exact command), one table over
all N and simulators, and a log-log plot of run time and time to first result vs N
(docs/benchmarks_<model>.png). Where a (model, N, simulator) appears in several files,
the newest file's row is shown. Ratios to peers are taken within one file only (peers
measured side by side in the same run). ``rate_linearity.json`` (``rate_linearity.py``)
adds its own section. Text after the ``KEEP`` marker line in the existing page is
hand-written and kept as it is.
"""

import json
import os
import platform
from pathlib import Path

from _harness import RESULTS, table

DOCS = Path(__file__).parents[1] / "docs"
MODELS = ("coba", "cuba", "cobahh", "adex", "izhikevich")
TITLES = {
    "coba": "COBA (Brette et al. 2007, benchmark 1)",
    "cuba": "CUBA (Brette et al. 2007, benchmark 2)",
    "cobahh": "COBAHH (Brette et al. 2007, benchmark 3)",
    "adex": "AdEx COBA (COBA's network with adaptive exponential neurons)",
    "izhikevich": "Izhikevich network (RS/FS neurons on COBA's connectivity)",
}
NOTES = {
    "adex": "COBA's connectivity, conductances and 200 pA drive with AdEx neurons (C_m = "
    "200 pF, g_L = 10 nS, E_L = −60, V_T = −50, Δ_T = 2, V_peak = −40 mV, a = 2 nS, b = "
    "40 pA, τ_w = 150 ms, 5 ms refractory). Brian2 and brainsim: forward Euler; NEST: "
    "`aeif_cond_exp` (adaptive RKF45).",
    "izhikevich": "Izhikevich (2003) regular-spiking E and fast-spiking I neurons, "
    "constant input 5, voltage-jump synapses (+0.5 / −2 mV) on COBA's connectivity; forward "
    "Euler in all (NEST `izhikevich`).",
    "coba": "LIF with exponential conductances, 200 pA drive; Brian2 integrates it with "
    "`method='euler'` (as brainsim does by default), NEST's `iaf_cond_exp` with adaptive "
    "RKF45 (the slow one), BrainPy with its exponential Euler.",
    "cuba": "LIF with exponential currents, no drive (V_rest above threshold); NEST "
    "`iaf_psc_exp` (exact integration).",
    "cobahh": "Traub–Miles Hodgkin–Huxley neurons (area 20 000 µm², V_T = −63 mV), no drive: "
    "the activity is self-sustained from Brian2's COBAHH initial state (V ~ N(−65, 5) mV, "
    "gating variables 0, g_exc ~ N(40, 15) nS, g_inh ~ N(200, 120) nS). Brian2, BrainPy and "
    "brainsim integrate it with exponential Euler at dt = 0.1 ms and detect a spike as "
    "V > −20 mV outside a 3 ms dead time. NEST's `hh_cond_exp_traub` has the same "
    "equations and parameters but integrates them with adaptive RKF45, detects a spike at "
    "the peak of V above V_T + 30 = −33 mV (here with the same 3 ms dead time), cannot "
    "set conductances as initial state (they arrive as one input spike per neuron at "
    "t = 0.2 ms, negative draws clipped to 0) and delays spikes by one step; BrainPy's "
    "`Expon` decays each jump once before the neuron sees it (×0.98 / ×0.99). Brian2, "
    "BrainPy and brainsim agree within a few per cent; NEST's come out ~10 % higher (E "
    "41 Hz vs Brian2's 37 Hz at N = 4 000, seed 0, in a check run): that is the time step, "
    "not the model: Brian2 itself at dt = 0.025 ms gives E 41.3 / I 39.8 Hz over 500 ms "
    "(37.2 / 36.4 Hz at 0.1 ms), so exponential Euler at 0.1 ms lowers COBAHH's rates by "
    "~10 % and NEST's adaptive solver does not.",
}


def machine_info() -> dict:
    """The machine a race runs on (recorded in its results file)."""
    cpu = platform.processor()
    try:  # platform.processor() is empty on many Linux systems
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return dict(
        platform=platform.platform(),
        processor=cpu,
        cores=os.cpu_count(),
        memory_gib=mem,
        python=platform.python_version(),
    )


def add_ratios(rows: list[dict]) -> None:
    """brainsim's run time and time to first result over the fastest peer's, per (model, N),
    among the rows of one run."""
    fastest, first = {}, {}
    for r in rows:
        if "run_s" in r and r["simulator"] != "brainsim":
            key = (r["model"], r["n"])
            fastest[key] = min(fastest.get(key, float("inf")), r["run_s"])
            first[key] = min(first.get(key, float("inf")), r["total_s"])
    for r in rows:
        key = (r["model"], r["n"])
        if r["simulator"] == "brainsim" and key in fastest and "run_s" in r:
            r["ratio_to_fastest_peer"] = r["run_s"] / fastest[key]
            r["first_ratio_to_fastest_peer"] = r["total_s"] / first[key]
            if "total_warm_s" in r:
                r["warm_ratio_to_fastest_peer"] = r["total_warm_s"] / first[key]


def load_races() -> list[tuple[str, dict]]:
    """(file name, payload) of every race results file, oldest first."""
    races = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(payload, dict) or "rows" not in payload:
            continue
        command = str(payload.get("command", ""))
        if payload.get("kind") != "race" and not command.startswith("python benchmarks/coba.py"):
            continue
        payload.setdefault("date", f"date not recorded; file {_mtime(path)}")
        for r in payload["rows"]:
            r.pop("ratio_to_fastest_peer", None)
            r.pop("first_ratio_to_fastest_peer", None)
            r.pop("warm_ratio_to_fastest_peer", None)
        add_ratios(payload["rows"])
        races.append((path.name, payload))
    races.sort(key=lambda x: x[1]["date"])
    return races


def _mtime(path: Path) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))


def _machine_line(m: dict) -> str:
    cpu = f"{m['processor']}, " if m.get("processor") else ""
    mem = f", {m['memory_gib']} GiB" if m.get("memory_gib") else ""
    return f"{cpu}{m.get('cores')} cores{mem}, {m.get('platform', '?')}, Python {m.get('python')}"


COLUMNS = [
    ("n", "N", ""),
    ("simulator", "simulator", ""),
    ("version", "version", ""),
    ("build_s", "build s", ".2f"),
    ("compile_s", "compile s", ".2f"),
    ("run_s", "run s (1 s bio)", ".3f"),
    ("ratio_to_fastest_peer", "÷ fastest peer", ".2f"),
    ("total_s", "first result s", ".2f"),
    ("first_ratio_to_fastest_peer", "first result ÷ fastest peer's first result", ".2f"),
    ("total_warm_s", "first result, warm cache s", ".2f"),
    ("warm_ratio_to_fastest_peer", "warm first result ÷ fastest peer's first result", ".2f"),
    ("rate_E_hz", "E Hz", ".1f"),
    ("rate_I_hz", "I Hz", ".1f"),
    ("peak_mib", "peak MiB", ".0f"),
    ("source", "results file", ""),
    ("error", "error", ""),
]


def _order(sim: str) -> tuple:
    return (sim != "brainsim", sim)


def model_section(model: str, races: list[tuple[str, dict]]) -> str | None:
    merged = {}  # (n, simulator) -> row; newer files replace older ones
    sources = []
    for name, payload in races:
        rows = [r for r in payload["rows"] if r.get("model") == model]
        if not rows:
            continue
        sources.append((name, payload, rows))
        for r in rows:
            merged[(r["n"], r["simulator"])] = {**r, "source": name}
    if not merged:
        return None
    rows = [merged[k] for k in sorted(merged, key=lambda k: (k[0], _order(k[1])))]
    plot = plot_model(model, rows)
    lines = [f"## {TITLES[model]}", "", NOTES[model], "", "Produced by:", ""]
    for name, payload, rs in sources:
        versions = sorted({f"{r['simulator']} {r['version']}" for r in rs if "version" in r})
        lines += [
            f"- `{name}` ({payload['date']}; {_machine_line(payload.get('machine', {}))}; "
            f"{', '.join(versions)}){'. ' + payload['note'] if payload.get('note') else ''}:",
            "",
            "  ```",
            f"  {payload.get('command', '?')}",
            "  ```",
            "",
        ]
    lines += [table(rows, COLUMNS), "", f"![{model} run time vs N]({plot})", ""]
    return "\n".join(lines)


def plot_model(model: str, rows: list[dict]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sims = sorted({r["simulator"] for r in rows if "run_s" in r}, key=_order)
    for ax, key, label in (
        (axes[0], "run_s", "run time for 1 s bio (s)"),
        (axes[1], "total_s", "time to first result (s)"),
    ):
        for sim in sims:
            pts = sorted((r["n"], r[key]) for r in rows if r["simulator"] == sim and key in r)
            style = "o-" if sim == "brainsim" else "s--"
            ax.loglog(*zip(*pts, strict=True), style, label=sim, lw=2 if sim == "brainsim" else 1)
        ax.set(title=f"{model.upper()}: {label.split(' (')[0]}", xlabel="neurons N", ylabel=label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    name = f"benchmarks_{model}.png"
    fig.savefig(DOCS / name, dpi=110)
    plt.close(fig)
    return name


def rate_section() -> str | None:
    path = RESULTS / "rate_linearity.json"
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    fit = d["fit"]
    cols = [
        (d["drive_key"], d["drive_label"], ".0f"),
        ("rate_E_hz", "E Hz", ".1f"),
        ("rate_I_hz", "I Hz", ".1f"),
        ("events", "synaptic events", ".3g"),
        ("run_s", "run s (1 s bio)", ".3f"),
        ("median_s", "median s", ".3f"),
        ("predicted_run_s", "a + b·events", ".3f"),
        ("cpu_s", "CPU s", ".3f"),
        ("predicted_cpu_s", "CPU fit", ".3f"),
    ]
    lines = [
        "## Cost vs synaptic events (fixed N)",
        "",
        d["description"],
        "",
        "```",
        d["command"],
        "```",
        "",
        f"Machine: {_machine_line(d['machine'])}; {d['date']}. {d.get('note', '')}",
        "",
        table(d["rows"], cols),
        "",
        f"Least-squares fit run time = a + b·events: a = {fit['a_s']:.3f} s (fixed cost per "
        f"simulated second: neuron updates, scan, spike compaction), b = "
        f"{fit['b_ns_per_event']:.2f} ns per synaptic event, R² = {fit['r2']:.4f}." + _cpu_fit(d),
        "",
        "![run time vs synaptic events](benchmarks_rate_linearity.png)",
        "",
    ]
    return "\n".join(lines)


def _cpu_fit(d: dict) -> str:
    g = d.get("fit_cpu")
    if not g:
        return ""
    return (
        f" The same fit to the process's CPU time per run (fastest of four; robust to other "
        f"jobs on the machine, but it counts both cores' work): a = {g['a_s']:.3f} s, "
        f"b = {g['b_ns_per_event']:.2f} ns per event, R² = {g['r2']:.4f}."
    )


HEADER = """# Benchmarks

<!-- Generated by benchmarks/docs_page.py from benchmarks/results/*.json: do not edit by
hand; rerun `python benchmarks/coba.py --docs-only` instead. -->

The Brette et al. (2007) benchmark networks, 1 s of biological time at dt = 0.1 ms, mean
in-degree 80 at every N (p = 80/N), on brainsim and its peers (BrainPy 2.9 event-CSR,
Brian2 runtime and C++ standalone with and without OpenMP, NEST on all cores), run side
by side on the same machine by one command per results file (listed under each model).

Each configuration runs in a fresh process. *run* excludes build and compilation
(brainsim: median of three runs; BrainPy: a second run after a first full run that
compiles; Brian2 and NEST: their own timer of the simulation loop); *first result* is
construction + compilation + the first 1 s run; *÷ fastest peer* is brainsim's run time
over the fastest peer's at that N, *first result ÷ fastest peer's first result* the same
for time to first result (the targets: ≤ 1.0, stretch 0.5, and ≤ 0.5). brainsim's
first result is measured twice, in two processes sharing a new, empty compilation cache
(`bs.enable_compilation_cache`, on in the `brainsim` CLI): *cold* compiles everything,
*warm cache* loads the compiled programs as every later run of the same shapes does
(Brian2 runtime's build time is likewise that of its warm Cython cache). Ratios are taken
within one results file only. *peak MiB* is the process's maximum resident memory. Rates
are shown so that a fast but wrong run is visible. Timings on a shared virtual machine
vary by about ±20 % between repeated runs (more when other jobs share its cores). Peers
too slow at a size are skipped there (the command prints a line for each).
"""

KEEP = "<!-- Hand-written sections below this line are kept by docs_page.py. -->"

FOOTER = """## Running the race

Peers run from their own Python (Brian2 2.11 needs Python >= 3.13, BrainPy 2.9 >= 3.12 and
numba): `python3.13 -m venv peers && peers/bin/pip install brian2 nest-simulator brainpy
numba`, then pass `--peer-python peers/bin/python`; a peer that does not import there is
skipped with a line saying so. Each run writes `benchmarks/results/OUT.json` (`--out`);
`--docs` (or `--docs-only`, without running anything) regenerates this page from every
race results file.
"""


def write() -> Path:
    """Regenerate docs/benchmarks.md (and the plots) from the results files."""
    races = load_races()
    parts = [HEADER]
    for model in MODELS:
        section = model_section(model, races)
        if section:
            parts.append(section)
    section = rate_section()
    if section:
        parts.append(section)
    parts.append(FOOTER)
    path = DOCS / "benchmarks.md"
    kept = ""
    if path.exists() and KEEP in path.read_text():
        kept = path.read_text().split(KEEP, 1)[1]
    parts.append(KEEP + kept)
    path.write_text("\n".join(parts))
    return path


if __name__ == "__main__":
    print("wrote", write())
