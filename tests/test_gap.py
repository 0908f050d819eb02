"""Gap junctions: analytic steady state of a coupled pair and the drive's equations."""

import jax
import jax.numpy as jnp
import numpy as np

import brainsim as bs

DT = 0.1


def test_gap_pair_equilibrates_to_analytic_steady_state(x64):
    """Two passive LIF membranes (g_L = C/τ = 10 nS, E_L = -60 mV) coupled by g = 5 nS
    both ways; neuron 0 gets I = 200 pA. The steady state solves
        g_L (E_L - V0) + I + g (V1 - V0) = 0,   g_L (E_L - V1) + g (V0 - V1) = 0.
    The coupling uses V_j from the start of the step, which vanishes at equilibrium;
    after 400 ms (20 slowest time constants) the residual transient is < e^-20 (< 1e-7
    mV). Run in float64: in float32 the rounded fixed point drifts by ~ulp·τ/dt ≈ 5e-4 mV."""
    g_l, e_l, i0, g = 10.0, -60.0, 200.0, 5.0
    pop = bs.neurons.LIF(
        2, tau_m=20.0, c_m=200.0, v_rest=e_l, v_th=1e3, i_ext=jnp.array([i0, 0.0])
    )
    gap = bs.GapJunction("A", "A", bs.conn.FromEdges(np.array([0, 1]), np.array([1, 0])), weight=g)
    net = bs.Network({"A": pop}, [gap], key=jax.random.key(0))
    state = net.init(jax.random.key(1), dt=DT)
    state = jax.tree.map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, state
    )

    def body(s, i):
        return net.step(s, None, t=i * DT, dt=DT)[0], None

    state = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(4000))[0])(state)
    a = np.array([[g_l + g, -g], [-g, g_l + g]])
    expect = np.linalg.solve(a, [g_l * e_l + i0, g_l * e_l])
    np.testing.assert_allclose(np.asarray(state.populations["A"].v), expect, atol=1e-6)
    assert expect[0] - expect[1] > 5  # the pair is far from trivially equal


def test_gap_drive_equations(getkey):
    """The drive of a sparse random junction equals, per postsynaptic i,
    conductance sum_j g_ji and reversal sum_j g_ji V_j (a NumPy loop over synapses)."""
    n = 12
    gap = bs.GapJunction("A", "A", bs.conn.FixedProb(0.4), weight=1.0)
    pop = bs.neurons.LIF(n)
    net = bs.Network({"A": pop}, [gap], key=getkey())
    layout = net.projections[0].conn
    w = jax.random.uniform(getkey(), layout.weight_shape) + 0.5
    gap = bs.GapJunction("A", "A", layout, weight=w)
    v = jax.random.normal(getkey(), (n,)) * 10 - 60
    d = gap.drive(v)
    indptr, post = np.asarray(layout.indptr), np.asarray(layout.indices)
    cond, rev = np.zeros(n), np.zeros(n)
    for i in range(n):
        for k in range(indptr[i], indptr[i + 1]):
            cond[post[k]] += float(w[k])
            rev[post[k]] += float(w[k]) * float(v[i])
    np.testing.assert_allclose(d.conductance, cond, rtol=1e-5)
    np.testing.assert_allclose(d.reversal, rev, rtol=1e-5)
