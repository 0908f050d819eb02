r"""What every spike-timing rule shares: its step order and its checks.

A rule is an ``eqx.Module`` of parameters; its state (the plastic weights ``w``, in the
layout's flat synapse order, and its spike traces) is a separate pytree::

    state = rule.init(w, n_pre, n_post)
    state = rule.step(state, pre_spikes, post_spikes, layout=bs.ops.index(layout), dt=dt)

``pre_spikes (n_pre,)`` and ``post_spikes (n_post,)`` are the spikes *as seen at the
synapse*. With NEST's convention (Morrison, Diesmann & Gerstner 2008) the whole
synaptic delay ``d`` is dendritic: pass the presynaptic spikes as emitted and the
postsynaptic spikes ``d`` steps late (``bs.delays.delay_step``); in a ``Network``,
``bs.Plastic(rule)`` does this with the projection's delay. A step of ``dt``:

1. every trace decays by $e^{-dt/\tau}$;
2. postsynaptic spikes update their columns from the presynaptic traces;
3. presynaptic spikes update their rows from the postsynaptic traces;
4. the traces jump with this step's spikes.

So a pre and a post spike in the same step do not pair (as in NEST, where
$\Delta t = 0$ changes nothing), and facilitation precedes depression within a step
(NEST's order). Work per step: O(active neurons × degree) plus O(neurons) for traces.
"""

import abc
from typing import ClassVar

import equinox as eqx

from .._checks import check_nonnegative, check_positive
from ..ops import plastic_bounded, update_columns, update_rows


class AbstractPlasticity(eqx.Module):
    """A synaptic plasticity rule: parameters as fields; ``init(w, n_pre, n_post)`` gives
    the state (plastic weights ``state.w`` and traces), ``step(state, pre, post, *,
    layout, dt)`` advances it one step (``layout``: a ``bs.ops.Indexed``). A
    ``modulated`` rule's ``step`` also takes ``reward=`` (its third factor)."""

    modulated: ClassVar[bool] = False

    @abc.abstractmethod
    def init(self, w, n_pre: int, n_post: int):
        """Initial state from the flat initial weights ``w (n_synapses,)``."""

    @abc.abstractmethod
    def step(self, state, pre, post, *, layout, dt):
        """One step of ``dt`` ms with the spikes seen at the synapse."""

    def run_form(self, state, *, dt):
        """This rule as a many-step native loop steps it (a ``bs.ops.PairRun`` without
        its ``seen`` spikes and column index, which ``bs.Plastic`` adds), or ``None``
        (the default: the network steps one step at a time)."""
        return None

    def from_run(self, state, run):
        """The state that the advanced ``run`` (of ``run_form(state)``) holds."""
        raise NotImplementedError(f"{type(self).__name__} has no run_form")


def check_rule(name: str, rule, amplitudes=(), taus=()) -> None:
    """Amplitudes >= 0 (they are magnitudes: the sign is the rule's) and time constants
    > 0 (ms), naming ``name.field`` in the error."""
    for field in amplitudes:
        check_nonnegative(f"{name}.{field}", getattr(rule, field))
    for field in taus:
        check_positive(f"{name}.{field}", getattr(rule, field), "ms")


def apply_events(layout, w, pre, post, pre_traces, post_traces, on_pre, on_post, theta):
    """Steps 2 and 3: columns of spiking post neurons (``on_post``), then rows of
    spiking pre neurons (``on_pre``); ``layout`` a ``bs.ops.Indexed``."""
    w = update_columns(
        layout.layout,
        layout.cols,
        w,
        post,
        on_post,
        pre_traces,
        post_traces,
        theta,
        layout.post_capacity,
    )
    return update_rows(
        layout.layout, w, pre, on_pre, pre_traces, post_traces, theta, layout.pre_capacity
    )


def apply_bounded(layout, w, pre, post, on_post, on_pre, bounds):
    """Steps 2 and 3 for a change ``bounds.change(w, a b)`` factored into per-neuron
    arrays: ``on_post = (a (n_pre,), b (n_post,))`` for postsynaptic spikes,
    ``on_pre = (a (n_post,), b (n_pre,))`` for presynaptic ones (``a`` the partner's,
    ``b`` the spiking neuron's): ``bs.ops.plastic_bounded`` (a native kernel on CPU)."""
    b = bounds
    return plastic_bounded(
        layout, w, pre, post, on_post, on_pre, b.w_min, b.w_max, b.mu_plus, b.mu_minus
    )
