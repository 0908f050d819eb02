"""brainsim's side of the non-LIF races in ``coba.py``: the AdEx COBA network and the
Izhikevich network (specification in ``benchmarks/peers/__init__.py``; Brian2 and NEST
runners in ``benchmarks/peers``). Built from the public API: the E/I split, the
connectivity (``FixedProb(80 / n)``, no self-synapses) and the COBA synapses are those
of ``bs.models.coba``."""

from peers import ADEX, COBA, IZHIKEVICH, TAU_EXC, TAU_INH, V_RESET, conn_prob, n_exc

import brainsim as bs


def _network(n: int, key, neurons: dict, exc: dict, inh: dict) -> bs.Network:
    conn = bs.conn.FixedProb(conn_prob(n), allow_self=False)
    projections = [
        bs.Projection(pre, post, conn, **(exc if pre == "E" else inh))
        for pre in ("E", "I")
        for post in ("E", "I")
    ]
    return bs.Network(neurons, projections, key=key)


def adex_coba(n: int, *, key) -> bs.Network:
    """COBA with AdEx neurons (``ADEX``), forward Euler as Brian2's ``method='euler'``."""
    p = ADEX
    neuron = lambda size: bs.neurons.AdEx(
        size,
        c_m=p["C_m"],
        g_l=p["g_L"],
        e_l=p["E_L"],
        v_t=p["V_T"],
        delta_t=p["Delta_T"],
        v_peak=p["V_peak"],
        v_reset=V_RESET,
        a=p["a"],
        b=p["b"],
        tau_w=p["tau_w"],
        t_ref=p["t_ref"],
        i_ext=COBA["I_ext"],
        v_init=bs.initializers.Normal(*p["V0"]),
        integrator=bs.integrators.Euler(),
    )
    exc = dict(
        weight=COBA["dg_exc"],
        synapse=bs.synapses.Exponential(TAU_EXC),
        output=bs.synapses.Conductance(COBA["E_exc"]),
    )
    inh = dict(
        weight=COBA["dg_inh"],
        synapse=bs.synapses.Exponential(TAU_INH),
        output=bs.synapses.Conductance(COBA["E_inh"]),
    )
    ne = n_exc(n)
    return _network(n, key, {"E": neuron(ne), "I": neuron(n - ne)}, exc, inh)


def izhikevich(n: int, *, key) -> bs.Network:
    """Izhikevich (2003) RS excitatory and FS inhibitory neurons with voltage-jump
    synapses (``IZHIKEVICH``), forward Euler as the paper, NEST and Brian2's ``euler``."""
    p = IZHIKEVICH
    neuron = lambda size, pop: bs.neurons.Izhikevich(
        size,
        *p[pop],
        i_ext=p["I_ext"],
        v_init=bs.initializers.Normal(*p["V0"]),
    )
    jump = lambda w: dict(weight=w, synapse=bs.synapses.Delta(), output=bs.synapses.VoltageJump())
    ne = n_exc(n)
    neurons = {"E": neuron(ne, "E"), "I": neuron(n - ne, "I")}
    return _network(n, key, neurons, jump(p["w_exc"]), jump(p["w_inh"]))


MODELS = {"adex": adex_coba, "izhikevich": izhikevich}
