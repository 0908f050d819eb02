import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs


def _errors(integrator, f, y0, exact, t_end, dts):
    errors = []
    for dt in dts:
        y, t = jnp.asarray(y0), 0.0
        for _ in range(round(t_end / dt)):
            y = integrator.step(f, t, y, dt, None)
            t += dt
        errors.append(abs(float(y) - exact))
    return errors


def _order(integrator, f, y0, exact, t_end, dts):
    """Empirical order: slope of log(error) against log(dt)."""
    return np.polyfit(np.log(dts), np.log(_errors(integrator, f, y0, exact, t_end, dts)), 1)[0]


@pytest.mark.parametrize(
    "integrator, order",
    [
        (bs.integrators.Euler(), 1.0),
        # With a scalar autonomous equation the diagonal linearisation is the full Jacobian:
        # exponential Euler is then the exponential Rosenbrock-Euler method, order 2
        # (Hochbruck & Ostermann 2010, Acta Numerica 19:209).
        (bs.integrators.ExpEuler(), 2.0),
    ],
)
def test_convergence_order_nonlinear(x64, integrator, order):
    """dy/dt = -y^2, y(0) = 1: y(t) = 1 / (1 + t). The log-log slope of the error at
    t = 1 over dt in [1/40, 1/320] equals the order within 0.1."""
    f = lambda t, y, args: -(y**2)
    dts = [1 / 40, 1 / 80, 1 / 160, 1 / 320]
    slope = _order(integrator, f, 1.0, 0.5, 1.0, dts)
    assert abs(slope - order) < 0.1, (integrator, slope)


def test_exp_euler_coupled_is_first_order(x64):
    """A coupled linear system (rotation + decay) uses only the diagonal: first order.
    y1' = -y1 - y2, y2' = y1 - y2: y(t) = e^{-t} (cos t, sin t) from (1, 0)."""
    f = lambda t, y, args: {"a": -y["a"] - y["b"], "b": y["a"] - y["b"]}
    errors = []
    dts = [1 / 20, 1 / 40, 1 / 80, 1 / 160]
    for dt in dts:
        y = {"a": jnp.asarray(1.0), "b": jnp.asarray(0.0)}
        for k in range(round(1 / dt)):
            y = bs.integrators.ExpEuler().step(f, k * dt, y, dt, None)
        errors.append(abs(float(y["a"]) - np.exp(-1) * np.cos(1)))
    assert abs(np.polyfit(np.log(dts), np.log(errors), 1)[0] - 1.0) < 0.1


def test_exp_euler_exact_for_linear(x64):
    """dy/dt = (a - y) / tau is integrated exactly by exponential Euler at any dt, while
    Euler's error is O(dt)."""
    tau, a = 20.0, -50.0
    f = lambda t, y, args: (a - y) / tau
    exact = a + (-70.0 - a) * np.exp(-10.0 / tau)
    err_exp = _errors(bs.integrators.ExpEuler(), f, -70.0, exact, 10.0, [0.5, 1.0])
    err_euler = _errors(bs.integrators.Euler(), f, -70.0, exact, 10.0, [0.5])
    assert max(err_exp) < 1e-10
    assert err_euler[0] > 1e-2


def test_exp_euler_pytree_state(x64):
    """Each leaf uses its own diagonal rate: two decoupled linear equations stay exact."""
    f = lambda t, y, args: {"a": -y["a"] / 2.0, "b": -y["b"] / 5.0}
    y = bs.integrators.ExpEuler().step(f, 0.0, {"a": jnp.ones(3), "b": jnp.ones(3)}, 1.0, None)
    np.testing.assert_allclose(y["a"], np.exp(-0.5), rtol=1e-12)
    np.testing.assert_allclose(y["b"], np.exp(-0.2), rtol=1e-12)
