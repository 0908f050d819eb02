"""``to_nir``: a brainsim model → a NIR graph."""

import numpy as np

from .. import ops
from .._optional import require
from ..train._sequence import _decay
from ..train.layers import LIFLayer, Readout
from ..train.models import SNN
from ._discretise import check_method, time_constant
from ._network import Affine, Delay, Neuron, NIRNetwork, Scale, Threshold

SUPPORTED_MODELS = ("bs.train.SNN", "LIFLayer", "Readout", "NIRNetwork")


class UnsupportedModelError(ValueError):
    """A brainsim model (or layer) that has no NIR equivalent."""


def _np(x, n=None):
    x = np.asarray(x, np.float64)
    return x if n is None else np.broadcast_to(x, (n,)).copy()


def _cuba(
    nir, name, alpha, beta, dt_s, method, *, gain=1.0, leak=0.0, threshold=None, v_reset=0.0
):
    """A ``CubaLIF`` (or, without ``threshold``, ``CubaLI``) whose discretisation by
    ``method`` at ``dt_s`` gives back ``alpha``, ``beta``, ``gain`` and ``leak``."""
    f_syn, f_mem = 1.0 - alpha, 1.0 - beta
    kw = dict(
        tau_syn=time_constant(f"{name} synaptic decay", alpha, dt_s, method),
        tau_mem=time_constant(f"{name} membrane decay", beta, dt_s, method),
        r=1.0 / f_mem,
        v_leak=leak / f_mem,
        w_in=gain / f_syn,
    )
    if threshold is None:
        return nir.CubaLI(**kw)
    v_reset = np.broadcast_to(np.asarray(v_reset, np.float64), threshold.shape).copy()
    return nir.CubaLIF(**kw, v_threshold=threshold, v_reset=v_reset)


def _layer_nodes(nir, k, layer, method):
    """``(nodes, edges, name)`` of layer ``k``, a ``LIFLayer`` or ``Readout``:
    ``{name}_w`` (Linear) then the neuron ``name`` (a subgraph with its recurrent Linear
    when the layer is recurrent)."""
    name = f"lif{k}" if isinstance(layer, LIFLayer) else "readout"
    n = layer.w.shape[1]
    dt_s = layer.dt * 1e-3
    if isinstance(layer, LIFLayer):
        if layer.adaptive:
            raise UnsupportedModelError(
                f"{name}: an adaptive LIFLayer (beta_adapt != 0) has no NIR node; "
                f"supported: {', '.join(SUPPORTED_MODELS)} with non-adaptive LIF layers"
            )
        # the decays and threshold of the layer's equations (bs.train.layers)
        alpha, beta = (_np(_decay(t, layer.dt), n) for t in (layer.tau_syn, layer.tau_mem))
        neuron = _cuba(nir, name, alpha, beta, dt_s, method, threshold=_np(layer.threshold, n))
    else:
        alpha, beta = (_np(_decay(t, layer.dt), n) for t in (layer.tau_syn, layer.tau_mem))
        neuron = _cuba(nir, name, alpha, beta, dt_s, method)
    nodes = {f"{name}_w": nir.Linear(weight=_np(layer.w).T)}
    if isinstance(layer, LIFLayer) and layer.w_rec is not None:
        w_rec = _np(ops.to_dense(layer.rec_layout, layer.w_rec)).T
        neuron = nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type={"input": np.array([n])}),
                "lif": neuron,
                "w_rec": nir.Linear(weight=w_rec),
                "output": nir.Output(output_type={"output": np.array([n])}),
            },
            edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        )
    nodes[name] = neuron
    return nodes, [(f"{name}_w", name)], name


def _from_layers(nir, layers, method):
    n_in = layers[0].w.shape[0]
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    edges, last = [], "input"
    for k, layer in enumerate(layers):
        if not isinstance(layer, LIFLayer | Readout):
            raise UnsupportedModelError(
                f"layer {k} is a {type(layer).__name__}, which has no NIR equivalent; "
                f"supported: {', '.join(SUPPORTED_MODELS)} (SNN layers: LIFLayer, Readout)"
            )
        more, inner, name = _layer_nodes(nir, k, layer, method)
        nodes.update(more)
        edges += [(last, f"{name}_w"), *inner]
        last = name
    n_out = layers[-1].w.shape[1]
    nodes["output"] = nir.Output(output_type={"output": np.array([n_out])})
    return nir.NIRGraph(nodes=nodes, edges=[*edges, (last, "output")])


def _neuron_node(nir, name, nd: Neuron, dt_s, method):
    n = nd.beta.shape[0]
    gain = _np(1.0 if nd.gain is None else nd.gain, n)
    leak = _np(0.0 if nd.leak is None else nd.leak, n)
    reset = _np(0.0 if nd.v_reset is None else nd.v_reset, n)
    thr = None if nd.threshold is None else _np(nd.threshold, n)
    if nd.kind in ("IF", "I"):
        r = gain / dt_s
        return nir.I(r=r) if thr is None else nir.IF(r=r, v_threshold=thr, v_reset=reset)
    if nd.alpha is not None:
        return _cuba(
            nir,
            name,
            _np(nd.alpha),
            _np(nd.beta),
            dt_s,
            method,
            gain=gain,
            leak=leak,
            threshold=thr,
            v_reset=reset,
        )
    beta = _np(nd.beta)
    f_mem = 1.0 - beta
    kw = dict(
        tau=time_constant(f"{name} membrane decay", beta, dt_s, method),
        r=gain / f_mem,
        v_leak=leak / f_mem,
    )
    return nir.LI(**kw) if thr is None else nir.LIF(**kw, v_threshold=thr, v_reset=reset)


def _from_network(nir, net: NIRNetwork, method):
    dt_s = net.dt * 1e-3
    nodes = {}
    for name, nd in net.nodes.items():
        if isinstance(nd, Neuron):
            nodes[name] = _neuron_node(nir, name, nd, dt_s, method)
        elif isinstance(nd, Affine) and nd.bias is None:
            nodes[name] = nir.Linear(weight=_np(nd.w).T)
        elif isinstance(nd, Affine):
            nodes[name] = nir.Affine(weight=_np(nd.w).T, bias=_np(nd.bias))
        elif isinstance(nd, Scale):
            nodes[name] = nir.Scale(scale=_np(nd.scale))
        elif isinstance(nd, Threshold):
            nodes[name] = nir.Threshold(threshold=_np(nd.threshold))
        elif isinstance(nd, Delay):
            nodes[name] = nir.Delay(delay=np.asarray(nd.steps, np.float64) * dt_s)
    first = next(b for a, b in net.edges if a == net.input)
    last = next(a for a, b in net.edges if b == net.output)
    nodes[net.input] = nir.Input(input_type={"input": np.array([_size(nodes[first], 1)])})
    nodes[net.output] = nir.Output(output_type={"output": np.array([_size(nodes[last], 0)])})
    return nir.NIRGraph(nodes=nodes, edges=list(net.edges))


def _size(node, axis: int) -> int:
    """The input (``axis=1``) or output (``axis=0``) size of a flat NIR node."""
    if hasattr(node, "weight"):
        return int(node.weight.shape[axis])
    return int(np.prod(next(iter(node.input_type.values()))))


def to_nir(model, *, method: str = "exp"):
    """A ``nir.NIRGraph`` of ``model``: a ``bs.train.SNN`` (non-adaptive ``LIFLayer``s,
    dense or sparse recurrent, and a ``Readout``), a single ``LIFLayer``/``Readout``, or
    a ``NIRNetwork``. Write it with ``nir.write(path, graph)``.

    Each layer becomes ``Linear → CubaLIF`` (``Readout``: ``Linear → CubaLI``); a
    recurrent layer's neuron is a subgraph ``CubaLIF ⇄ Linear`` (snnTorch's layout). Time
    constants are in seconds, chosen so that ``method`` (``"exp"``, or ``"euler"`` for
    snnTorch/Norse) at the model's ``dt`` gives back exactly the decays the model steps
    with; ``r = 1/(1 - β)`` and ``w_in = 1/(1 - α)`` make the input gain 1
    (``brainsim.nir`` module docstring). Raises ``UnsupportedModelError`` for anything
    else (adaptive layers, UltraLIF layers, ...).
    """
    nir = require("nir", "nir")
    check_method(method)
    if isinstance(model, NIRNetwork):
        return _from_network(nir, model, method)
    if isinstance(model, LIFLayer | Readout):
        return _from_layers(nir, [model], method)
    if isinstance(model, SNN):
        layers = list(model.layers) + ([] if model.readout is None else [model.readout])
        return _from_layers(nir, layers, method)
    raise UnsupportedModelError(
        f"to_nir: a {type(model).__name__} has no NIR equivalent; supported: "
        f"{', '.join(SUPPORTED_MODELS)}"
    )
