import equinox as eqx
import jax
import jax.numpy as jnp

from ._base import AbstractSpike
from .surrogates import AbstractSurrogate, FastSigmoid


@jax.custom_jvp
def _heaviside(surrogate, x):
    return (x > 0).astype(x.dtype)


@_heaviside.defjvp
def _heaviside_jvp(primals, tangents):
    surrogate, x = primals
    _, x_dot = tangents
    return _heaviside(surrogate, x), surrogate.grad(x) * x_dot


class Heaviside(AbstractSpike):
    """Hard threshold ``H(x) = 1 if x > 0 else 0`` in the forward pass; its derivative is
    the ``surrogate``'s pseudo-derivative (the hyperparameters get no gradient).

    ``detach_reset``: the reset sees the spikes with their gradient stopped (the same
    forward values; the usual choice for surrogate-gradient training, Zenke & Vogels
    2021, and the one the fast LIF training path computes)."""

    surrogate: AbstractSurrogate = FastSigmoid()
    detach_reset: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not isinstance(self.surrogate, AbstractSurrogate):
            raise TypeError(
                f"Heaviside.surrogate must be a surrogate (e.g. bs.spikes.FastSigmoid(25.0)), "
                f"got {self.surrogate!r}"
            )

    def __call__(self, x):
        x = jnp.asarray(x)
        return _heaviside(self.surrogate, x)

    def reset_gate(self, s):
        return jax.lax.stop_gradient(s) if self.detach_reset else s
