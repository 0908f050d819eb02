"""Runge–Kutta and Euler–Maruyama: empirical convergence orders against analytic
solutions (log–log fit of error against dt)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs


def _solve(integrator, f, y0, t_end, dt):
    n = round(t_end / dt)
    step = lambda y, k: (integrator.step(f, k * dt, y, dt, None), None)
    return jax.lax.scan(step, y0, jnp.arange(n))[0]


def _slope(dts, errors):
    return np.polyfit(np.log(dts), np.log(errors), 1)[0]


# Non-autonomous, nonlinear, coupled pytree problem with a closed-form solution:
# y' = -y^2 + cos(t) * z, z' = -z (y(0) = 1, z(0) = 0) reduces to y' = -y^2, so add a
# time-dependent term instead: y' = -2 t y^2, y(0) = 1  ->  y = 1 / (1 + t^2);
# z' = y * cos(t) * 0 + t (z(0) = 0) -> z = t^2 / 2 (tests the stage times c_i).
def _f(t, y, args):
    return {"y": -2.0 * t * y["y"] ** 2, "z": jnp.asarray(t) * jnp.ones_like(y["z"])}


@pytest.mark.parametrize(
    "integrator, order, dts",
    [
        (bs.integrators.Euler(), 1.0, [1 / 20, 1 / 40, 1 / 80, 1 / 160]),
        (bs.integrators.RK2(), 2.0, [1 / 20, 1 / 40, 1 / 80, 1 / 160]),
        (bs.integrators.RK4(), 4.0, [1 / 5, 1 / 10, 1 / 20, 1 / 40]),
        (bs.integrators.ETDRK4(), 4.0, [1 / 10, 1 / 20, 1 / 40, 1 / 80]),
    ],
)
def test_runge_kutta_convergence_order(x64, integrator, order, dts):
    """Error at t = 2 against y = 1/(1+t²), z = t²/2. Slope of log error vs log dt equals
    the method's order within 0.15 (the fit over a factor 8 in dt is dominated by the
    leading error term once dt is in the asymptotic range chosen here)."""
    y0 = {"y": jnp.asarray(1.0), "z": jnp.asarray(0.0)}
    errors = []
    for dt in dts:
        y = _solve(integrator, _f, y0, 2.0, dt)
        errors.append(abs(float(y["y"]) - 1 / 5) + abs(float(y["z"]) - 2.0))
    slope = _slope(dts, errors)
    assert abs(slope - order) < 0.15, (integrator, slope, errors)


def test_rk4_exact_for_cubic_in_time(x64):
    """RK4 integrates y' = t³ exactly (quadrature by Simpson's rule is exact for cubics)."""
    y = _solve(bs.integrators.RK4(), lambda t, y, a: t**3, jnp.asarray(0.0), 2.0, 0.5)
    np.testing.assert_allclose(float(y), 2.0**4 / 4, rtol=1e-13)


def test_etdrk4_stiff_and_exact_linear(x64):
    """y' = -k (y - cos t) with k = 1000/ms: at dt = 0.01 (k dt = 10, beyond RK4's
    stability limit 2.8) ETDRK4 stays stable and tracks the slow manifold
    y ≈ cos t + sin t / k (error at t = 2 below 1e-5; RK4 overflows). A linear equation
    with constant coefficients, y' = -k y + k, is integrated exactly at any step."""
    k = 1000.0
    f = lambda t, y, a: -k * (y - jnp.cos(t))
    y = _solve(bs.integrators.ETDRK4(), f, jnp.asarray(1.0), 2.0, 0.01)
    assert abs(float(y) - (np.cos(2.0) + np.sin(2.0) / k)) < 1e-5
    assert not np.isfinite(float(_solve(bs.integrators.RK4(), f, jnp.asarray(1.0), 2.0, 0.01)))
    y = _solve(bs.integrators.ETDRK4(), lambda t, y, a: k - k * y, jnp.asarray(3.0), 0.003, 0.001)
    np.testing.assert_allclose(float(y), 1 + 2 * np.exp(-k * 0.003), rtol=1e-12)


def test_dormand_prince_meets_its_tolerance(x64):
    """One step of dt = 2 ms on y' = -2 t y², z' = t (non-autonomous) lands within the
    requested tolerance of y = 1/(1+t²), z = t²/2 (global error a small multiple of
    rtol), and the error falls with rtol (1e-4 -> 1e-9: by > 1e3)."""
    y0 = {"y": jnp.asarray(1.0), "z": jnp.asarray(0.0)}
    errs = []
    for rtol in (1e-4, 1e-9):
        dp = bs.integrators.DormandPrince(rtol=rtol, atol=rtol)
        y = dp.step(_f, 0.0, y0, 2.0, None)
        errs.append(abs(float(y["y"]) - 0.2) + abs(float(y["z"]) - 2.0))
        assert errs[-1] < 50 * rtol, (rtol, errs[-1])
    assert errs[1] < errs[0] / 1e3


def test_dormand_prince_steps_each_element_on_its_own(x64):
    """Elements with very different stiffness (rates 1 and 1000 /ms) in one array:
    each meets the tolerance against y = (k² sin t - k cos t)/(k² + 1) + C e^{-kt}
    (y(0) = 1) and equals what it reaches alone: the sub-step size is per element."""
    ks = (1.0, 1000.0)
    f = lambda t, y, a: -jnp.asarray(ks) * (y - jnp.sin(t))
    dp = bs.integrators.DormandPrince(rtol=1e-8, atol=1e-8)
    both = dp.step(f, 0.0, jnp.asarray([1.0, 1.0]), 0.5, None)
    for i, k in enumerate(ks):
        c = 1 + k / (k**2 + 1)
        exact = (k**2 * np.sin(0.5) - k * np.cos(0.5)) / (k**2 + 1) + c * np.exp(-k * 0.5)
        np.testing.assert_allclose(float(both[i]), exact, atol=1e-7)
        alone = dp.step(lambda t, y, a, k=k: -k * (y - jnp.sin(t)), 0.0, jnp.ones(1), 0.5, None)
        np.testing.assert_allclose(float(both[i]), float(alone[0]), rtol=1e-12)
    with pytest.raises(ValueError, match="rtol"):
        bs.integrators.DormandPrince(rtol=0.0)


def test_tableau_checks():
    with pytest.raises(ValueError, match="sum"):
        bs.integrators.ButcherTableau(a=((), (0.5,)), b=(0.5, 0.6), c=(0.0, 0.5))
    with pytest.raises(ValueError, match="c\\[1\\]"):
        bs.integrators.ButcherTableau(a=((), (0.3,)), b=(0.0, 1.0), c=(0.0, 0.5))


# ---- Euler–Maruyama -------------------------------------------------------------------

THETA, SIGMA, X0, T = 1.5, 0.8, 1.0, 1.0
FINE = 2**10  # fine Brownian steps on [0, T]
LEVELS = [2**3, 2**4, 2**5, 2**6]  # coarse steps per T


def _brownian(key, paths):
    return jnp.sqrt(T / FINE) * jax.random.normal(key, (FINE, paths), jnp.float64)


def _em_on_path(f, g, dw_fine, n):
    """Euler–Maruyama with n steps, driven by the fine increments summed per coarse step."""
    dt = T / n
    dw = dw_fine.reshape(n, FINE // n, -1).sum(1)
    step = lambda y, x: (
        bs.integrators.euler_maruyama_step(f, g, x[0] * dt, y, dt, None, x[1]),
        None,
    )
    y0 = jnp.full(dw.shape[1:], X0)
    return jax.lax.scan(step, y0, (jnp.arange(n), dw))[0]


def test_em_strong_order_ou_additive(x64):
    """Ornstein–Uhlenbeck dX = -θX dt + σ dW. Additive noise: EM coincides with Milstein
    and has strong order 1 (Kloeden & Platen 1992, Thm 10.3.5 / §10.4), not 1/2. Reference:
    the exact OU transition applied on the fine grid, X ← e^{-θh}X + σ e^{-θh}ΔW, whose
    own strong error O(h_fine) = 1e-3 is 8× below the finest EM level. Mean |error| over
    1000 paths; slope within 0.2 of 1."""
    dw = _brownian(jax.random.key(0), 1000)
    h = T / FINE
    x = jax.lax.scan(
        lambda x, w: (np.exp(-THETA * h) * (x + SIGMA * w), None), X0 * jnp.ones(1000), dw
    )[0]
    f = lambda t, y, a: -THETA * y
    g = lambda t, y, a: SIGMA * jnp.ones_like(y)
    errors = [float(jnp.mean(jnp.abs(_em_on_path(f, g, dw, n) - x))) for n in LEVELS]
    slope = _slope([T / n for n in LEVELS], errors)
    assert abs(slope - 1.0) < 0.2, (slope, errors)


def test_em_strong_order_half_gbm(x64):
    """Geometric Brownian motion dX = μX dt + σX dW (multiplicative noise), exact
    X_T = X0 exp((μ - σ²/2) T + σ W_T) on the same path: strong order 1/2
    (Kloeden & Platen 1992, Thm 10.2.2). 2000 paths; slope within 0.15 of 0.5."""
    mu, sig = 0.5, 1.0
    dw = _brownian(jax.random.key(1), 2000)
    exact = X0 * jnp.exp((mu - sig**2 / 2) * T + sig * dw.sum(0))
    f = lambda t, y, a: mu * y
    g = lambda t, y, a: sig * y
    errors = [float(jnp.mean(jnp.abs(_em_on_path(f, g, dw, n) - exact))) for n in LEVELS]
    slope = _slope([T / n for n in LEVELS], errors)
    assert abs(slope - 0.5) < 0.15, (slope, errors)


def test_em_weak_order_one_ou(x64):
    """Weak order 1 on OU: bias of E[X_T²]. Control variate: the exact OU transition
    X ← e^{-θh}X + σ√((1 - e^{-2θh})/(2θ)) ξ driven by the same ξ has exactly the true law
    at the grid points, so mean(X_EM² - X_exact²) estimates the weak error with a
    Monte-Carlo sd ~45× below the smallest bias measured (5·10⁴ paths; measured biases
    0.0103, 0.0045, 0.0021, 0.0010). The analytic EM bias
    (from the moment recursion) has slope 1.11 over these dt, not yet exactly 1 (higher
    order terms); slope within 0.2 of 1."""
    paths, f = 50_000, lambda t, y, a: -THETA * y
    g = lambda t, y, a: SIGMA * jnp.ones_like(y)
    levels, errors = [8, 16, 32, 64], []
    for n in levels:
        h = T / n
        xi = jax.random.normal(jax.random.key(n), (n, paths), jnp.float64)
        decay, sd = np.exp(-THETA * h), SIGMA * np.sqrt((1 - np.exp(-2 * THETA * h)) / (2 * THETA))

        def step(ys, x, h=h, decay=decay, sd=sd):
            k, z = x
            em, ex = ys
            em = bs.integrators.euler_maruyama_step(f, g, k * h, em, h, None, np.sqrt(h) * z)
            return (em, decay * ex + sd * z), None

        y0 = X0 * jnp.ones(paths)
        (em, ex), _ = jax.lax.scan(step, (y0, y0), (jnp.arange(n), xi))
        errors.append(abs(float(jnp.mean(em**2 - ex**2))))
    slope = _slope([T / n for n in levels], errors)
    assert abs(slope - 1.0) < 0.2, (slope, errors)


def test_em_stationary_variance_with_key(x64):
    """``EulerMaruyama`` with its own key: OU from its stationary law keeps the EM
    stationary variance σ²h/(1 - (1-θh)²) (exact for the scheme). 10⁵ paths: the sample
    variance has relative sd 0.45 %; bound 2 %."""
    h, paths = 0.05, 100_000
    v_em = SIGMA**2 * h / (1 - (1 - THETA * h) ** 2)
    em = bs.integrators.EulerMaruyama(lambda t, y, a: SIGMA, jax.random.key(5))
    y0 = np.sqrt(v_em) * jax.random.normal(jax.random.key(6), (paths,), jnp.float64)
    y = _solve(em, lambda t, y, a: -THETA * y, y0, 2.0, h)
    assert abs(float(jnp.var(y)) / v_em - 1) < 0.02


def test_em_noise_is_deterministic_and_per_step(x64):
    """Same key and t: same noise (pure); another step index: independent noise."""
    em = bs.integrators.EulerMaruyama(lambda t, y, a: 1.0, jax.random.key(3))
    f = lambda t, y, a: jnp.zeros_like(y)
    y0 = jnp.zeros(1000)
    a, b = em.step(f, 0.3, y0, 0.1, None), em.step(f, 0.3, y0, 0.1, None)
    c = em.step(f, 0.4, y0, 0.1, None)
    np.testing.assert_array_equal(a, b)
    assert abs(float(jnp.corrcoef(a, c)[0, 1])) < 0.1  # 1000 samples: sd of r ≈ 0.03
    # Increments have variance dt (sd of the sample variance at n = 1000 is ~4.5 %).
    assert abs(float(jnp.var(a)) / 0.1 - 1.0) < 0.15
