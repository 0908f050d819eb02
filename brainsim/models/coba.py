from ..initializers import Normal
from ..integrators import AbstractIntegrator, Euler
from ..network import Network
from ..neurons import LIF
from ..synapses import Conductance, Exponential
from ._ei import ei_network


def coba(
    n: int = 4000,
    *,
    key,
    in_degree: float = 80.0,
    drive: float = 200.0,
    integrator: AbstractIntegrator | None = None,
    capacity: int | None = None,
    procedural: bool = False,
    network=Network,
) -> Network:
    """Brette et al. (2007) benchmark 1 (COBA, after Vogels & Abbott 2005), in the form of
    Brian2's and BrainPy's examples.

    LIF neurons: C_m = 200 pF, τ_m = 20 ms (g_L = 10 nS), V_rest = V_reset = −60 mV,
    V_th = −50 mV, 5 ms refractory, constant ``drive`` (pA; 200 pA = 20 mV × g_L), initial
    V ~ N(−55, 5) mV. Exponential conductances: excitatory 6 nS, τ = 5 ms, E = 0 mV;
    inhibitory 67 nS, τ = 10 ms, E = −80 mV. Random connectivity with mean in-degree
    ``in_degree`` (p = 0.02 at n = 4000). Populations "E" (80 %) and "I" (20 %).
    ``procedural=True`` regenerates the synapses from a seed instead of storing them
    (fixed out-degree, same mean in-degrees; see ``ei_network``): for networks whose
    synapses would not fit in memory.
    ``network``: what builds the network (default ``bs.Network``;
    ``bs.distributed.network``: each process of a multi-process run builds only its own
    synapses). ``network``: what
    builds the network (default ``bs.Network``; ``bs.distributed.network`` for a
    multi-process run, each process building only its own synapses).

    The membrane is integrated with forward Euler by default (``integrator=None``), as
    Brian2's COBA benchmark does (``method='euler'``): with conductance input, exponential
    Euler needs one
    ``expm1`` per neuron and step, which costs 1.7x (N = 16 000) to 3x (N = 4 000) the
    forward-Euler run time on a CPU, for rates that agree within the peers' seed-to-seed
    spread either way.
    """
    neuron = lambda size: LIF(
        size,
        tau_m=20.0,
        c_m=200.0,
        v_rest=-60.0,
        v_th=-50.0,
        v_reset=-60.0,
        t_ref=5.0,
        i_ext=drive,
        v_init=Normal(-55.0, 5.0),
        integrator=Euler() if integrator is None else integrator,
    )
    exc = dict(weight=6.0, synapse=Exponential(5.0), output=Conductance(0.0))
    inh = dict(weight=67.0, synapse=Exponential(10.0), output=Conductance(-80.0))
    return ei_network(
        n,
        key=key,
        neuron=neuron,
        exc=exc,
        inh=inh,
        in_degree=in_degree,
        capacity=capacity,
        procedural=procedural,
        model="coba",
        network=network,
    )
