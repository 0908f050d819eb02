"""BrainPy runner for the COBA, CUBA and COBAHH benchmarks (spec in ``peers/__init__.py``).

Uses BrainPy's fastest documented path for these networks: event-driven CSR
propagation (``bp.dnn.EventCSRLinear``) with post-aligned exponential synapses
(``bp.dyn.ProjAlignPostMg2`` + ``bp.dyn.Expon``), stepped by ``bm.for_loop`` (one
compiled scan). COBA/CUBA use the refractory LIF ``bp.dyn.LifRef``, which is
``tau dV/dt = -(V - V_rest) + R I`` with R = 1, so conductances are in units of g_L
(6 nS -> 0.6, 67 nS -> 6.7), the COBA drive is 20 mV and CUBA weights are in mV.
COBAHH uses a Traub–Miles neuron written here on ``bp.dyn.NeuDyn`` (BrainPy ships no
ready-made one with Brian2's COBAHH form; its own benchmark code writes it the same way),
in pF / nS / mV / ms, integrated with BrainPy's exponential Euler (``exp_auto``), as
Brian2's example does (``exponential_euler``).

Semantics BrainPy imposes: a spike emitted at step k reaches the synaptic variable at
step k + 1, which then decays once (``Expon`` integrates after the jump) before the
neuron reads it, so each jump is worth exp(-dt/tau) of Brian2's (0.98 at tau = 5 ms).

Timing: the whole run is compiled and run once (``total_s``: construction + that first
run, the time to first result), the state is restored and the run is timed again
(``run_s``, excluding compilation); ``build_s`` = ``total_s`` - ``run_s``.
``bm.for_loop`` compiles per number of steps, so a shorter warm-up would leave the
compilation inside the timed run.
On CPU its event kernels need numba. Options: ``jit_conn=True`` uses just-in-time
connectivity (``EventJitFPHomoLinear``, regenerated from a seed) instead of CSR.
"""

import time

from . import (
    COBA,
    COBAHH,
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


def _traub_miles(bp, bm):
    """A Traub–Miles HH population class (COBAHH spec), built once BrainPy is imported."""
    from brainpy.context import share

    p = COBAHH

    class TraubMiles(bp.dyn.NeuDyn):
        def __init__(self, size):
            super().__init__(size, method="exp_auto")
            self.integral = bp.odeint(
                bp.JointEq([self.dV, self.dm, self.dh, self.dn]), method="exp_auto"
            )
            self.reset_state()

        def reset_state(self, batch_size=None, **kwargs):
            mean, sd = p["V0"]
            self.V = bm.Variable(mean + sd * bm.random.randn(self.num))
            self.m = bm.Variable(bm.zeros(self.num))
            self.h = bm.Variable(bm.zeros(self.num))
            self.n = bm.Variable(bm.zeros(self.num))
            self.spike = bm.Variable(bm.zeros(self.num, dtype=bool))
            self.t_last_spike = bm.Variable(bm.full(self.num, -1e7))

        @staticmethod
        def dV(V, t, m, h, n, i_syn):
            i_na = p["g_Na"] * m * m * m * h * (p["E_Na"] - V)
            i_k = p["g_K"] * (n * n) * (n * n) * (p["E_K"] - V)
            return (i_na + i_k + p["g_L"] * (p["E_L"] - V) + i_syn) / p["C_m"]

        @staticmethod
        def dm(m, t, V):
            u = V - p["V_T"]
            a = 0.32 * (13.0 - u) / (bm.exp((13.0 - u) / 4.0) - 1.0)
            b = 0.28 * (u - 40.0) / (bm.exp((u - 40.0) / 5.0) - 1.0)
            return a * (1.0 - m) - b * m

        @staticmethod
        def dh(h, t, V):
            u = V - p["V_T"]
            a = 0.128 * bm.exp((17.0 - u) / 18.0)
            b = 4.0 / (1.0 + bm.exp((40.0 - u) / 5.0))
            return a * (1.0 - h) - b * h

        @staticmethod
        def dn(n, t, V):
            u = V - p["V_T"]
            a = 0.032 * (15.0 - u) / (bm.exp((15.0 - u) / 5.0) - 1.0)
            b = 0.5 * bm.exp((10.0 - u) / 40.0)
            return a * (1.0 - n) - b * n

        def update(self, x=None):
            t, dt = share.load("t"), share.load("dt")
            i_syn = self.sum_current_inputs(self.V.value, init=0.0 if x is None else x)
            V, m, h, n = self.integral(
                self.V.value, self.m.value, self.h.value, self.n.value, t, i_syn, dt
            )
            # Brian2's threshold "v > -20 mV" outside its 3 ms refractory period.
            ready = (t - self.t_last_spike.value) >= p["t_ref"] - 0.5 * dt
            spike = bm.logical_and(V > p["V_spike"], ready)
            self.t_last_spike.value = bm.where(spike, t, self.t_last_spike.value)
            self.V.value, self.m.value, self.h.value, self.n.value = V, m, h, n
            self.spike.value = spike
            return spike

        def return_info(self):  # what projections read (through their delay entry)
            return self.spike

    return TraubMiles


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

    def comm(n_pre, n_post, w, k):
        if jit_conn:
            return bp.dnn.EventJitFPHomoLinear(n_pre, n_post, prob=p, weight=w, seed=seed * 4 + k)
        return bp.dnn.EventCSRLinear(
            bp.conn.FixedProb(
                p, pre=n_pre, post=n_post, seed=seed * 4 + k, allow_multi_conn=False
            ),
            w,
        )

    if model == "cobahh":
        hh = _traub_miles(bp, bm)
        make_pop = hh
    else:
        coba = model == "coba"
        pars = dict(
            V_rest=COBA["E_L"] if coba else CUBA["E_L"],
            V_th=V_TH,
            V_reset=V_RESET,
            tau=TAU_M,
            tau_ref=T_REF,
            V_initializer=bp.init.Normal(-55.0, 5.0) if coba else bp.init.Uniform(V_RESET, V_TH),
        )

        def make_pop(size):
            return bp.dyn.LifRef(size, **pars)

    def weight_and_out(exc: bool):
        if model == "cobahh":  # conductances in nS, currents in pA
            w = COBAHH["dg_exc"] if exc else COBAHH["dg_inh"]
            return w, bp.dyn.COBA.desc(E=COBAHH["E_exc"] if exc else COBAHH["E_inh"])
        if model == "coba":  # in units of g_L (BrainPy's LIF has R = 1)
            w = (COBA["dg_exc"] if exc else COBA["dg_inh"]) / G_L
            return w, bp.dyn.COBA.desc(E=COBA["E_exc"] if exc else COBA["E_inh"])
        return (CUBA["w_exc"] if exc else CUBA["w_inh"]) / G_L, bp.dyn.CUBA.desc()

    class EINet(bp.DynSysGroup):
        def __init__(self):
            super().__init__()
            self.E = make_pop(ne)
            self.I = make_pop(n - ne)
            projs = {}
            for k, (pre, post) in enumerate([("E", "E"), ("E", "I"), ("I", "E"), ("I", "I")]):
                exc = pre == "E"
                w, out = weight_and_out(exc)
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
    if model == "cobahh":  # Brian2's COBAHH starts from random conductances (nS)
        for name, (mean, sd) in (("E", COBAHH["g_exc0"]), ("I", COBAHH["g_inh0"])):
            for post in ("E", "I"):
                g = net.projs[name + post].syn.g
                g.value = mean + sd * bm.random.randn(*g.shape)
    drive = COBA["I_ext"] / G_L if model == "coba" else 0.0
    steps = int(round(duration_ms / dt_ms))
    indices = np.arange(steps)
    variables = net.vars().unique()
    initial = {k: bm.as_jax(v.value) for k, v in variables.items()}

    def step(i):
        return net.step_run(i, drive)

    def simulate():
        for k, v in variables.items():
            v.value = initial[k]
        spikes_e, spikes_i = bm.for_loop(step, indices, progress_bar=False)
        return np.concatenate([np.asarray(spikes_e), np.asarray(spikes_i)], axis=1)

    simulate()  # compile + first run: the time to first result
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    spikes = simulate()
    run_s = time.perf_counter() - t1
    steps_idx, senders = np.nonzero(spikes)
    out = {
        "simulator": "brainpy" + ("-jitconn" if jit_conn else "-eventcsr"),
        "version": bp.__version__,
        "model": model,
        "n": n,
        "seed": seed,
        "build_s": first - run_s,  # construction + compilation
        "run_s": run_s,
        "total_s": first,
    }
    out.update(spike_stats(senders, (steps_idx + 1) * dt_ms, n, duration_ms))
    return out
