"""Shared test oracles."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import brainsim as bs
from brainsim.ops import matvec, to_dense


def dense_reference(layout, weight, spikes):
    """``spikes @ W`` with ``W`` assembled independently in NumPy (float64)."""
    w = np.zeros((layout.n_pre, layout.n_post))
    weight = np.asarray(weight, np.float64)
    indices = np.asarray(getattr(layout, "indices", np.zeros(0)))
    if hasattr(layout, "indptr"):
        indptr = np.asarray(layout.indptr)
        for i in range(layout.n_pre):
            cols = indices[indptr[i] : indptr[i + 1]]
            vals = weight[indptr[i] : indptr[i + 1]] if weight.ndim else weight
            np.add.at(w[i], cols, vals)
    elif indices.size:
        for i in range(layout.n_pre):
            np.add.at(w[i], indices[i], weight[i] if weight.ndim else weight)
    else:
        w[:] = weight
        if layout.mask is not None:
            w *= np.asarray(layout.mask)
    return np.asarray(spikes, np.float64) @ w, w


def check_event_vs_dense(layout, weight, spikes, capacity=None, rtol=1e-5):
    """Values (jit, vmap over a batch) and VJPs of ``matvec`` equal the dense product.

    float32 sums of <= a few hundred O(1) terms: 1e-5 relative (plus a small absolute
    term for near-zero outputs) is ~100 ulp of slack."""
    f = jax.jit(lambda w, s: matvec(layout, w, s, capacity))
    expect, w_dense = dense_reference(layout, weight, spikes)
    np.testing.assert_allclose(f(weight, spikes), expect, rtol=rtol, atol=1e-5)
    batch = jnp.stack([spikes, jnp.roll(spikes, 3), jnp.zeros_like(spikes)])
    expect_b = np.stack([dense_reference(layout, weight, s)[0] for s in batch])
    np.testing.assert_allclose(
        jax.vmap(f, (None, 0))(weight, batch), expect_b, rtol=rtol, atol=1e-5
    )
    np.testing.assert_allclose(f(weight, batch), expect_b, rtol=rtol, atol=1e-5)
    # VJP against the dense product of the matrix built by to_dense.
    ct = jax.random.normal(jax.random.key(7), (layout.n_post,))
    loss = lambda w, s: jnp.vdot(matvec(layout, w, s, capacity), ct)
    loss_dense = lambda w, s: jnp.vdot(s @ to_dense(layout, w), ct)
    g = jax.jit(jax.grad(loss, argnums=(0, 1)))(weight, spikes)
    g_ref = jax.jit(jax.grad(loss_dense, argnums=(0, 1)))(weight, spikes)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-4)
    # The spike gradient is W @ ct for every presynaptic neuron, spiking or not.
    np.testing.assert_allclose(g[1], w_dense @ np.asarray(ct), rtol=1e-4, atol=1e-4)


def adex_from_nest(p: dict, **kwargs):
    """One ``bs.neurons.AdEx`` with NEST's ``aeif_*`` parameters ``p`` (NEST's names and
    units: pF, nS, mV, pA, ms); ``kwargs`` (``i_ext``, ``integrator``) pass through."""
    return bs.neurons.AdEx(
        1,
        c_m=p["C_m"],
        g_l=p["g_L"],
        e_l=p["E_L"],
        v_t=p["V_th"],
        delta_t=p["Delta_T"],
        v_peak=p["V_peak"],
        v_reset=p["V_reset"],
        a=p["a"],
        b=p["b"],
        tau_w=p["tau_w"],
        t_ref=p["t_ref"],
        v_init=p["V_m"],
        **kwargs,
    )


def plastic_coba(n: int, bounds, **rule):
    """``bs.models.coba(n)`` with pair STDP on E->E (as benchmarks/coba_stdp.py): ``rule``
    overrides ``A_plus = 0.05``, ``A_minus = 0.0525``; ``tau_plus = tau_minus = 20`` ms."""
    rule = {"A_plus": 0.05, "A_minus": 0.0525, **rule}
    stdp = bs.plasticity.PairSTDP(tau_plus=20.0, tau_minus=20.0, bounds=bounds, **rule)
    return coba_learning(n, stdp)


def coba_learning(n: int, rule, on: str = "E->E"):
    """``bs.models.coba(n)`` with ``bs.Plastic(rule)`` on the projection ``on``."""
    import equinox as eqx

    net = bs.models.coba(n, key=jax.random.key(0))
    projs = [
        eqx.tree_at(lambda p: p.components, p, (bs.Plastic(rule),)) if p.name == on else p
        for p in net.projections
    ]
    return bs.Network(net.populations, projs, key=jax.random.key(0))


def native_run_calls(monkeypatch, op: str = "lif_network_run") -> list[bool]:
    """A list to which every call of the multi-step op ``bs.ops.<op>``
    (``lif_network_run`` or ``izhikevich_network_run``) traced from now on appends
    whether it applied (returned a result, not ``None``). Calls are seen while a run is
    traced: assert the run compiled (``Recording.compile_time > 0``) before reading it."""
    calls = []
    run = getattr(bs.ops, op)

    def counting(*args, **kwargs):
        got = run(*args, **kwargs)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(bs.ops, op, counting)
    return calls


def driven_lif(n: int) -> "bs.neurons.LIF":
    """``n`` of COBA's LIF neurons (Brette et al. 2007: 200 pF, τ_m = 20 ms, −60 mV rest
    and reset, −50 mV threshold, 5 ms refractory) driven by a constant 200 pA, initial V
    uniform in [−60, −50) mV: every neuron fires without input, so small test networks
    are active from the first steps."""
    return bs.neurons.LIF(
        n,
        tau_m=20.0,
        v_rest=-60.0,
        v_th=-50.0,
        v_reset=-60.0,
        t_ref=5.0,
        i_ext=200.0,
        v_init=bs.initializers.Uniform(-60.0, -50.0),
    )


def on_eight_devices(script: str, *args: str, dump: Path | None = None) -> dict:
    """Run ``script`` (Python source; ``sys.argv[1:]`` = ``args``) in a subprocess with 8
    forced host CPU devices (the repository and ``tests`` importable; XLA's compiled
    programs dumped to ``dump`` if given) and return the JSON object its last output
    line prints; fails the test with its stderr if it exits non-zero."""
    root = Path(__file__).resolve().parents[1]
    flags = "--xla_force_host_platform_device_count=8"
    env = {
        **os.environ,
        "XLA_FLAGS": flags if dump is None else f"{flags} --xla_dump_to={dump}",
        "PYTHONPATH": os.pathsep.join([str(root), str(root / "tests")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
