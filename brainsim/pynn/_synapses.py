"""PyNN's synapse types: ``StaticSynapse`` and ``TsodyksMarkramSynapse``.

Native parameters keep PyNN's names and units (weight nA or µS, delay ms); the
projection converts them for the postsynaptic cell type when it is translated
(``_projections``). A delay left unset is the minimum delay, one timestep.
"""

from pyNN.standardmodels import build_translations
from pyNN.standardmodels import synapses as ps

from ..synapses import TsodyksMarkram
from ._simulator import state


class _Synapse:
    def _get_minimum_delay(self):
        return state.dt if state.auto_min_delay else state.min_delay

    def stp(self, native: dict):
        """The projection's short-term plasticity (``None``: static)."""
        return None


class StaticSynapse(_Synapse, ps.StaticSynapse):
    __doc__ = ps.StaticSynapse.__doc__
    translations = build_translations(("weight", "weight"), ("delay", "delay"))


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
        values = {}
        for name in ("U", "tau_rec", "tau_facil"):
            v = native[name]
            if v.size and (v.min() != v.max()):
                raise ValueError(
                    f"TsodyksMarkramSynapse: {name} must be one value per projection "
                    f"in brainsim, got values from {v.min():g} to {v.max():g}"
                )
            values[name] = float(v.flat[0]) if v.size else 0.0
        return TsodyksMarkram(U=values["U"], tau_f=values["tau_facil"], tau_d=values["tau_rec"])


SUPPORTED_SYNAPSES = ("StaticSynapse", "TsodyksMarkramSynapse")
