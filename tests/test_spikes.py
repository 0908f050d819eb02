import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

X = jnp.linspace(-2.0, 2.0, 401)

# Each surrogate with (its documented pseudo-derivative, a smooth primitive whose
# derivative it is), both written here independently of the library.
CASES = [
    (
        bs.spikes.Sigmoid(3.0),
        lambda x: 3.0 * np.exp(-3.0 * x) / (1 + np.exp(-3.0 * x)) ** 2,
        lambda x: 1 / (1 + np.exp(-3.0 * x)),
    ),
    (
        bs.spikes.FastSigmoid(10.0),
        lambda x: 1 / (1 + 10.0 * np.abs(x)) ** 2,
        lambda x: x / (1 + 10.0 * np.abs(x)),
    ),
    (
        bs.spikes.ArcTan(2.0),
        lambda x: 1.0 / (1 + (np.pi * x) ** 2),
        lambda x: np.arctan(np.pi * x) / np.pi,
    ),
]


@pytest.mark.parametrize("surrogate, formula, primitive", CASES)
def test_heaviside_forward_and_surrogate_backward(surrogate, formula, primitive):
    spike = bs.spikes.Heaviside(surrogate)
    np.testing.assert_array_equal(spike(X), (np.asarray(X) > 0).astype(np.float32))
    grad = jax.vmap(jax.grad(spike))(X)
    x = np.asarray(X, np.float64)
    # float32 evaluation of O(1) expressions: 1e-5 relative.
    np.testing.assert_allclose(grad, formula(x), rtol=1e-5, atol=1e-6)
    # Central differences of the primitive (float64, h = 1e-6): truncation O(h^2 f''') is
    # far below 1e-4; skip the kink of |x| at 0 for the fast sigmoid.
    h = 1e-6
    fd = (primitive(x + h) - primitive(x - h)) / (2 * h)
    away = np.abs(x) > 1e-3
    np.testing.assert_allclose(np.asarray(grad)[away], fd[away], rtol=1e-4, atol=1e-6)


def test_surrogate_hyperparameters_are_leaves():
    """A surrogate's scale is a pytree leaf: it can be vmapped over."""
    spikes = jax.vmap(lambda s: jax.grad(bs.spikes.Heaviside(bs.spikes.FastSigmoid(s)))(0.1))(
        jnp.array([1.0, 10.0])
    )
    np.testing.assert_allclose(spikes, [1 / 1.1**2, 1 / 2.0**2], rtol=1e-6)


def test_bad_surrogate_raises():
    with pytest.raises(ValueError, match="FastSigmoid.scale"):
        bs.spikes.FastSigmoid(-1.0)
