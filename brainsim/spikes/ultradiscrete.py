r"""Ultradiscretized spikes (Miñoza 2026, arXiv 2602.11206): max-plus / log-sum-exp LIF.

Ultradiscretization substitutes $x = e^{X/\varepsilon}$: "+" becomes

$$\mathrm{LSE}_\varepsilon(x_1, \dots, x_n) = \varepsilon \log \sum_i e^{x_i/\varepsilon},
\qquad \max_i x_i \le \mathrm{LSE}_\varepsilon(x) \le \max_i x_i + \varepsilon \log n,$$

and "×" becomes "+". The Euler LIF $v(t+1) = \tau_0 v(t) + I(t)$
($\tau_0 = 1 - \Delta t/\tau_m$) becomes, as $\varepsilon \to 0$, the max-plus recursion
$V(t+1) = \max(V(t) + \log\tau_0,\, I(t))$. At finite $\varepsilon$ the spike is the
logistic $s = \sigma((\tilde V - \theta)/\varepsilon)$, used in the forward *and* backward
pass (no surrogate mismatch), with $0 < \partial s/\partial \tilde V \le 1/(4\varepsilon)$
and $|\sigma(x/\varepsilon) - H(x)| \le e^{-|x|/\varepsilon}$.

The temperature $\varepsilon$ is a learnable leaf. The dynamics use
$\mathrm{clip}(\varepsilon, \varepsilon_{min}, \varepsilon_{max})$ with the documented
range $[0.1, 20]$ by default (so an optimiser cannot drive it to 0 or make the spike
flat); the construction value must lie inside the range (no silent clipping of user
input). ``hard=True`` switches to exact Heaviside spikes in the forward pass (inference);
the gradient stays the logistic one.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite, check_positive, check_size
from .._protocol import AbstractDynamics
from ._base import AbstractSpike


def _check_eps(name, eps, eps_min, eps_max):
    check_positive(f"{name}.eps", eps)
    check_positive(f"{name}.eps_min", eps_min)
    if not eps_min <= eps_max:
        raise ValueError(f"{name}: need eps_min <= eps_max, got {eps_min:g} > {eps_max:g}")
    if isinstance(eps, jax.core.Tracer):
        return
    e = np.asarray(eps)
    if np.any(e < eps_min) or np.any(e > eps_max):
        raise ValueError(
            f"{name}.eps must lie in [eps_min, eps_max] = [{eps_min:g}, {eps_max:g}], "
            f"got {float(e.min()):g}..{float(e.max()):g}"
        )


class UltraSpike(AbstractSpike):
    r"""Logistic spike of temperature $\varepsilon$: $s = \sigma(x/\varepsilon)$,
    $x = \tilde V - \theta$; exact Heaviside forward when ``hard``.

    Args:
        eps: temperature (same unit as ``x``), > 0, in ``[eps_min, eps_max]``; a leaf
            (learnable, vmappable).
        eps_min, eps_max: the range ``eps`` is clamped to in the dynamics (default
            ``[0.1, 20]``).
        hard: forward pass ``H(x)`` (inference); the gradient stays
            $\sigma'(x/\varepsilon)/\varepsilon$.
    """

    eps: jax.Array = eqx.field(converter=jnp.asarray, default=1.0)
    eps_min: float = eqx.field(static=True, default=0.1)
    eps_max: float = eqx.field(static=True, default=20.0)
    hard: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        _check_eps("UltraSpike", self.eps, self.eps_min, self.eps_max)

    @property
    def temperature(self) -> jax.Array:
        """$\\varepsilon$ clamped to ``[eps_min, eps_max]``."""
        return jnp.clip(self.eps, self.eps_min, self.eps_max)

    def lse(self, *xs):
        r"""$\mathrm{LSE}_\varepsilon$ of the arguments (broadcast together)."""
        e = self.temperature
        return e * jax.nn.logsumexp(jnp.stack(jnp.broadcast_arrays(*xs)) / e, axis=0)

    def __call__(self, x):
        x = jnp.asarray(x)
        soft = jax.nn.sigmoid(x / self.temperature.astype(x.dtype))
        if not self.hard:
            return soft
        return soft + jax.lax.stop_gradient((x > 0).astype(x.dtype) - soft)

    def with_hard(self, hard: bool = True) -> "UltraSpike":
        """The same spike with hard (inference) or soft forward pass; ``eps`` is stored
        clamped (a learnt value outside the range acts as the bound anyway)."""
        return UltraSpike(self.temperature, self.eps_min, self.eps_max, hard)


class UltraLIFState(eqx.Module):
    v: jax.Array  # (..., n) log-domain membrane potential
    spike: jax.Array  # (..., n) spikes emitted in the last step


class UltraLIF(AbstractDynamics):
    r"""Ultradiscretized LIF:

    $$\tilde V = \mathrm{LSE}_\varepsilon(V + \log\tau_0,\; I), \quad
    s = \sigma((\tilde V - \theta)/\varepsilon), \quad
    V \leftarrow \tilde V (1 - s) + V_{reset}\, s,$$

    $\tau_0 = 1 - \Delta t/\tau_m$ (requires $\Delta t < \tau_m$). As $\varepsilon \to 0$
    (and below threshold) $V$ follows $V(t+1) = \max(V(t) + \log\tau_0, I(t))$ within
    $t\,\varepsilon\log 2$. ``tau_m`` (ms), ``theta``, ``v_reset``: scalars or ``(size,)``;
    inputs ``I`` have shape ``(..., size)``.
    """

    size: int = eqx.field(static=True)
    tau_m: float | jax.Array = 20.0
    theta: float | jax.Array = 1.0
    v_reset: float | jax.Array = 0.0
    spike: UltraSpike = eqx.field(default_factory=UltraSpike)

    def __check_init__(self):
        check_size("UltraLIF.size", self.size)
        check_positive("UltraLIF.tau_m", self.tau_m, "ms")
        check_finite("UltraLIF.theta", self.theta)
        check_finite("UltraLIF.v_reset", self.v_reset)

    def init(self, key=None, batch_shape=()):
        shape = (*batch_shape, self.size)
        return UltraLIFState(
            v=jnp.broadcast_to(jnp.asarray(self.v_reset, float), shape), spike=jnp.zeros(shape)
        )

    def step(self, state: UltraLIFState, inputs, *, t=0.0, dt=1.0):
        b = lambda p: jnp.broadcast_to(p, state.v.shape)
        log_tau0 = jnp.log1p(-dt / jnp.asarray(self.tau_m))
        v_pre = self.spike.lse(state.v + b(log_tau0), inputs)
        s = self.spike(v_pre - b(self.theta))
        v = v_pre * (1.0 - s) + b(self.v_reset) * s
        return UltraLIFState(v=v, spike=s), s


def nearest_neighbours(n: int) -> np.ndarray:
    """Fixed 1-D chain connectivity ``(n, 3)``: neighbours ``i-1, i, i+1`` of each neuron,
    ``-1`` where a neighbour is missing (the two ends)."""
    i = np.arange(n)[:, None] + np.array([-1, 0, 1])[None, :]
    return np.where((i >= 0) & (i < n), i, -1).astype(np.int32)


class UltraDLIF(AbstractDynamics):
    r"""Spatial ultradiscretized LIF (from 1-D diffusion with coefficient 1/3):

    $$\tilde V_i = \mathrm{LSE}_\varepsilon(V_j : j \in \mathcal{N}(i)) + I_i,$$

    then the same spike and reset as ``UltraLIF``. The coupling $\mathcal{N}(i)$ is a fixed
    gap-junction-like connectivity: ``neighbours`` ``(size, k)`` int, ``-1`` for no
    neighbour; default ``nearest_neighbours(size)`` ($i-1, i, i+1$). As $\varepsilon\to 0$
    $V$ follows $V_i(t+1) = \max_{j\in\mathcal N(i)} V_j(t) + I_i(t)$ within
    $t\,\varepsilon\log k$.
    """

    size: int = eqx.field(static=True)
    theta: float | jax.Array = 1.0
    v_reset: float | jax.Array = 0.0
    spike: UltraSpike = eqx.field(default_factory=UltraSpike)
    neighbours: jax.Array | None = None

    def __check_init__(self):
        check_size("UltraDLIF.size", self.size)
        check_finite("UltraDLIF.theta", self.theta)
        if self.neighbours is not None:
            nb = np.asarray(self.neighbours)
            if nb.ndim != 2 or nb.shape[0] != self.size or nb.min() < -1 or nb.max() >= self.size:
                raise ValueError(
                    f"UltraDLIF.neighbours must be an int array ({self.size}, k) with entries "
                    f"in [-1, {self.size - 1}], got shape {nb.shape}"
                )

    def init(self, key=None, batch_shape=()):
        shape = (*batch_shape, self.size)
        return UltraLIFState(
            v=jnp.broadcast_to(jnp.asarray(self.v_reset, float), shape), spike=jnp.zeros(shape)
        )

    def step(self, state: UltraLIFState, inputs, *, t=0.0, dt=1.0):
        nb = nearest_neighbours(self.size) if self.neighbours is None else self.neighbours
        nb = jnp.asarray(nb)
        e = self.spike.temperature
        # mask after scaling, so no -inf enters a derivative (NaN-free gradients)
        gathered = state.v[..., jnp.maximum(nb, 0)] / e
        z = jnp.where(jnp.broadcast_to(nb >= 0, gathered.shape), gathered, -jnp.inf)
        v_pre = e * jax.nn.logsumexp(z, axis=-1) + inputs
        b = lambda p: jnp.broadcast_to(p, v_pre.shape)
        s = self.spike(v_pre - b(self.theta))
        v = v_pre * (1.0 - s) + b(self.v_reset) * s
        return UltraLIFState(v=v, spike=s), s
