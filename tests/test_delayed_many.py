"""Every delay ring of a step in one operation (``bs.ops.delayed_propagate_many``):
many Poisson-driven steps against a NumPy loop over the original (ungrouped) synapses
and bit for bit against one ``delayed_propagate`` per projection; rings shared by
several projections; the Potjans-Diesmann network's spikes equal on the native and
pure-JAX paths; vmap; validation. (Values and VJPs
against the pure-JAX reference: ``tests/kernel_examples.py``.)"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim.delays import ring_step

DT = 0.1
SPECS = [(60, 50, 8, 0), (40, 30, 5, 1), (60, 20, 6, 0)]  # n_pre, n_post, depth, source


@pytest.fixture(params=["native", "pure"])
def path(request):
    """The native CPU kernel (when it could be built) and the portable pure-JAX path."""
    if request.param == "native" and not bs.ops._native.available():
        pytest.skip("native kernel unavailable (no C++ compiler?)")
    with bs.ops.configure(kernels=request.param == "native"):
        yield request.param


def _projections(seed=0):
    """Three projections (two out of source 0, one homogeneous weight), delays 1..D."""
    rng = np.random.default_rng(seed)
    out = []
    for j, (n_pre, n_post, depth, src) in enumerate(SPECS):
        layout, _ = bs.conn.FixedProb(0.3).build(jax.random.key(seed + j), n_pre, n_post)
        d = rng.integers(1, depth + 1, layout.n_synapses)
        w = rng.normal(size=layout.n_synapses).astype(np.float32)  # as with_delays keeps them
        dl, wg = bs.conn.with_delays(layout, d * DT, w)
        steps = tuple(round(v / DT) for v in dl.delays)
        weight = 0.7 if j == 1 else wg
        w_orig = np.full(layout.n_synapses, 0.7) if j == 1 else w
        out.append(
            dict(
                layout=layout,
                d=d,
                w=w_orig,
                dl=dl,
                weight=weight,
                steps=steps,
                depth=depth,
                src=src,
                n_post=n_post,
            )
        )
    return out


def _spikes(n_steps, dtype, seed=1):
    """Poisson spikes of the two sources (60 and 40 neurons), rates 0.15 and 0.2."""
    rng = np.random.default_rng(seed)
    return [(rng.random((n_steps, n)) < p).astype(dtype) for n, p in ((60, 0.15), (40, 0.2))]


def _many(projs, sources, rings, cursors, capacity, ring_of=None):
    """``delayed_propagate_many`` over ``projs``, each fed by its source's spikes."""
    return bs.ops.delayed_propagate_many(
        [p["dl"] for p in projs],
        [p["weight"] for p in projs],
        [sources[p["src"]] for p in projs],
        rings,
        cursors,
        steps=[p["steps"] for p in projs],
        capacities=[capacity] * len(projs),
        ring_of=ring_of,
    )


def _scan_many(projs, spikes, rings, ring_of=None):
    """``(final rings, arriving per step per ring)``: ``_many`` over the steps of
    ``spikes`` (one array per source), every cursor from 0."""

    def body(carry, x):
        rings, now, cursors = _many(projs, x, *carry, capacity=30, ring_of=ring_of)
        return (rings, cursors), now

    carry = (rings, [jnp.int32(0)] * len(rings))
    (rings, _), now = jax.jit(lambda c, x: jax.lax.scan(body, c, x))(carry, spikes)
    return rings, now


def _run_many(projs, spikes, dtype):
    """``(arriving per step per projection, final rings)``, one ring per projection."""
    rings = [jnp.zeros((p["depth"], p["n_post"]), dtype) for p in projs]
    rings, now = _scan_many(projs, spikes, rings)
    return now, rings


def _share_ring(projs, seed, unit_weights=False):
    """Projection 2 rebuilt as 60 -> 50 from source 0 with delays of 1..6 steps, so that
    it can write into projection 0's ring (depth 8, 50 neurons); per-synapse weights
    standard normal, or all 1."""
    layout, _ = bs.conn.FixedProb(0.3).build(jax.random.key(seed), 60, 50)
    rng = np.random.default_rng(seed)
    d = rng.integers(1, 7, layout.n_synapses)
    n = layout.n_synapses
    w = np.ones(n) if unit_weights else rng.normal(size=n).astype(np.float32)
    dl, weight = bs.conn.with_delays(layout, d * DT, w)
    steps = tuple(round(v / DT) for v in dl.delays)
    projs[2].update(layout=layout, d=d, w=w, dl=dl, weight=weight, steps=steps, src=0)
    projs[2].update(n_post=50, depth=8)


def _numpy_loop(p, spikes):
    """float64 arrivals per step and the same with |w| (the error scale): each synapse
    i -> j of delay d adds w s_i to slot (c + d - 1) mod D, then slot c is read and
    cleared, over the original ungrouped synapses."""
    indptr, post = np.asarray(p["layout"].indptr), np.asarray(p["layout"].indices)
    pre = np.repeat(np.arange(p["layout"].n_pre), np.diff(indptr))
    out = []
    for w in (p["w"], np.abs(p["w"])):
        ring, arrived = np.zeros((p["depth"], p["n_post"])), []
        for c, s in enumerate(spikes):
            np.add.at(ring, ((c + p["d"] - 1) % p["depth"], post), w * s[pre])
            arrived.append(ring[c % p["depth"]].copy())
            ring[c % p["depth"]] = 0.0
        out.append(np.asarray(arrived))
    return out


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["f32", "f64"])
def test_many_steps_equal_numpy_loop(path, dtype, x64):
    projs, spikes = _projections(), _spikes(150, np.dtype(dtype))
    now, _ = _run_many(projs, [jnp.asarray(s) for s in spikes], dtype)
    for p, got in zip(projs, now, strict=True):
        want, scale = _numpy_loop(p, spikes[p["src"]])
        # Each arrival sums at most n_pre terms in another order than the loop's:
        # within (n - 1) eps sum|terms| of the exact sum (Higham eq. 4.4), twice that
        # between two orders.
        bound = 2 * p["layout"].n_pre * np.finfo(dtype).eps * scale
        assert np.all(np.abs(np.asarray(got, np.float64) - want) <= bound + 1e-300)
        assert np.count_nonzero(want) > 1000  # the spikes did arrive


def test_bit_for_bit_one_call_per_projection():
    """The one-call kernel against one native ``delayed_propagate`` per projection (the
    path it replaces), 150 Poisson-driven steps: the same bits."""
    if not bs.ops._native.available():
        pytest.skip("native kernel unavailable (no C++ compiler?)")
    projs, spikes = _projections(2), [jnp.asarray(s) for s in _spikes(150, np.float32, 3)]
    now, rings = _run_many(projs, spikes, jnp.float32)
    for k, p in enumerate(projs):

        def body(state, x, p=p):
            return ring_step(state, p["dl"], p["weight"], x, steps=p["steps"], capacity=30)

        state = bs.delays.init_ring(p["depth"], (), p["n_post"])
        state, want = jax.jit(lambda s, x, b=body: jax.lax.scan(b, s, x))(state, spikes[p["src"]])
        np.testing.assert_array_equal(np.asarray(now[k]), np.asarray(want))
        np.testing.assert_array_equal(np.asarray(rings[k]), np.asarray(state.buffer))


def test_potjans_diesmann_spikes_equal_on_both_paths():
    """Poisson-driven PD (scale 0.01, 300 steps; each population's eight recurrent
    projections in one shared ring): every population's spikes through the native
    one-call step equal those of the pure-JAX path (the same additions in the same
    order)."""
    if not bs.ops._native.available():
        pytest.skip("native kernel unavailable (no C++ compiler?)")
    net = bs.models.potjans_diesmann(0.01, key=jax.random.key(0), dt=DT)

    def run():
        state = net.init(jax.random.key(1), dt=DT)
        assert sum(d is not None for d in state.delays) == 16  # 8 rings + 8 Poisson

        def body(s, i):
            s, spikes = net.step(s, None, t=i * DT, dt=DT)
            return s, spikes

        return jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(300)))(state)[1]

    got = run()
    with bs.ops.configure(kernels=False):
        want = run()
    for name in importlib.import_module("brainsim.models.potjans_diesmann").POPULATIONS:
        assert int(want[name].sum()) > 0
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(want[name]))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["f32", "f64"])
def test_shared_ring_equals_numpy_loop(path, dtype, x64):
    """Projections 0 and 2 (different sources, ring depths 8 and 6) write into one
    ring of depth 8, projection 1 into its own: 150 Poisson-driven steps; the shared
    ring's arrivals equal the sum of both NumPy loops (bound as above, for the sum of
    both projections' terms), the other's its own."""
    projs, spikes = _projections(6), _spikes(150, np.dtype(dtype), 7)
    _share_ring(projs, 9)
    rings = [jnp.zeros((8, 50), dtype), jnp.zeros((5, 30), dtype)]
    _, now = _scan_many(projs, [jnp.asarray(s) for s in spikes], rings, ring_of=[0, 1, 0])
    loops = [_numpy_loop(p, spikes[p["src"]]) for p in projs]
    for got, (want, scale), n in (
        (now[0], [a + b for a, b in zip(loops[0], loops[2], strict=True)], 120),
        (now[1], loops[1], 40),
    ):
        bound = 2 * n * np.finfo(dtype).eps * scale
        assert np.all(np.abs(np.asarray(got, np.float64) - want) <= bound + 1e-300)
        assert np.count_nonzero(want) > 1000


def test_vmap_equals_unbatched(path):
    """vmap over 3 batches of rings and spikes equals the op on each batch entry."""
    projs = _projections(4)
    rng = np.random.default_rng(5)
    src = [jnp.asarray((rng.random((3, n)) < 0.3).astype(np.float32)) for n in (60, 40)]
    rings = [
        jnp.asarray(rng.normal(size=(3, p["depth"], p["n_post"])), jnp.float32) for p in projs
    ]
    cursors = [jnp.int32(c) for c in (1, 4, 5)]

    def op(src, rings):
        return _many(projs, src, rings, cursors, capacity=60)

    got = jax.jit(jax.vmap(op))(src, rings)
    for b in range(3):
        want = jax.jit(op)([s[b] for s in src], [r[b] for r in rings])
        for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_array_equal(np.asarray(x)[b], np.asarray(y))


def test_vmap_shared_ring_with_batched_cursors(path):
    """vmap over 3 entries of spikes, rings and cursors (each entry its own cursors, as
    a state stacked by ``jax.vmap(net.init)`` then stepped apart), projections 0 and 2
    in one ring: equals the op on each entry."""
    projs = _projections(8)
    _share_ring(projs, 11, unit_weights=True)
    rng = np.random.default_rng(12)
    src = [jnp.asarray((rng.random((3, n)) < 0.3).astype(np.float32)) for n in (60, 40)]
    rings = [jnp.asarray(rng.normal(size=(3, 8, 50)), jnp.float32)]
    rings.append(jnp.asarray(rng.normal(size=(3, 5, 30)), jnp.float32))
    cursors = [jnp.asarray([1, 6, 7], jnp.int32), jnp.asarray([0, 2, 4], jnp.int32)]

    def op(src, rings, cursors):
        return _many(projs, src, rings, cursors, capacity=60, ring_of=[0, 1, 0])

    got = jax.jit(jax.vmap(op))(src, rings, cursors)
    for b in range(3):
        pick = lambda xs, b=b: [x[b] for x in xs]  # noqa: E731
        want = jax.jit(op)(pick(src), pick(rings), pick(cursors))
        for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_array_equal(np.asarray(x)[b], np.asarray(y))


def test_bad_input_names_the_argument():
    p = _projections()[0]
    ring, spikes = jnp.zeros((p["depth"], p["n_post"] + 1)), jnp.zeros(60)
    call = lambda ring, steps, layout=p["dl"]: bs.ops.delayed_propagate_many(
        [layout], [p["weight"]], [spikes], [ring], [0], steps=[steps], capacities=[10]
    )
    with pytest.raises(ValueError, match=r"rings\[0\] must have shape"):
        call(ring, p["steps"])
    ring = jnp.zeros((p["depth"], p["n_post"]))
    with pytest.raises(ValueError, match="one delay .* per delay value"):
        call(ring, p["steps"][:-1])
    with pytest.raises(ValueError, match="between 1 and the ring depth"):
        call(ring, (p["depth"] + 1,) * len(p["steps"]))
    with pytest.raises(TypeError, match=r"layouts\[0\] must be a bs.conn.Delayed"):
        call(ring, p["steps"], p["layout"])
    with pytest.raises(ValueError, match="one cursor per ring"):
        bs.ops.delayed_propagate_many(
            [p["dl"]] * 2,
            [p["weight"]] * 2,
            [spikes] * 2,
            [ring],
            [0, 0],
            steps=[p["steps"]] * 2,
            capacities=[10] * 2,
            ring_of=[0, 0],
        )
    with pytest.raises(ValueError, match="ring_of must name every ring"):
        bs.ops.delayed_propagate_many(
            [p["dl"]],
            [p["weight"]],
            [spikes],
            [ring, ring],
            [0, 0],
            steps=[p["steps"]],
            capacities=[10],
            ring_of=[1],
        )
