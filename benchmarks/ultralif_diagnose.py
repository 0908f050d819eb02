"""Why UltraLIF learned multi-step tasks worse than LIF (issue 16): credit through time,
measured on Randman at initialisation (no training, so it runs in seconds).

For each model (one hidden layer of 128, T = 100, the first ``--samples`` training
samples of ``benchmarks/ultralif_accuracy.py``'s Randman task):

- ``grad_by_quarter``: RMS of ``dL/dx_t`` (cross-entropy on the max-over-time readout)
  over steps 0-24, 25-49, 50-74, 75-99: does the loss reach early inputs?
- ``spikes_per_neuron``: hidden (soft) spikes per neuron and trial;
- UltraLIF only: the one-step membrane Jacobian ``dV_t/dV_(t-1)`` (the LSE's weight on
  the membrane path times the smooth reset's derivative), its mean and the median over
  windows of its geometric-mean product over 20 steps. ``LIFLayer``'s is
  ``beta = exp(-1/tau_mem)`` (0.90, reset detached), 0.12 over 20 steps.

    python benchmarks/ultralif_diagnose.py [--samples 256]
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

import brainsim as bs
from brainsim.train import losses

MODELS = {
    "lif": lambda key: bs.train.FeedForwardSNN(20, 128, 10, key=key),
    "ultra": lambda key: bs.train.UltraSNN(20, 128, 10, key=key),
    "ultra_s9": lambda key: bs.train.UltraSNN(
        20, 128, 10, key=key, tau_psp=None, theta=1.0, w_scale=8.0
    ),
}


def membrane_jacobian(layer, x):
    """``dV_t/dV_(t-1)`` ``(T, B, n)`` of ``layer``'s UltraLIF membrane along its
    forward trajectory on ``x (B, T, n_in)``."""
    n = layer.neuron
    eps, log_tau0 = n.spike.temperature, jnp.log1p(-1.0 / n.tau_m)
    drive = jnp.moveaxis(layer.potential(x), -2, 0) + layer.b

    def step(v, p):
        v_pre = n.spike.lse(v + log_tau0, p)
        gate = jax.nn.sigmoid((v + log_tau0 - p) / eps)
        s = n.spike(v_pre - n.theta)
        d_reset = (1 - s) - (v_pre - n.v_reset) * s * (1 - s) / eps
        return v_pre * (1 - s) + n.v_reset * s, gate * d_reset

    return jax.lax.scan(step, jnp.zeros(drive.shape[1:]), drive)[1]


def diagnose(model, x, y):
    g = jax.grad(lambda xx: losses.ce_max_membrane(model, xx, y)[0])(x)
    rms = np.sqrt(np.mean(np.asarray(g) ** 2, axis=(0, 2)))
    _, (s,) = model(x)
    out = {
        "grad_by_quarter": [float(f"{q.mean():.3g}") for q in np.split(rms, 4)],
        "spikes_per_neuron": round(float(np.asarray(s).sum(1).mean()), 2),
    }
    layer = model.layers[0]
    if isinstance(layer, bs.train.UltraLIFLayer):
        jac = np.asarray(membrane_jacobian(layer, x))
        log_mean = np.log(np.abs(jac) + 1e-30).mean(axis=(1, 2))
        prod20 = np.exp(np.convolve(log_mean, np.ones(20), "valid"))
        out["jacobian_mean"] = round(float(jac.mean()), 3)
        out["jacobian_20_steps"] = float(f"{np.median(prod20):.3g}")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--samples", type=int, default=256)
    a = p.parse_args()
    t, y = bs.datasets.randman(0, n_classes=10, n_units=20, n_samples=200)
    x = jnp.asarray(bs.datasets.spike_raster(t, 100)[: a.samples])
    y = jnp.asarray(y[: a.samples])
    for name, build in MODELS.items():
        print(json.dumps({"model": name, **diagnose(build(jax.random.key(0)), x, y)}))


if __name__ == "__main__":
    main()
