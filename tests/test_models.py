"""COBA and CUBA (Brette et al. 2007) at 4000 neurons against Brian2 2.11 and NEST 3.10
running the same network (tests/references/peers_coba_cuba.json, PROVENANCE.md)."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import brainsim as bs

PEERS = json.loads((Path(__file__).parent / "references" / "peers_coba_cuba.json").read_text())


def _peer_range(model, stat):
    """The peers' seed-to-seed spread: [min(mean - 3 sd), max(mean + 3 sd)] over Brian2 and
    NEST (5 seeds each). One brainsim run is one more seed; 3 sd covers 99.7 % of seeds."""
    lo, hi = [], []
    for sim in PEERS["results"].values():
        mean, sd = sim[model]["mean"][stat], sim[model]["sd"][stat]
        lo.append(mean - 3 * sd)
        hi.append(mean + 3 * sd)
    return min(lo), max(hi)


@pytest.fixture(scope="module", params=["coba", "cuba", "coba-procedural"])
def run(request):
    """``coba-procedural``: the same network with procedural fixed out-degree connectivity
    (same mean in-degrees, Binomial in-degrees) must land in the same peer range."""
    name, _, flavour = request.param.partition("-")
    model = getattr(bs.models, name)
    net = model(4000, key=jax.random.key(0), procedural=flavour == "procedural")
    _, rec = bs.simulate(
        net, net.init(jax.random.key(1)), 1000.0, 0.1, record={"E": ["spikes"], "I": ["spikes"]}
    )
    return request.param, rec


def test_rates_and_cv_match_peers(run):
    model, rec = run
    model = model.split("-")[0]
    stats = {
        "rate_E_hz": bs.analysis.firing_rate(rec["E"]["spikes"], 0.1).mean(),
        "rate_I_hz": bs.analysis.firing_rate(rec["I"]["spikes"], 0.1).mean(),
        "cv_isi_E": np.nanmean(bs.analysis.isi_cv(rec["E"]["spikes"], 0.1)),
    }
    for stat, value in stats.items():
        lo, hi = _peer_range(model, stat)
        assert lo <= value <= hi, (
            f"{model} {stat} = {value:.3f} outside peers' [{lo:.3f}, {hi:.3f}]"
        )


def test_in_degree_is_kept_when_scaling():
    """p = 80 / n: the mean in-degree stays 80 (64 from E, 16 from I) at any size.
    Binomial sampling: the mean over 8000 neurons has sd ~0.1; bound 0.5."""
    net = bs.models.coba(8000, key=jax.random.key(3))
    indeg = {
        proj.name: np.bincount(np.asarray(proj.conn.indices), minlength=proj.conn.n_post)
        for proj in net.projections
    }
    assert abs(indeg["E->E"].mean() - 64 * 6399 / 6400) < 0.5
    assert abs(indeg["I->I"].mean() - 16 * 1599 / 1600) < 0.5
    assert abs((indeg["E->E"].mean() + indeg["I->E"].mean()) - 80) < 0.5
