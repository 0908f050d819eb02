"""Benchmark / quick check of brainsim's native event-driven CSR kernel.

    python benchmarks/native_kernel.py            # timing table + JSON
    python benchmarks/native_kernel.py --check    # correctness vs numpy
    python benchmarks/native_kernel.py --quick    # fewer repetitions

Timing: µs per call of ``csr_event_matvec`` inside ``lax.scan`` for
n_pre = n_post = N, fixed fan-out 80, firing fraction 0.002.  Each scan step
picks a pre-drawn spike vector from a small pool and does
``g = g * decay + W·s`` (the realistic use: a conductance update).  The
"scan baseline" row is the same scan with ``g = g * decay + s`` (no matvec);
``net`` columns subtract it.  Results go to benchmarks/results/native_kernel.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FANOUT = 80
RATE = 0.002
SIZES = (4000, 16000, 64000)
POOL = 8
DECAY = 0.9


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def random_csr(rng, n_pre, n_post, fanout=None, p=None, dtype=np.float32):
    """Random CSR (rows = presynaptic).  Fixed fan-out, or Bernoulli(p)."""
    if fanout is not None:
        counts = np.full(n_pre, fanout, dtype=np.int64)
    else:
        counts = rng.binomial(n_post, p, size=n_pre)
    indptr = np.zeros(n_pre + 1, dtype=np.int32)
    indptr[1:] = np.cumsum(counts)
    indices = np.concatenate(
        [rng.choice(n_post, size=c, replace=False) for c in counts]
        if fanout is None
        else [rng.integers(0, n_post, size=int(indptr[-1]))]
    ).astype(np.int32)
    weights = rng.standard_normal(int(indptr[-1])).astype(dtype)
    return indptr, indices, weights


def dense_of(indptr, indices, weights, n_post):
    n_pre = len(indptr) - 1
    W = np.zeros((n_pre, n_post), dtype=np.float64)
    w = np.broadcast_to(np.asarray(weights, np.float64), indices.shape)
    for i in range(n_pre):
        sl = slice(indptr[i], indptr[i + 1])
        np.add.at(W[i], indices[sl], w[sl])
    return W


def jax_event_matvec(indptr, indices, weights, spikes, n_post, k, max_fanout):
    """Best pure-JAX event-driven formulation found (reference).

    Compacts the k first active rows with jnp.nonzero(size=k), gathers their
    (padded to max_fanout) synapses and scatter-adds.  Drops spikes beyond k.
    """
    import jax.numpy as jnp

    n_pre = spikes.shape[-1]
    rows = jnp.nonzero(spikes, size=k, fill_value=n_pre)[0]
    ip = jnp.concatenate([indptr, indptr[-1:]])  # row n_pre: empty
    s = jnp.concatenate([spikes, jnp.zeros((1,), spikes.dtype)])
    start, end = ip[rows], ip[rows + 1]
    pos = start[:, None] + jnp.arange(max_fanout, dtype=start.dtype)[None, :]
    valid = pos < end[:, None]
    pos = jnp.where(valid, pos, 0)
    w = weights[pos] if jnp.ndim(weights) else weights
    val = jnp.where(valid, s[rows][:, None] * w, 0)
    return jnp.zeros((n_post,), spikes.dtype).at[indices[pos]].add(val)


def jax_topk_matvec(indptr, indices, weights, spikes, n_post, k, max_fanout):
    """Variant: compaction with lax.top_k instead of nonzero."""
    import jax
    import jax.numpy as jnp

    vals, rows = jax.lax.top_k(jnp.abs(spikes), k)
    start, end = indptr[rows], indptr[rows + 1]
    pos = start[:, None] + jnp.arange(max_fanout, dtype=start.dtype)[None, :]
    valid = (pos < end[:, None]) & (vals[:, None] != 0)
    pos = jnp.where(valid, pos, 0)
    w = weights[pos] if jnp.ndim(weights) else weights
    val = jnp.where(valid, spikes[rows][:, None] * w, 0)
    return jnp.zeros((n_post,), spikes.dtype).at[indices[pos]].add(val)


def jax_allsyn_matvec(row_of_syn, indices, weights, spikes, n_post):
    """Non-event reference: touch every synapse (cost ∝ nnz)."""
    import jax.numpy as jnp

    return jnp.zeros((n_post,), spikes.dtype).at[indices].add(spikes[row_of_syn] * weights)


# --------------------------------------------------------------------------
# correctness check
# --------------------------------------------------------------------------
def check() -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from brainsim.ops import _native as nk

    if not nk.available():
        print("native kernels unavailable:", nk._build.error())
        return 1
    print("library:", nk._build._state["path"])
    rng = np.random.default_rng(0)
    fails = 0

    def cmp(name, got, want, dtype):
        nonlocal fails
        got = np.asarray(got)
        tol = 1e-4 if dtype == np.float32 else 1e-10
        ok = (
            got.dtype == dtype
            and got.shape == want.shape
            and np.allclose(got, want, rtol=tol, atol=tol)
        )
        if not ok:
            fails += 1
            err = (
                np.abs(got - want).max()
                if got.shape == want.shape
                else f"shape {got.shape} vs {want.shape}"
            )
            print(f"FAIL {name}: dtype {got.dtype} err {err}")
        return ok

    mv = nk.csr_event_matvec
    n_cases = 0
    for dtype in (np.float32, np.float64):
        for n_pre, n_post, p in ((1, 1, 1.0), (37, 53, 0.2), (300, 211, 0.05), (64, 64, 0.0)):
            ip, ix, w = random_csr(rng, n_pre, n_post, p=p, dtype=dtype)
            W = dense_of(ip, ix, w, n_post)
            w0 = dtype(0.7)
            W0 = dense_of(ip, ix, np.float64(w0), n_post)
            s1 = (rng.random(n_pre) < 0.3).astype(dtype)
            s1[rng.random(n_pre) < 0.1] = rng.standard_normal() * 2
            sb = (rng.random((4, n_pre)) < 0.3).astype(dtype) * rng.standard_normal(
                (4, n_pre)
            ).astype(dtype)
            sbb = rng.standard_normal((2, 3, n_pre)).astype(dtype)
            sbb[sbb < 0.5] = 0
            tag = f"{np.dtype(dtype).name} {n_pre}x{n_post}"
            jmv = jax.jit(mv, static_argnums=4)
            for hw, Wm, wt in (("w", W, w), ("w0", W0, w0)):
                cmp(f"{tag} {hw} 1-D", mv(ip, ix, wt, s1, n_post), s1 @ Wm, dtype)
                cmp(f"{tag} {hw} 2-D", mv(ip, ix, wt, sb, n_post), sb @ Wm, dtype)
                cmp(f"{tag} {hw} 3-D", mv(ip, ix, wt, sbb, n_post), sbb @ Wm, dtype)
                cmp(f"{tag} {hw} jit", jmv(ip, ix, wt, sb, n_post), sb @ Wm, dtype)
                vm = jax.jit(jax.vmap(lambda s: mv(ip, ix, wt, s, n_post)))
                cmp(f"{tag} {hw} vmap(s)", vm(sb), sb @ Wm, dtype)
                vm2 = jax.vmap(jax.vmap(lambda s: mv(ip, ix, wt, s, n_post)))
                cmp(f"{tag} {hw} vmap(vmap(s))", vm2(sbb), sbb @ Wm, dtype)
                vm3 = jax.vmap(lambda s: mv(ip, ix, wt, s, n_post), in_axes=1, out_axes=1)
                cmp(f"{tag} {hw} vmap(s, axis1)", vm3(sbb), sbb @ Wm, dtype)

                # scan: cumulative sum of W·s_t
                def body(c, s):
                    return c + mv(ip, ix, wt, s, n_post), None

                c, _ = jax.lax.scan(body, jnp.zeros(n_post, dtype), sb)
                cmp(f"{tag} {hw} scan", c, sb.sum(0) @ Wm, dtype)
                n_cases += 8
            # vmap over weights (per-batch weights, shared structure)
            wb = rng.standard_normal((3, len(ix))).astype(dtype)
            got = jax.vmap(lambda ww: mv(ip, ix, ww, s1, n_post))(wb)
            want = np.stack([s1 @ dense_of(ip, ix, ww, n_post) for ww in wb])
            cmp(f"{tag} vmap(weights)", got, want, dtype)
            w0b = np.array([0.5, -1.0, 2.0], dtype)
            got = jax.vmap(lambda ww: mv(ip, ix, ww, sb, n_post))(w0b)
            cmp(f"{tag} vmap(w0) x 2-D", got, w0b[:, None, None] * (sb @ W0)[None] / 0.7, dtype)
            n_cases += 2
        # vmap over connectivity (same nnz, different structure)
        n_pre, n_post = 50, 40
        csrs = [random_csr(rng, n_pre, n_post, fanout=7, dtype=dtype) for _ in range(3)]
        ipb = np.stack([c[0] for c in csrs])
        ixb = np.stack([c[1] for c in csrs])
        wb = np.stack([c[2] for c in csrs])
        sv = (rng.random((3, n_pre)) < 0.4).astype(dtype)
        want = np.stack([sv[b] @ dense_of(*csrs[b], n_post) for b in range(3)])
        got = jax.jit(jax.vmap(lambda a, b, c, s: mv(a, b, c, s, n_post)))(ipb, ixb, wb, sv)
        cmp(f"{np.dtype(dtype).name} vmap(indptr, indices, weights, s)", got, want, dtype)
        got = jax.vmap(lambda a, b, c: mv(a, b, c, sv[0], n_post))(ipb, ixb, wb)
        want = np.stack([sv[0] @ dense_of(*csrs[b], n_post) for b in range(3)])
        cmp(f"{np.dtype(dtype).name} vmap(indptr, indices, weights)", got, want, dtype)
        # outer vmap over connectivity, inner over spikes
        sv2 = (rng.random((3, 5, n_pre)) < 0.4).astype(dtype)
        got = jax.vmap(lambda a, b, c, s: jax.vmap(lambda ss: mv(a, b, c, ss, n_post))(s))(
            ipb, ixb, wb, sv2
        )
        want = np.stack([sv2[b] @ dense_of(*csrs[b], n_post) for b in range(3)])
        cmp(f"{np.dtype(dtype).name} vmap(conn, vmap(s))", got, want, dtype)
        n_cases += 3
    # bool spikes -> weights dtype
    ip, ix, w = random_csr(rng, 20, 30, p=0.3, dtype=np.float32)
    sbool = rng.random(20) < 0.5
    cmp(
        "bool spikes",
        mv(ip, ix, w, sbool, 30),
        sbool.astype(np.float64) @ dense_of(ip, ix, w, 30),
        np.float32,
    )
    # out-of-range indptr on an active row raises
    try:
        bad = np.array([0, 5, 1000], np.int32)
        np.asarray(mv(bad, np.zeros(5, np.int32), np.float32(1), np.ones(2, np.float32), 3))
        print("FAIL malformed indptr did not raise")
        fails += 1
    except Exception:  # noqa: BLE001
        pass
    n_cases += 2
    print(f"{n_cases} checks, {fails} failures")
    return 1 if fails else 0


# --------------------------------------------------------------------------
# benchmark
# --------------------------------------------------------------------------
def _time_scan(step_fn, carry0, consts, n_steps, reps):
    """Min over reps of the µs per step of ``lax.scan(step_fn)``.

    ``consts`` (connectivity, spike pool) are passed as jit *arguments*, as a
    simulator does with its state: closed-over arrays would become HLO
    constants that XLA may re-materialise inside the loop body.
    """
    import jax

    @jax.jit
    def run(c, consts):
        def body(c, t):
            return step_fn(c, t, *consts), None

        return jax.lax.scan(body, c, jax.numpy.arange(n_steps))[0]

    jax.block_until_ready(run(carry0, consts))  # compile + warm up
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(run(carry0, consts))
        best = min(best, time.perf_counter() - t0)
    return best / n_steps * 1e6


def bench(quick: bool, out_path: Path) -> None:
    import jax
    import jax.numpy as jnp

    from brainsim.ops import _native as nk

    native = nk.available()
    if not native:
        print("native kernels unavailable:", nk._build.error())
    rng = np.random.default_rng(1)
    rows = []
    for n in SIZES:
        ip, ix, w = random_csr(rng, n, n, fanout=FANOUT)
        mean = RATE * n
        k = int(math.ceil(mean + 6 * math.sqrt(mean))) + 1
        pool = (rng.random((POOL, n)) < RATE).astype(np.float32)
        ip_j, ix_j, w_j, pool_j = map(jnp.asarray, (ip, ix, w, pool))
        row_of_syn = jnp.asarray(np.repeat(np.arange(n), FANOUT).astype(np.int32))
        n_steps = max(200, int(4e6 // n))
        reps = 5 if quick else 15
        g0 = jnp.zeros(n, jnp.float32)
        consts = (ip_j, ix_j, w_j, pool_j, row_of_syn)

        def spikes_at(pool, t):
            return pool[t % POOL]

        variants = {
            "scan baseline (g*decay + s)": lambda g, t, ip, ix, w, pool, rs: (
                g * DECAY + spikes_at(pool, t)
            ),
        }
        if native:
            variants["native csr_event_matvec"] = lambda g, t, ip, ix, w, pool, rs: (
                g * DECAY + nk.csr_event_matvec(ip, ix, w, spikes_at(pool, t), n)
            )
            variants["native csr_event_matvec (homog. w)"] = lambda g, t, ip, ix, w, pool, rs: (
                g * DECAY + nk.csr_event_matvec(ip, ix, jnp.float32(0.5), spikes_at(pool, t), n)
            )
        variants["jax nonzero+gather+scatter"] = lambda g, t, ip, ix, w, pool, rs: (
            g * DECAY + jax_event_matvec(ip, ix, w, spikes_at(pool, t), n, k, FANOUT)
        )
        variants["jax top_k+gather+scatter"] = lambda g, t, ip, ix, w, pool, rs: (
            g * DECAY + jax_topk_matvec(ip, ix, w, spikes_at(pool, t), n, k, FANOUT)
        )
        if n <= 16000:
            variants["jax all-synapse scatter (non-event)"] = lambda g, t, ip, ix, w, pool, rs: (
                g * DECAY + jax_allsyn_matvec(rs, ix, w, spikes_at(pool, t), n)
            )
        res = {}
        for name, fn in variants.items():
            steps = n_steps if "all-synapse" not in name else max(20, n_steps // 50)
            res[name] = _time_scan(fn, g0, consts, steps, reps)
        base = res["scan baseline (g*decay + s)"]
        for name, us in res.items():
            rows.append(
                dict(
                    n=n,
                    variant=name,
                    us_per_step=round(us, 3),
                    us_net=round(us - base, 3),
                    k=k,
                    fanout=FANOUT,
                    rate=RATE,
                )
            )
        # batched: vmap over B spike vectors (one FFI call per step)
        if native:
            B = 8
            gb = jnp.zeros((B, n), jnp.float32)
            poolb = jnp.asarray((rng.random((POOL, B, n)) < RATE).astype(np.float32))

            def fb(g, t, ip, ix, w, pool):
                return g * DECAY + jax.vmap(lambda s: nk.csr_event_matvec(ip, ix, w, s, n))(
                    pool[t % POOL]
                )

            nb = max(100, n_steps // 4)
            us = _time_scan(fb, gb, (ip_j, ix_j, w_j, poolb), nb, reps)
            bb = _time_scan(
                lambda g, t, ip, ix, w, pool: g * DECAY + pool[t % POOL],
                gb,
                (ip_j, ix_j, w_j, poolb),
                nb,
                reps,
            )
            rows.append(
                dict(
                    n=n,
                    variant=f"native, vmap batch {B}",
                    us_per_step=round(us, 3),
                    us_net=round(us - bb, 3),
                    k=k,
                    fanout=FANOUT,
                    rate=RATE,
                )
            )

    print(
        f"\nµs per scan step (n_pre = n_post = N, fan-out {FANOUT}, rate "
        f"{RATE}); net = minus scan baseline"
    )
    print(f"{'N':>6}  {'variant':<40} {'µs/step':>9} {'net µs':>9}")
    for r in rows:
        print(f"{r['n']:>6}  {r['variant']:<40} {r['us_per_step']:>9.2f} {r['us_net']:>9.2f}")
    meta = dict(
        jax=jax.__version__,
        python=platform.python_version(),
        machine=platform.machine(),
        processor=platform.processor(),
        cpu_count=os.cpu_count(),
        native=native,
        library=nk._build._state.get("path"),
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    print(f"\nwrote {out_path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="correctness check")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "native_kernel.json"
    )
    args = ap.parse_args(argv)
    if args.check:
        return check()
    bench(args.quick, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
