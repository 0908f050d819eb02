"""Brian2 runner for the COBA / CUBA benchmarks (spec in ``benchmarks.peers``).

COBA (``method='euler'``, as in Brian2's own example)::

    C_m dv/dt = g_L (E_L - v) + g_e (E_exc - v) + g_i (E_inh - v) + I_ext   [volt]
    dg_e/dt = -g_e / tau_exc,  dg_i/dt = -g_i / tau_inh                     [siemens]
    on E spike: g_e += 6 nS;  on I spike: g_i += 67 nS

CUBA (``method='exact'``; synaptic variables in volts, i.e. current / g_L)::

    tau_m dv/dt = E_L - v + g_e + g_i                                       [volt]
    dg_e/dt = -g_e / tau_exc,  dg_i/dt = -g_i / tau_inh                     [volt]
    on E spike: g_e += 1.62 mV;  on I spike: g_i += -9 mV

Threshold v > V_th, reset v = V_reset, refractory 5 ms (v not integrated).

Options: ``target='runtime'`` (default; Cython code generation) or
``target='cpp_standalone'`` with ``threads=k`` (OpenMP threads, default 0 = off)
and ``directory=`` (build folder; default a fresh temporary folder).

Timings: ``run_s`` is Brian2's own measurement of the simulation loop
(``device._last_run_time``); ``build_s`` is everything else up to the end of the
run (construction, code generation, compilation, synapse creation, and for
standalone the binary's start-up and result writing).
"""

import tempfile
import time

from . import (
    C_M,
    COBA,
    CUBA,
    G_L,
    T_REF,
    TAU_EXC,
    TAU_INH,
    TAU_M,
    V_RESET,
    V_TH,
    check_model,
    conn_prob,
    n_exc,
    spike_stats,
)

COBA_EQS = """
dv/dt = (gL*(EL - v) + ge*(Ee - v) + gi*(Ei - v) + Iext) / Cm : volt (unless refractory)
dge/dt = -ge / taue : siemens
dgi/dt = -gi / taui : siemens
"""

CUBA_EQS = """
dv/dt = (EL - v + ge + gi) / taum : volt (unless refractory)
dge/dt = -ge / taue : volt
dgi/dt = -gi / taui : volt
"""


def run(
    model: str,
    n: int,
    duration_ms: float = 1000.0,
    dt_ms: float = 0.1,
    seed: int = 0,
    *,
    target: str = "runtime",
    threads: int = 0,
    directory: str | None = None,
) -> dict:
    import brian2 as b2
    from brian2 import ms, mV, nS, pA, pF
    from brian2.devices.device import reset_device

    model = check_model(model)
    t0 = time.perf_counter()
    standalone = target == "cpp_standalone"
    if standalone:
        b2.prefs.devices.cpp_standalone.openmp_threads = int(threads)
        b2.set_device(
            "cpp_standalone",
            build_on_run=True,
            with_output=False,
            directory=directory or tempfile.mkdtemp(prefix="brian2_"),
        )
    elif target != "runtime":
        raise ValueError(f"unknown Brian2 target {target!r}")
    try:
        b2.defaultclock.dt = dt_ms * ms
        b2.seed(seed)
        ns = dict(
            Cm=C_M * pF,
            gL=G_L * nS,
            taum=TAU_M * ms,
            taue=TAU_EXC * ms,
            taui=TAU_INH * ms,
            Vt=V_TH * mV,
            Vr=V_RESET * mV,
        )
        if model == "coba":
            eqs = COBA_EQS
            ns.update(
                EL=COBA["E_L"] * mV,
                Ee=COBA["E_exc"] * mV,
                Ei=COBA["E_inh"] * mV,
                Iext=COBA["I_ext"] * pA,
                we=COBA["dg_exc"] * nS,
                wi=COBA["dg_inh"] * nS,
            )
            method, v_init = "euler", "-55*mV + 5*mV*randn()"
        else:
            eqs = CUBA_EQS
            ns.update(
                EL=CUBA["E_L"] * mV, we=CUBA["w_exc"] / G_L * mV, wi=CUBA["w_inh"] / G_L * mV
            )
            method, v_init = "exact", "Vr + rand()*(Vt - Vr)"

        ne = n_exc(n)
        P = b2.NeuronGroup(
            n,
            eqs,
            threshold="v > Vt",
            reset="v = Vr",
            refractory=T_REF * ms,
            method=method,
            namespace=ns,
            name="neurons",
        )
        P.v = v_init
        # ge, gi start at 0 (Brian2's default initial value).
        p = conn_prob(n)
        # Source subgroups: index i is relative to the subgroup (offset 0 and ne).
        # Fixed names keep generated code identical across calls (compile cache hits).
        Se = b2.Synapses(P[:ne], P, on_pre="ge_post += we", namespace=ns, name="synapses_exc")
        Se.connect(condition="i != j", p=p)
        Si = b2.Synapses(P[ne:], P, on_pre="gi_post += wi", namespace=ns, name="synapses_inh")
        Si.connect(condition=f"i + {ne} != j", p=p)
        mon = b2.SpikeMonitor(P, name="spikes")
        net = b2.Network(P, Se, Si, mon, name="network")
        net.run(duration_ms * ms, namespace={})
        total = time.perf_counter() - t0
        run_s = float(b2.get_device()._last_run_time)
        senders, times = mon.i[:], mon.t[:] / ms
    finally:
        if standalone:
            b2.device.reinit()
            b2.device.activate()
            reset_device()

    out = {
        "simulator": f"brian2-{target}" + (f"-omp{threads}" if standalone and threads else ""),
        "version": b2.__version__,
        "model": model,
        "n": n,
        "seed": seed,
        "build_s": total - run_s,
        "run_s": run_s,
    }
    out.update(spike_stats(senders, times, n, duration_ms))
    return out
