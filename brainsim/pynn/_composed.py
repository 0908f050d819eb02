"""PyNN's composed cell type ``PointNeuron(neuron, **receptors)``: a neuron component
(``LIF``, ``AdExp``) with named receptor types (``AMPA=AlphaPSR(tau_syn=1.5,
e_syn=0.0)``...), each a postsynaptic response (kinetics, and a reversal potential if
conductance-based) that projections target with ``receptor_type="AMPA"``.

The native parameters are the neuron's (as its standard cell type's) and
``"<receptor>.tau_syn"``, ``"<receptor>.e_syn"`` (ms, mV) per receptor type. A
projection onto a receptor type gets its kinetics and output (``bs.synapses.Conductance``
or ``Current``, weights as given: negative for inhibitory current-based receptors).
"""

from pyNN.parameters import ParameterSpace
from pyNN.standardmodels import build_translations
from pyNN.standardmodels import cells as pc
from pyNN.standardmodels import receptors as pr

from .. import neurons, synapses
from ._cells import _ADEX, _LEAKY, _Translated, _value

_TAU = (("locations", "locations"), ("tau_syn", "tau_syn"))
_E = (("e_syn", "e_syn"),)


class LIF(_Translated, pc.LIF):
    __doc__ = pc.LIF.__doc__
    translations = build_translations(*_LEAKY)
    model = neurons.LIF


class AdExp(_Translated, pc.AdExp):
    __doc__ = pc.AdExp.__doc__
    translations = build_translations(*_ADEX)
    model = neurons.AdEx
    state_variables = {"v": ("v", 1.0), "w": ("w", 1000.0)}


class CurrExpPostSynapticResponse(pr.CurrExpPostSynapticResponse):
    __doc__ = pr.CurrExpPostSynapticResponse.__doc__
    translations = build_translations(*_TAU)
    recordable = ["isyn"]
    kinetics = synapses.Exponential


class CondExpPostSynapticResponse(pr.CondExpPostSynapticResponse):
    __doc__ = pr.CondExpPostSynapticResponse.__doc__
    translations = build_translations(*_TAU, *_E)
    recordable = ["gsyn"]
    kinetics = synapses.Exponential


class CondAlphaPostSynapticResponse(pr.CondAlphaPostSynapticResponse):
    __doc__ = pr.CondAlphaPostSynapticResponse.__doc__
    translations = build_translations(*_TAU, *_E)
    recordable = ["gsyn"]
    kinetics = synapses.Alpha


ExpPSR = CondExpPostSynapticResponse
AlphaPSR = CondAlphaPostSynapticResponse
NEURONS = (LIF, AdExp)
RECEPTORS = (CurrExpPostSynapticResponse, CondExpPostSynapticResponse, AlphaPSR)


class PointNeuron(pc.PointNeuron):
    """PyNN's ``PointNeuron``: ``neuron`` one of brainsim.pynn's ``LIF``, ``AdExp``;
    each receptor one of its ``CurrExpPostSynapticResponse``, ``CondExpPostSynapticResponse``
    (``ExpPSR``), ``CondAlphaPostSynapticResponse`` (``AlphaPSR``), all current-based or
    all conductance-based."""

    def __init__(self, neuron, **post_synaptic_receptors):
        if not isinstance(neuron, NEURONS):
            raise ValueError(
                f"PointNeuron: neuron {type(neuron).__name__} is not supported; supported: "
                f"{', '.join(c.__name__ for c in NEURONS)} (of brainsim.pynn)"
            )
        for name, psr in post_synaptic_receptors.items():
            if not isinstance(psr, RECEPTORS):
                raise ValueError(
                    f"PointNeuron: receptor {name}={type(psr).__name__} is not supported; "
                    f"supported: {', '.join(c.__name__ for c in RECEPTORS)} (of brainsim.pynn)"
                )
        super().__init__(neuron, **post_synaptic_receptors)
        self.conductance_based  # noqa: B018 - raises for mixed receptor kinds

    @property
    def injectable(self):
        return self.neuron.injectable

    @property
    def state_variables(self):
        return self.neuron.state_variables

    @property
    def native_parameters(self):
        ps = self.neuron.native_parameters
        for name, psr in self.post_synaptic_receptors.items():
            for key, value in psr.native_parameters.items():
                if key != "locations":
                    ps.update(**{f"{name}.{key}": value})
        return ps

    def translate(self, parameters, copy=True):
        """Native parameters: the neuron's translated, the receptors' as they are."""
        own = {k: parameters[k] for k in parameters.keys() if "." not in k}
        schema, shape = self.neuron.get_schema(), parameters.shape
        native = self.neuron.translate(ParameterSpace(own, schema, shape), copy=copy)
        receptors = {k: parameters[k] for k in parameters.keys() if "." in k}
        return ParameterSpace({**dict(native.items()), **receptors}, shape=shape)

    def get_native_names(self, *names):
        out = self.neuron.get_native_names(*[n for n in names if "." not in n])
        for n in names:
            if "." in n:
                receptor, param = n.split(".")
                native = self.post_synaptic_receptors[receptor].get_native_names(param)[0]
                out.append(f"{receptor}.{native}")
        return out

    def reverse_translate(self, native_parameters):
        standard = self.neuron.reverse_translate(native_parameters)
        receptor = {k: native_parameters[k] for k in native_parameters.keys() if "." in k}
        # the receptors' translations are identities
        return ParameterSpace({**dict(standard.items()), **receptor}, shape=standard.shape)

    def build(self, size, native):
        return self.neuron.build(size, native)

    def synapse(self, receptor, native):
        psr = self.post_synaptic_receptors[receptor]
        kinetics = psr.kinetics(_value(native[f"{receptor}.tau_syn"]))
        return kinetics, _value(native[f"{receptor}.e_syn"]) if psr.conductance_based else None

    def synaptic_variables(self):
        return {
            f"{name}.{var}": name
            for name, psr in self.post_synaptic_receptors.items()
            for var in psr.recordable
        }
