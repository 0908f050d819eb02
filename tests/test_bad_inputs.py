"""The bad-input matrix: every public constructor and entry point refuses bad input
before anything is compiled, with an exception whose message names the argument and
the value (and the allowed range where there is one).

Each row is ``(id, call, exception type, regex the message must match)``; ``call``
builds its inputs lazily. A new entry point belongs here with at least one row.
"""

import jax
import numpy as np
import pytest

import brainsim as bs
from brainsim.train import losses

KEY = jax.random.key(0)


def _snn():
    return bs.train.FeedForwardSNN(5, 8, 3, key=KEY)


def _data(n=16, t=10, width=5):
    x = (np.random.default_rng(0).random((n, t, width)) < 0.3).astype(np.float32)
    return x, np.arange(n) % 3


def _fit(**kw):
    x, y = kw.pop("data", None) or _data()
    return bs.train.fit(_snn(), x, y, loss_fn=losses.ce_max_membrane, progress=False, **kw)


def _nan_x():
    x, y = _data()
    x[3, 4, 2] = np.nan
    return x, y


TRAIN = [
    ("fit-batch_size-0", lambda: _fit(batch_size=0), ValueError,
     r"fit.batch_size must be an integer >= 1, got 0"),
    ("fit-epochs--1", lambda: _fit(epochs=-1), ValueError,
     r"fit.epochs must be an integer >= 1, got -1"),
    ("fit-epochs-float", lambda: _fit(epochs=2.5), ValueError,
     r"fit.epochs must be an integer >= 1, got 2.5"),
    ("fit-truncate_every--5", lambda: _fit(truncate_every=-5), ValueError,
     r"fit.truncate_every must be None or an integer in \[1, 10\] \(steps\), got -5"),
    ("fit-checkpoint_every-0", lambda: _fit(checkpoint_every=0), ValueError,
     r"fit.checkpoint_every must be None or an integer in \[1, 10\] \(steps\), got 0"),
    ("fit-checkpoint_every-T+1", lambda: _fit(checkpoint_every=11), ValueError,
     r"fit.checkpoint_every must be None or an integer in \[1, 10\] \(steps\), got 11"),
    ("fit-truncate-not-multiple", lambda: _fit(checkpoint_every=4, truncate_every=6),
     ValueError, r"truncate_every \(6\) must be a multiple of checkpoint_every \(4\)"),
    ("fit-initial_epoch--1", lambda: _fit(initial_epoch=-1), ValueError,
     r"fit.initial_epoch must be an integer >= 0, got -1"),
    ("fit-input-width", lambda: _fit(data=_data(width=7)), ValueError,
     r"fit: x has 7 input channels \(shape \(16, 10, 7\)\) but the model's first layer "
     r"takes n_in = 5"),
    ("fit-x-nan", lambda: _fit(data=_nan_x()), ValueError,
     r"fit: x must be finite, got nan at index \(3, 4, 2\)"),
    ("fit-batch_mode", lambda: _fit(batch_mode="batch"), ValueError,
     r"fit: batch_mode must be 'axis' or 'vmap', got 'batch'"),
    ("fit-float-labels", lambda: _fit(data=(_data()[0], np.arange(16) / 3)), ValueError,
     r"fit: labels must be integers, got dtype float64"),
]


LAYERS = [
    ("readout-tau_mem", lambda: bs.train.readout(KEY, 4, 2, tau_mem=-1.0), ValueError,
     r"Readout.tau_mem must be > 0 \(ms\), got -1"),
    ("readout-tau_syn", lambda: bs.train.readout(KEY, 4, 2, tau_syn=0.0), ValueError,
     r"Readout.tau_syn must be > 0 \(ms\), got 0"),
    ("readout-dt", lambda: bs.train.readout(KEY, 4, 2, dt=0.0), ValueError,
     r"Readout.dt must be > 0 \(ms\), got 0"),
    ("readout-n_out", lambda: bs.train.readout(KEY, 4, 0), ValueError,
     r"readout.n_out must be an integer >= 1, got 0"),
    ("lif_layer-n", lambda: bs.train.lif_layer(KEY, 4, -2), ValueError,
     r"lif_layer.n must be an integer >= 1, got -2"),
    ("lif_layer-tau_mem", lambda: bs.train.lif_layer(KEY, 4, 3, tau_mem=0.0), ValueError,
     r"LIFLayer.tau_mem must be > 0 \(ms\), got 0"),
    ("lif_layer-threshold", lambda: bs.train.lif_layer(KEY, 4, 3, threshold=np.nan),
     ValueError, r"LIFLayer.threshold must be finite, got array of shape \(3,\) containing nan"),
    ("LIFLayer-shape", lambda: bs.train.LIFLayer(np.zeros((4, 3)), np.ones(5), 1.0, 1.0),
     ValueError, r"LIFLayer.tau_mem must be a scalar or have shape \(3,\), got shape \(5,\)"),
    ("UltraSNN-tau_mem-below-dt", lambda: bs.train.UltraSNN(4, 3, 2, tau_mem=0.5), ValueError,
     r"UltraSNN.tau_mem must be > dt = 1 ms .* got 0.5"),
    ("UltraSNN-n_hidden", lambda: bs.train.UltraSNN(10, -1, 2), ValueError,
     r"UltraSNN.n_hidden must be an integer >= 1, got -1"),
    ("FeedForwardSNN-n_out", lambda: bs.train.FeedForwardSNN(10, 5, 0), ValueError,
     r"n_out must be an integer >= 1, got 0"),
    ("FeedForwardSNN-n_hidden", lambda: bs.train.FeedForwardSNN(10, (5, 0), 2), ValueError,
     r"n_hidden must be an integer >= 1, got 0"),
    ("RecurrentSNN-n_hidden-empty", lambda: bs.train.RecurrentSNN(10, (), 2), ValueError,
     r"n_hidden must be an integer >= 1 or a non-empty tuple, got \(\)"),
    ("RecurrentSNN-n_in", lambda: bs.train.RecurrentSNN(1.5, 4, 2), ValueError,
     r"n_in must be an integer >= 1, got 1.5"),
    ("default_optimizer-lr", lambda: bs.train.default_optimizer(lr=-1.0), ValueError,
     r"default_optimizer.lr must be > 0, got -1"),
]


ROWS = TRAIN + LAYERS


@pytest.mark.parametrize(
    "call, error, message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
