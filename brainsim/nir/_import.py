"""``from_nir``: a NIR graph → ``NIRNetwork``."""

import os

import jax.numpy as jnp
import numpy as np

from .._checks import check_positive
from .._optional import require
from ..spikes import AbstractSpike, Heaviside
from . import _graph
from ._discretise import check_method, factors
from ._network import Affine, Delay, Neuron, NIRNetwork, Scale, Threshold

# NIR stores each parameter as its own float32 number, so a gain that is 1 by
# construction (e.g. snnTorch's r = tau/dt times dt/tau) comes back as 1 ± a few ulp.
_UNIT_TOL = 8 * np.finfo(np.float32).eps


def _f32(x, n):
    return jnp.asarray(np.broadcast_to(np.asarray(x, np.float64), (n,)), jnp.float32)


def _opt(x, n, neutral):
    """``x`` as float32 ``(n,)``, or None where it is ``neutral`` everywhere (within
    ``_UNIT_TOL`` for a gain of 1)."""
    x = np.broadcast_to(np.asarray(x, np.float64), (n,))
    tol = _UNIT_TOL if neutral == 1 else 0.0
    return None if np.all(np.abs(x - neutral) <= tol) else _f32(x, n)


def _neuron(name, node, n, dt_s, method, spike) -> Neuron:
    k = _graph.kind(node)
    p = lambda field: np.asarray(getattr(node, field), np.float64)
    thr = None
    if k in ("CubaLIF", "LIF", "IF"):
        thr = _f32(p("v_threshold"), n)
    reset = None if thr is None else _opt(p("v_reset"), n, 0.0)
    if k in ("IF", "I"):
        gain = dt_s * p("r")
        return Neuron(
            _f32(1.0, n), k, gain=_opt(gain, n, 1), threshold=thr, v_reset=reset, spike=spike
        )
    if k in ("CubaLIF", "CubaLI"):
        alpha, f_syn = factors(f"NIR node {name!r} tau_syn", p("tau_syn"), dt_s, method)
        beta, f_mem = factors(f"NIR node {name!r} tau_mem", p("tau_mem"), dt_s, method)
        gain = f_syn * f_mem * p("r") * p("w_in")
    else:
        alpha = None
        beta, f_mem = factors(f"NIR node {name!r} tau", p("tau"), dt_s, method)
        gain = f_mem * p("r")
    return Neuron(
        _f32(beta, n),
        k,
        alpha=None if alpha is None else _f32(alpha, n),
        gain=_opt(gain, n, 1),
        leak=_opt(f_mem * p("v_leak"), n, 0.0),
        threshold=thr,
        v_reset=reset,
        v_init=_opt(p("v_leak"), n, 0.0),
        spike=spike,
    )


def _delay(name, node, n, dt_s):
    steps = np.broadcast_to(np.asarray(node.delay, np.float64), (n,)) / dt_s
    whole = np.round(steps)
    if np.any(whole < 0) or not np.allclose(steps, whole, rtol=0, atol=1e-6):
        raise ValueError(
            f"NIR node {name!r}: delays must be whole multiples of dt ({dt_s:g} s), got "
            f"{np.asarray(node.delay)} s"
        )
    return Delay(tuple(int(s) for s in whole))


def _build(name, node, n, dt_s, method, spike):
    k = _graph.kind(node)
    if k == "Linear":
        return Affine(jnp.asarray(np.asarray(node.weight).T, jnp.float32))
    if k == "Affine":
        w = jnp.asarray(np.asarray(node.weight).T, jnp.float32)
        return Affine(w, _f32(node.bias, n))
    if k == "Scale":
        return Scale(_f32(node.scale, n))
    if k == "Threshold":
        return Threshold(_f32(node.threshold, n), spike)
    if k == "Delay":
        return _delay(name, node, n, dt_s)
    return _neuron(name, node, n, dt_s, method, spike)


def from_nir(
    graph, dt: float, *, method: str = "exp", spike: AbstractSpike | None = None
) -> NIRNetwork:
    """A NIR graph (a ``nir.NIRGraph``, or the path of a ``.nir`` file) as a brainsim
    ``NIRNetwork`` stepped every ``dt`` ms.

    NIR's time constants and delays are in seconds. ``method`` (``"exp"`` or
    ``"euler"``) discretises every linear stage (``brainsim.nir`` module docstring; use
    ``"euler"`` for graphs written by snnTorch or Norse, which simulate them that way).
    ``spike``: the spike function of every neuron and Threshold node (default
    ``Heaviside()``: hard threshold, FastSigmoid surrogate gradient).

    Everything is checked before anything is built: an unsupported node type raises
    ``UnsupportedNodeError`` (listing the supported ones), shapes that disagree along
    an edge ``NIRShapeError``, a structure brainsim cannot evaluate
    ``NIRStructureError``.
    """
    check_positive("from_nir.dt", dt, "ms")
    check_method(method)
    if isinstance(graph, str | os.PathLike):
        graph = require("nir", "nir").read(graph)
    spike = Heaviside() if spike is None else spike
    nodes, edges = _graph.flatten(graph)
    sizes = {n: s[0] for n, s in _graph.shapes(nodes, edges).items()}
    inp, out, units = _graph.plan(nodes, edges)
    dt_s = dt * 1e-3
    built = {
        name: _build(name, node, sizes[name], dt_s, method, spike)
        for name, node in nodes.items()
        if _graph.kind(node) not in ("Input", "Output")
    }
    return NIRNetwork(built, tuple(edges), units, inp, out, float(dt), sizes[inp])
