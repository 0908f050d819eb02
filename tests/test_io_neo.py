"""bs.io.to_neo: a simulated recording as a neo.Block; Elephant's statistics on it
agree with bs.analysis (two independent implementations)."""

import sys

import jax
import numpy as np
import pytest

import brainsim as bs

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")


@pytest.fixture(scope="module")
def run():
    net = bs.models.coba(400, key=jax.random.key(0))
    record = {
        "E": bs.Record(["spikes", "v"], indices=slice(0, 60)),
        "I": bs.Record("spikes", events=True, every=10),
    }
    _, rec = bs.simulate(net, net.init(jax.random.key(1)), 100.0, 0.1, record=record)
    assert np.asarray(rec["E"]["spikes"]).sum() > 50  # not vacuous
    return rec


def test_block_layout_units_and_times(run):
    block = bs.io.to_neo(run)
    seg = block.segments[0]
    assert [g.name for g in block.groups] == ["E", "I"]
    e_trains = block.groups[0].spiketrains
    assert len(e_trains) == 60 and len(block.groups[1].spiketrains) == 80
    (v,) = seg.analogsignals
    assert v.name == "v" and v.units == pq.mV and v.annotations["population"] == "E"
    assert v.sampling_period == 0.1 * pq.ms and v.t_start == 0.1 * pq.ms
    np.testing.assert_array_equal(v.magnitude, run["E"]["v"])
    # spike k of the raster is at the end of its step: (step + 1) * dt
    steps, neurons = np.nonzero(run["E"]["spikes"])
    for j in (0, 7, 59):
        train = e_trains[j]
        assert train.t_start == 0 * pq.ms and train.t_stop == 100.0 * pq.ms
        np.testing.assert_allclose(train.rescale("ms").magnitude, (steps[neurons == j] + 1) * 0.1)
    # 1 ms windows recorded as events: spikes at the window ends, counts kept
    ev = run["I"]["spikes"]
    i_trains = block.groups[1].spiketrains
    assert sum(len(s) for s in i_trains) == len(ev.steps)
    j = int(np.bincount(ev.neurons).argmax())
    np.testing.assert_allclose(i_trains[j].magnitude, run["I"]["t"][ev.steps[ev.neurons == j]])
    assert i_trains[j].t_start == 0 * pq.ms


def test_recording_method_is_the_function(run):
    by_method = run.to_neo(["I"]).groups[0].spiketrains
    by_function = bs.io.to_neo(run, ["I"]).groups[0].spiketrains
    assert len(by_method) == len(by_function) == 80
    for a, b in zip(by_method, by_function, strict=True):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)


def test_elephant_rates_and_isi_cv_match_bs_analysis(run):
    stats = pytest.importorskip("elephant.statistics")
    trains = bs.io.to_neo(run, ["E"]).segments[0].spiketrains
    rates = [float(stats.mean_firing_rate(s).rescale("Hz")) for s in trains]
    mine = bs.analysis.firing_rate(run["E"]["spikes"], 0.1)
    assert mine.max() > 10.0
    np.testing.assert_allclose(rates, mine, rtol=1e-12)
    cv_mine = bs.analysis.isi_cv(run["E"]["spikes"], 0.1)
    ok = ~np.isnan(cv_mine)
    assert ok.sum() >= 5
    cv = np.array([stats.cv(stats.isi(s.magnitude)) for s, k in zip(trains, ok, strict=True) if k])
    # bs.analysis forms the variance as E[x^2] - E[x]^2 (cancellation ~1e-15 / CV^2)
    np.testing.assert_allclose(cv, cv_mine[ok], rtol=1e-9)


def test_units_override_and_bad_population(run):
    block = bs.io.to_neo(run, ["E"], units={"v": "V"})
    assert block.segments[0].analogsignals[0].units == pq.V
    with pytest.raises(ValueError, match=r"populations \['X'\] are not in the recording"):
        bs.io.to_neo(run, ["X"])
    t = 0.1 * np.arange(1, 6)
    batched = bs.Recording({"E": {"v": np.zeros((5, 2, 3)), "t": t}}, 0.1, 0.0, 0.0, 5)
    with pytest.raises(ValueError, match=r"E\['v'\] has shape \(5, 2, 3\)"):
        bs.io.to_neo(batched)


def test_missing_neo_names_the_extra(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match=r"brainsim\[neo\]"):
        bs.io.to_neo(run)
