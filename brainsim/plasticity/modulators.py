r"""Where the third factor of a modulated rule (``RewardSTDP``) comes from in a
``Network``: ``bs.Plastic(rule, modulator=...)`` steps the modulator before the rule
and passes its output as ``rule.step(..., reward=r)``.

A modulator is an ``eqx.Module`` with ``init(key) -> state`` and
``step(state, pre, post, *, t, dt) -> (state, reward)``; it sees the spikes the rule
sees (``pre (n_pre,)`` as emitted, ``post (n_post,)`` at the synapse) and the time.

- ``RewardSignal(values)``: a reward given over time, ``values[k]`` added in the step
  starting at $t = k\,dt$ (nothing after the last value);
- ``DistalReward(pre, post)``: Izhikevich's (2007) distal reward: whenever
  postsynaptic neuron ``post`` spikes within ``window`` ms after presynaptic neuron
  ``pre``, a reward of ``amount`` is delivered after a delay drawn uniformly in
  ``[delay_min, delay_max]`` ms (at most one pending at a time).
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

from .._checks import check_nonnegative, check_positive


class AbstractModulator(eqx.Module):
    """A neuromodulator source: ``init(key)``, ``step(state, pre, post, *, t, dt)``."""

    @abc.abstractmethod
    def init(self, key):
        """Initial state."""

    @abc.abstractmethod
    def step(self, state, pre, post, *, t, dt):
        """``(state, reward)`` of the step starting at ``t`` ms."""


class RewardSignal(AbstractModulator):
    """``values (n_steps,)``: the reward added in each step (units of ``RewardSTDP.d``)."""

    values: jnp.ndarray

    def __check_init__(self):
        if jnp.ndim(self.values) != 1:
            raise ValueError(
                f"RewardSignal.values must be one value per step (n_steps,), got shape "
                f"{jnp.shape(self.values)}"
            )

    def init(self, key):
        return None

    def step(self, state, pre, post, *, t, dt):
        k = jnp.round(jnp.asarray(t) / dt).astype(jnp.int32)
        n = self.values.shape[0]
        return state, jnp.where(k < n, self.values[jnp.clip(k, 0, n - 1)], 0.0)


class DistalRewardState(eqx.Module):
    last_pre: jnp.ndarray  # () ms, time of pre's last spike (-inf: none)
    due: jnp.ndarray  # () ms, time of the pending reward (inf: none)
    key: jnp.ndarray  # draws the delays


class DistalReward(AbstractModulator):
    """``pre``, ``post``: the neurons of the rewarded synapse (static); ``window`` > 0 ms;
    ``0 <= delay_min <= delay_max`` ms; ``amount`` >= 0 (Izhikevich: 0.5, 10 ms,
    1-3 s)."""

    pre: int = eqx.field(static=True)
    post: int = eqx.field(static=True)
    window: float = 10.0
    delay_min: float = 1000.0
    delay_max: float = 3000.0
    amount: float = 0.5

    def __check_init__(self):
        check_positive("DistalReward.window", self.window, "ms")
        check_nonnegative("DistalReward.delay_min", self.delay_min, "ms")
        check_nonnegative("DistalReward.amount", self.amount)
        if not self.delay_min <= self.delay_max:
            raise ValueError(
                f"DistalReward: need delay_min <= delay_max, got {self.delay_min:g} and "
                f"{self.delay_max:g} ms"
            )

    def init(self, key):
        return DistalRewardState(jnp.asarray(-jnp.inf), jnp.asarray(jnp.inf), key)

    def step(self, state, pre, post, *, t, dt):
        key, draw = jax.random.split(state.key)
        last = jnp.where(pre[self.pre] > 0, t, state.last_pre)
        earned = (post[self.post] > 0) & (t > last) & (t - last <= self.window)
        delay = jax.random.uniform(draw, (), minval=self.delay_min, maxval=self.delay_max)
        due = jnp.where(earned & jnp.isinf(state.due), t + delay, state.due)
        fire = t + 0.5 * dt >= due
        reward = jnp.where(fire, self.amount, 0.0)
        return DistalRewardState(last, jnp.where(fire, jnp.inf, due), key), reward
