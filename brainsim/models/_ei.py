"""The random E/I network shared by the Brette et al. (2007) benchmarks 1 and 2."""

from .._checks import check_positive, check_size
from ..conn import FixedProb, ProceduralFixedOutDegree
from ..network import Network, Projection


def ei_network(
    n,
    *,
    key,
    neuron,
    exc,
    inh,
    in_degree,
    capacity=None,
    procedural=False,
    model="ei_network",
    network=Network,
) -> Network:
    """``n`` neurons, 80 % excitatory ("E") and 20 % inhibitory ("I"), every pair connected
    with probability ``in_degree / n`` (no self-connections), so the mean in-degree stays
    ``in_degree`` at any size. ``neuron(size)`` makes a population; ``exc``/``inh`` are the
    ``Projection`` keyword arguments (weight, synapse, output) of each presynaptic type.

    ``procedural=True``: the synapses are regenerated from a seed instead of stored
    (``ProceduralFixedOutDegree``): each neuron sends ``round(in_degree · n_post / n)``
    synapses to each population (64 to E and 16 to I at in-degree 80), so the mean
    in-degree is again 64 from E and 16 from I, with Binomial in-degrees. ``model``: the
    name of the calling model, which the error messages name. ``network``: what builds
    the network, called as ``network(populations, projections, key=key)`` (default
    ``bs.Network``; ``bs.distributed.network`` builds each process's synapses only)."""
    check_size(f"{model}: n", n)
    check_positive(f"{model}: in_degree", in_degree)
    if n < 5:
        raise ValueError(f"{model}: n must be >= 5 (80 % E / 20 % I), got {n}")
    if in_degree > n:
        raise ValueError(f"{model}: in_degree must be <= n={n}, got {in_degree}")
    n_e = round(0.8 * n)
    sizes = {"E": n_e, "I": n - n_e}

    def conn(post):
        if procedural:
            return ProceduralFixedOutDegree(round(in_degree * sizes[post] / n), allow_self=False)
        return FixedProb(in_degree / n, allow_self=False)

    projections = [
        Projection(
            pre,
            post,
            conn(post),
            capacity=capacity,
            **(exc if pre == "E" else inh),
        )
        for pre in ("E", "I")
        for post in ("E", "I")
    ]
    return network({name: neuron(size) for name, size in sizes.items()}, projections, key=key)
