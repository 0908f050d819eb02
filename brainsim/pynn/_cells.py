"""PyNN standard cell types -> brainsim neuron models (PyNN units -> brainsim units).

PyNN: ``cm`` nF, currents nA, voltages mV, times ms. brainsim: ``c_m`` pF, currents pA.
"""

import copy

import numpy as np

from .. import neurons

SUPPORTED_CELLS = ("IF_curr_exp", "IF_cond_exp", "SpikeSourceArray", "SpikeSourcePoisson")


def _params(cell_type, size: int) -> dict:
    space = copy.deepcopy(cell_type.parameter_space)  # one cell type may serve many sizes
    space.shape = (size,)
    space.evaluate()
    return dict(space.items())


def _value(x):
    """A parameter as a float or per-cell array, evaluated or not."""
    x = np.asarray(getattr(x, "base_value", x), float)
    return float(x) if x.ndim == 0 else x


def build_neuron(cell_type, size: int, v_init=None):
    """The brainsim neuron model for ``size`` cells of PyNN ``cell_type``."""
    name = type(cell_type).__name__
    if name not in SUPPORTED_CELLS:
        raise ValueError(
            f"brainsim.pynn: cell type {name!r} is not supported; supported: "
            f"{', '.join(SUPPORTED_CELLS)}"
        )
    p = _params(cell_type, size)
    if name == "SpikeSourcePoisson":
        if np.any(p["start"] != 0.0) or np.any(p["duration"] < 1e9):
            raise ValueError(
                "brainsim.pynn: SpikeSourcePoisson with start or duration is not supported; "
                "supported: start=0, duration >= 1e9 ms (the whole run)"
            )
        return neurons.PoissonSource(size, rate=p["rate"])
    if name == "SpikeSourceArray":
        trains = [
            np.asarray(s.value if hasattr(s, "value") else s, float) for s in p["spike_times"]
        ]
        times = np.concatenate(trains) if trains else np.zeros(0)
        indices = np.concatenate([np.full(len(s), i) for i, s in enumerate(trains)])
        return neurons.SpikeTimes(size, times, indices.astype(np.int32))
    return neurons.LIF(
        size,
        tau_m=p["tau_m"],
        c_m=1000.0 * p["cm"],  # nF -> pF
        v_rest=p["v_rest"],
        v_th=p["v_thresh"],
        v_reset=p["v_reset"],
        t_ref=p["tau_refrac"],
        i_ext=1000.0 * p["i_offset"],  # nA -> pA
        v_init=p["v_rest"] if v_init is None else v_init,
    )


def synapse_params(cell_type, receptor: str) -> tuple:
    """(tau_syn ms, e_rev mV or None for current-based, sign) of a receptor type; values
    are floats or per-cell arrays."""
    name = type(cell_type).__name__
    if receptor not in ("excitatory", "inhibitory"):
        raise ValueError(
            f"brainsim.pynn: receptor_type {receptor!r}; supported: excitatory, inhibitory"
        )
    x = "E" if receptor == "excitatory" else "I"
    p = cell_type.parameter_space
    tau = _value(p[f"tau_syn_{x}"])
    if name == "IF_cond_exp":
        return tau, _value(p[f"e_rev_{x}"]), 1.0
    return tau, None, 1.0 if x == "E" else -1.0
