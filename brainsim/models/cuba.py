from ..initializers import Uniform
from ..network import Network
from ..neurons import LIF
from ..synapses import Current, Exponential
from ._ei import ei_network


def cuba(
    n: int = 4000,
    *,
    key,
    in_degree: float = 80.0,
    drive: float = 0.0,
    capacity: int | None = None,
    procedural: bool = False,
    network=Network,
) -> Network:
    """Brette et al. (2007) benchmark 2 (CUBA), in the form of Brian2's example.

    LIF neurons: C_m = 200 pF, τ_m = 20 ms, V_rest = −49 mV (above threshold: no external
    drive), V_th = −50 mV, V_reset = −60 mV, 5 ms refractory, initial V ~ U(−60, −50) mV;
    optional constant ``drive`` (pA, default 0 as in the benchmark).
    Exponential currents: excitatory 16.2 pA (1.62 mV × g_L), τ = 5 ms; inhibitory
    −90 pA (−9 mV × g_L), τ = 10 ms. Random connectivity, mean in-degree ``in_degree``;
    ``procedural=True`` regenerates it from a seed instead of storing it (see ``coba``).
    ``network``: what builds the network (default ``bs.Network``;
    ``bs.distributed.network``: each process of a multi-process run builds only its own
    synapses).
    """
    neuron = lambda size: LIF(
        size,
        tau_m=20.0,
        c_m=200.0,
        v_rest=-49.0,
        v_th=-50.0,
        v_reset=-60.0,
        t_ref=5.0,
        i_ext=drive,
        v_init=Uniform(-60.0, -50.0),
    )
    exc = dict(weight=16.2, synapse=Exponential(5.0), output=Current())
    inh = dict(weight=-90.0, synapse=Exponential(10.0), output=Current())
    return ei_network(
        n,
        key=key,
        neuron=neuron,
        exc=exc,
        inh=inh,
        in_degree=in_degree,
        capacity=capacity,
        procedural=procedural,
        model="cuba",
        network=network,
    )
