r"""NIR's continuous-time constants ↔ brainsim's per-step factors, in float64.

A linear stage $\tau \dot y = -y + u$ with $u$ held over a step of $\Delta t$ becomes
$y_t = a\, y_{t-1} + f\, u_t$:

- ``"exp"`` (exact for a held input, brainsim's default): $a = e^{-\Delta t/\tau}$,
  $f = 1 - a$;
- ``"euler"`` (forward Euler, as snnTorch and Norse discretise NIR):
  $a = 1 - \Delta t/\tau$, $f = \Delta t/\tau$.
"""

import numpy as np

METHODS = ("exp", "euler")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def factors(name: str, tau, dt_s: float, method: str):
    """``(a, f)`` float64 for time constants ``tau`` (s) and the step ``dt_s`` (s)."""
    tau = np.asarray(tau, np.float64)
    if not np.all(tau > 0):
        raise ValueError(f"{name} must be > 0 s, got min {tau.min():g}")
    x = dt_s / tau
    if method == "exp":
        return np.exp(-x), -np.expm1(-x)
    if np.any(x > 1):
        raise ValueError(
            f"{name}: method='euler' needs tau >= dt ({dt_s:g} s), got min {tau.min():g} s "
            "(the decay 1 - dt/tau would be negative); use method='exp' or a smaller dt"
        )
    return 1.0 - x, x


def time_constant(name: str, a, dt_s: float, method: str):
    """The ``tau`` (s) whose ``factors`` give the decay ``a`` (the inverse)."""
    a = np.asarray(a, np.float64)
    if not np.all((a > 0) & (a < 1)):
        raise ValueError(f"{name} must lie in (0, 1) to be written to NIR, got {a}")
    return -dt_s / np.log(a) if method == "exp" else dt_s / (1.0 - a)
