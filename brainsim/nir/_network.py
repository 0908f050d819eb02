r"""The executable form of a NIR graph: discretised NIR nodes wired as a graph.

Every node maps a whole time-major sequence ``(T, ..., n)`` to another, in the
topological order of the graph, as ``bs.train`` layers do. A recurrent loop (a strongly
connected set of nodes, e.g. ``LIF → Linear → LIF``) is one unit scanned step by step:
the edge back into its neuron carries the loop's value of the **previous** step (the
convention of snnTorch, Norse and brainsim's ``LIFLayer``).

Neurons, per step of ``dt`` (``x_t`` the summed input of the step, ``i`` a scaled
synaptic current, ``v`` the membrane):

$$i_t = \alpha\, i_{t-1} + g\, x_t, \qquad v_t = \beta\, v_{t-1} + i_t + \ell,
\qquad s_t = H(v_t - \vartheta), \qquad v_t \leftarrow v_{reset} \text{ where } s_t = 1$$

without the synaptic stage (``alpha`` None) ``v_t = β v_{t-1} + g x_t + ℓ``; without a
threshold the node outputs ``v``. ``from_nir`` derives ``alpha``, ``beta``, ``g`` and
``ℓ`` from the NIR parameters (``brainsim.nir`` module docstring).
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from ..spikes import AbstractSpike, Heaviside


class Affine(eqx.Module):
    """``y = x @ w (+ bias)``; ``w (n_in, n_out)`` (NIR's weight transposed)."""

    w: jax.Array
    bias: jax.Array | None = None

    def __call__(self, x):
        y = x @ self.w
        return y if self.bias is None else y + _like(self.bias, y)


class Scale(eqx.Module):
    """``y = x * scale``; ``scale (n,)``."""

    scale: jax.Array

    def __call__(self, x):
        return x * _like(self.scale, x)


class Threshold(eqx.Module):
    """``y = H(x - threshold)`` (spike function ``spike``: hard forward pass, surrogate
    gradient)."""

    threshold: jax.Array
    spike: AbstractSpike = Heaviside()

    def __call__(self, x):
        return self.spike(x - _like(self.threshold, x))


class Delay(eqx.Module):
    """``y[t] = x[t - steps]`` per neuron (zeros before the start); ``steps (n,)`` whole
    time steps (static)."""

    steps: tuple[int, ...] = eqx.field(static=True)

    def __call__(self, x):
        n_steps = x.shape[0]
        d = jnp.asarray(self.steps, jnp.int32)
        t = jnp.arange(n_steps, dtype=jnp.int32)[:, None] - d[None, :]  # (T, n) source step
        t = t.reshape(n_steps, *(1,) * (x.ndim - 2), -1)
        src = jnp.take_along_axis(x, jnp.clip(t, 0, n_steps - 1), axis=0)
        return jnp.where(t >= 0, src, jnp.zeros_like(src))


class NeuronState(eqx.Module):
    i: jax.Array  # (..., n) scaled synaptic current (unused without a synaptic stage)
    v: jax.Array  # (..., n) membrane


class Neuron(eqx.Module):
    """A discretised NIR neuron (module docstring): ``beta (n,)``; ``alpha (n,)`` or None
    (no synaptic stage); ``gain (n,)`` or None (1); ``leak (n,)`` or None (0);
    ``threshold (n,)`` or None (no spikes: outputs ``v``); ``v_reset (n,)`` or None (0);
    ``v_init (n,)`` or None (0): the membrane at the start. ``kind``: the NIR node type it
    came from (``"CubaLIF"``, ``"LIF"``, ``"IF"``, ...), used when writing it back."""

    beta: jax.Array
    kind: str = eqx.field(static=True)
    alpha: jax.Array | None = None
    gain: jax.Array | None = None
    leak: jax.Array | None = None
    threshold: jax.Array | None = None
    v_reset: jax.Array | None = None
    v_init: jax.Array | None = None
    spike: AbstractSpike = Heaviside()

    def init(self, batch_shape, dtype) -> NeuronState:
        z = jnp.zeros((*batch_shape, self.beta.shape[-1]), dtype)
        v = z if self.v_init is None else jnp.broadcast_to(self.v_init, z.shape).astype(dtype)
        return NeuronState(z, v)

    def step(self, state: NeuronState, inputs):
        """One step; ``inputs``: the input contributions of this step ``(..., n)``, added
        in order (the external input first, then the loop's own) to the decayed current
        (to the decayed membrane without a synaptic stage), the order snnTorch and
        ``LIFLayer`` use, so the same parameters give the same floats."""
        p = lambda a: None if a is None else _like(a, state.v)
        alpha, beta, gain = p(self.alpha), p(self.beta), p(self.gain)
        synaptic = alpha is not None
        acc = alpha * state.i if synaptic else beta * state.v
        for x in inputs:
            acc = acc + (x if gain is None else gain * x)
        i, v = (acc, beta * state.v + acc) if synaptic else (state.i, acc)
        if self.leak is not None:
            v = v + p(self.leak)
        if self.threshold is None:
            return NeuronState(i, v), v
        x = v - p(self.threshold)
        s = self.spike(x)
        reset = jnp.zeros_like(v) if self.v_reset is None else p(self.v_reset)
        return NeuronState(i, jnp.where(x > 0, reset, v)), s


class Unit(eqx.Module):
    """One step of the plan: ``name`` (a node, or a loop's neuron) and its inputs.
    ``preds``: nodes outside the unit whose sequences are summed (in order) into it.
    A loop also has ``members`` (its stateless nodes in evaluation order), ``inner``
    (each member's predecessors inside the loop) and ``feedback`` (the loop nodes
    feeding the neuron, read from the previous step)."""

    name: str = eqx.field(static=True)
    preds: tuple[str, ...] = eqx.field(static=True)
    members: tuple[str, ...] = eqx.field(static=True, default=())
    inner: tuple[tuple[str, ...], ...] = eqx.field(static=True, default=())
    feedback: tuple[str, ...] = eqx.field(static=True, default=())


def _like(p, x):
    """Per-neuron parameter ``p (n,)`` broadcast explicitly to ``x (..., n)``."""
    return jnp.broadcast_to(p, x.shape).astype(x.dtype)


def _sum(xs):
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


class NIRNetwork(eqx.Module):
    """A NIR graph made executable (build it with ``bs.nir.from_nir``).

    ``nodes``: name → ``Affine``/``Scale``/``Threshold``/``Delay``/``Neuron``; ``edges``:
    the graph's ``(source, target)`` pairs; ``plan``: the units in evaluation order;
    ``input``/``output``: the names of the graph's Input and Output nodes; ``dt`` (ms,
    static): the step the parameters were discretised for; ``n_in``: the input size.
    ``net(x (..., T, n_in))`` → the output node's sequence ``(..., T, n_out)``;
    ``net.trace(x)``: every node's sequence. Differentiable (surrogate gradients through
    the spike functions): ``bs.train.fit`` trains it with a loss written on ``net(x)``.
    """

    nodes: dict
    edges: tuple[tuple[str, str], ...] = eqx.field(static=True)
    plan: tuple[Unit, ...]
    input: str = eqx.field(static=True)
    output: str = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    n_in: int = eqx.field(static=True)

    def __call__(self, x):
        return self.trace(x)[self.output]

    def trace(self, x) -> dict:
        """Every node's output sequence, batch-major ``(..., T, n)``, for ``x (..., T,
        n_in)``."""
        x = jnp.asarray(x)
        if x.ndim < 2 or x.shape[-1] != self.n_in:
            raise ValueError(
                f"NIRNetwork: x must be (..., T, {self.n_in}) (time steps, inputs), got "
                f"shape {x.shape}"
            )
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            x = x.astype(jnp.float32)
        seqs = {self.input: jnp.moveaxis(x, -2, 0)}
        for unit in self.plan:
            ins = [seqs[p] for p in unit.preds]
            if unit.members or unit.feedback:
                seqs.update(self._loop(unit, ins))
            else:
                seqs[unit.name] = self._node(unit.name, ins)
        seqs[self.output] = _sum([seqs[a] for a, b in self.edges if b == self.output])
        return {k: jnp.moveaxis(v, 0, -2) for k, v in seqs.items()}

    def _node(self, name, ins):
        node = self.nodes[name]
        if not isinstance(node, Neuron):
            return node(_sum(ins))
        h = _sum(ins)
        state = node.init(h.shape[1:-1], h.dtype)
        return jax.lax.scan(lambda st, h_t: node.step(st, (h_t,)), state, h)[1]

    def _loop(self, unit, ins):
        """A recurrent loop: the neuron ``unit.name`` and its stateless ``members``,
        scanned step by step."""
        neuron = self.nodes[unit.name]
        h = _sum(ins)
        state = neuron.init(h.shape[1:-1], h.dtype)

        def members(out):
            vals = {unit.name: out}
            for m, inner in zip(unit.members, unit.inner, strict=True):
                vals[m] = self.nodes[m](_sum([vals[p] for p in inner]))
            return vals

        def step(carry, h_t):
            st, prev = carry
            st, out = neuron.step(st, (h_t, *(prev[f] for f in unit.feedback)))
            vals = members(out)
            return (st, vals), vals

        prev = members(jnp.zeros_like(h[0]))
        return jax.lax.scan(step, (state, prev), h)[1]
