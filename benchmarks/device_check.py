"""The one short check a session with a GPU (or any accelerator) runs: the pure-JAX paths
on the device against a CPU reference recorded here, and COBA/CUBA timings, into one
JSON file.

    python benchmarks/device_check.py --record     # on a CPU machine: the reference
    python benchmarks/device_check.py              # on the device: check + timings

1. **Same spikes.** COBA and CUBA, 4 000 neurons, 100 ms at dt = 0.1 ms, float32, seed 0:
   every spike (step, neuron) of both populations against the CPU reference
   (``benchmarks/results/device_check_reference.npz``, recorded with ``--record`` through
   the pure-JAX path, ``bs.ops.configure(kernels=False)``, and checked there against the
   native kernels). Reported: identical or not, the first step where the trains differ,
   the spike counts. Not asserted: XLA may contract or reorder float operations on
   another platform, and a recurrent network amplifies one ulp into different spikes;
   the JSON says whether that happened and when.
2. **Timings.** COBA and CUBA, 1 s of biological time at each ``--sizes`` (default 4k to
   256k neurons): compile and run time (median of two runs after the first), rates. Sizes
   stop early once ``--budget`` seconds have passed (default 420: the check, with the
   start of the machine, fits a 10-minute slot).

Writes ``--out`` (default ``benchmarks/results/device_check.json``): the device, the JAX
version, the check and the timings. ``--pure`` forces the pure-JAX path on a CPU (to try
the script where no accelerator is).
"""

import argparse
import json
import os
import sys
import time

import jax
import numpy as np

import brainsim as bs

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "results", "device_check_reference.npz")
DT, CHECK_MS, CHECK_N, SEED = 0.1, 100.0, 4000, 0


def run(model: str, n: int, duration: float, repeats: int = 1) -> dict:
    """``model`` (``coba``/``cuba``) with ``n`` neurons for ``duration`` ms: every spike
    as events, and the compile and run times."""
    net = getattr(bs.models, model)(n, key=jax.random.key(SEED))
    state = jax.block_until_ready(net.init(jax.random.key(SEED + 1), dt=DT))
    rec = {p: bs.Record(["spikes"], events=True) for p in ("E", "I")}
    _, out = bs.simulate(net, state, duration, DT, record=rec)
    runs = [out.run_time]
    runs += [
        bs.simulate(net, state, duration, DT, record=rec)[1].run_time for _ in range(repeats - 1)
    ]
    return dict(
        spikes={p: (out[p]["spikes"].steps, out[p]["spikes"].neurons) for p in ("E", "I")},
        sizes={p: out[p]["spikes"].shape[1] for p in ("E", "I")},
        compile_s=float(out.compile_time),
        run_s=float(np.median(runs)),
    )


def first_difference(a, b) -> int | None:
    """The first step at which two event trains ``(steps, neurons)`` differ, or None."""
    for step in np.union1d(a[0], b[0]):
        if not np.array_equal(np.sort(a[1][a[0] == step]), np.sort(b[1][b[0] == step])):
            return int(step)
    return None


def record() -> None:
    """The CPU reference: the pure-JAX path's spikes, checked against the kernels'."""
    out = {}
    for model in ("coba", "cuba"):
        with bs.ops.configure(kernels=False):
            pure = run(model, CHECK_N, CHECK_MS)["spikes"]
        native = run(model, CHECK_N, CHECK_MS)["spikes"]
        for p in ("E", "I"):
            if first_difference(pure[p], native[p]) is not None:
                sys.exit(f"{model} {p}: the native and pure-JAX paths differ on this CPU")
            out[f"{model}_{p}_steps"], out[f"{model}_{p}_neurons"] = pure[p]
    np.savez_compressed(REFERENCE, **out, jax_version=jax.__version__)
    print(f"wrote {REFERENCE}")


def check() -> dict:
    """Part 1 (module docstring)."""
    ref = np.load(REFERENCE)
    result = {}
    for model in ("coba", "cuba"):
        got = run(model, CHECK_N, CHECK_MS)["spikes"]
        for p in ("E", "I"):
            want = (ref[f"{model}_{p}_steps"], ref[f"{model}_{p}_neurons"])
            diff = first_difference(got[p], want)
            result[f"{model}_{p}"] = dict(
                identical=diff is None,
                first_different_step=diff,
                spikes=len(got[p][0]),
                reference_spikes=len(want[0]),
            )
    return result


def timings(sizes, budget: float, start: float) -> list[dict]:
    """Part 2 (module docstring)."""
    rows = []
    for n in sizes:
        for model in ("coba", "cuba"):
            if time.perf_counter() - start > budget:
                rows.append(dict(model=model, n=n, skipped=f"past the {budget:.0f} s budget"))
                continue
            r = run(model, n, 1000.0, repeats=3)
            rates = {p: len(r["spikes"][p][0]) / r["sizes"][p] for p in "EI"}  # per 1 s
            rows.append(
                dict(
                    model=model,
                    n=n,
                    compile_s=r["compile_s"],
                    run_s=r["run_s"],
                    rate_E_hz=rates["E"],
                    rate_I_hz=rates["I"],
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", help="write the CPU reference")
    parser.add_argument("--sizes", type=int, nargs="*", default=[4000, 16000, 64000, 256000])
    parser.add_argument("--budget", type=float, default=420.0)
    parser.add_argument("--pure", action="store_true", help="the pure-JAX path on a CPU too")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "device_check.json"))
    args = parser.parse_args()
    if args.record:
        record()
        return
    start = time.perf_counter()
    if args.pure:
        bs.ops.configure(kernels=False)
    device = jax.devices()[0]
    result = dict(
        device=f"{device.platform}: {device.device_kind}",
        jax_version=jax.__version__,
        brainsim_version=bs.__version__,
        backend=bs.ops.backend_info()["kernels"],
        same_spikes=check(),
    )
    print(json.dumps(result["same_spikes"], indent=1), flush=True)
    result["timings"] = timings(args.sizes, args.budget, start)
    result["wall_s"] = time.perf_counter() - start
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.out} ({result['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
