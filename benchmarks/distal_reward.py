"""Izhikevich (2007) distal reward with ``bs.plasticity.RewardSTDP`` (issue 17 check:
the rewarded synapse grows to the bound while the others do not).

A reduced form of the protocol, without the spiking network: ``n`` presynaptic and
``n`` postsynaptic neurons, all-to-all plastic synapses (weights in [0, 4] from 1;
A_+ = 1e-3, A_- = 2 A_+, tau_+- = 20 ms, tau_c = 1 s, tau_d = 200 ms; Izhikevich's
A_-/A_+ = 1.5 leaves the mean eligibility of these statistics positive, so every
weight grows with any reward: 2 makes it negative, as in his network). Every
presynaptic neuron fires at 2 Hz (Poisson) and every postsynaptic neuron at 0.5 Hz,
and every synapse has the same causal effect (a presynaptic spike makes each
postsynaptic neuron fire 5 ms later with probability 0.05), as in a random network
where no synapse is special. Whenever postsynaptic J fires within 10 ms after
presynaptic I, a reward (d += 0.5) follows 1-3 s later (at most one pending). Control:
rewards at random times, at the rate the contingent run had. dt = 1 ms.

    python benchmarks/distal_reward.py              # 3600 s, seeds 0-2
    python benchmarks/distal_reward.py --quick      # 60 s, one seed
    python benchmarks/distal_reward.py --network [--n 1000] [--seconds 3600]

``--network``: the protocol in Izhikevich's spiking network, through the public API
(``bs.Network``, ``bs.Plastic(RewardSTDP, modulator=bs.plasticity.DistalReward(I, J))``):
0.8 n regular-spiking excitatory and 0.2 n fast-spiking inhibitory Izhikevich neurons,
dt = 0.5 ms; every excitatory neuron sends 0.08 n synapses to E (plastic, from 1, in
[0, 4]) and 0.02 n to I (static, 1), every inhibitory neuron 0.1 n to E (-1); synapses
are voltage jumps (mV) after 1 ms; every ms one random neuron gets 20 pA for 1 ms.
Deviations from the paper: one delay (1 ms, not 1-20 ms: plastic projections take a
single delay), the E->I synapses are static (one neuromodulator per projection), and
the rule is the continuous ``RewardSTDP`` (A_+ = 1e-3, A_- = 2 A_+) with no tonic
dopamine. Measured (seed 0, one run each, not the paper's hour at n = 1000): n = 100
for 600 s, the rewarded synapse ranks 13th of 800 (w 0.12 against a mean of 0.07 for
the others, the largest at the bound 4); n = 1000 for 30 s, no reward was earned
(E rate 0.9 Hz) so no weight moved. The 3600 s run at n = 1000 is not measured.

Prints, per run, the weight of I->J, its rank among all n^2 weights, the largest and
mean other weight. Results: benchmarks/results/distal_reward.json. Measured (3600 s,
seeds 0-2): contingent rewards put I->J first of 400 every time (4.00, 4.00, 2.92; the
largest other 2.36-2.62, their mean 0.42-0.44, from 1); random rewards leave it at
0.10-1.27 (rank 23-320). The published result is at bound within the hour in the full
network; here 2 of 3 seeds reach the bound.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from _harness import save, table

import brainsim as bs

N, PRE, POST = 20, 3, 7  # the rewarded synapse PRE -> POST


def run(seed: int, seconds: float, reward_rate: float | None) -> dict:
    """``reward_rate`` None: contingent rewards; else random rewards at that rate (Hz)."""
    p = bs.plasticity
    layout = bs.conn.ELL(N, N, jnp.tile(jnp.arange(N, dtype=jnp.int32), (N, 1)))
    idx = bs.ops.index(layout)
    rule = p.RewardSTDP(p.PairSTDP(1e-3, 2e-3, 20.0, 20.0, p.Bounds(0.0, 4.0)), 1000.0, 200.0)

    def body(carry, k):
        s, last_i, pending, countdown, key = carry
        key, k1, k2, k3, k4, k5 = jax.random.split(key, 6)
        pre = jax.random.bernoulli(k1, 2e-3, (N,)).astype(jnp.float32)
        post = jax.random.bernoulli(k2, 0.5e-3, (N,)).astype(jnp.float32)
        post = jnp.maximum(post, (countdown == 1).astype(jnp.float32))
        caused = jnp.any(pre[:, None] * jax.random.bernoulli(k4, 0.05, (N, N)), axis=0)
        countdown = jnp.where(caused, 5, jnp.maximum(countdown - 1, 0))
        t = k * 1.0
        last_i = jnp.where(pre[PRE] > 0, t, last_i)
        if reward_rate is None:
            earned = (post[POST] > 0) & (t > last_i) & (t - last_i <= 10.0)
        else:
            earned = jax.random.bernoulli(k5, reward_rate * 1e-3)
        delay = jax.random.uniform(k3, (), minval=1000.0, maxval=3000.0)
        pending = jnp.where(earned & (pending < 0), t + delay, pending)
        fire = (pending >= 0) & (t >= pending)
        pending = jnp.where(fire, -1.0, pending)
        s = rule.step(s, pre, post, layout=idx, dt=1.0, reward=jnp.where(fire, 0.5, 0.0))
        return (s, last_i, pending, countdown, key), fire

    chunk = jax.jit(lambda c, ks: jax.lax.scan(body, c, ks))
    carry = (rule.init(jnp.ones(N * N), N, N), -1e9, -1.0, jnp.zeros(N, int), jax.random.key(seed))
    rewards = 0
    for c in range(int(seconds // 60)):  # one minute per call
        carry, fired = chunk(carry, jnp.arange(c * 60_000, (c + 1) * 60_000))
        rewards += int(fired.sum())
    w = np.asarray(carry[0].w)
    others = np.delete(w, PRE * N + POST)
    return dict(
        seed=seed,
        contingent=reward_rate is None,
        rewards=rewards,
        w_rewarded=float(w[PRE * N + POST]),
        rank=int((w > w[PRE * N + POST]).sum()) + 1,
        max_other=float(others.max()),
        mean_other=float(others.mean()),
    )


def network_run(seed: int, seconds: float, n: int) -> dict:
    """Izhikevich's network with the distal reward on E neuron PRE's first synapse."""
    p, dt = bs.plasticity, 0.5
    n_e, n_i = 4 * n // 5, n // 5
    key = jax.random.key(seed)
    ee = bs.conn.FixedOutDegree(max(1, 2 * n // 25)).build(
        jax.random.fold_in(key, 1), n_e, n_e, recurrent=True
    )[0]
    target = int(ee.indices[PRE, 0])  # the rewarded synapse: PRE -> its first target
    rule = p.RewardSTDP(p.PairSTDP(1e-3, 2e-3, 20.0, 20.0, p.Bounds(0.0, 4.0)), 1000.0, 200.0)
    reward = p.DistalReward(pre=PRE, post=target)
    jump = dict(synapse=bs.synapses.Delta(), output=bs.synapses.VoltageJump(), delay=1.0)
    net = bs.Network(
        {
            "E": bs.neurons.Izhikevich(n_e, a=0.02, d=8.0),
            "I": bs.neurons.Izhikevich(n_i, a=0.1, d=2.0),
        },
        [
            bs.Projection(
                "E", "E", ee, weight=1.0, components=(bs.Plastic(rule, modulator=reward),), **jump
            ),
            bs.Projection("E", "I", bs.conn.FixedOutDegree(max(1, n // 50)), weight=1.0, **jump),
            bs.Projection("I", "E", bs.conn.FixedOutDegree(max(1, n // 10)), weight=-1.0, **jump),
        ],
        key=jax.random.fold_in(key, 2),
    )

    def thalamus(t):  # every ms one random neuron of n gets 20 pA
        k = jax.random.randint(jax.random.fold_in(key, jnp.floor(t).astype(jnp.int32)), (), 0, n)
        hit = jnp.arange(n) == k
        return {"E": 20.0 * hit[:n_e], "I": 20.0 * hit[n_e:]}

    state, rec = bs.simulate(
        net,
        net.init(jax.random.fold_in(key, 3), dt=dt),
        seconds * 1e3,
        dt,
        inputs=thalamus,
        record={"E": bs.Record(["spikes"], events=True)},
        progress=False,
    )
    w = np.asarray(state.components[0][0][0].w)
    s = PRE * ee.indices.shape[1]  # flat position of PRE's first synapse
    others = np.delete(w, s)
    return dict(
        seed=seed,
        n=n,
        w_rewarded=float(w[s]),
        rank=int((w > w[s]).sum()) + 1,
        max_other=float(others.max()),
        mean_other=float(others.mean()),
        e_rate_hz=len(rec["E"]["spikes"].steps) / n_e / seconds,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--network", action="store_true")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3600.0)
    args = parser.parse_args()
    if args.network:
        got = network_run(0, args.seconds, args.n)
        print(got)
        save(f"distal_reward_network_{args.n}", dict(seconds=args.seconds, rows=[got]))
        return
    seconds, seeds = (60.0, [0]) if args.quick else (3600.0, [0, 1, 2])
    rows = []
    for seed in seeds:
        got = run(seed, seconds, None)
        rows.append(got)
        rows.append(run(seed, seconds, got["rewards"] / seconds))
    columns = [
        ("seed", "seed", ""),
        ("contingent", "contingent", ""),
        ("rewards", "rewards", ""),
        ("w_rewarded", "w(I→J)", ".2f"),
        ("rank", "rank of I→J", ""),
        ("max_other", "max other", ".2f"),
        ("mean_other", "mean other", ".2f"),
    ]
    print(table(rows, columns))
    if not args.quick:
        save("distal_reward", dict(seconds=seconds, rows=rows))


if __name__ == "__main__":
    main()
