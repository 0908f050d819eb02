import numpy as np

import brainsim as bs


def _raster(spike_steps, n_steps=100):
    r = np.zeros((n_steps, len(spike_steps)), bool)
    for j, steps in enumerate(spike_steps):
        r[steps, j] = True
    return r


def test_firing_rate():
    r = _raster([[1, 11, 21, 31], [], [5]], n_steps=1000)  # 1000 steps of 0.1 ms = 0.1 s
    np.testing.assert_allclose(bs.analysis.firing_rate(r, 0.1), [40.0, 0.0, 10.0])


def test_isi_cv():
    """Regular train: CV 0. ISIs 1, 2, 3 ms: std/mean = sqrt(2/3)/2. Too few spikes: NaN."""
    r = _raster([[0, 10, 20, 30], [0, 10, 30, 60], [3, 7]])
    cv = bs.analysis.isi_cv(r, 0.1)
    assert cv[0] == 0.0
    np.testing.assert_allclose(cv[1], np.sqrt(2 / 3) / 2)
    assert np.isnan(cv[2])


def test_spike_times_and_population_rate():
    r = _raster([[2], [2, 5]], n_steps=10)
    t, i = bs.analysis.spike_times(r, 0.5)
    np.testing.assert_allclose(t, [1.5, 1.5, 3.0])
    np.testing.assert_array_equal(i, [0, 1, 1])
    rate = bs.analysis.population_rate(r, 0.5)
    np.testing.assert_allclose(rate[[2, 5]], [2000.0, 1000.0])  # 2/2 and 1/2 per 0.5 ms


def test_population_rate_unbiased_at_the_edges():
    """A constant rate stays constant up to both ends of the smoothed estimate (the
    analytic value: every neuron spiking every 1 ms step is 1000 Hz)."""
    rate = bs.analysis.population_rate(np.ones((1000, 10)), 1.0, window=10)
    np.testing.assert_array_equal(rate, 1000.0)
    # Bernoulli spikes, p = 0.05 per 0.1 ms step: 500 Hz. At the first and last step the
    # window holds 5-6 steps: sd = sqrt(p (1 - p) / (2000 * 5)) / 0.1 ms = 22 Hz; the
    # zero-padded average was ~275 Hz there (bias 10 sd). Bound: 4 sd.
    spikes = np.random.default_rng(0).random((400, 2000)) < 0.05
    rate = bs.analysis.population_rate(spikes, 0.1, window=1.0)
    assert np.all(np.abs(rate[[0, 1, -2, -1]] - 500.0) < 4 * 22.0)
    assert abs(rate.mean() - 500.0) < 5.0  # 400 x 2000 draws: sd 0.5 Hz
