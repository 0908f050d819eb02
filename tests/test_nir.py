"""brainsim.nir: NIR export/import against round trips, closed-form solutions of NIR's
equations, and snnTorch (skipped where snntorch/torch are absent)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs

nir = pytest.importorskip("nir")
bnir = pytest.importorskip("brainsim.nir")


def _poisson(key, shape, p):
    return (jax.random.uniform(jax.random.key(key), shape) < p).astype(jnp.float32)


def _write_read(graph, tmp_path):
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    return path


@pytest.mark.parametrize("method", ["exp", "euler"])
def test_snn_round_trip_through_file_gives_the_same_spikes(method, tmp_path):
    # A feed-forward and a recurrent LIF layer and a leaky readout, Poisson input,
    # 300 steps: brainsim -> .nir file -> brainsim must give the same spikes bit for bit
    # (the exporter writes time constants whose discretisation gives back the decays
    # the layers step with, and a unit input gain).
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    layers = (
        bs.train.lif_layer(k1, 20, 30, w_scale=2.0),
        bs.train.lif_layer(
            k2, 30, 10, recurrent=True, w_scale=1.0, rec_scale=2.0, tau_mem=20.0, tau_syn=3.0
        ),
    )
    model = bs.train.SNN(layers, bs.train.readout(k3, 10, 3))
    net = bnir.from_nir(
        _write_read(bnir.to_nir(model, method=method), tmp_path), dt=1.0, method=method
    )
    x = _poisson(1, (4, 300, 20), 0.1)
    out, spikes = model(x)
    trace = net.trace(x)
    for k, s in enumerate(spikes):
        rate = float(s.mean())
        assert 0.02 < rate < 0.5, rate  # spikes that can disagree
        np.testing.assert_array_equal(trace[f"lif{k}" if k == 0 else "lif1.lif"], s)
    # The readout: the same recurrence, but brainsim's Readout evaluates it as one
    # matmul with its (T, T) impulse-response matrix instead of a scan, so the float32
    # sums are ordered differently (relative rounding ~ 1e-6 over 300 steps).
    np.testing.assert_allclose(net(x), out, rtol=1e-4, atol=1e-5)


def test_sparse_recurrent_layer_is_written_as_its_dense_matrix():
    key = jax.random.key(2)
    layout, _ = bs.conn.FixedProb(0.2).build(key, 24, 24, recurrent=True)
    layer = bs.train.lif_layer(key, 10, 24, recurrent=layout, w_scale=2.0, rec_scale=3.0)
    graph = bnir.to_nir(layer)
    w_rec = graph.nodes["lif0"].nodes["w_rec"].weight
    np.testing.assert_array_equal(w_rec, np.asarray(bs.ops.to_dense(layout, layer.w_rec)).T)
    assert 0.05 < np.mean(w_rec != 0) < 0.4
    x = _poisson(7, (2, 100, 10), 0.2)
    s = layer(x)
    assert 0.02 < float(s.mean()) < 0.5
    np.testing.assert_array_equal(bnir.from_nir(graph, dt=1.0)(x), s)


def _zoo_graph():
    """Every supported node type in one graph, with a recurrent loop and a Delay."""
    rng = np.random.default_rng(0)
    n_in, n = 6, 5
    full = lambda v: np.full(n, v)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "aff": nir.Affine(weight=rng.normal(0, 1, (n, n_in)), bias=full(0.1)),
        "lif": nir.LIF(
            tau=full(0.01), r=full(8.0), v_leak=full(0.2), v_threshold=full(1.0), v_reset=full(0.2)
        ),
        "delay": nir.Delay(delay=np.array([0.0, 1e-3, 2e-3, 0.0, 3e-3])),
        "scale": nir.Scale(scale=rng.uniform(0.5, 2.0, n)),
        "if": nir.IF(r=full(300.0), v_threshold=full(1.0), v_reset=full(0.0)),
        "lin": nir.Linear(weight=rng.normal(0, 1, (n, n))),
        "cuba": nir.CubaLIF(
            tau_syn=full(0.005),
            tau_mem=full(0.02),
            r=full(3.0),
            v_leak=full(0.0),
            v_threshold=full(0.5),
            w_in=full(2.0),
        ),
        "rec": nir.Linear(weight=rng.normal(0, 0.5, (n, n))),
        "li": nir.LI(tau=full(0.02), r=full(1.0), v_leak=full(0.0)),
        "integ": nir.I(r=full(50.0)),
        "thr": nir.Threshold(threshold=full(0.05)),
        "culi": nir.CubaLI(tau_syn=full(0.004), tau_mem=full(0.03), r=full(1.0), v_leak=full(0.0)),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [
        ("input", "aff"),
        ("aff", "lif"),
        ("lif", "delay"),
        ("delay", "scale"),
        ("scale", "if"),
        ("if", "lin"),
        ("lin", "cuba"),
        ("cuba", "rec"),
        ("rec", "cuba"),
        ("cuba", "li"),
        ("li", "integ"),
        ("integ", "thr"),
        ("thr", "culi"),
        ("culi", "output"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.mark.parametrize("method", ["exp", "euler"])
def test_nir_round_trip_of_every_node_type(method, tmp_path):
    # NIR -> brainsim -> NIR file -> brainsim: every node's output the same.
    net = bnir.from_nir(_zoo_graph(), dt=1.0, method=method)
    again = bnir.from_nir(
        _write_read(bnir.to_nir(net, method=method), tmp_path), dt=1.0, method=method
    )
    x = _poisson(2, (3, 150, 6), 0.3)
    a, b = net.trace(x), again.trace(x)
    for name in ("lif", "if", "cuba", "thr"):
        assert 0.01 < float(a[name].mean()) < 0.7, (name, float(a[name].mean()))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _single(node, n):
    return (
        nir.NIRGraph.from_list(node)
        if n is None
        else nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type={"input": np.array([n])}),
                "x": node,
                "output": nir.Output(output_type={"output": np.array([n])}),
            },
            edges=[("input", "x"), ("x", "output")],
        )
    )


@pytest.mark.parametrize("method", ["exp", "euler"])
def test_li_matches_the_closed_form_for_a_held_input(method):
    # tau dv/dt = (v_leak - v) + r x with x constant: v(t) = v_inf + (v_leak - v_inf)
    # e^{-t/tau}, v_inf = v_leak + r x. The "exp" scheme is exact at the step times; forward
    # Euler gives v_inf + (v_leak - v_inf)(1 - dt/tau)^k. References in float64.
    tau, r, v_leak, x, dt = np.array([0.02, 0.005]), np.array([2.0, 0.5]), 0.3, 1.5, 1.0
    net = bnir.from_nir(
        _single(nir.LI(tau=tau, r=r, v_leak=np.full(2, v_leak)), 2), dt, method=method
    )
    v = np.asarray(net(jnp.full((60, 2), x, jnp.float32)), np.float64)
    k = np.arange(1, 61)[:, None]
    decay = np.exp(-dt * 1e-3 / tau) if method == "exp" else 1 - dt * 1e-3 / tau
    v_inf = v_leak + r * x
    # float32 state updated 60 times: |error| <= 60 * 2 ulp(1) ~ 1e-5
    np.testing.assert_allclose(v, v_inf + (v_leak - v_inf) * decay**k, atol=2e-5)


def test_if_spikes_at_the_analytic_times_and_delay_shifts():
    # dv/dt = r x, x constant: v reaches the threshold after theta/(r x dt) steps; with a
    # reset to 0 the neuron fires every ceil-crossing step. r x dt = 0.3 (s^-1 * s):
    # crossings v > 1 at steps 4, 8, 12, ... (v = 1.2 > 1 after 4 steps, then reset).
    node = nir.IF(r=np.array([300.0]), v_threshold=np.array([1.0]), v_reset=np.array([0.0]))
    net = bnir.from_nir(_single(node, 1), dt=1.0)
    s = np.asarray(net(jnp.ones((40, 1))))[:, 0]
    np.testing.assert_array_equal(np.flatnonzero(s), np.arange(3, 40, 4))
    delay = bnir.from_nir(_single(nir.Delay(delay=np.array([0.0, 0.003])), 2), dt=1.0)
    x = _poisson(3, (50, 2), 0.3)
    y = np.asarray(delay(x))
    np.testing.assert_array_equal(y[:, 0], x[:, 0])
    np.testing.assert_array_equal(y[3:, 1], x[:-3, 1])
    assert not y[:3, 1].any()


def test_scalar_neuron_parameters_take_the_shape_of_their_input():
    # Some exporters write one value for a whole layer: it must act as that value for
    # every neuron (the same outputs as the per-neuron graph).
    w = np.random.default_rng(1).normal(0, 1, (6, 4))

    def graph(p):
        lif = nir.LIF(tau=p(0.01), r=p(10.0), v_leak=p(0.0), v_threshold=p(0.5))
        return nir.NIRGraph(
            nodes={
                "input": nir.Input(input_type={"input": np.array([4])}),
                "lin": nir.Linear(weight=w),
                "lif": lif,
                "output": nir.Output(output_type={"output": np.array([6])}),
            },
            edges=[("input", "lin"), ("lin", "lif"), ("lif", "output")],
            type_check=False,
        )

    x = _poisson(8, (2, 80, 4), 0.3)
    per_neuron = bnir.from_nir(graph(lambda v: np.full(6, v)), dt=1.0)(x)
    assert 0.02 < float(per_neuron.mean()) < 0.5
    np.testing.assert_array_equal(bnir.from_nir(graph(np.array), dt=1.0)(x), per_neuron)


def test_bad_graphs_are_refused_before_building():
    lin = nir.Linear(weight=np.ones((4, 3)))
    lif = nir.LIF(tau=np.ones(5), r=np.ones(5), v_leak=np.zeros(5), v_threshold=np.ones(5))
    bad = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "lin": lin,
            "lif": lif,
            "output": nir.Output(output_type={"output": np.array([5])}),
        },
        edges=[("input", "lin"), ("lin", "lif"), ("lif", "output")],
        type_check=False,
    )
    with pytest.raises(bnir.NIRShapeError, match=r"'lin' -> 'lif'.*\(4,\).*\(5,\)"):
        bnir.from_nir(bad, dt=1.0)
    short = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "lin": lin,
            "output": nir.Output(output_type={"output": np.array([5])}),
        },
        edges=[("input", "lin"), ("lin", "output")],
        type_check=False,
    )
    with pytest.raises(bnir.NIRShapeError, match=r"'lin' -> 'output'"):
        bnir.from_nir(short, dt=1.0)
    pool = nir.SumPool2d(
        kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
    )
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([3])}), "pool": pool},
        edges=[("input", "pool")],
        type_check=False,
    )
    with pytest.raises(bnir.UnsupportedNodeError, match="SumPool2d.*Threshold.*CubaLIF"):
        bnir.from_nir(graph, dt=1.0)
    with pytest.raises(ValueError, match="whole multiples of dt"):
        bnir.from_nir(_single(nir.Delay(delay=np.array([0.0015])), 1), dt=1.0)
    fast = nir.LI(tau=np.array([5e-4]), r=np.ones(1), v_leak=np.zeros(1))
    with pytest.raises(ValueError, match="method='euler' needs tau >= dt"):
        bnir.from_nir(_single(fast, 1), dt=1.0, method="euler")
    with pytest.raises(ValueError, match="from_nir.dt must be > 0"):
        bnir.from_nir(_single(fast, 1), dt=0.0)
    with pytest.raises(ValueError, match=r"x must be \(\.\.\., T, 1\).*\(10, 3\)"):
        bnir.from_nir(_single(fast, 1), dt=1.0)(jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match="method must be one of"):
        bnir.from_nir(_single(fast, 1), dt=1.0, method="rk4")


def test_graphs_brainsim_cannot_evaluate_are_refused():
    inp = lambda n: nir.Input(input_type={"input": np.array([n])})
    out = lambda n: nir.Output(output_type={"output": np.array([n])})
    lin = lambda: nir.Linear(weight=np.eye(2))
    two_inputs = nir.NIRGraph(
        nodes={"a": inp(2), "b": inp(2), "lin": lin(), "output": out(2)},
        edges=[("a", "lin"), ("b", "lin"), ("lin", "output")],
        type_check=False,
    )
    with pytest.raises(bnir.NIRStructureError, match="one Input and one Output"):
        bnir.from_nir(two_inputs, dt=1.0)
    algebraic = nir.NIRGraph(
        nodes={"input": inp(2), "l1": lin(), "l2": lin(), "output": out(2)},
        edges=[("input", "l1"), ("l1", "l2"), ("l2", "l1"), ("l2", "output")],
        type_check=False,
    )
    with pytest.raises(bnir.NIRStructureError, match="exactly one neuron"):
        bnir.from_nir(algebraic, dt=1.0)


def test_models_without_a_nir_form_are_refused():
    layer = bs.train.lif_layer(jax.random.key(0), 3, 4, adaptive=True)
    with pytest.raises(bnir.UnsupportedModelError, match="adaptive"):
        bnir.to_nir(layer)
    with pytest.raises(bnir.UnsupportedModelError, match="SNN.*LIFLayer"):
        bnir.to_nir(bs.train.UltraSNN(3, 4, 2))


def test_missing_nir_package_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ImportError, match=r"brainsim\[nir\]"):
        bnir.to_nir(bs.train.lif_layer(jax.random.key(0), 3, 4))


def test_imported_network_gradients_match_the_original_model():
    # Surrogate gradients through the imported network (autodiff of its scans) equal
    # those of the brainsim model it came from (LIFLayer's hand-written BPTT): the same
    # surrogate, the same forward floats; the readout's filter-matrix evaluation adds
    # float32 rounding (~1e-6 relative).
    model = bs.train.FeedForwardSNN(6, 12, 3, key=jax.random.key(1), w_scale=2.0)
    net = bnir.from_nir(bnir.to_nir(model), dt=1.0, spike=model.layers[0].spike)
    x = _poisson(4, (2, 30, 6), 0.3)
    g_model = jax.grad(lambda m: jnp.sum(m(x)[0] ** 2))(model).layers[0].w
    g_net = jax.grad(lambda m: jnp.sum(m(x) ** 2))(net).nodes["lif0_w"].w
    assert np.all(np.isfinite(g_net)) and np.mean(g_net != 0) > 0.5
    np.testing.assert_allclose(g_net, g_model, rtol=1e-3, atol=1e-6 * np.abs(g_model).max())


# -- against snnTorch ------------------------------------------------------------------
# snnTorch (1.0) discretises NIR by forward Euler with dt = 1e-4 s hard-coded, resets to
# v_reset in the step of the spike only with reset_mechanism="zero", reset_delay=False
# (what its NIR export claims), and writes tau = dt/(1 - beta), r = tau/dt,
# w_in = tau_syn/dt. So brainsim reads it with dt = 0.1 ms, method="euler".


def _snntorch():
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch import utils

    return torch, snn, utils


def _run_torch(torch, utils, net, x):
    utils.reset(net)
    with torch.no_grad():
        out = [net(torch.from_numpy(np.asarray(x[:, t]))) for t in range(x.shape[1])]
    out = [o[0] if isinstance(o, tuple) else o for o in out]
    return np.stack([o.numpy() for o in out], axis=1)


# snnTorch's exporter calls nirtorch.extract_nir_graph, deprecated in nirtorch 2.x
@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph:DeprecationWarning")
def test_snntorch_trained_network_imports_with_the_same_spikes(tmp_path):
    torch, snn, utils = _snntorch()
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    n_in, h, n_out, t_steps = 10, 16, 4, 100
    kw = dict(reset_mechanism="zero", reset_delay=False, init_hidden=True)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(n_in, h)
            self.lif1 = snn.Synaptic(
                alpha=torch.full((h,), 0.8),
                beta=torch.linspace(0.85, 0.95, h),
                threshold=torch.ones(h),
                **kw,
            )
            self.fc2 = torch.nn.Linear(h, h)
            self.lif2 = snn.RLeaky(
                beta=torch.full((h,), 0.9), threshold=torch.ones(h), linear_features=h, **kw
            )
            self.fc3 = torch.nn.Linear(h, n_out)
            self.lif3 = snn.Leaky(
                beta=torch.full((n_out,), 0.9), threshold=torch.ones(n_out), output=True, **kw
            )

        def forward(self, x):
            z = self.lif2(self.fc2(self.lif1(self.fc1(x))))
            return self.lif3(self.fc3(z))

    net = Net()
    with torch.no_grad():  # enough drive for every layer to spike
        for fc in (net.fc1, net.fc2, net.fc3):
            fc.weight.mul_(4.0)
    x = np.array(_poisson(5, (8, t_steps, n_in), 0.3))
    target = torch.arange(8) % n_out
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(10):  # a few steps of training in snnTorch
        utils.reset(net)
        spk = torch.stack([net(torch.from_numpy(x[:, t]))[0] for t in range(t_steps)], 1)
        loss = torch.nn.functional.cross_entropy(spk.sum(1), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ref = _run_torch(torch, utils, net, x)
    assert 0.02 < ref.mean() < 0.5
    utils.reset(net)
    graph = export_to_nir(net, torch.from_numpy(x[:1, 0]), ignore_dims=[0])
    mine = bnir.from_nir(_write_read(graph, tmp_path), dt=0.1, method="euler")
    np.testing.assert_array_equal(np.asarray(mine(jnp.asarray(x))), ref)


def test_brainsim_network_exports_to_snntorch_with_the_same_spikes(tmp_path):
    torch, snn, utils = _snntorch()
    import nir as nir_
    from snntorch.import_nir import import_from_nir

    # dt = 0.1 ms: snnTorch assumes 1e-4 s. (Recurrent layers are not tested here:
    # snnTorch 1.0 + nirtorch 2.6 fail to import any recurrent subgraph.)
    model = bs.train.FeedForwardSNN(
        10, (16, 4), 1, key=jax.random.key(3), tau_mem=1.0, tau_syn=0.5, dt=0.1, w_scale=2.0
    )
    model = bs.train.SNN(model.layers, None)
    tnet = import_from_nir(nir_.read(_write_read(bnir.to_nir(model, method="euler"), tmp_path)))
    x = np.array(_poisson(6, (8, 100, 10), 0.3))
    out, _ = model(jnp.asarray(x))
    assert 0.02 < float(out.mean()) < 0.5
    np.testing.assert_array_equal(_run_torch(torch, utils, tnet, x), np.asarray(out))
