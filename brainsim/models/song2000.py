r"""Song, Miller & Abbott (2000, Nat Neurosci 3:919): competitive Hebbian learning
through additive STDP drives the weights of many Poisson inputs onto one neuron to a
bimodal distribution (most near 0 or near ``gmax``).

``n_inputs`` Poisson trains at ``rate`` Hz excite one conductance-based LIF through
plastic synapses (``bs.plasticity.PairSTDP``, additive, hard bounds ``[0, gmax]``,
$A_- = 1.05\,A_+$, $\tau_\pm = 20$ ms):

$$\tau_m \dot V = E_L - V + g_e (E_e - V),\qquad \tau_e \dot g_e = -g_e,\qquad
g_e \mathrel{+}= w_i \text{ at a spike of input } i,$$

$\tau_m = 10$ ms, $E_L = -74$ mV, $V_{th} = -54$ mV, $V_{reset} = -60$ mV,
$E_e = 0$ mV, $\tau_e = 5$ ms, $g_e$ and $w$ in units of the leak conductance,
``gmax = 0.01`` (the parameters of Brian2's documentation example of this paper).
Initial weights uniform on ``[0, gmax]``. Forward Euler for the membrane. An input
spike emitted in step $t$ pairs at $t$ and reaches $g_e$ in step $t + 1$ (as in
``Network``), so the output spikes it causes pair with it causally ($\Delta t > 0$);
it transmits the weight from before the update its own spike causes (as Brian2's
``on_pre = "ge += w; ..."``; NEST transmits the updated weight). In this
fluctuation-driven regime the difference matters: the depression at a presynaptic
spike is ~5 % of the mean weight.
"""

import jax
import jax.numpy as jnp

from .. import ops
from ..conn import ELL
from ..integrators import Euler
from ..neurons import LIF, Drive
from ..plasticity import Bounds, PairSTDP

_C_M, _TAU_M = 100.0, 10.0  # pF, ms: g_L = 10 nS


def song2000(
    key,
    *,
    duration: float,
    dt: float = 0.1,
    n_inputs: int = 1000,
    rate: float = 15.0,
    gmax: float = 0.01,
    a_plus: float = 0.01,
    steps_per_chunk: int = 10_000,
):
    """Run the model for ``duration`` ms; ``a_plus`` is $A_+$ relative to ``gmax``.

    Returns ``(w, counts)``: the final weights ``(n_inputs,)`` (units of the leak
    conductance) and the output spike count of every chunk of ``steps_per_chunk``
    steps ``(n_chunks,)``."""
    n_chunks = round(duration / (dt * steps_per_chunk))
    layout = ELL(n_inputs, 1, jnp.zeros((n_inputs, 1), jnp.int32))
    idx = ops.index(layout)
    rule = PairSTDP(a_plus * gmax, 1.05 * a_plus * gmax, 20.0, 20.0, Bounds(0.0, gmax))
    lif = LIF(
        1, tau_m=_TAU_M, c_m=_C_M, v_rest=-74.0, v_th=-54.0, v_reset=-60.0, integrator=Euler()
    )
    k_w, k_in = jax.random.split(key)
    w0 = jax.random.uniform(k_w, (n_inputs,), maxval=gmax)
    g_l = _C_M / _TAU_M

    def step(carry, k):
        plastic, neuron, ge, arriving = carry
        ge = ge * jnp.exp(-dt / 5.0) + arriving
        neuron, s_out = lif.step(neuron, Drive(conductance=ge * g_l), t=0.0, dt=dt)
        s_in = jax.random.bernoulli(k, rate * dt * 1e-3, (n_inputs,)).astype(jnp.float32)
        sent = ops.matvec(layout, plastic.w, s_in, idx.pre_capacity)  # before the update
        plastic = rule.step(plastic, s_in, s_out, layout=idx, dt=dt)
        return (plastic, neuron, ge, sent), s_out[0]

    @jax.jit
    def chunk(carry, c):
        keys = jax.random.split(jax.random.fold_in(k_in, c), steps_per_chunk)
        carry, s = jax.lax.scan(step, carry, keys)
        return carry, jnp.sum(s)

    carry = (rule.init(w0, n_inputs, 1), lif.init(None), jnp.zeros(1), jnp.zeros(1))
    counts = []
    for c in range(n_chunks):
        carry, n = chunk(carry, c)
        counts.append(n)
    return carry[0].w, jnp.stack(counts)
