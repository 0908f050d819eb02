"""UltraLIF -> max-plus convergence: max |V_eps(t) - V_maxplus(t)| over 64 neurons and
t <= 50 steps against the bound t·eps·log 2 (Miñoza 2026), float64, no spikes."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _harness import save, table

import brainsim as bs

jax.config.update("jax_enable_x64", True)
T, N = 50, 64
rng = np.random.default_rng(0)
inputs, v0 = rng.uniform(-3, 3, (T, N)), rng.uniform(-1, 1, N)
ref, vm = np.empty((T, N)), v0.copy()
for t in range(T):
    vm = np.maximum(vm + np.log(1 - 1 / 4), inputs[t])
    ref[t] = vm
rows, curves = [], {}
for eps in [10.0, 1.0, 0.3, 0.1, 0.03, 0.01, 0.001]:
    model = bs.spikes.UltraLIF(
        N, tau_m=4.0, theta=1e6, spike=bs.spikes.UltraSpike(eps, eps_min=1e-4)
    )

    def body(s, i):
        s, _ = model.step(s, i, t=0.0, dt=1.0)
        return s, s.v

    v = jax.lax.scan(
        body, bs.spikes.UltraLIFState(jnp.asarray(v0), jnp.zeros(N)), jnp.asarray(inputs)
    )[1]
    err = np.abs(np.asarray(v) - ref).max(axis=1)
    curves[eps] = err
    rows.append(
        {
            "eps": eps,
            "err_t1": err[0],
            "err_t50": err[-1],
            "bound_t50": T * eps * np.log(2),
            "ratio": float(np.max(err / (np.arange(1, T + 1) * eps * np.log(2)))),
        }
    )
print(
    table(
        rows,
        [
            ("eps", "eps", "g"),
            ("err_t1", "max err t=1", ".2e"),
            ("err_t50", "max err t=50", ".2e"),
            ("bound_t50", "bound 50·eps·log2", ".2e"),
            ("ratio", "max_t err/bound", ".3f"),
        ],
    )
)
save("ultralif_convergence", {"rows": rows})

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(5, 3.5))
t = np.arange(1, T + 1)
for eps, err in curves.items():
    line = ax.semilogy(t, np.maximum(err, 1e-17), label=f"eps={eps:g}")[0]
    ax.semilogy(t, t * eps * np.log(2), "--", c=line.get_color(), lw=0.8)
ax.set(
    xlabel="step t",
    ylabel="max |V_eps - V_maxplus|",
    title="UltraLIF -> max-plus (dashed: t eps log 2)",
)
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()
fig.savefig(Path(__file__).parent / "results" / "ultralif_convergence.png", dpi=120)
