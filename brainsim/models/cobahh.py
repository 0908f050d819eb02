import equinox as eqx
import jax.numpy as jnp

from .._random import fold_in, split
from ..initializers import Normal
from ..integrators import ExpEuler
from ..network import Network, NetworkState
from ..neurons import TraubMiles
from ..synapses import Conductance, Exponential
from ._ei import ei_network


def cobahh(
    n: int = 4000,
    *,
    key,
    in_degree: float = 80.0,
    capacity: int | None = None,
    procedural: bool = False,
    network=Network,
) -> Network:
    """Brette et al. (2007) benchmark 3 (COBAHH), in the form of Brian2's ``COBAHH``
    example.

    Traub–Miles Hodgkin–Huxley neurons (``bs.neurons.TraubMiles`` defaults: area
    20 000 µm², C = 200 pF, g_Na = 20 µS, g_K = 6 µS, g_L = 10 nS, E_Na = 50, E_K = −90,
    E_L = −60, V_T = −63 mV; spikes are upward crossings of −20 mV), integrated by
    exponential Euler as in Brian2's example (``method='exponential_euler'``; the neuron's
    own default is the more accurate ``ETDRK4``),
    no external drive. Exponential conductances: excitatory 6 nS, τ = 5 ms, E = 0 mV;
    inhibitory 67 nS, τ = 10 ms, E = −80 mV, entering the membrane with their value at
    the start of each step (``step_mean=False``), as in Brian2's example (its exponential
    Euler step holds them; 1 % more charge per spike than their exact mean at dt = 0.1 ms,
    see docs/concepts/synaptic-integration.md). Random connectivity with mean in-degree
    ``in_degree`` (p = 0.02 at n = 4000, no autapses). Populations "E" (80 %), "I" (20 %).
    ``procedural=True`` regenerates it from a seed instead of storing it (see ``coba``).
    ``network``: what builds the network (default ``bs.Network``;
    ``bs.distributed.network``: each process of a multi-process run builds only its own
    synapses).

    The activity is self-sustained and depends on the initial state: start from
    ``cobahh_state`` (Brian2's initial conditions), not from ``net.init``. The mean rate
    depends on the drawn network: at n = 4000 the E rate over 1–2 s is ≈ 35 Hz, spread
    ≈ 2.7 Hz (sd) over network realisations, in brainsim and in Brian2 alike; on the same
    network and initial state the two give identical spike trains in float64 (see
    ``tests/test_models_cobahh.py``).
    """
    neuron = lambda size: TraubMiles(size, v_init=Normal(-65.0, 5.0), integrator=ExpEuler())
    exc = dict(weight=6.0, synapse=Exponential(5.0, step_mean=False), output=Conductance(0.0))
    inh = dict(weight=67.0, synapse=Exponential(10.0, step_mean=False), output=Conductance(-80.0))
    return ei_network(
        n,
        key=key,
        neuron=neuron,
        exc=exc,
        inh=inh,
        in_degree=in_degree,
        capacity=capacity,
        procedural=procedural,
        model="cobahh",
        network=network,
    )


def cobahh_state(net: Network, key, *, dt: float = 0.1) -> NetworkState:
    """The initial state of Brian2's COBAHH example: V ~ N(−65, 5) mV; gating variables
    0; total excitatory conductance g_e ~ N(40, 15) nS and inhibitory g_i ~ N(200, 120) nS
    per neuron (held by the E→post and I→post projections' synaptic states)."""
    k_net, k_e, k_i = split(key, 3)
    state = net.init(k_net, dt=dt)
    pops = {}
    for name, s in state.populations.items():
        zero = jnp.zeros_like(s.v)
        pops[name] = eqx.tree_at(lambda x: (x.m, x.h, x.n), s, (zero, zero, zero))
    syn = []
    for k, (proj, s) in enumerate(zip(net.projections, state.synapses, strict=True)):
        sub = fold_in(k_e if proj.pre == "E" else k_i, k)
        mean, sd = (40.0, 15.0) if proj.pre == "E" else (200.0, 120.0)
        syn.append(eqx.tree_at(lambda x: x.g, s, Normal(mean, sd)(sub, s.g.shape, s.g.dtype)))
    return eqx.tree_at(lambda s: (s.populations, s.synapses), state, (pops, tuple(syn)))
