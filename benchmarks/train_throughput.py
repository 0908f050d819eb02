"""Training throughput: 700 inputs -> H recurrent LIF -> 20 leaky readout, T = 100, batch
64, fast-sigmoid surrogate (scale 25), Adam, CE on the max-over-time readout.

Same generated arrays (input spikes ~5 % dense) for every simulator; samples/s for one
forward + backward + update step (median of the timed steps; compile/first step timed
separately, then 3 untimed warm-up steps) and peak RSS. Every brainsim variant uses the
hand-written BPTT of the LIF layer (``bs.train._bptt``) and the readout as one
impulse-response matmul. ``dense``: every projection a dense matmul
(``bs.ops.configure(kernels=False)``: the portable path GPUs run; input projected for
all steps at once); ``event``: the
spike-row products event-driven (``bs.ops.rows_matmul``/``rows_outer`` native kernels:
input projection and its weight gradient, the recurrent forward and its weight gradient,
the readout projection); ``event+sparse``: also a 90 %-sparse recurrent CSR matrix.
Spyx and snnTorch run when importable by ``--peer-python`` (default: this interpreter)
and are skipped with a line otherwise.

    python benchmarks/train_throughput.py [--hidden 256 1024] [--steps 10]
        [--peer-python /path/to/venv/bin/python] [--variants event ...] [--no-peers]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _harness import emit, peak_rss_mib, run_worker, save, table  # noqa: E402

B, T, N_IN, N_OUT, DENSITY = 64, 100, 700, 20, 0.05


def make_data(path: Path) -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((B, T, N_IN)) < DENSITY).astype(np.float32)
    y = rng.integers(0, N_OUT, B).astype(np.int32)
    np.savez(path, x=x, y=y)


def _timed(step, n_steps):
    t0 = time.perf_counter()
    step()
    compile_s = time.perf_counter() - t0
    for _ in range(3):  # warm-up: Spyx's nnx.jit retraces during its first steps
        step()
    times = []
    for _ in range(n_steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return {
        "compile_s": compile_s,
        "step_ms": med * 1e3,
        "samples_per_s": B / med,
        "peak_mib": peak_rss_mib(),
    }


def worker_brainsim(data, hidden, variant, n_steps):
    import equinox as eqx
    import jax
    import optax

    import brainsim as bs

    if variant == "dense":
        bs.ops.configure(kernels=False)

    key = jax.random.key(0)
    rec = True
    if variant == "event+sparse":
        rec = bs.conn.FixedProb(0.1).build(key, hidden, hidden, recurrent=True)[0]
    model = bs.train.RecurrentSNN(
        N_IN, hidden, N_OUT, key=key, recurrent=rec, event_input=variant != "dense"
    )
    opt = optax.adam(1e-3)
    step = bs.train.make_step(bs.train.losses.ce_max_membrane, opt)
    x, y = jax.numpy.asarray(data["x"]), jax.numpy.asarray(data["y"])
    state = {"m": model, "s": opt.init(eqx.filter(model, eqx.is_inexact_array))}

    def one():
        state["m"], state["s"], loss, _ = step(state["m"], state["s"], x, y)
        loss.block_until_ready()

    return {"simulator": f"brainsim {variant}", **_timed(one, n_steps)}


def worker_snntorch(data, hidden, n_steps):
    import snntorch as snn
    import torch
    from snntorch import surrogate

    torch.manual_seed(0)
    grad = surrogate.fast_sigmoid(slope=25)
    fc1, fc2 = torch.nn.Linear(N_IN, hidden), torch.nn.Linear(hidden, N_OUT)
    lif = snn.RLeaky(beta=0.9, linear_features=hidden, spike_grad=grad)
    out = snn.Leaky(beta=0.9, reset_mechanism="none")
    params = [*fc1.parameters(), *fc2.parameters(), *lif.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.tensor(data["x"]).transpose(0, 1)  # (T, B, n)
    y = torch.tensor(data["y"]).long()

    def one():
        spk, mem = lif.init_rleaky()
        mem2 = out.init_leaky()
        mems = []
        for t in range(T):
            spk, mem = lif(fc1(x[t]), spk, mem)
            _, mem2 = out(fc2(spk), mem2)
            mems.append(mem2)
        loss = torch.nn.functional.cross_entropy(torch.stack(mems).amax(0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return {"simulator": f"snnTorch {snn.__version__}", **_timed(one, n_steps)}


def worker_spyx(data, hidden, n_steps):
    from _spyx_model import run_spyx

    return run_spyx(data, hidden, n_steps, _timed)


WORKERS = {"brainsim": worker_brainsim, "snntorch": worker_snntorch, "spyx": worker_spyx}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--worker", action="store_true")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--peer-python", default=sys.executable)
    p.add_argument("--sim", default="brainsim")
    p.add_argument("--variant", default="dense")
    p.add_argument(
        "--variants",
        nargs="+",
        default=["dense", "event", "event+sparse"],
        help="brainsim variants to run (default: all three)",
    )
    p.add_argument("--no-peers", action="store_true", help="skip Spyx and snnTorch")
    p.add_argument("--data", default="/tmp/brainsim_train_throughput.npz")
    a = p.parse_args()
    if a.worker:
        data = dict(np.load(a.data))
        h = a.hidden[0]
        if a.sim == "brainsim":
            emit(worker_brainsim(data, h, a.variant, a.steps))
        else:
            emit(WORKERS[a.sim](data, h, a.steps))
        return
    make_data(Path(a.data))
    rows = []
    for h in a.hidden:
        runs = [("brainsim", v, sys.executable) for v in a.variants]
        if not a.no_peers:
            runs += [("spyx", "", a.peer_python), ("snntorch", "", a.peer_python)]
        for sim, variant, py in runs:
            args = [
                "--sim",
                sim,
                "--variant",
                variant,
                "--hidden",
                str(h),
                "--steps",
                str(a.steps),
                "--data",
                a.data,
            ]
            r = run_worker(py, __file__, args)
            r.setdefault("simulator", f"{sim} {variant}".strip())
            r["hidden"] = h
            if "error" in r:
                print(f"skipped {sim} {variant} (hidden {h}): {r['error']}", flush=True)
            rows.append(r)
    cols = [
        ("hidden", "hidden", ""),
        ("simulator", "simulator", ""),
        ("samples_per_s", "samples/s", ".0f"),
        ("step_ms", "ms/step", ".1f"),
        ("compile_s", "compile+1st step s", ".1f"),
        ("peak_mib", "peak RSS MiB", ".0f"),
    ]
    print(table([r for r in rows if "error" not in r], cols))
    print(save("train_throughput", {"batch": B, "T": T, "rows": rows}))


if __name__ == "__main__":
    main()
