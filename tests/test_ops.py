import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import check_event_vs_dense

import brainsim as bs

N_PRE, N_POST = 60, 45


def _layouts():
    key = jax.random.key(3)
    return {
        "csr": bs.conn.FixedProb(0.15).build(key, N_PRE, N_POST)[0],
        "csr-indegree": bs.conn.FixedInDegree(7).build(key, N_PRE, N_POST)[0],
        "ell": bs.conn.FixedOutDegree(9).build(key, N_PRE, N_POST)[0],
        "dense": bs.conn.AllToAll().build(key, N_PRE, N_POST)[0],
        "dense-masked": bs.conn.AllToAll(allow_self=False).build(key, N_PRE, N_PRE, True)[0],
    }


LAYOUTS = _layouts()


@pytest.fixture(params=["native", "pure"])
def path(request, monkeypatch):
    """Run with the native CPU kernel (when it could be built) and with the portable
    pure-JAX path that GPUs and TPUs use."""
    if request.param == "pure":
        monkeypatch.setattr(bs.ops._native, "available", lambda: False)
    elif not bs.ops._native.available():
        pytest.skip("native kernel unavailable (no C++ compiler?)")
    return request.param


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("homogeneous", [True, False])
def test_event_matches_dense(name, homogeneous, getkey, path):
    layout = LAYOUTS[name]
    spikes = (jax.random.uniform(getkey(), (layout.n_pre,)) < 0.1).astype(jnp.float32)
    spikes = spikes * jax.random.uniform(getkey(), (layout.n_pre,), minval=0.5, maxval=1.5)
    weight = jnp.float32(0.7) if homogeneous else jax.random.normal(getkey(), layout.weight_shape)
    check_event_vs_dense(layout, weight, spikes, capacity=12)


@pytest.mark.parametrize("name", ["csr", "ell"])
def test_burst_beyond_capacity_is_exact(name, getkey, path):
    """More active presynaptic neurons than event slots: the all-synapse pass is taken
    and nothing is lost (values and VJPs still equal the dense product)."""
    layout = LAYOUTS[name]
    spikes = jnp.ones(layout.n_pre)  # every neuron spikes
    weight = jax.random.normal(getkey(), layout.weight_shape)
    check_event_vs_dense(layout, weight, spikes, capacity=4)


def test_from_dense_and_edges_roundtrip(getkey):
    w = np.array(jax.random.normal(getkey(), (8, 6)))
    w[np.abs(w) < 0.7] = 0.0
    layout, weight = bs.conn.FromDense(w).build(None, 8, 6)
    np.testing.assert_array_equal(bs.ops.to_dense(layout, weight), w.astype(np.float32))
    pre, post = np.nonzero(w)
    layout2, weight2 = bs.conn.FromEdges(pre[::-1], post[::-1], w[pre, post][::-1]).build(
        None, 8, 6
    )
    np.testing.assert_array_equal(bs.ops.to_dense(layout2, weight2), w.astype(np.float32))
