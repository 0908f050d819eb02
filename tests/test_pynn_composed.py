"""brainsim.pynn's composed ``PointNeuron`` against pyNN.nest's (NEST 3.10)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyNN")
pytest.importorskip("neo")
sim = pytest.importorskip("brainsim.pynn")

ROOT = Path(__file__).parents[1]


def test_point_neuron_matches_nest():
    # The "point" script of benchmarks/pynn_reference.py run by pyNN.nest (fixture
    # tests/references/pynn_point_nest.npz, PROVENANCE.md): AdExp with three alpha
    # conductance receptors (NEST aeif_cond_alpha_multisynapse), LIF with three
    # exponential current receptors (iaf_psc_exp_multisynapse); weights of both signs.
    spec = importlib.util.spec_from_file_location(
        "pynn_reference", ROOT / "benchmarks" / "pynn_reference.py"
    )
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    got = reference.run_point(sim)
    nest = np.load(ROOT / "tests/references/pynn_point_nest.npz")
    t = nest["t"]
    np.testing.assert_allclose(got["t"], t, atol=1e-9)
    # LIF with exponential currents: exact in both; measured 5e-5 mV, bound 1e-3 mV
    np.testing.assert_allclose(got["curr_v"], nest["curr_v"], atol=1e-3)
    # Alpha conductances, continuous: measured 6e-8 µS (float32) of up to 0.15; 1e-6
    for r in ("AMPA", "NMDA", "GABAA"):
        np.testing.assert_allclose(got[f"cond_{r}.gsyn"], nest[f"cond_{r}.gsyn"], atol=1e-6)
    # Exponential currents jump at each arrival (spike + 0.1 ms delay): NEST samples
    # after the arrival, brainsim before it; equal elsewhere (measured 3e-8 nA)
    trains = {"AMPA": ([30.0, 35.0, 120.0], 0.5), "GABAA": ([60.0, 62.5], -0.4)}
    trains["NMDA"] = ([90.0, 91.0], 0.2)
    for r, (times, w) in trains.items():
        jump = w * np.isclose(t[:, None], np.array(times) + 0.1, atol=1e-6).sum(1)
        np.testing.assert_allclose(got[f"curr_{r}.isyn"] + jump, nest[f"curr_{r}.isyn"], atol=1e-6)
    # AdExp (Dormand-Prince here, RKF45 in NEST): the same before its first spike
    # (measured 2.6e-4 mV, bound 1e-3), both spikes in the same steps, and within 0.05
    # mV on the upswing before the second (measured 0.037 mV in its last 0.5 ms)
    spikes = [np.flatnonzero(np.diff(x["cond_v"]) < -10) for x in (got, nest)]
    np.testing.assert_array_equal(spikes[0], spikes[1])
    assert len(spikes[1]) == 2
    before = t < t[spikes[1][0]] - 0.5
    np.testing.assert_allclose(got["cond_v"][before], nest["cond_v"][before], atol=1e-3)
    np.testing.assert_allclose(got["cond_v"], nest["cond_v"], atol=0.05)


def test_point_neuron_parameters_and_bad_components():
    sim.setup(timestep=0.1)
    cell = sim.PointNeuron(sim.LIF(tau_m=12.0), AMPA=sim.CurrExpPostSynapticResponse(tau_syn=2.0))
    p = sim.Population(3, cell)
    assert p.get("tau_m") == pytest.approx(12.0)
    p.set(**{"AMPA.tau_syn": 3.0})
    assert p.get("AMPA.tau_syn") == pytest.approx(3.0)
    with pytest.raises(ValueError, match="neuron IF_curr_exp is not supported; supported: LIF"):
        sim.PointNeuron(sim.IF_curr_exp(), AMPA=sim.CurrExpPostSynapticResponse())
    with pytest.raises(Exception, match="Cannot mix conductance-based and current-based"):
        sim.PointNeuron(sim.LIF(), AMPA=sim.CurrExpPostSynapticResponse(), GABA=sim.AlphaPSR())
    sim.end()
