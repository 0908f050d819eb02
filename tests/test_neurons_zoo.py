"""The neuron zoo against independent references: NEST 3.10 traces (fixtures), published
firing patterns (Izhikevich 2003; Naud et al. 2008), closed-form results."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import adex_from_nest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import brainsim as bs

N = bs.neurons
NEST = np.load(Path(__file__).parent / "references" / "neurons_nest.npz")


def _run(neuron, current, t_end, dt, state=None):
    """Drive ``neuron`` with ``current(t)`` (pA, traced t in ms); returns V (steps, n) after
    each step and the spike times of each neuron (end of the spiking step, ms)."""
    state = neuron.init(jax.random.key(0)) if state is None else state

    def body(s, k):
        s, spk = neuron.step(s, N.Drive(current=current(k * dt)), t=k * dt, dt=dt)
        return s, (s.v, spk)

    _, (v, s) = jax.lax.scan(body, state, jnp.arange(round(t_end / dt)))
    s = np.asarray(s)
    return np.asarray(v), [(np.nonzero(s[:, j])[0] + 1) * dt for j in range(s.shape[1])]


# ---- single-neuron traces against NEST 3.10 (tests/references/record_neurons.py) --------


def _nest_params(model):
    return json.loads(str(NEST[f"{model}/params"]))


def _nest_run(model, neuron, dt):
    cur = jnp.asarray(NEST[f"{model}/current"], jnp.float32)  # pA per 1-ms interval
    v, spikes = _run(neuron, lambda t: cur[jnp.floor(t + 1e-6).astype(jnp.int32)], 300.0, dt)
    idx = np.round(NEST[f"{model}/times"] / dt).astype(int) - 1  # NEST samples at step ends
    return v[idx, 0], spikes[0], NEST[f"{model}/V_m"], NEST[f"{model}/spikes"]


def _away_from_spikes(times, spikes, margin):
    return np.all(np.abs(times[:, None] - np.concatenate([spikes])[None, :]) > margin, axis=1)


def test_lif_matches_nest_iaf_psc_exp():
    """Exact integration on both sides (NEST's propagator, our exponential Euler with the
    current constant over each step): identical spike steps, and V equal to float32
    rounding (measured 4e-5 mV; bound 1e-3 mV)."""
    p = _nest_params("iaf_psc_exp")
    lif = N.LIF(
        1,
        tau_m=p["tau_m"],
        c_m=p["C_m"],
        v_rest=p["E_L"],
        v_th=p["V_th"],
        v_reset=p["V_reset"],
        t_ref=p["t_ref"],
        v_init=p["V_m"],
    )
    v, spikes, v_nest, s_nest = _nest_run("iaf_psc_exp", lif, 0.1)
    np.testing.assert_allclose(spikes, s_nest, atol=1e-6)
    assert len(s_nest) >= 10
    np.testing.assert_allclose(v, v_nest, atol=1e-3)


def test_izhikevich_matches_nest():
    """NEST's ``izhikevich`` (consistent_integration) is forward Euler, our default: same
    spike steps, V within 0.05 mV (float32 vs float64 round-off, largest on the upstroke;
    measured 0.01 mV)."""
    p = _nest_params("izhikevich")
    izh = N.Izhikevich(
        1, a=p["a"], b=p["b"], c=p["c"], d=p["d"], v_peak=p["V_th"], v_init=p["V_m"]
    )
    assert np.isclose(p["U_m"], p["b"] * p["V_m"])  # NEST's initial u is our u = b v
    v, spikes, v_nest, s_nest = _nest_run("izhikevich", izh, 0.1)
    np.testing.assert_allclose(spikes, s_nest, atol=1e-6)
    assert len(s_nest) >= 5
    np.testing.assert_allclose(v, v_nest, atol=0.05)


def _adex_from_nest(integrator):
    return adex_from_nest(_nest_params("aeif_psc_exp"), integrator=integrator)


@pytest.mark.parametrize(
    "integrator, dt, spike_tol",
    [
        # dt = 0.01 ms: NEST (adaptive RKF45) reports a spike at the end of its 0.1-ms step,
        # we at the end of a 0.01-ms step: |Δt| <= 0.1 ms (one NEST step) + 0.01 (measured
        # <= 0.09 ms over 9 spikes).
        (bs.integrators.RK4(), 0.01, 0.11),
        (bs.integrators.ExpEuler(), 0.01, 0.11),
        # dt = 0.1 ms with the default first-order scheme: the spike time error
        # accumulates through the adaptation current to 0.5 ms by the 7th spike
        # (measured); bound 0.6 ms (6 dt).
        (bs.integrators.ExpEuler(), 0.1, 0.6),
    ],
)
def test_adex_matches_nest_aeif_psc_exp(integrator, dt, spike_tol):
    """AdEx against NEST's ``aeif_psc_exp`` (default parameters, piecewise-constant
    current): same number of spikes, spike times within ``spike_tol``, and subthreshold V
    (samples > 2 ms from any spike) within 0.1 mV at dt = 0.01 (measured median 0.015 mV)
    or 1 mV at dt = 0.1."""
    v, spikes, v_nest, s_nest = _nest_run("aeif_psc_exp", _adex_from_nest(integrator), dt)
    assert len(s_nest) >= 8 and len(spikes) == len(s_nest), (spikes, s_nest)
    assert np.max(np.abs(spikes - s_nest)) <= spike_tol, spikes - s_nest
    t = NEST["aeif_psc_exp/times"]
    keep = _away_from_spikes(t, np.concatenate([spikes, s_nest]), 2.0)
    assert np.max(np.abs(v - v_nest)[keep]) < (0.1 if dt < 0.05 else 1.0)


def _adex_reference(i_ext, t_end, dt):
    """Spike times (ms) of the AdEx model with the default (NEST) parameters under a
    constant current from rest: the equations in float64 ``solve_ivp`` (DOP853,
    tolerances 1e-11), with the model's (and NEST's ``aeif_*``) discrete reset: a spike
    is reported, and V and w reset, at the end of the ``dt`` step in which V passed
    ``v_peak``. The crossing is located at -30 mV (from there V reaches 0 mV within 1e-3
    ms; the solver cannot follow the blow-up closer); for the rest of that step w
    relaxes towards ``a (v_peak - e_l)`` (V is capped at ``v_peak``), exactly."""
    p = N.AdEx(1)
    c_m, g_l, e_l, v_t, d_t = p.c_m, p.g_l, p.e_l, p.v_t, p.delta_t

    def rhs(t, y):
        v, w = y
        dv = (-g_l * (v - e_l) + g_l * d_t * np.exp((v - v_t) / d_t) - w + i_ext) / c_m
        return [dv, (p.a * (v - e_l) - w) / p.tau_w]

    def upstroke(t, y):
        return y[0] + 30.0

    upstroke.terminal, upstroke.direction = True, 1.0
    t, y, spikes = 0.0, [e_l, 0.0], []
    while True:
        sol = solve_ivp(
            rhs, (t, t_end), y, method="DOP853", rtol=1e-11, atol=1e-11, events=upstroke
        )
        if sol.status != 1:
            return np.array(spikes)
        t_cross, w = sol.t_events[0][0], sol.y_events[0][0][1]
        t = np.ceil(t_cross / dt - 1e-9) * dt  # the end of the step
        decay = np.exp(-(t - t_cross) / p.tau_w)
        w = w * decay + p.a * (p.v_peak - e_l) * (1 - decay)
        spikes.append(t)
        y = [p.v_reset, w + p.b]


def test_adex_default_integrator_accurate():
    """AdEx's default integrator (``DormandPrince``, float32) at dt = 0.025 ms: every
    spike of 200 ms under 1 nA within 0.1 ms of the float64 reference of the model with
    its discrete reset (measured: on the same step, 0 ms; RK4 0.125 ms and exponential
    Euler 0.175 ms by the 9th spike, one step late per spike)."""
    dt = 0.025
    t_ref = _adex_reference(1000.0, 200.0, dt)
    _, (t_ours,) = _run(N.AdEx(1, i_ext=1000.0), lambda t: 0.0, 200.0, dt)
    assert len(t_ref) >= 8 and len(t_ours) == len(t_ref), (t_ours, t_ref)
    assert np.max(np.abs(t_ours - t_ref)) < 0.1, t_ours - t_ref


# ---- Izhikevich (2003) firing patterns ----------------------------------------------

# Izhikevich 2003, IEEE Trans Neural Netw 14:1569, Fig. 2 (a, b, c, d).
IZH = {
    "RS": (0.02, 0.2, -65.0, 8.0),
    "IB": (0.02, 0.2, -55.0, 4.0),
    "CH": (0.02, 0.2, -50.0, 2.0),
    "FS": (0.1, 0.2, -65.0, 2.0),
    "LTS": (0.02, 0.25, -65.0, 2.0),
    "RZ": (0.1, 0.26, -65.0, 2.0),
}


def _izh_rest(b, i=0.0):
    """Stable fixed point: 0.04 v² + (5 - b) v + 140 + i = 0 (lower root), u = b v."""
    v = (-(5 - b) - np.sqrt((5 - b) ** 2 - 4 * 0.04 * (140 + i))) / 0.08
    return v, b * v


@pytest.fixture(scope="module")
def izh_step():
    """Each cell from its resting state; step I = 10 (the paper's units) from 0 to 300 ms
    at dt = 0.1 ms."""
    p = np.array(list(IZH.values()))
    nrn = N.Izhikevich(len(IZH), a=p[:, 0], b=p[:, 1], c=p[:, 2], d=p[:, 3])
    v0, u0 = _izh_rest(p[:, 1])
    state = nrn.init(jax.random.key(0))
    state = N.IzhikevichState(
        jnp.asarray(v0, jnp.float32),
        jnp.asarray(u0, jnp.float32),
        state.spike,
        state.refractory,
    )
    _, spikes = _run(nrn, lambda t: 10.0, 300.0, 0.1, state)
    return dict(zip(IZH, spikes, strict=True))


def test_izhikevich_default_initial_state_is_nests():
    """Every parameter set starts at v = -65 mV, u = b v: NEST's ``izhikevich`` defaults
    (V_m, U_m of the recorded fixture) and the paper's simulations (not at ``c``, which
    differs for IB and CH)."""
    p = _nest_params("izhikevich")
    for a, b, c, d in IZH.values():
        st = N.Izhikevich(2, a=a, b=b, c=c, d=d).init(jax.random.key(0))
        np.testing.assert_allclose(np.asarray(st.v), p["V_m"])
        np.testing.assert_allclose(np.asarray(st.u), b * p["V_m"], rtol=1e-6)
    assert p["V_m"] == -65.0 and np.isclose(p["U_m"], p["b"] * p["V_m"])


def test_izhikevich_regular_spiking(izh_step):
    """RS: tonic spiking with adaptation, no bursts (Fig. 2, "regular spiking"): every ISI
    > 10 ms and the steady ISI > 1.5 × the first (measured 17.8 → 45 ms)."""
    isi = np.diff(izh_step["RS"])
    assert len(isi) >= 4 and isi.min() > 10.0
    assert isi[-1] > 1.5 * isi[0]


def test_izhikevich_intrinsically_bursting(izh_step):
    """IB: an initial burst (>= 2 ISIs < 5 ms) then tonic spiking (ISIs > 20 ms)."""
    isi = np.diff(izh_step["IB"])
    assert np.all(isi[:2] < 5.0) and np.all(isi[2:] > 20.0) and len(isi) >= 6


def test_izhikevich_chattering(izh_step):
    """CH: repetitive bursts: ISIs are bimodal (< 8 ms within, > 30 ms between bursts),
    at least 4 bursts of >= 3 spikes in 300 ms."""
    isi = np.diff(izh_step["CH"])
    assert np.all((isi < 8.0) | (isi > 30.0))
    bursts = np.split(isi, np.nonzero(isi > 30.0)[0])
    assert len(bursts) >= 4 and all(len(b) >= 3 for b in bursts[:-1])


def test_izhikevich_fast_spiking(izh_step):
    """FS: periodic high-frequency firing, practically no adaptation: rate > 3 × RS,
    steady ISIs (after the first 3) with CV < 0.05."""
    fs, rs = izh_step["FS"], izh_step["RS"]
    assert len(fs) > 3 * len(rs)
    isi = np.diff(fs)[3:]
    assert isi.std() / isi.mean() < 0.05


def test_izhikevich_low_threshold_spiking(izh_step):
    """LTS: high-frequency train with pronounced adaptation: first ISI < 5 ms, steady ISI
    > 2 × first, and more spikes than RS."""
    isi = np.diff(izh_step["LTS"])
    assert isi[0] < 5.0 and isi[-1] > 2 * isi[0] and len(isi) > len(np.diff(izh_step["RS"]))


def test_izhikevich_resonator_subthreshold_oscillation(x64):
    """RZ: damped subthreshold oscillations. After a small step (I = 0.02; the fixed point
    vanishes at I = 0.47) the voltage
    rings around the new fixed point with the half period π / Im λ of the Jacobian
    [[0.08 v* + 5, -1], [a b, -a]] (≈ 20.6 ms). Measured from zero crossings in float64
    at dt = 0.01 ms: within 1 % (measured 0.01 %; the crossing grid is 0.05 %)."""
    a, b, c, d = IZH["RZ"]
    nrn = N.Izhikevich(1, a=a, b=b, c=c, d=d)
    v0, u0 = _izh_rest(b)
    state = N.IzhikevichState(
        jnp.full(1, v0), jnp.full(1, u0), jnp.zeros(1), jnp.zeros(1, jnp.int32)
    )
    v, spikes = _run(nrn, lambda t: 0.02, 150.0, 0.01, state)
    assert len(spikes[0]) == 0
    v1, _ = _izh_rest(b, 0.02)
    lam = np.linalg.eigvals([[0.08 * v1 + 5, -1.0], [a * b, -a]])
    x = v[:, 0] - v1
    k = np.nonzero(np.sign(x[:-1]) != np.sign(x[1:]))[0]
    half = np.diff(k[:4]).mean() * 0.01
    assert abs(half / (np.pi / abs(lam[0].imag)) - 1) < 0.01, (half, lam)


# ---- AdEx firing patterns (Naud et al. 2008) ----------------------------------------

# Naud, Marcille, Clopath & Gerstner 2008, Biol Cybern 99:335, Table 1, in the version of
# Brian2's example Naud_et_al_2008_adex_firing_patterns.py (parameters adjusted to match
# the figures): C pF, g_L nS, E_L, V_T, Δ_T, a nS, τ_w ms, b pA, V_r mV, I pA; V_peak 0 mV.
NAUD = {
    "tonic": (200, 10, -70, -50, 2, 2, 30, 0, -58, 500),
    "adapting": (200, 12, -70, -50, 2, 2, 300, 60, -58, 500),
    "initial_burst": (130, 18, -58, -50, 2, 4, 150, 120, -50, 400),
    "regular_bursting": (200, 10, -58, -50, 2, 2, 120, 100, -46, 210),
    "delayed_accelerating": (200, 12, -70, -50, 2, -10, 300, 0, -58, 300),
    "delayed_regular_bursting": (100, 10, -65, -50, 2, -10, 90, 30, -47, 110),
    "transient": (100, 10, -65, -50, 2, 10, 90, 100, -47, 180),
}


@pytest.fixture(scope="module")
def naud():
    """600 ms step from rest at dt = 0.1 ms with the default integrator."""
    q = np.array(list(NAUD.values()), float)
    nrn = N.AdEx(
        len(NAUD),
        c_m=q[:, 0],
        g_l=q[:, 1],
        e_l=q[:, 2],
        v_t=q[:, 3],
        delta_t=q[:, 4],
        a=q[:, 5],
        tau_w=q[:, 6],
        b=q[:, 7],
        v_reset=q[:, 8],
        v_init=jnp.asarray(q[:, 2], jnp.float32),
    )
    current = jnp.asarray(q[:, 9], jnp.float32)
    _, spikes = _run(nrn, lambda t: current, 600.0, 0.1)
    return {k: np.diff(s) for k, s in zip(NAUD, spikes, strict=True)} | {
        f"{k}_t": s for k, s in zip(NAUD, spikes, strict=True)
    }


def test_adex_tonic(naud):
    """Tonic: regular ISIs from the start (last/first < 1.15, CV < 0.05)."""
    isi = naud["tonic"]
    assert len(isi) > 20 and isi[-1] / isi[0] < 1.15 and isi.std() / isi.mean() < 0.05


def test_adex_adapting(naud):
    """Adapting: ISIs grow monotonically to > 3 × the first."""
    isi = naud["adapting"]
    assert np.all(np.diff(isi) > -0.2) and isi[-1] > 3 * isi[0]


def test_adex_initial_burst(naud):
    """Initial burst: >= 2 ISIs < 10 ms, then regular ISIs > 5 × longer."""
    isi = naud["initial_burst"]
    assert np.all(isi[:2] < 10.0) and np.all(isi[2:] > 5 * isi[:2].max()) and len(isi) > 5


def _bursts(isi, gap):
    return np.split(isi, np.nonzero(isi > gap)[0])


def test_adex_regular_bursting(naud):
    """Regular bursting: bimodal ISIs (< 10 ms within, > 50 ms between bursts), >= 3
    bursts of >= 2 spikes."""
    isi = naud["regular_bursting"]
    assert np.all((isi < 10.0) | (isi > 50.0))
    assert sum(len(b) >= 1 for b in _bursts(isi, 50.0)) >= 3 and np.sum(isi > 50.0) >= 3


def test_adex_delayed_accelerating(naud):
    """Delayed accelerating: first spike > 25 ms after onset, ISIs then shrink (last <
    0.75 × first)."""
    isi, t = naud["delayed_accelerating"], naud["delayed_accelerating_t"]
    assert t[0] > 25.0 and isi[-1] < 0.75 * isi[0]


def test_adex_delayed_regular_bursting(naud):
    """Delayed regular bursting: first spike > 40 ms after onset, then bursts (bimodal
    ISIs, < 10 ms and > 40 ms, >= 3 burst gaps)."""
    isi, t = naud["delayed_regular_bursting"], naud["delayed_regular_bursting_t"]
    assert t[0] > 40.0 and np.all((isi < 10.0) | (isi > 40.0)) and np.sum(isi > 40) >= 3


def test_adex_transient(naud):
    """Transient spiking: a response at onset, then silence for the rest of the step
    (all spikes in the first 100 of 600 ms)."""
    t = naud["transient_t"]
    assert len(t) >= 1 and t[-1] < 100.0


# ---- closed-form results --------------------------------------------------------------


def test_qif_period_closed_form():
    """QIF: with D = I/k - (V_c - V_rest)²/4 > 0 (k = C a0 / τ), the time from V_reset to
    V_peak is C/(k√D) [arctan((V_peak - m)/√D) - arctan((V_reset - m)/√D)],
    m = (V_rest + V_c)/2. RK4 at dt = 0.01 ms; spikes are seen at the end of the crossing
    step, so each ISI is within dt of the closed form (+1e-3 ms for float32)."""
    currents = np.array([200.0, 500.0, 1000.0])
    q = N.QIF(3, i_ext=currents, integrator=bs.integrators.RK4(), v_init=-68.0)
    _, spikes = _run(q, lambda t: 0.0, 200.0, 0.01)
    k = q.c_m * q.a0 / q.tau_m
    m = (q.v_rest + q.v_c) / 2
    for i, s in zip(currents, spikes, strict=True):
        d = np.sqrt(i / k - (q.v_c - q.v_rest) ** 2 / 4)
        period = q.c_m / (k * d) * (np.arctan((q.v_peak - m) / d) - np.arctan((q.v_reset - m) / d))
        isi = np.diff(s)
        assert len(isi) >= 3 and np.all(np.abs(isi - period) <= 0.01 + 1e-3), (i, isi, period)


def test_expif_rheobase_closed_form():
    """ExpIF: the fixed points merge (saddle-node) at I_rh = g_L (V_T - E_L - Δ_T):
    1 % below it the neuron stays silent, 1 % above it fires."""
    e = N.ExpIF(2)
    i_rh = e.g_l * (e.v_t - e.e_l - e.delta_t)
    _, spikes = _run(N.ExpIF(2, i_ext=np.array([0.99, 1.01]) * i_rh), lambda t: 0.0, 1000.0, 0.1)
    assert len(spikes[0]) == 0 and len(spikes[1]) >= 1


def test_gif_reduces_to_lif_and_currents_decay():
    """GIF with a = 0, A_j = 0 is a LIF: ISI = τ ln((RI + E_L - V_r)/(RI + E_L - Θ∞)),
    within dt (exponential Euler is exact here). With A_2 = -50 pA the spike-triggered
    current after the first spike decays as A_2 e^{-k_2 t} (checked against the closed
    form at the next spike, float32 rtol 1e-4)."""
    g = N.GIF(2, i_ext=300.0, a2=np.array([0.0, -50.0]))
    dt = 0.1

    def body(st, k):
        st, spk = g.step(st, None, t=k * dt, dt=dt)
        return st, (spk, st.i2[1])

    _, (s, i2) = jax.lax.scan(body, g.init(jax.random.key(0)), jnp.arange(2000))
    s, i2 = np.asarray(s), np.asarray(i2)
    spikes = [(np.nonzero(s[:, j])[0] + 1) * dt for j in range(2)]
    tau, r = g.c_m / g.g_l, 1 / g.g_l
    isi = tau * np.log((r * 300 + g.e_l - g.v_reset) / (r * 300 + g.e_l - g.theta_inf))
    assert np.all(np.abs(np.diff(spikes[0]) - isi) <= dt + 1e-3)
    t0, t1 = spikes[1][0], spikes[1][1]  # i2 right after spike 1 is A_2; before spike 2:
    k1 = round(t1 / dt) - 2
    np.testing.assert_allclose(i2[k1], -50.0 * np.exp(-g.k2 * (k1 * dt + dt - t0)), rtol=1e-4)
    assert t1 - t0 > isi  # the hyperpolarizing current lengthens the ISI


def test_alif_interspike_intervals():
    """ALIF under constant current: after each of our spikes at t_k, the next spike is the
    first crossing of V(t) = V_th + β a(t), with V relaxing from V_reset (after t_ref)
    to V_∞ = V_rest + RI and a(t) = Σ_j e^{-(t - t_j)/τ_a} over our spikes so far, both
    in closed form; crossing by brentq. Exponential Euler is exact between spikes, and a
    spike is seen at the end of its step: each spike lies within [ref, ref + dt] of the
    reference conditioned on the previous ones (+1e-3 ms float32 slack)."""
    beta, tau_a, i_ext, dt = 3.0, 100.0, 400.0, 0.05
    alif = N.ALIF(1, beta=beta, tau_a=tau_a, i_ext=i_ext, t_ref=2.0)
    _, spikes = _run(alif, lambda t: 0.0, 200.0, dt)
    got = spikes[0]
    v_inf = alif.v_rest + i_ext * alif.tau_m / alif.c_m
    for k in range(1, min(len(got), 8)):
        prev, t_free = got[:k], got[k - 1] + alif.t_ref

        def gap(t, prev=prev, t_free=t_free):
            v = v_inf + (alif.v_reset - v_inf) * np.exp(-(t - t_free) / alif.tau_m)
            return v - alif.v_th - beta * np.exp(-(t - prev) / tau_a).sum()

        ref = brentq(gap, t_free + 1e-9, t_free + 200.0)
        assert ref - 1e-3 <= got[k] <= ref + dt + 1e-3, (k, got[k], ref)
    assert len(got) >= 6 and np.diff(got)[-1] > 1.2 * np.diff(got)[0]  # adaptation


# ---- construction checks ----------------------------------------------------------------


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: N.ALIF(3, tau_a=0.0), "tau_a"),
        (lambda: N.ALIF(3, c_m=-1.0), "c_m"),
        (lambda: N.ExpIF(3, delta_t=0.0), "delta_t"),
        (lambda: N.AdEx(3, tau_w=-5.0), "tau_w"),
        (lambda: N.AdEx(3, c_m=0.0), "c_m"),
        (lambda: N.AdEx(0), "size"),
        (lambda: N.QIF(3, tau_m=0.0), "tau_m"),
        (lambda: N.QIF(3, a0=-0.1), "a0"),
        (lambda: N.Izhikevich(3, a=0.0), "Izhikevich.a"),
        (lambda: N.Izhikevich(3, c_m=-1.0), "c_m"),
        (lambda: N.HH(3, c_m=0.0), "HH.c_m"),
        (lambda: N.HH(3, g_na=-1.0), "g_na"),
        (lambda: N.TraubMiles(3, area=0.0), "area"),
        (lambda: N.WangBuzsaki(3, g_k=np.array([1.0, -1.0, 1.0])), "g_k"),
        (lambda: N.GIF(3, k1=0.0), "k1"),
        (lambda: N.GIF(3, c_m=-2.0), "GIF.c_m"),
        (lambda: N.GIF(3, t_ref=-1.0), "t_ref"),
    ],
)
def test_bad_parameters_raise(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


# ---- every model in a network, with any synaptic output ----------------------------------

ZOO = {
    "ALIF": lambda n: N.ALIF(n, i_ext=150.0),
    "ExpIF": lambda n: N.ExpIF(n),
    "AdEx": lambda n: N.AdEx(n),
    "QIF": lambda n: N.QIF(n),
    "Izhikevich": lambda n: N.Izhikevich(n, c_m=20.0),
    "HH": lambda n: N.HH(n),
    "TraubMiles": lambda n: N.TraubMiles(n),
    "WangBuzsaki": lambda n: N.WangBuzsaki(n),
    "GIF": lambda n: N.GIF(n),
}


def test_driven_by_conductance_synapses_in_a_network():
    """Poisson input (40 sources at 20 Hz, 100 ms, dt = 0.1 ms) through excitatory
    conductances onto every model in one network: neurons 0-1 get weight 0, neurons 2-3
    get 10 nS. Every model stays finite and the driven neurons fire more (the Drive
    enters each membrane equation with the right sign)."""
    w = jnp.broadcast_to(jnp.array([0.0, 0.0, 10.0, 10.0]), (40, 4))
    pops = {"in": N.PoissonSource(40, rate=20.0)} | {k: m(4) for k, m in ZOO.items()}
    proj = [
        bs.Projection(
            "in",
            k,
            bs.conn.AllToAll(),
            weight=w,
            synapse=bs.synapses.Exponential(5.0),
            output=bs.synapses.Conductance(0.0),
        )
        for k in ZOO
    ]
    net = bs.Network(pops, proj, key=jax.random.key(0))
    _, rec = bs.simulate(
        net,
        net.init(jax.random.key(1), dt=0.05),
        200.0,
        0.05,
        record={k: ["spikes", "v"] for k in ZOO},
    )
    for k in ZOO:
        assert np.all(np.isfinite(rec[k]["v"])), k
        counts = np.asarray(rec[k]["spikes"]).sum(0)
        assert counts[2:].sum() > counts[:2].sum(), (k, counts)


def test_lif_with_white_noise_euler_maruyama():
    """Noise enters a neuron through its integrator: LIF with EulerMaruyama and diffusion
    g = σ√(2/τ_m) on V is an OU process, whose Euler–Maruyama recursion has the exact
    stationary variance v_em = g²h / (1 - (1 - θh)²), θ = 1/τ_m (→ σ² as h → 0).
    2000 neurons × 4000 samples after 100 ms burn-in: relative sd of the variance
    estimate ~1 % (correlated samples); bound 5 %."""
    sigma, tau, dt = 2.0, 20.0, 0.1
    g = float(sigma * np.sqrt(2 / tau))
    em = bs.integrators.EulerMaruyama(lambda t, v, drive: g, jax.random.key(0))
    lif = N.LIF(2000, tau_m=tau, v_rest=-60.0, v_th=100.0, integrator=em)
    v, _ = _run(lif, lambda t: 0.0, 500.0, dt)
    theta = 1 / tau
    v_em = g**2 * dt / (1 - (1 - theta * dt) ** 2)
    assert abs(np.var(v[1000:]) / v_em - 1) < 0.05
    assert abs(np.mean(v[1000:]) + 60.0) < 0.1  # sd of the mean ~0.01 mV
