"""COBAHH (Brette et al. 2007, benchmark 3) at N = 4000 against Brian2 2.11 running the
same network (tests/references/cobahh_brian2.json, PROVENANCE.md)."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import brainsim as bs

REF = json.loads((Path(__file__).parent / "references" / "cobahh_brian2.json").read_text())
T = 200.0  # ms: the run is short to keep the suite fast; Brian2's rates over [0, 200) ms


@pytest.fixture(scope="module")
def run():
    net = bs.models.cobahh(4000, key=jax.random.key(0))
    state = bs.models.cobahh_state(net, jax.random.key(1))
    _, rec = bs.simulate(net, state, T, 0.1, record={"E": ["spikes"], "I": ["spikes"]})
    return rec


@pytest.mark.parametrize("pop", ["E", "I"])
def test_rates_match_brian2(run, pop):
    """Self-sustained activity with the rate of Brian2's COBAHH over the same window.
    Brian2's seed-to-seed spread over the first 200 ms is large (E 35.1 ± 4.2 Hz, I
    34.6 ± 1.7 Hz, 5 seeds; the initial conductances set off a transient): one brainsim
    run is one more seed, so it must lie within mean ± 3 sd. Measured: E 33.8, I 34.3 Hz.

    Known gap, not covered by this short test: over 1 s (3 seeds, measured once) brainsim
    gives E 33.0 ± 1.6, I 34.9 ± 1.2 Hz against Brian2's 36.3 ± 0.8 / 36.0 ± 0.3 Hz, about
    8 % lower for E. float64 gives the same (E 34.0 Hz, seed 0); Brian2's extra threshold
    events on plateaus above −20 mV (its refractory-based detection) are 1 % of its spikes.
    The cause is open."""
    rate = float(bs.analysis.firing_rate(run[pop]["spikes"], 0.1).mean())
    mean = REF["summary"]["mean"][f"rate_{pop}_hz_{T:g}"]
    sd = REF["summary"]["sd"][f"rate_{pop}_hz_{T:g}"]
    assert abs(rate - mean) <= 3 * sd, (pop, rate, mean, sd)


def test_cobahh_structure():
    """Traub–Miles populations, 80/20 split, conductance synapses 6 / 67 nS."""
    net = bs.models.cobahh(500, key=jax.random.key(0))
    assert net.populations["E"].size == 400 and net.populations["I"].size == 100
    assert isinstance(net.populations["E"], bs.neurons.TraubMiles)
    w = {p.name: float(p.weight) for p in net.projections}
    assert w["E->I"] == 6.0 and w["I->E"] == 67.0
    state = bs.models.cobahh_state(net, jax.random.key(2))
    g = np.asarray(state.synapses[0].g)
    assert abs(g.mean() - 40.0) < 3 * 15.0 / np.sqrt(g.size) + 1e-6
