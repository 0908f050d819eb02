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

``--network``: the protocol in Izhikevich's spiking network, as in his ``daspnet.m``
(the code of the paper's Fig. 1), through the public API (``bs.Network``,
``bs.Plastic(RewardSTDP, modulator=...)``): 0.8 n regular-spiking excitatory and 0.2 n
fast-spiking inhibitory Izhikevich neurons, dt = 0.5 ms; every excitatory neuron sends
0.08 n synapses to E (plastic, in [0, 4], from 1; the rewarded one from 0) and 0.02 n to
I (static, 1), every inhibitory neuron 0.1 n to E (-1) (n = 1000: his 100 synapses per
neuron); synapses are voltage jumps (mV) after 1 ms (his ``D = 1``: one delay); every ms
every neuron gets a current uniform in [-6.5, 6.5] pA. Rule (his constants, per ms):
``RewardSTDP`` with A_+ = 0.01, A_- = 0.015 (his 0.1 and 1.5 x 0.1 on an eligibility
that moves the weight by (0.002 + DA) x sd every 10 ms), tau_+- = 20 ms, tau_c = 995 ms
(sd x 0.99 every 10 ms), tau_d = 200 ms; dopamine = tonic 0.002 (``TonicReward``) plus
0.5 per reward; a reward 1-3 s after J fires within 20 ms after I. Deviations: the E->I
synapses are static (his learn too), at most one reward pending (his any number), the
weights change every step (his every 10 ms). ``--control``: then the same with random
rewards at the rate the contingent run earned; ``--random-rate HZ``: only such a control,
at a rate given (that of an earlier contingent run). Prints a row every ``--chunk`` s: rewards
so far, w(I->J) and its rank, the other weights (max, mean, fraction > 3.9), the
eligibility of I->J and of the others (mean, sd), the E rate.

Why the earlier network version failed (rewarded synapse 13th of 800 at n = 100, 600 s,
w 0.12 against a mean of 0.07 for the others, from 1): it used A_+ = 1e-3, A_- = 2 A_+,
no tonic dopamine, a 10 ms window and spnet's input (one neuron of 20 pA per ms, E rate
0.9 Hz). Without tonic dopamine the weights move only during rewards, and with A_- / A_+
= 2 the mean eligibility is negative, so every reward depressed all synapses: the whole
weight distribution collapsed toward 0 (mean 1 -> 0.07) and the rewarded synapse with
it. With his constants the others drift slowly (mean 1 -> 0.6 in an hour at n = 100)
while the rewarded synapse climbs; measured results in ``docs/concepts/plasticity.md``.

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


class TonicReward(bs.plasticity.AbstractModulator):
    """A phasic modulator (``inner``) on top of a tonic dopamine level: each step adds the
    reward that holds ``d`` at ``level`` between rewards (``level (1 - e^{-dt/tau_d})``,
    ``tau_d`` the rule's, ms), and counts the phasic rewards in its state."""

    inner: bs.plasticity.AbstractModulator
    level: float
    tau_d: float

    def init(self, key):
        return self.inner.init(key), jnp.zeros((), jnp.int32)

    def step(self, state, pre, post, *, t, dt):
        inner, count = state
        inner, reward = self.inner.step(inner, pre, post, t=t, dt=dt)
        tonic = self.level * -np.expm1(-dt / self.tau_d)
        return (inner, count + (reward > 0)), reward + tonic


def network_run(seed, seconds, n, chunk_s, reward_rate=None, report=None) -> dict:
    """Izhikevich's network with the distal reward on E neuron PRE's first synapse;
    ``reward_rate`` (Hz): random rewards at that rate instead (the control);
    ``report(row)``: called with the row so far after every chunk."""
    p, dt = bs.plasticity, 0.5
    n_e, n_i = 4 * n // 5, n // 5
    key = jax.random.key(seed)
    ee = bs.conn.FixedOutDegree(max(1, 2 * n // 25)).build(
        jax.random.fold_in(key, 1), n_e, n_e, recurrent=True
    )[0]
    target = int(ee.indices[PRE, 0])  # the rewarded synapse: PRE -> its first target
    s = PRE * ee.indices.shape[1]  # its flat position
    w0 = np.ones(ee.weight_shape, np.float32).ravel()
    w0[s] = 0.0  # as in the paper, the rewarded synapse starts at 0
    window = p.PairSTDP(0.01, 0.015, 20.0, 20.0, p.Bounds(0.0, 4.0))
    rule = p.RewardSTDP(window, tau_c=-10.0 / np.log(0.99), tau_d=200.0)
    phasic = p.DistalReward(pre=PRE, post=target, window=20.0)
    if reward_rate is not None:
        draws = np.random.default_rng(seed + 100).random(int(round(seconds * 1e3 / dt)))
        phasic = p.RewardSignal(jnp.asarray(0.5 * (draws < reward_rate * dt * 1e-3)))
    reward = TonicReward(phasic, 0.002, 200.0)
    jump = dict(synapse=bs.synapses.Delta(), output=bs.synapses.VoltageJump(), delay=1.0)
    net = bs.Network(
        {
            "E": bs.neurons.Izhikevich(n_e, a=0.02, d=8.0),
            "I": bs.neurons.Izhikevich(n_i, a=0.1, d=2.0),
        },
        [
            bs.Projection(
                "E",
                "E",
                ee,
                weight=jnp.asarray(w0.reshape(ee.weight_shape)),
                components=(bs.Plastic(rule, modulator=reward),),
                **jump,
            ),
            bs.Projection("E", "I", bs.conn.FixedOutDegree(max(1, n // 50)), weight=1.0, **jump),
            bs.Projection("I", "E", bs.conn.FixedOutDegree(max(1, n // 10)), weight=-1.0, **jump),
        ],
        key=jax.random.fold_in(key, 2),
    )

    def thalamus(t):  # every ms every neuron gets a current uniform in [-6.5, 6.5] pA
        k = jax.random.fold_in(key, jnp.floor(t).astype(jnp.int32))
        i = 13.0 * (jax.random.uniform(k, (n,)) - 0.5)
        return {"E": i[:n_e], "I": i[n_e:]}

    state = net.init(jax.random.fold_in(key, 3), dt=dt)
    curve, t_ms = [], 0.0
    while t_ms < seconds * 1e3 - 0.5:
        span = min(chunk_s * 1e3, seconds * 1e3 - t_ms)
        state, rec = bs.simulate(
            net,
            state,
            span,
            dt,
            t0=t_ms,
            inputs=thalamus,
            record={"E": bs.Record(["spikes"], events=True)},
            progress=False,
        )
        t_ms += span
        rule_state, _, (_, rewards) = state.components[0][0]
        w, c = np.asarray(rule_state.w), np.asarray(rule_state.c)
        others = np.delete(w, s)
        curve.append(
            dict(
                t_s=t_ms / 1e3,
                rewards=int(rewards),
                w_rewarded=float(w[s]),
                rank=int((w > w[s]).sum()) + 1,
                max_other=float(others.max()),
                mean_other=float(others.mean()),
                frac_other_at_bound=float(np.mean(others > 3.9)),
                c_rewarded=float(c[s]),
                c_other_mean=float(np.delete(c, s).mean()),
                c_other_sd=float(np.delete(c, s).std()),
                e_rate_hz=len(rec["E"]["spikes"].steps) / n_e / (span / 1e3),
            )
        )
        print(curve[-1], flush=True)
        row = dict(seed=seed, n=n, contingent=reward_rate is None, **curve[-1], curve=curve)
        if report is not None:
            report(row)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--network", action="store_true")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--control", action="store_true", help="also random rewards")
    parser.add_argument(
        "--random-rate", type=float, default=None, help="only random rewards at this rate (Hz)"
    )
    parser.add_argument("--chunk", type=float, default=60.0, help="seconds between reports")
    parser.add_argument("--out", default=None, help="--network results name (without .json)")
    args = parser.parse_args()
    if args.network:
        if args.quick:
            args.n, args.seconds, args.chunk = 100, 2.0, 1.0
        control = "_control" if args.control else ""
        if args.random_rate is not None:
            control = f"_random_{args.random_rate:.4g}hz"
        rows, name = [], args.out or f"distal_reward_network_{args.n}_{args.seconds:g}s{control}"

        def report(row):  # the results so far, after every chunk
            if not args.quick:
                save(name, dict(seconds=args.seconds, rows=[*rows, row]))

        for seed in args.seeds:
            if args.random_rate is not None:  # the control alone, at a given run's rate
                rate = args.random_rate
                rows.append(network_run(seed, args.seconds, args.n, args.chunk, rate, report))
                continue
            rows.append(network_run(seed, args.seconds, args.n, args.chunk, report=report))
            if args.control:
                rate = rows[-1]["rewards"] / args.seconds
                rows.append(network_run(seed, args.seconds, args.n, args.chunk, rate, report))
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
