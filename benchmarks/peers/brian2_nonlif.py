"""Brian2 runner for the AdEx COBA and Izhikevich networks (spec in ``benchmarks.peers``),
reached through ``brian2_runner.run(model, ...)``.

AdEx COBA (``method='euler'``; ``ADEX_EQS``): COBA's synapses with AdEx neurons,
threshold v > V_peak, reset v = V_reset and w += b, refractory 5 ms (v not integrated,
w is). Izhikevich (``method='euler'``; ``IZHIKEVICH_EQS``, u in mV as v): threshold
v >= 30 mV, reset v = c, u += d; a spike adds w_exc / w_inh to v_post.
"""

import time

from . import (
    ADEX,
    COBA,
    IZHIKEVICH,
    TAU_EXC,
    TAU_INH,
    V_RESET,
    n_exc,
)
from .brian2_runner import _device, _ei_synapses, _run_and_report

ADEX_EQS = """
dv/dt = (gL*(EL - v) + gL*DeltaT*exp((v - VT)/DeltaT) + ge*(Ee - v) + gi*(Ei - v)
         - w + Iext) / Cm : volt (unless refractory)
dw/dt = (a*(v - EL) - w) / tauw : amp
dge/dt = -ge / taue : siemens
dgi/dt = -gi / taui : siemens
"""

IZHIKEVICH_EQS = """
dv/dt = (0.04*v**2/mV + 5*v + 140*mV - u + Iext) / ms : volt
du/dt = a*(b*v - u) : volt
a : Hz (constant)
b : 1 (constant)
c : volt (constant)
d : volt (constant)
"""


def run_nonlif(
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
    """The AdEx COBA and Izhikevich networks (spec in ``benchmarks.peers``) on COBA's
    connectivity (p = 80/n, no autapses); ``target``, ``threads``, ``directory`` as
    for ``run``."""
    import brian2 as b2
    from brian2 import ms, mV, nS, pA, pF

    t0 = time.perf_counter()
    with _device(target, threads, directory):
        b2.defaultclock.dt = dt_ms * ms
        b2.seed(seed)
        ne = n_exc(n)
        if model == "adex":
            p = ADEX
            ns = dict(
                Cm=p["C_m"] * pF,
                gL=p["g_L"] * nS,
                EL=p["E_L"] * mV,
                VT=p["V_T"] * mV,
                DeltaT=p["Delta_T"] * mV,
                Vpeak=p["V_peak"] * mV,
                Vr=V_RESET * mV,
                a=p["a"] * nS,
                b=p["b"] * pA,
                tauw=p["tau_w"] * ms,
                Ee=COBA["E_exc"] * mV,
                Ei=COBA["E_inh"] * mV,
                taue=TAU_EXC * ms,
                taui=TAU_INH * ms,
                Iext=COBA["I_ext"] * pA,
                we=COBA["dg_exc"] * nS,
                wi=COBA["dg_inh"] * nS,
            )
            P = b2.NeuronGroup(
                n,
                ADEX_EQS,
                threshold="v > Vpeak",
                reset="v = Vr; w += b",
                refractory=p["t_ref"] * ms,
                method="euler",
                namespace=ns,
                name="neurons",
            )
            P.v = f"{p['V0'][0]}*mV + {p['V0'][1]}*mV*randn()"
            on_e, on_i = "ge_post += we", "gi_post += wi"
        else:
            p = IZHIKEVICH
            ns = dict(
                Iext=p["I_ext"] * mV,
                vpeak=p["V_peak"] * mV,
                we=p["w_exc"] * mV,
                wi=p["w_inh"] * mV,
            )
            P = b2.NeuronGroup(
                n,
                IZHIKEVICH_EQS,
                threshold="v >= vpeak",
                reset="v = c; u += d",
                method="euler",
                namespace=ns,
                name="neurons",
            )
            for group, (a, b, c, d) in ((P[:ne], p["E"]), (P[ne:], p["I"])):
                group.a, group.b, group.c, group.d = a / ms, b, c * mV, d * mV
            P.v = f"{p['V0'][0]}*mV + {p['V0'][1]}*mV*randn()"
            P.u = "b*v"
            on_e, on_i = "v_post += we", "v_post += wi"
        synapses = _ei_synapses(b2, P, ne, ns, on_e, on_i)
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
