r"""Wake/sleep phases and the sleep renormalization of plastic weights (sleep-based
homeostatic regularization, Massey, Hubin, Nichele & Sæbø 2026, arXiv 2601.08447).

Time alternates between ``wake`` ms and ``sleep`` ms, starting awake at $t = 0$: the
step starting at $t$ is asleep when $(t + dt/2) \bmod (\text{wake} + \text{sleep})
\ge \text{wake}$. During sleep:

- the external input is replaced (``Sleep.inputs``): the wake inputs are off and each
  population named in ``noise`` gets a Gaussian current of standard deviation $\sigma$
  (pA), drawn independently for every neuron and step; the wake input is a function of
  the *wake clock* (``awake_time``), so the data stream pauses while asleep;
- plasticity stays on, and after every step of the rule (``bs.Plastic(rule,
  sleep=...)``) the weights decay toward a homeostatic baseline by the factor
  $k = m^{dt/\text{sleep}}$, so that over one whole sleep the distance to the
  baseline shrinks by ``factor`` $m$:

  - ``baseline="static"``: $w \leftarrow b + (w - b)\,k$, $b$ the mean initial weight
    of the projection;
  - ``"layer"``: every weight is scaled by one factor so that the projection's total
    $S = \sum w$ moves to $S_0 + (S - S_0)\,k$, $S_0$ the initial total;
  - ``"post"``: the same per postsynaptic neuron (its total input $S_j$ toward its
    initial $S_{0j}$).

The paper calls the decay stochastic; here the stochasticity is that of the
noise-driven spontaneous activity and its plasticity, the decay itself is the
deterministic factor above. Cost: a sleep step touches every synapse (O(synapses));
a wake step adds nothing.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._checks import check_nonnegative, check_positive, check_prob

BASELINES = ("static", "layer", "post")


class Sleep(eqx.Module):
    """``wake`` > 0 ms and ``sleep`` >= 0 ms (``sleep=0``: never asleep); ``factor``
    in (0, 1], the remaining distance to the baseline after one whole sleep;
    ``baseline``: ``"static"``, ``"layer"`` or ``"post"`` (static). ``target``: the
    baseline from the initial weights, set by ``bs.Plastic`` when the network is built
    (``bind``): the mean weight (static), the total (layer) or ``(n_post,)`` totals
    (post).

    >>> import brainsim as bs
    >>> s = bs.plasticity.Sleep(wake=90.0, sleep=10.0)
    >>> [bool(s.asleep(t, 1.0)) for t in (89.0, 90.0, 99.0, 100.0)], s.fraction
    ([False, True, True, False], 0.1)
    """

    wake: float = eqx.field(static=True)
    sleep: float = eqx.field(static=True)
    factor: float = 0.5
    baseline: str = eqx.field(default="static", static=True)
    target: jnp.ndarray | None = None

    def __check_init__(self):
        check_positive("Sleep.wake", self.wake, "ms")
        check_nonnegative("Sleep.sleep", self.sleep, "ms")
        check_prob("Sleep.factor", self.factor)
        check_positive("Sleep.factor", self.factor)
        if self.baseline not in BASELINES:
            raise ValueError(f"Sleep.baseline must be one of {BASELINES}, got {self.baseline!r}")

    @property
    def fraction(self) -> float:
        """The fraction of time asleep."""
        return self.sleep / (self.wake + self.sleep)

    def asleep(self, t, dt):
        """Whether the step of ``dt`` ms starting at ``t`` ms is asleep (bool array)."""
        if not self.sleep:
            return jnp.zeros(jnp.shape(t), bool)
        return jnp.mod(jnp.asarray(t) + 0.5 * dt, self.wake + self.sleep) >= self.wake

    def awake_time(self, t):
        """The wake time (ms) elapsed before ``t`` ms."""
        period = self.wake + self.sleep
        cycles = jnp.floor(jnp.asarray(t) / period)
        return cycles * self.wake + jnp.minimum(t - cycles * period, self.wake)

    def bind(self, w0, layout) -> "Sleep":
        """This phase with its ``target`` from the initial flat weights ``w0``
        (``layout``: the projection's ``bs.ops.Indexed``): ``with_totals`` of their
        per-neuron totals."""
        w0 = jnp.asarray(w0)
        return self.with_totals(_post_totals(w0, layout), w0.size)

    def with_totals(self, totals, n_synapses: int) -> "Sleep":
        """This phase with its ``target`` from the initial weights' per-postsynaptic-neuron
        totals ``(n_post,)`` of ``n_synapses`` synapses: their sum over ``n_synapses``,
        the mean weight (static), their sum (layer), or themselves (post); summed in
        neuron order, as the layer's total is while asleep (so a network built split
        over devices gets the same baselines: ``bs.distributed.network``)."""
        totals = jnp.asarray(totals)
        if self.baseline == "static":
            target = jnp.sum(totals) / max(n_synapses, 1)
        elif self.baseline == "layer":
            target = jnp.sum(totals)
        else:
            target = totals
        return eqx.tree_at(lambda s: s.target, self, target, is_leaf=lambda x: x is None)

    def renormalize(self, w, *, layout, t, dt, whole=None):
        """The flat weights ``w`` after the decay of the step at ``t`` (unchanged when
        awake). ``whole``: maps this device's per-postsynaptic-neuron totals to those of
        the whole population when the synapses are split over devices by postsynaptic
        neuron (``bs.Plastic.whole``); the layer's total is the sum of those, in
        neuron order, whichever way the synapses are split."""
        if self.target is None:
            raise ValueError("Sleep.renormalize: the phase is bound by bs.Plastic (bind)")
        if not self.sleep:
            return w
        k = jnp.asarray(self.factor, w.dtype) ** (dt / self.sleep)
        decayed = lambda w: self._decay(w, k, layout, whole or (lambda x: x))
        return jax.lax.cond(self.asleep(t, dt), decayed, lambda w: w, w)

    def _decay(self, w, k, layout, whole):
        if self.baseline == "static":
            return self.target + (w - self.target) * k
        if self.baseline == "layer":
            total = jnp.sum(whole(_post_totals(w, layout)))
            return w * _ratio(self.target + (total - self.target) * k, total)
        total = _post_totals(w, layout)
        return (
            w * _ratio(self.target + (total - self.target) * k, total)[_post_of_synapses(layout)]
        )

    def inputs(self, net, wake=None, *, noise=None, key, dt):
        """The external input of ``bs.simulate`` (a function ``t -> dict``) for these
        phases: awake, ``wake`` (a dict ``{population: current (pA)}`` or a function of
        the wake clock ``awake_time(t)`` returning one); asleep, no wake input and, for
        every ``{population: sigma}`` in ``noise``, Gaussian currents of std ``sigma``
        pA (drawn from ``key`` and the step index ``round(t / dt)``)."""
        noise = dict(noise or {})
        for name, sigma in noise.items():
            if name not in net.populations:
                raise ValueError(
                    f"Sleep.inputs: unknown population {name!r} in noise; known: "
                    f"{sorted(net.populations)}"
                )
            check_nonnegative(f"Sleep.inputs: noise[{name!r}]", sigma, "pA")

        def at(t):
            asleep = self.asleep(t, dt)
            got = wake(self.awake_time(t)) if callable(wake) else dict(wake or {})
            out = {}
            for name, current in got.items():
                try:
                    out[name] = jnp.where(asleep, 0.0, jnp.asarray(current))
                except TypeError:
                    raise ValueError(
                        f"Sleep.inputs: the wake input of {name!r} must be a current "
                        f"(pA), got {type(current).__name__}"
                    ) from None
            step = jax.random.fold_in(key, jnp.round(t / dt).astype(jnp.int32))
            for i, (name, sigma) in enumerate(sorted(noise.items())):
                size = net.populations[name].size
                z = sigma * jax.random.normal(jax.random.fold_in(step, i), (size,))
                out[name] = out.get(name, 0.0) + jnp.where(asleep, z, 0.0)
            return out

        return at


def _post_of_synapses(layout):
    """The postsynaptic neuron of every synapse, in the flat weight order of the
    ``CSR``/``ELL`` layout of ``layout`` (a ``bs.ops.Indexed``)."""
    return layout.layout.indices.reshape(-1)


def _post_totals(w, layout):
    return jax.ops.segment_sum(w, _post_of_synapses(layout), layout.layout.n_post)


def _ratio(new, old):
    safe = jnp.where(old == 0, 1.0, old)
    return jnp.where(old == 0, 1.0, new / safe)
