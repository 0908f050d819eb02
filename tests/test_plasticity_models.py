"""Plasticity in small networks against published behaviour and a peer:
Song, Miller & Abbott (2000) weight distribution against Brian2 2.11 running the same
model (``references/song_brian2.json``), and Vogels–Sprekeler inhibitory plasticity
driving the postsynaptic rate to its target."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import brainsim as bs

P = bs.plasticity
REF = json.loads((Path(__file__).parent / "references" / "song_brian2.json").read_text())


def _cdf(h):
    return np.cumsum(h) / np.sum(h)


def test_song2000_weights_match_brian2():
    """20 s, 1000 inputs, A_plus = 0.05 gmax (Brian2: 4 seeds). The distribution is
    U-shaped (weights leave the middle for the bounds) and matches Brian2's pooled
    histogram by the two-sample Kolmogorov–Smirnov distance."""
    cfg = REF["configs"]["small"]
    w, _ = bs.models.song2000(
        jax.random.key(0), duration=cfg["duration_s"] * 1e3, a_plus=cfg["a_plus_rel"]
    )
    gmax = REF["gmax"]
    h = np.histogram(np.asarray(w), bins=20, range=(0, gmax))[0]
    ref = np.sum([r["hist"] for r in cfg["runs"]], axis=0)
    # 5 % critical value of the two-sample KS test for n = 1000 and m = 4000:
    # 1.36 sqrt((n + m) / (n m)) = 0.048; Brian2's own leave-one-seed-out distances
    # are 0.017-0.029.
    assert np.max(np.abs(_cdf(h) - _cdf(ref))) < 0.048
    # bimodal: the end bins hold more than the middle ones (uniform start: ratio 1,
    # +-0.14 by counting noise; Brian2's runs give 1.5-2.1)
    assert (h[0] + h[-1]) / 2 > 1.3 * np.mean(h[5:15])
    w = np.asarray(w)
    for key, frac in (
        ("frac_low", np.mean(w < 0.1 * gmax)),
        ("frac_high", np.mean(w > 0.9 * gmax)),
    ):
        brian = [r[key] for r in cfg["runs"]]
        # Brian2 seeds span 0.11-0.14; +-0.03 around their range is ~2 binomial SD
        assert min(brian) - 0.03 < frac < max(brian) + 0.03, (key, frac, brian)


def _vs_network(rho0, eta, dt=0.5, n=20, n_e=400, n_i=1000, seed=0):
    """``n`` LIF neurons (COBA units) driven by ``n_e`` excitatory Poisson inputs
    (static, 3 nS) and ``n_i`` inhibitory ones (plastic, Vogels–Sprekeler), 10 Hz each,
    connection probability 0.5; returns ``chunk(carry, c) -> (carry, rate Hz)``."""
    k = jax.random.key(seed)
    lay_e, _ = bs.conn.FixedProb(0.5).build(jax.random.fold_in(k, 1), n_e, n)
    lay_i, _ = bs.conn.FixedProb(0.5).build(jax.random.fold_in(k, 2), n_i, n)
    idx = bs.ops.index(lay_i)
    rule = P.VogelsSprekeler(eta=eta, rho0=rho0, tau=20.0, bounds=P.Bounds(0.0, 100.0))
    lif = bs.neurons.LIF(n, t_ref=5.0)  # C = 200 pF, tau_m = 20 ms, -60 / -50 / -60 mV

    def step(carry, key):
        plastic, neuron, ge, gi = carry
        k1, k2 = jax.random.split(key)
        se = jax.random.bernoulli(k1, 10.0 * dt * 1e-3, (n_e,)).astype(jnp.float32)
        si = jax.random.bernoulli(k2, 10.0 * dt * 1e-3, (n_i,)).astype(jnp.float32)
        ge = ge * jnp.exp(-dt / 5.0) + bs.ops.matvec(lay_e, 3.0, se)
        gi = gi * jnp.exp(-dt / 10.0) + bs.ops.matvec(lay_i, plastic.w, si)
        drive = bs.neurons.Drive(conductance=ge + gi, reversal=-80.0 * gi)  # E_e = 0 mV
        neuron, s = lif.step(neuron, drive, t=0.0, dt=dt)
        plastic = rule.step(plastic, si, s, layout=idx, dt=dt)
        return (plastic, neuron, ge, gi), s

    @jax.jit
    def chunk(carry, c):
        keys = jax.random.split(jax.random.fold_in(k, 100 + c), 4000)
        carry, s = jax.lax.scan(step, carry, keys)
        return carry, jnp.mean(s) / (dt * 1e-3)

    init = (
        rule.init(jnp.ones(lay_i.n_synapses), n_i, n),
        lif.init(None),
        jnp.zeros(n),
        jnp.zeros(n),
    )
    return chunk, init


def test_vogels_sprekeler_rate_converges_to_target():
    """From ~20 Hz the rate falls to rho0 = 10 Hz: mean over the last 10 s within 10 %
    (Vogels et al. 2011's claim). The fixed point is exactly rho0 only for uncorrelated
    pre/post trains; the inhibitory inputs' negative correlation with the output raises
    it: seeds 0, 1, 2 give 10.5, 10.3, 10.9 Hz (with 400 instead of 1000 inhibitory
    inputs, i.e. stronger single synapses: 10.6-11.1 Hz)."""
    chunk, carry = _vs_network(rho0=10.0, eta=0.05)
    rates = []
    for c in range(10):  # 10 chunks of 2 s
        carry, r = chunk(carry, c)
        rates.append(float(r))
    assert rates[0] > 18.0  # far from the target at the start
    assert abs(np.mean(rates[5:]) - 10.0) < 1.0, rates
