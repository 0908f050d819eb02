"""BrainPy runner for the COBA and CUBA benchmarks (spec in ``peers/__init__.py``).

Uses BrainPy's fastest documented path for these networks: event-driven CSR
propagation (``bp.dnn.EventCSRLinear``) with post-aligned exponential synapses
(``bp.dyn.ProjAlignPostMg2`` + ``bp.dyn.Expon``), refractory LIF (``bp.dyn.LifRef``),
stepped by ``bm.for_loop`` (one compiled scan). BrainPy's LIF is
``tau dV/dt = -(V - V_rest) + R I`` with R = 1, so conductances are in units of g_L
(6 nS -> 0.6, 67 nS -> 6.7), the COBA drive is 20 mV and CUBA weights are in mV.
On CPU its event kernels need numba. Options: ``jit_conn=True`` uses just-in-time
connectivity (``EventJitFPHomoLinear``, regenerated from a seed) instead of CSR.
"""

import time

from . import (
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


def run(
    model: str,
    n: int,
    duration_ms: float = 1000.0,
    dt_ms: float = 0.1,
    seed: int = 0,
    *,
    jit_conn: bool = False,
) -> dict:
    import brainpy as bp
    import brainpy.math as bm
    import numpy as np

    model = check_model(model)
    t0 = time.perf_counter()
    bm.set_dt(dt_ms)
    bm.random.seed(seed)
    ne, p = n_exc(n), conn_prob(n)
    coba = model == "coba"
    e_l = COBA["E_L"] if coba else CUBA["E_L"]
    init = bp.init.Normal(-55.0, 5.0) if coba else bp.init.Uniform(V_RESET, V_TH)
    pars = dict(
        V_rest=e_l, V_th=V_TH, V_reset=V_RESET, tau=TAU_M, tau_ref=T_REF, V_initializer=init
    )

    def comm(n_pre, n_post, w, k):
        if jit_conn:
            return bp.dnn.EventJitFPHomoLinear(n_pre, n_post, prob=p, weight=w, seed=seed * 4 + k)
        return bp.dnn.EventCSRLinear(
            bp.conn.FixedProb(
                p, pre=n_pre, post=n_post, seed=seed * 4 + k, allow_multi_conn=False
            ),
            w,
        )

    class EINet(bp.DynSysGroup):
        def __init__(self):
            super().__init__()
            self.E = bp.dyn.LifRef(ne, **pars)
            self.I = bp.dyn.LifRef(n - ne, **pars)
            projs = {}
            for k, (pre, post) in enumerate([("E", "E"), ("E", "I"), ("I", "E"), ("I", "I")]):
                exc = pre == "E"
                if coba:
                    w = COBA["dg_exc"] / G_L if exc else COBA["dg_inh"] / G_L
                    out = bp.dyn.COBA.desc(E=COBA["E_exc"] if exc else COBA["E_inh"])
                else:
                    w = (CUBA["w_exc"] if exc else CUBA["w_inh"]) / G_L
                    out = bp.dyn.CUBA.desc()
                pre_pop, post_pop = getattr(self, pre), getattr(self, post)
                projs[pre + post] = bp.dyn.ProjAlignPostMg2(
                    pre=pre_pop,
                    delay=None,
                    comm=comm(pre_pop.num, post_pop.num, w, k),
                    syn=bp.dyn.Expon.desc(post_pop.num, tau=TAU_EXC if exc else TAU_INH),
                    out=out,
                    post=post_pop,
                )
            self.projs = projs

        def update(self, inp):
            for proj in self.projs.values():
                proj()
            self.E(inp)
            self.I(inp)
            return self.E.spike.value, self.I.spike.value

    net = EINet()
    drive = COBA["I_ext"] / G_L if coba else 0.0
    steps = int(round(duration_ms / dt_ms))
    indices = np.arange(steps)

    def step(i):
        return net.step_run(i, drive)

    # Compile on a short run of the same step function, then time the full run.
    bm.for_loop(step, indices[:10], progress_bar=False)
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    spikes_e, spikes_i = bm.for_loop(step, indices, progress_bar=False)
    spikes = np.concatenate([np.asarray(spikes_e), np.asarray(spikes_i)], axis=1)
    run_s = time.perf_counter() - t1
    steps_idx, senders = np.nonzero(spikes)
    out = {
        "simulator": "brainpy" + ("-jitconn" if jit_conn else "-eventcsr"),
        "version": bp.__version__,
        "model": model,
        "n": n,
        "seed": seed,
        "build_s": build,
        "run_s": run_s,
    }
    out.update(spike_stats(senders, (steps_idx + 1) * dt_ms, n, duration_ms))
    return out
