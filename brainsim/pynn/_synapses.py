"""PyNN's synapse types: ``StaticSynapse``, ``SimpleStochasticSynapse``,
``TsodyksMarkramSynapse`` and ``STDPMechanism`` (``SpikePairRule`` with an additive,
multiplicative, mixed or Gütig weight dependence).

Native parameters keep PyNN's names and units (weight nA or µS, delay ms); the
projection converts them for the postsynaptic cell type when it is translated
(``_projections``). A delay left unset is the minimum delay, one timestep.
"""

import numpy as np
from pyNN.standardmodels import build_translations
from pyNN.standardmodels import synapses as ps

from ..plastic import Plastic
from ..plasticity import Bounds, PairSTDP
from ..stochastic import StochasticRelease
from ..synapses import TsodyksMarkram
from ._simulator import state


class _Synapse:
    def _get_minimum_delay(self):
        return state.dt if state.auto_min_delay else state.min_delay

    def stp(self, native: dict):
        """The projection's short-term plasticity (``None``: static)."""
        return None

    def plastic(self, native: dict, scale: float):
        """The projection's plasticity component (``None``: static weights); ``scale``:
        native weight = PyNN weight x scale."""
        return None

    def release(self, native: dict):
        """The projection's release component (``None``: every spike transmitted);
        ``native``: the parameters per synapse in the layout's (CSR) order."""
        return None


def _one(native: dict, name: str, synapse: str) -> float:
    v = native[name]
    if v.size and v.min() != v.max():
        raise ValueError(
            f"{synapse}: {name} must be one value per projection in brainsim, got values "
            f"from {v.min():g} to {v.max():g}"
        )
    return float(v.flat[0]) if v.size else 0.0


class StaticSynapse(_Synapse, ps.StaticSynapse):
    __doc__ = ps.StaticSynapse.__doc__
    translations = build_translations(("weight", "weight"), ("delay", "delay"))


class SimpleStochasticSynapse(_Synapse, ps.SimpleStochasticSynapse):
    """PyNN's ``SimpleStochasticSynapse``: each spike is transmitted by each connection
    with probability ``p`` (per connection), as ``bs.StochasticRelease`` (its draws
    from the network's seed, ``setup(rng_seed=)``)."""

    translations = build_translations(("weight", "weight"), ("delay", "delay"), ("p", "p"))

    def release(self, native):
        p = native["p"]
        return StochasticRelease(float(p[0]) if p.size and np.all(p == p[0]) else p)


class TsodyksMarkramSynapse(_Synapse, ps.TsodyksMarkramSynapse):
    """PyNN's ``TsodyksMarkramSynapse`` as ``bs.synapses.TsodyksMarkram`` on the
    presynaptic side: ``U``, ``tau_rec`` (ms) and ``tau_facil`` (ms) must be one value
    per projection (brainsim keeps the state per presynaptic cell, which equals
    PyNN's per-connection state when every connection of a cell has the same
    parameters)."""

    translations = build_translations(
        ("weight", "weight"),
        ("delay", "delay"),
        ("U", "U"),
        ("tau_rec", "tau_rec"),
        ("tau_facil", "tau_facil"),
    )

    def stp(self, native):
        values = {
            n: _one(native, n, "TsodyksMarkramSynapse") for n in ("U", "tau_rec", "tau_facil")
        }
        return TsodyksMarkram(U=values["U"], tau_f=values["tau_facil"], tau_d=values["tau_rec"])


class STDPMechanism(_Synapse, ps.STDPMechanism):
    """PyNN's ``STDPMechanism`` as ``bs.Plastic(bs.plasticity.PairSTDP(...))``.

    NEST's ``stdp_synapse`` convention: a pair changes the weight by ``A_plus w_max``
    (``A_minus w_max``) times the trace, through ``bs.plasticity.Bounds(w_min, w_max,
    mu_plus, mu_minus)``. Parameters one value per projection; the whole delay is
    dendritic (``dendritic_delay_fraction`` = 1); excitatory or conductance-based
    synapses (positive weights)."""

    __doc__ = ps.STDPMechanism.__doc__
    base_translations = build_translations(
        ("weight", "weight"), ("delay", "delay"), ("dendritic_delay_fraction", "ddf")
    )

    def plastic(self, native, scale):
        if self.voltage_dependence is not None or not isinstance(
            self.timing_dependence, SpikePairRule
        ):
            raise ValueError(
                "STDPMechanism: supported timing dependence: SpikePairRule (no voltage "
                f"dependence), got {type(self.timing_dependence).__name__}"
            )
        one = {k: _one(native, k, "STDPMechanism") for k in native if k not in ("weight", "delay")}
        if one.get("ddf", 1.0) != 1.0:
            raise ValueError(
                f"STDPMechanism: dendritic_delay_fraction must be 1 in brainsim, got {one['ddf']}"
            )
        mu = self.weight_dependence.mu(one)
        w_max = scale * one.get("w_max", 1.0)
        return Plastic(
            PairSTDP(
                A_plus=one["A_plus"] * abs(w_max),
                A_minus=one["A_minus"] * abs(w_max),
                tau_plus=one["tau_plus"],
                tau_minus=one["tau_minus"],
                bounds=Bounds(scale * one.get("w_min", 0.0), w_max, *mu),
            )
        )


class SpikePairRule(ps.SpikePairRule):
    __doc__ = ps.SpikePairRule.__doc__
    translations = build_translations(
        ("tau_plus", "tau_plus"),
        ("tau_minus", "tau_minus"),
        ("A_plus", "A_plus"),
        ("A_minus", "A_minus"),
    )


_BOUNDS = (("w_min", "w_min"), ("w_max", "w_max"))


class AdditiveWeightDependence(ps.AdditiveWeightDependence):
    __doc__ = ps.AdditiveWeightDependence.__doc__
    translations = build_translations(*_BOUNDS)

    def mu(self, native):
        return 0.0, 0.0


class MultiplicativeWeightDependence(ps.MultiplicativeWeightDependence):
    __doc__ = ps.MultiplicativeWeightDependence.__doc__
    translations = build_translations(*_BOUNDS)

    def mu(self, native):
        return 1.0, 1.0


class AdditivePotentiationMultiplicativeDepression(
    ps.AdditivePotentiationMultiplicativeDepression
):
    __doc__ = ps.AdditivePotentiationMultiplicativeDepression.__doc__
    translations = build_translations(*_BOUNDS)

    def mu(self, native):
        return 0.0, 1.0


class GutigWeightDependence(ps.GutigWeightDependence):
    __doc__ = ps.GutigWeightDependence.__doc__
    translations = build_translations(*_BOUNDS, ("mu_plus", "mu_plus"), ("mu_minus", "mu_minus"))

    def mu(self, native):
        return native["mu_plus"], native["mu_minus"]


SUPPORTED_SYNAPSES = (
    "StaticSynapse",
    "SimpleStochasticSynapse",
    "TsodyksMarkramSynapse",
    "STDPMechanism",
)
