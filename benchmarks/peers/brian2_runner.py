"""Brian2 runner for the COBA / CUBA / COBAHH benchmarks (spec in ``benchmarks.peers``).

COBA (``method='euler'``, as in Brian2's own example)::

    C_m dv/dt = g_L (E_L - v) + g_e (E_exc - v) + g_i (E_inh - v) + I_ext   [volt]
    dg_e/dt = -g_e / tau_exc,  dg_i/dt = -g_i / tau_inh                     [siemens]
    on E spike: g_e += 6 nS;  on I spike: g_i += 67 nS

CUBA (``method='exact'``; synaptic variables in volts, i.e. current / g_L)::

    tau_m dv/dt = E_L - v + g_e + g_i                                       [volt]
    dg_e/dt = -g_e / tau_exc,  dg_i/dt = -g_i / tau_inh                     [volt]
    on E spike: g_e += 1.62 mV;  on I spike: g_i += -9 mV

Threshold v > V_th, reset v = V_reset, refractory 5 ms (v not integrated).

AdEx COBA and Izhikevich: ``brian2_nonlif``.

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
from contextlib import contextmanager

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


@contextmanager
def _device(target: str, threads: int, directory: str | None):
    """Select Brian2's device for one run and restore the runtime device afterwards."""
    import brian2 as b2
    from brian2.devices.device import reset_device

    b2.start_scope()
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
        yield
    finally:
        if standalone:
            b2.device.reinit()
            b2.device.activate()
            reset_device()


def _label(target: str, threads: int) -> str:
    return f"brian2-{target}" + (
        f"-omp{threads}" if target == "cpp_standalone" and threads else ""
    )


def _ei_synapses(b2, P, ne: int, ns: dict, on_e: str, on_i: str, exc: list | None = None):
    """COBA's connectivity (p = 80/n, no autapses): E -> all with ``on_e`` (or the
    given ``exc`` synapses, already connected), then I -> all with ``on_i``. Fixed
    names keep generated code identical across calls (compile cache hits); source
    subgroups make index i relative to the subgroup (offset 0 and ne)."""
    p = conn_prob(P.N)
    if exc is None:
        se = b2.Synapses(P[:ne], P, on_pre=on_e, namespace=ns, name="synapses_exc")
        se.connect(condition="i != j", p=p)
        exc = [se]
    si = b2.Synapses(P[ne:], P, on_pre=on_i, namespace=ns, name="synapses_inh")
    si.connect(condition=f"i + {ne} != j", p=p)
    return [*exc, si]


def _run_and_report(b2, P, synapses, t0, *, model, seed, duration_ms, target, threads):
    """Record ``P``'s spikes, run, and return (result dict, senders, times in ms);
    call inside ``_device``. ``t0``: ``time.perf_counter()`` at the start of the build."""
    mon = b2.SpikeMonitor(P, name="spikes")
    net = b2.Network(P, *synapses, mon, name="network")
    net.run(duration_ms * b2.ms, namespace={})
    total = time.perf_counter() - t0
    run_s = float(b2.get_device()._last_run_time)
    senders, times = mon.i[:], mon.t[:] / b2.ms
    out = {
        "simulator": _label(target, threads),
        "version": b2.__version__,
        "model": model,
        "n": P.N,
        "seed": seed,
        "build_s": total - run_s,
        "run_s": run_s,
    }
    out.update(spike_stats(senders, times, P.N, duration_ms))
    return out, senders, times


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
    stdp: dict | None = None,
) -> dict:
    """``stdp`` (COBA only): pair STDP on every E->E synapse, ``dict(A_plus, A_minus,
    tau_plus, tau_minus, w_max)`` (nS, ms), as synaptic equations (``STDP_EQS``)."""
    import brian2 as b2
    from brian2 import ms, mV, nS, pA, pF

    model = check_model(model)
    if stdp is not None and model != "coba":
        raise ValueError(f"stdp: COBA only, got model {model!r}")
    if model == "cobahh":
        return run_cobahh(
            n, duration_ms, dt_ms, seed, target=target, threads=threads, directory=directory
        )
    if model in ("adex", "izhikevich"):
        from .brian2_nonlif import run_nonlif  # (it builds on this module)

        return run_nonlif(
            model, n, duration_ms, dt_ms, seed, target=target, threads=threads, directory=directory
        )
    t0 = time.perf_counter()
    with _device(target, threads, directory):
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
        on_e, on_i = "ge_post += we", "gi_post += wi"
        exc = None if stdp is None else _stdp_synapses(b2, P, ne, ns, stdp)
        synapses = _ei_synapses(b2, P, ne, ns, on_e, on_i, exc)
        out, _, _ = _run_and_report(
            b2,
            P,
            synapses,
            t0,
            model=model,
            seed=seed,
            duration_ms=duration_ms,
            target=target,
            threads=threads,
        )
    return out


# Pair STDP, additive with hard bounds, all-to-all traces (Brian2's STDP example form):
# a presynaptic spike delivers w, then depresses by the postsynaptic trace; a
# postsynaptic spike potentiates by the presynaptic trace.
STDP_EQS = """
w : siemens
dapre/dt = -apre / taupre : siemens (event-driven)
dapost/dt = -apost / taupost : siemens (event-driven)
"""
STDP_ON_PRE = "ge_post += w\napre += Aplus\nw = clip(w - apost, 0*nS, wmax)"
STDP_ON_POST = "apost += Aminus\nw = clip(w + apre, 0*nS, wmax)"


def _stdp_synapses(b2, P, ne, ns, stdp):
    """E->E plastic (``STDP_EQS``, starting at ``we``) and E->I static synapses."""
    from brian2 import ms, nS

    p = conn_prob(P.N)
    ns = dict(
        ns,
        Aplus=stdp["A_plus"] * nS,
        Aminus=stdp["A_minus"] * nS,
        taupre=stdp["tau_plus"] * ms,
        taupost=stdp["tau_minus"] * ms,
        wmax=stdp["w_max"] * nS,
    )
    ee = b2.Synapses(
        P[:ne],
        P[:ne],
        STDP_EQS,
        on_pre=STDP_ON_PRE,
        on_post=STDP_ON_POST,
        namespace=ns,
        name="synapses_ee",
    )
    ee.connect(condition="i != j", p=p)
    ee.w = "we"
    ei = b2.Synapses(P[:ne], P[ne:], on_pre="ge_post += we", namespace=ns, name="synapses_ei")
    ei.connect(p=p)
    return [ee, ei]


COBAHH_EQS = """
dv/dt = (gl*(El - v) + ge*(Ee - v) + gi*(Ei - v)
         - g_na*(m*m*m)*h*(v - ENa) - g_kd*(n*n*n*n)*(v - EK))/Cm : volt
dm/dt = alpha_m*(1 - m) - beta_m*m : 1
dn/dt = alpha_n*(1 - n) - beta_n*n : 1
dh/dt = alpha_h*(1 - h) - beta_h*h : 1
dge/dt = -ge/taue : siemens
dgi/dt = -gi/taui : siemens
alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV - v + VT)/(4*mV))/ms : Hz
beta_m = 0.28*(mV**-1)*5*mV/exprel((v - VT - 40*mV)/(5*mV))/ms : Hz
alpha_h = 0.128*exp((17*mV - v + VT)/(18*mV))/ms : Hz
beta_h = 4./(1 + exp((40*mV - v + VT)/(5*mV)))/ms : Hz
alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV - v + VT)/(5*mV))/ms : Hz
beta_n = .5*exp((10*mV - v + VT)/(40*mV))/ms : Hz
"""


def run_cobahh(
    n: int = 4000,
    duration_ms: float = 1000.0,
    dt_ms: float = 0.1,
    seed: int = 0,
    windows_ms: tuple[float, ...] = (),
    *,
    target: str = "runtime",
    threads: int = 0,
    directory: str | None = None,
) -> dict:
    """Brette et al. (2007) benchmark 3 (COBAHH) as in Brian2's ``examples/COBAHH.py``
    (Traub–Miles HH, area 20 000 µm², V_T = −63 mV, exponential conductances 6 nS /
    67 nS, τ 5 / 10 ms, E 0 / −80 mV, ``method='exponential_euler'``, threshold
    ``v > -20 mV`` with 3 ms refractory, V(0) = E_L + (5 randn − 5) mV,
    g_e(0) = (1.5 randn + 4) × 10 nS, g_i(0) = (12 randn + 20) × 10 nS; gating variables
    start at 0 as in the example), with the COBA/CUBA connectivity of this package
    (p = 80/n, no autapses) instead of the example's p = 0.02 with autapses.

    ``target``, ``threads`` and ``directory`` as for ``run``. Besides the whole-run rates,
    ``windows_ms`` lists end times of extra windows [0, T) whose rates are returned as
    ``rate_E_hz_<T>`` / ``rate_I_hz_<T>``.
    """
    import brian2 as b2
    from brian2 import ms, mV, nS, siemens, ufarad, umetre

    t0 = time.perf_counter()
    with _device(target, threads, directory):
        b2.defaultclock.dt = dt_ms * ms
        b2.seed(seed)
        area = 20000 * umetre**2
        ns = dict(
            Cm=1 * ufarad * b2.cm**-2 * area,
            gl=5e-5 * siemens * b2.cm**-2 * area,
            El=-60 * mV,
            EK=-90 * mV,
            ENa=50 * mV,
            g_na=100 * b2.msiemens * b2.cm**-2 * area,
            g_kd=30 * b2.msiemens * b2.cm**-2 * area,
            VT=-63 * mV,
            taue=5 * ms,
            taui=10 * ms,
            Ee=0 * mV,
            Ei=-80 * mV,
            we=6 * nS,
            wi=67 * nS,
        )
        ne = n_exc(n)
        P = b2.NeuronGroup(
            n,
            COBAHH_EQS,
            threshold="v > -20*mV",
            refractory=3 * ms,
            method="exponential_euler",
            namespace=ns,
            name="neurons",
        )
        synapses = _ei_synapses(b2, P, ne, ns, "ge_post += we", "gi_post += wi")
        P.v = "El + (randn() * 5 - 5)*mV"
        P.ge = "(randn() * 1.5 + 4) * 10.*nS"
        P.gi = "(randn() * 12 + 20) * 10.*nS"
        out, senders, times = _run_and_report(
            b2,
            P,
            synapses,
            t0,
            model="cobahh",
            seed=seed,
            duration_ms=duration_ms,
            target=target,
            threads=threads,
        )
    for end in windows_ms:
        keep = times < end
        w = spike_stats(senders[keep], times[keep], n, end)
        out[f"rate_E_hz_{end:g}"] = w["rate_E_hz"]
        out[f"rate_I_hz_{end:g}"] = w["rate_I_hz"]
    return out
