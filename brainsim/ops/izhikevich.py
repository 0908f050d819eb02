r"""One fused step of an Izhikevich population and its voltage-jump synapses.

XLA:CPU does not fuse several outputs into one loop: written as array expressions, the
step of ``bs.neurons.Izhikevich`` becomes five loops over the population (membrane,
spike, reset, recovery, refractory counter) and a copy, each re-reading the state.
``izhikevich_update`` does the step in one pass (a C++ kernel behind ``jax.ffi`` on
CPU, ``_native/izhikevich_update.cc``). Its pure-JAX path is the modules' own
composition, what ``bs.Network.step`` computes for a population that does not fuse:
each incoming synapse's kinetics ``step`` and ``output``, summed into the drive in the
network's order, then the model's ``step``. That path is the specification, the
portable one (GPU/TPU) and the one derivatives go through (``jax.custom_jvp``); the
kernel computes it operation by operation in its order.

The kernel applies to what ``Izhikevich.fuse`` accepts: forward Euler, a ``Heaviside``
spike, ``Delta`` kinetics with ``VoltageJump`` outputs, and an external drive that is
a current only.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ..integrators import Euler
from ..neurons._base import Drive
from ..neurons.izhikevich import Izhikevich, IzhikevichState
from ..spikes import Heaviside
from ..synapses.kinetics import Delta, SynapseState
from ..synapses.outputs import VoltageJump
from ._kernel import Kernel

_PARAMS = ("a", "b", "c", "d", "v_peak", "c_m", "i_ext")  # the kernel's packed order


def _reference(neuron, synapses, state, syn_states, events, drive, t, *, dt):
    """The modules' composition: ``(state, synapse states, spikes)``."""
    new_syn = []
    for (kinetics, output), s, e in zip(synapses, syn_states, events, strict=True):
        s, g = kinetics.step(s, e, t=t, dt=dt)
        new_syn.append(s)
        drive = drive + output(g, state.v)
    state, spikes = neuron.step(state, drive, t=t, dt=dt)
    return state, tuple(new_syn), spikes


_izhikevich = Kernel(
    "izhikevich_update",
    _reference,
    when="float32/float64 states, a concrete dt, parameters not batched by jax.vmap",
    jvp="reference",
)


def packed(neuron, n, dtype, dt):
    """The kernels' parameters of ``neuron`` (``n`` neurons): ``params (7, P)`` in
    ``_PARAMS``' order and ``n_ref (P,) int32``, ``P`` = 1 (all shared) or ``n``."""
    fields = [jnp.asarray(getattr(neuron, p), dtype) for p in _PARAMS]
    # As refractory_update computes it, from t_ref as given.
    n_ref = jnp.round(jnp.asarray(neuron.t_ref) / dt).astype(jnp.int32)
    size = n if any(x.ndim for x in (*fields, n_ref)) else 1
    params = jnp.stack([jnp.broadcast_to(x, (size,)) for x in fields])
    return params, jnp.broadcast_to(n_ref, (size,))


def _call(neuron, state, current, events, *, dt):
    """One ``BrainsimIzhikevichUpdateF32``/``F64`` call: ``(v, u, spike, refractory)``."""
    v = state.v
    n, dtype = v.shape[-1], v.dtype
    params, n_ref = packed(neuron, n, dtype, dt)
    current = jnp.asarray(current, dtype)
    if current.size not in (1, n):
        current = jnp.broadcast_to(current, v.shape)
    floats = jax.ShapeDtypeStruct(v.shape, dtype)
    out = [floats, floats, floats, jax.ShapeDtypeStruct(v.shape, jnp.int32)]
    target = f"brainsim_izhikevich_update_{'f32' if dtype == jnp.float32 else 'f64'}"
    # The state is updated in place (results aliased to v, u, spike, refractory).
    call = jax.ffi.ffi_call(target, out, input_output_aliases={0: 0, 1: 1, 2: 2, 3: 3})
    state_in = [v, state.u, jnp.asarray(state.spike, dtype), state.refractory]
    operands = [*state_in, current, params, n_ref]
    return call(*operands, *[jnp.broadcast_to(e, v.shape) for e in events], dt=np.float64(dt))


def computes(neuron, synapses, drive) -> bool:
    """Whether the kernel computes the modules' step for ``neuron``, its incoming
    ``(kinetics, output)`` pairs and its external ``drive`` (only its structure is
    inspected): an ``Izhikevich`` (not a subclass: it may step differently) with forward
    Euler and a ``Heaviside`` spike, ``Delta`` kinetics with ``VoltageJump`` outputs, at
    most 16 of them, and a drive that is a current only."""
    zero = lambda x: isinstance(x, int | float) and x == 0
    return (
        type(neuron) is Izhikevich
        and type(neuron.integrator) is Euler
        and type(neuron.spike) is Heaviside
        and len(synapses) <= 16
        and all(type(k) is Delta and type(o) is VoltageJump for k, o in synapses)
        and zero(drive.conductance)
        and zero(drive.reversal)
        and zero(drive.jump)
    )


def _applies(neuron, synapses, state, syn_states, events, drive, t, *, dt):
    """A float state and a concrete ``dt`` (the kernel's attribute; a traced one takes
    the reference). ``izhikevich_update`` has checked ``computes`` (on the caller's
    values: here the drive's zeros may be tracers)."""
    return state.v.dtype in (jnp.float32, jnp.float64) and isinstance(dt, int | float)


@_izhikevich.register("cpu", applies=_applies)
def _native(neuron, synapses, state, syn_states, events, drive, t, *, dt):
    """The kernel, batched in one call over the state (a batched parameter or a batched
    module takes the reference)."""

    @jax.custom_batching.custom_vmap
    def native(neuron, state, current, events):
        v, u, spike, refractory = _call(neuron, state, current, events, dt=dt)
        new = IzhikevichState(v=v, u=u, spike=spike, refractory=refractory)
        return new, tuple(SynapseState(g=e) for e in events), spike

    @native.def_vmap
    def _(axis_size, in_batched, neuron, state, current, events):
        b_neuron, b_state, b_current, b_events = in_batched
        syn = tuple(SynapseState(g=True) for _ in events)
        out_batched = IzhikevichState(True, True, True, True), syn, True
        if any(jax.tree.leaves(b_neuron)):  # the parameters differ across the batch
            ref = lambda nrn, st, cur, ev: _reference(
                nrn, synapses, st, syn_states, ev, Drive(current=cur), t, dt=dt
            )
            axes = [jax.tree.map(lambda b: 0 if b else None, x) for x in in_batched]
            return jax.vmap(ref, in_axes=axes)(neuron, state, current, events), out_batched
        grow = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *x.shape))
        state = jax.tree.map(grow, state, b_state)
        events = jax.tree.map(grow, events, b_events)
        if b_current:  # (batch, *shape) with shape () or (..., n): under the state's
            current = current[(slice(None),) + (None,) * (state.v.ndim - current.ndim)]
            current = jnp.broadcast_to(current, state.v.shape)
        return native(neuron, state, current, events), out_batched

    return native(neuron, state, drive.current, tuple(events))


def izhikevich_update(neuron, synapses, state, syn_states, events, drive, *, t, dt):
    """One step of the ``Izhikevich`` population ``neuron`` (state ``IzhikevichState``,
    arrays ``(..., n)``) with its incoming synapses: ``synapses`` their ``(kinetics,
    output)`` pairs (the kernel runs where ``computes`` says so), ``syn_states``
    their states, ``events`` the summed weights (mV) arriving on each now
    (``(..., n)``), ``drive`` the external ``Drive`` (a current, pA), ``t`` and ``dt``
    (ms). Returns ``(state, synapse states, spikes)``, what the modules' ``step``s
    return (module docstring)."""
    args = (neuron, tuple(synapses), state, tuple(syn_states), tuple(events), drive, t)
    if not computes(neuron, synapses, drive):
        return _reference(*args, dt=dt)
    return _izhikevich(*args, dt=dt)
