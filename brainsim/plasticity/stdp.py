r"""Pair-based STDP (Bi & Poo 1998; Song, Miller & Abbott 2000; Morrison et al. 2008).

For an isolated pair, $\Delta t = t_\text{post} - t_\text{pre}$, the raw change is

$$\Delta w = \begin{cases} A_+ e^{-\Delta t/\tau_+} & \Delta t > 0\\
-A_- e^{\Delta t/\tau_-} & \Delta t < 0\end{cases}$$

(``symmetric=True``: $A_+ e^{-|\Delta t|/\tau_+} - A_- e^{-|\Delta t|/\tau_-}$ for both
orders, the symmetric window of hippocampal CA3 and of symmetric-STDP learning), then
passes through ``bounds`` (additive/hard or multiplicative/soft). Traces
$x_\pm$ (presynaptic) and $y_\pm$ (postsynaptic) with time constants $\tau_\pm$ carry
the pairs: a post spike changes each incoming weight by $A_+x_+$ ($-A_-x_-$ too if
symmetric), a pre spike each outgoing weight by $-A_-y_-$ ($+A_+y_+$ if symmetric).
``pairing``: ``AllToAll`` or ``Nearest`` (``bs.plasticity.traces``). Step order and
delay convention: ``bs.plasticity`` (``_base``).
"""

import equinox as eqx
import jax.numpy as jnp

from ..ops import PairRun
from ._base import AbstractPlasticity, apply_bounded, check_rule
from .bounds import Bounds
from .traces import AbstractPairing, AllToAll, Nearest, decay_factor


class PairSTDPState(eqx.Module):
    w: jnp.ndarray  # (n_synapses,) plastic weights, flat layout order
    x_plus: jnp.ndarray  # (n_pre,) presynaptic trace, tau_plus
    x_minus: jnp.ndarray  # (n_pre,) presynaptic trace, tau_minus (symmetric window)
    y_plus: jnp.ndarray  # (n_post,) postsynaptic trace, tau_plus (symmetric window)
    y_minus: jnp.ndarray  # (n_post,) postsynaptic trace, tau_minus


class PairSTDP(AbstractPlasticity):
    """``A_plus``, ``A_minus`` >= 0 (weight units: magnitudes of potentiation and
    depression); ``tau_plus``, ``tau_minus`` > 0 ms; ``bounds``: ``Bounds``;
    ``pairing``: ``AllToAll()`` or ``Nearest()``; ``symmetric`` (static).

    >>> import jax.numpy as jnp, brainsim as bs
    >>> layout = bs.conn.ELL(2, 1, jnp.array([[0], [0]]))
    >>> rule = bs.plasticity.PairSTDP(A_plus=0.1, A_minus=0.1, tau_plus=20.0, tau_minus=20.0)
    >>> s = rule.init(jnp.full(2, 0.5), 2, 1)
    >>> idx = bs.ops.index(layout)
    >>> s = rule.step(s, jnp.array([1.0, 0.0]), jnp.zeros(1), layout=idx, dt=10.0)
    >>> s = rule.step(s, jnp.zeros(2), jnp.ones(1), layout=idx, dt=10.0)
    >>> [round(float(v), 4) for v in s.w]  # pre 0 paired at dt = +10 ms: 0.1 exp(-1/2)
    [0.5607, 0.5]
    """

    A_plus: float = 0.01
    A_minus: float = 0.0105
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    bounds: Bounds = Bounds()
    pairing: AbstractPairing = AllToAll()
    symmetric: bool = eqx.field(default=False, static=True)

    def __check_init__(self):
        check_rule("PairSTDP", self, ("A_plus", "A_minus"), ("tau_plus", "tau_minus"))

    def init(self, w, n_pre: int, n_post: int) -> PairSTDPState:
        w = jnp.asarray(w)
        pre, post = jnp.zeros(n_pre, w.dtype), jnp.zeros(n_post, w.dtype)
        return PairSTDPState(w, pre, pre, post, post)

    def step(self, state: PairSTDPState, pre, post, *, layout, dt) -> PairSTDPState:
        f = tuple(decay_factor(t, dt, state.x_plus.dtype) for t in (self.tau_plus, self.tau_minus))
        x, y = (state.x_plus, state.x_minus), (state.y_plus, state.y_minus)
        on_post = (raw_on_post(x, self, f), jnp.ones_like(y[0]))
        on_pre = (raw_on_pre(y, self, f), jnp.ones_like(x[0]))
        w = apply_bounded(layout, state.w, pre, post, on_post, on_pre, self.bounds)
        x = [self.pairing.jump(t * ft, pre) for t, ft in zip(x, f, strict=True)]
        y = [self.pairing.jump(t * ft, post) for t, ft in zip(y, f, strict=True)]
        return PairSTDPState(w, *x, *y)

    def run_form(self, state: PairSTDPState, *, dt):
        """``bs.ops.PairRun`` for all-to-all or nearest-neighbour pairing, either window,
        with bounds additive or multiplicative on each side (``mu`` 0 or 1); else
        ``None``."""
        b = self.bounds
        if type(self.pairing) not in (AllToAll, Nearest):
            return None
        if b.mu_plus not in (0, 1) or b.mu_minus not in (0, 1):
            return None
        dtype = state.w.dtype
        return PairRun(
            w=state.w,
            traces=(state.x_plus, state.x_minus, state.y_plus, state.y_minus),
            seen=None,
            cols=None,
            decay=tuple(decay_factor(t, dt, dtype) for t in (self.tau_plus, self.tau_minus) * 2),
            a_plus=self.A_plus,
            a_minus=self.A_minus,
            w_min=b.w_min,
            w_max=b.w_max,
            soft=(b.mu_plus == 1, b.mu_minus == 1),
            symmetric=self.symmetric,
            nearest=type(self.pairing) is Nearest,
        )

    def from_run(self, state: PairSTDPState, run: PairRun) -> PairSTDPState:
        return PairSTDPState(run.w, *run.traces)

    def window(self, delta_t):
        """The raw change of an isolated pair at ``delta_t = t_post - t_pre`` (ms),
        before bounds; ``delta_t = 0`` gives 0 (same-step spikes do not pair)."""
        dt = jnp.asarray(delta_t)
        ltp = self.A_plus * jnp.exp(-jnp.abs(dt) / self.tau_plus)
        ltd = self.A_minus * jnp.exp(-jnp.abs(dt) / self.tau_minus)
        if self.symmetric:
            return jnp.where(dt != 0, ltp - ltd, 0.0)
        return jnp.where(dt > 0, ltp, jnp.where(dt < 0, -ltd, 0.0))


# The traces enter decayed by the factors f as x (f A): XLA folds a product of constants,
# so it rounds (x f) A so wherever f and A are constants; written so, every program (and
# the native loop, bs.ops.PairRun) rounds alike.


def raw_on_post(x, rule, f=(1.0, 1.0)):
    """Raw change at a postsynaptic spike from the presynaptic traces ``x`` decayed by
    ``f`` (per trace; 1: ``x`` already decayed)."""
    ltd = x[1] * (rule.A_minus * f[1]) if rule.symmetric else 0.0
    return x[0] * (rule.A_plus * f[0]) - ltd


def raw_on_pre(y, rule, f=(1.0, 1.0)):
    """Raw change at a presynaptic spike from the postsynaptic traces ``y`` decayed by
    ``f``."""
    ltp = y[0] * (rule.A_plus * f[0]) if rule.symmetric else 0.0
    return ltp - y[1] * (rule.A_minus * f[1])
