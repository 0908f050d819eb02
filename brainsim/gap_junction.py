r"""Gap junctions: electrical coupling between the membranes of two populations.

$$I_i = \sum_j g_{ji}\,(V_j - V_i)$$

for every synapse ``j -> i`` of the connectivity (``g`` in nS, the ``weight``). It enters
the postsynaptic ``Drive`` as a conductance $\sum_j g_{ji}$ with reversal term
$\sum_j g_{ji} V_j$, so it stays linear in $V_i$; the presynaptic $V_j$ is the one at the
start of the step (a one-step lag, as for any coupling between populations). Coupling is
directed as the layout says: for a symmetric junction give both directions (a
symmetric connectivity inside one population, or two ``GapJunction``s).
"""

import equinox as eqx
import jax.numpy as jnp

from . import ops
from ._network_checks import check_projection
from .conn.builders import AbstractBuilder
from .conn.layouts import AbstractLayout
from .neurons import Drive


class GapJunction(eqx.Module):
    """Electrical synapses from population ``pre`` onto ``post`` (both must have a
    membrane potential ``v``). ``conn``: a builder or layout; ``weight``: conductance
    (nS), scalar or per synapse. Pass it among ``Network``'s projections."""

    pre: str = eqx.field(static=True)
    post: str = eqx.field(static=True)
    conn: AbstractBuilder | AbstractLayout
    weight: float | jnp.ndarray | None = 1.0
    capacity: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        check_projection(self)

    @property
    def name(self) -> str:
        return f"{self.pre}~{self.post}"

    def drive(self, v_pre) -> Drive:
        """The postsynaptic drive for presynaptic potentials ``v_pre (..., n_pre)``."""
        cap = self.conn.n_pre  # every presynaptic neuron has a potential: all "active"
        g = ops.matvec(self.conn, self.weight, jnp.ones(v_pre.shape[-1], v_pre.dtype), cap)
        return Drive(conductance=g, reversal=ops.matvec(self.conn, self.weight, v_pre, cap))
