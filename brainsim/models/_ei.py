"""The random E/I network shared by the Brette et al. (2007) benchmarks 1 and 2."""

from .._checks import check_positive, check_size
from ..conn import FixedProb
from ..network import Network, Projection


def ei_network(n, *, key, neuron, exc, inh, in_degree, capacity=None) -> Network:
    """``n`` neurons, 80 % excitatory ("E") and 20 % inhibitory ("I"), every pair connected
    with probability ``in_degree / n`` (no self-connections), so the mean in-degree stays
    ``in_degree`` at any size. ``neuron(size)`` makes a population; ``exc``/``inh`` are the
    ``Projection`` keyword arguments (weight, synapse, output) of each presynaptic type."""
    check_size("n", n)
    check_positive("in_degree", in_degree)
    if n < 5:
        raise ValueError(f"n must be >= 5 (80 % E / 20 % I), got {n}")
    if in_degree > n:
        raise ValueError(f"in_degree must be <= n={n}, got {in_degree}")
    n_e = round(0.8 * n)
    p = in_degree / n
    projections = [
        Projection(
            pre,
            post,
            FixedProb(p, allow_self=False),
            capacity=capacity,
            **(exc if pre == "E" else inh),
        )
        for pre in ("E", "I")
        for post in ("E", "I")
    ]
    return Network({"E": neuron(n_e), "I": neuron(n - n_e)}, projections, key=key)
