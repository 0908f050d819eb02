r"""Weight bounds and weight dependence of plastic synapses (hard and soft bounds).

A rule proposes a raw change $\Delta$ (weight units); ``Bounds`` turns it into the
change actually applied. With $u = (w - w_\min)/(w_\max - w_\min)$:

$$w \leftarrow \operatorname{clip}\big(w + \Delta\,f(w),\ w_\min,\ w_\max\big),\qquad
f(w) = \begin{cases}(1 - u)^{\mu_+} & \Delta > 0\\ u^{\mu_-} & \Delta \le 0\end{cases}$$

$\mu_\pm = 0$ is the additive rule with hard bounds (Song, Miller & Abbott 2000),
$\mu_\pm = 1$ the multiplicative (soft-bound) rule (van Rossum et al. 2000), values in
between Gütig et al. (2003); this is NEST's ``stdp_synapse`` weight dependence with
$w_\min = 0$, $\lambda = A_+/w_\max$, $\alpha = A_-/A_+$.

Dale's law: a synapse never changes sign, so finite bounds may not straddle zero
(``dale=False`` allows it, e.g. ``Bounds(-inf, inf, dale=False)`` for unbounded
weights in gradient studies).
"""

import math

import equinox as eqx

from ..ops import bounded_change


class Bounds(eqx.Module):
    """``w_min <= w_max`` (weight units); ``mu_plus``, ``mu_minus`` >= 0 (static):
    0 additive/hard bounds, 1 multiplicative/soft bounds. Soft bounds (``mu > 0``) need
    finite bounds."""

    w_min: float = 0.0
    w_max: float = 1.0
    mu_plus: float = eqx.field(default=0.0, static=True)
    mu_minus: float = eqx.field(default=0.0, static=True)
    dale: bool = eqx.field(default=True, static=True)

    def __check_init__(self):
        lo, hi = float(self.w_min), float(self.w_max)
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise ValueError(f"Bounds: w_min must be <= w_max, got w_min={lo:g}, w_max={hi:g}")
        if self.dale and lo < 0 < hi:
            raise ValueError(
                f"Bounds: w_min={lo:g} and w_max={hi:g} straddle 0, so a weight could change "
                "sign (Dale's law); use bounds of one sign or dale=False"
            )
        for name in ("mu_plus", "mu_minus"):
            mu = getattr(self, name)
            if not mu >= 0:
                raise ValueError(f"Bounds.{name} must be >= 0, got {mu:g}")
            if mu > 0 and not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise ValueError(
                    f"Bounds.{name}={mu:g} (soft bounds) needs finite w_min < w_max, "
                    f"got [{lo:g}, {hi:g}]"
                )

    def change(self, w, raw):
        """The change of ``w`` that a raw change ``raw`` makes (same shapes):
        ``bs.ops.bounded_change``."""
        return bounded_change(w, raw, self.w_min, self.w_max, self.mu_plus, self.mu_minus)
