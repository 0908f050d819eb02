r"""Adaptive step-size integration with error control inside each simulation step
(Dormand & Prince 1980, J Comput Appl Math 6:19): what NEST's GSL-based models
(``aeif_cond_exp``, ``hh_psc_alpha``: RKF45) do, for neuron-level studies."""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._checks import check_count, check_positive, check_size
from ._base import AbstractIntegrator

# Dormand–Prince 5(4): stages, 5th-order weights, and (5th - 4th)-order weights for the
# error estimate (Hairer, Nørsett & Wanner, Solving ODEs I, Table 5.2).
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_E = (
    71 / 57600,
    0.0,
    -71 / 16695,
    71 / 1920,
    -17253 / 339200,
    22 / 525,
    -1 / 40,
)


class DormandPrince(AbstractIntegrator):
    r"""Dormand–Prince 5(4) with its own sub-steps inside each step of ``dt``, per
    element: every neuron (every element of the state's leaves, which must share one
    shape) advances with its own sub-step size until it reaches ``t + dt``.

    A sub-step of size $h$ is accepted where the scaled error
    $\epsilon = \sqrt{\frac{1}{L}\sum_{\ell} \big(e_\ell / (\mathrm{atol} +
    \mathrm{rtol}\,|y_\ell|)\big)^2} \le 1$ (over the $L$ leaves, $e$ the difference of
    the embedded 5th- and 4th-order solutions); the next size is
    $h\,\min(5, \max(0.2, 0.9\,\epsilon^{-1/5}))$ (the standard controller), starting
    from $h = \Delta t$ in every step. At most ``max_substeps`` attempts per step (the
    last one is taken as it is). ``rtol``, ``atol`` (dimensionless; ``atol`` in the
    state's units): NEST's default error tolerance is 1e-6.

    Costs 7 evaluations of ``f`` per attempt, and all elements wait for the slowest:
    meant for single neurons and small populations. Forward mode only: a
    ``lax.while_loop`` cannot be reverse-differentiated.
    """

    rtol: float = 1e-6
    atol: float = 1e-6
    max_substeps: int = eqx.field(default=1000, static=True)

    def __check_init__(self):
        check_positive("DormandPrince.rtol", self.rtol)
        check_positive("DormandPrince.atol", self.atol)
        check_size("DormandPrince.max_substeps", self.max_substeps)  # 0 would not integrate
        check_count("DormandPrince.max_substeps", self.max_substeps, 10**6)

    def step(self, f, t, y, dt, args):
        leaves, treedef = jax.tree.flatten(y)
        shape = jnp.broadcast_shapes(*(jnp.shape(x) for x in leaves))
        leaves = [jnp.broadcast_to(x, shape) for x in leaves]
        g = lambda s, ys: jax.tree.leaves(f(t + s, jax.tree.unflatten(treedef, ys), args))
        dtype = jnp.result_type(*leaves)
        zero = jnp.zeros(shape, dtype)

        def attempt(s, ys, h):
            ks = []
            for a, c in zip(_A, _C, strict=True):
                yi = [
                    yl + h * sum((aj * k[i] for aj, k in zip(a, ks, strict=False)), zero)
                    for i, yl in enumerate(ys)
                ]
                ks.append(g(s + c * h, yi))
            new = [
                yl + h * sum(b * k[i] for b, k in zip(_B, ks, strict=True))
                for i, yl in enumerate(ys)
            ]
            err = [h * sum(e * k[i] for e, k in zip(_E, ks, strict=True)) for i in range(len(ys))]
            scaled = [
                (e / (self.atol + self.rtol * jnp.maximum(jnp.abs(yl), jnp.abs(yn)))) ** 2
                for e, yl, yn in zip(err, ys, new, strict=True)
            ]
            return new, jnp.sqrt(sum(scaled) / len(ys))

        def cond(c):
            s, _, _, n = c
            return jnp.any(s < dt) & (n < self.max_substeps)

        def body(c):
            s, ys, h, n = c
            active = s < dt
            h = jnp.minimum(h, dt - s)
            new, eps = attempt(s, ys, jnp.where(active, h, 0.0))
            ok = active & ((eps <= 1.0) | (n == self.max_substeps - 1))
            ys = [jnp.where(ok, yn, yl) for yn, yl in zip(new, ys, strict=True)]
            s = jnp.where(ok, s + h, s)
            factor = jnp.clip(0.9 * jnp.where(eps > 0, eps, 1e-10) ** -0.2, 0.2, 5.0)
            return s, ys, jnp.where(active, h * factor, h), n + 1

        s0 = jnp.zeros(shape, dtype)
        h0 = jnp.full(shape, dt, dtype)
        _, out, _, _ = jax.lax.while_loop(cond, body, (s0, leaves, h0, jnp.asarray(0)))
        return jax.tree.unflatten(treedef, out)
