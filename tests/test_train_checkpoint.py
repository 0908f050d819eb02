"""Training runs that last: resume from a checkpoint is the uninterrupted run bit for
bit; a damaged checkpoint raises a named error; non-finite losses and gradients stop
``fit`` (or are skipped on request)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim as bs
from brainsim import _checkpoint
from brainsim.train import losses


@pytest.fixture(scope="module")
def tiny():
    model = bs.train.FeedForwardSNN(5, 8, 3, key=jax.random.key(0))
    x = (jax.random.uniform(jax.random.key(1), (24, 10, 5)) < 0.3).astype(jnp.float32)
    y = jnp.arange(24) % 3
    return model, np.asarray(x), np.asarray(y)


KW = dict(loss_fn=losses.ce_max_membrane, batch_size=8, progress=False, key=jax.random.key(7))


def _same(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for u, v in zip(la, lb, strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_resume_equals_uninterrupted_run(tiny, tmp_path):
    """2 epochs, checkpoint, restore into fresh templates, 2 more == 4 epochs in one call
    (default optimiser: its warm-up schedule lives in the optimiser state)."""
    model, x, y = tiny
    whole, whole_st, hist = bs.train.fit(model, x, y, epochs=4, **KW)
    half, half_st, _ = bs.train.fit(model, x, y, epochs=2, **KW)
    bs.train.save(tmp_path / "ckpt", half, half_st, {"epochs_done": 2})
    template = bs.train.FeedForwardSNN(5, 8, 3, key=jax.random.key(99))
    st_like = bs.train.default_optimizer().init(eqx.filter(template, eqx.is_inexact_array))
    m, st, meta = bs.train.restore(tmp_path / "ckpt", template, st_like)
    assert meta == {"epochs_done": 2}
    resumed, resumed_st, hist2 = bs.train.fit(
        m, x, y, epochs=2, opt_state=st, initial_epoch=meta["epochs_done"], **KW
    )
    _same((whole, whole_st), (resumed, resumed_st))
    assert hist2["loss"] == hist["loss"][2:]
    # Without initial_epoch the shuffles restart: not the same run (the test can fail).
    other = bs.train.fit(m, x, y, epochs=2, opt_state=st, **KW)[0]
    assert not np.array_equal(other.layers[0].w, whole.layers[0].w)


@pytest.fixture
def saved(tiny, tmp_path):
    model, x, y = tiny
    opt = bs.train.default_optimizer()
    st = opt.init(eqx.filter(model, eqx.is_inexact_array))
    path = tmp_path / "ckpt"
    bs.train.save(path, model, st, {"epoch": 3})
    return path, model, st


def test_restore_round_trip(saved):
    path, model, st = saved
    m, s, meta = bs.train.restore(path, model, st)
    _same((m, s), (model, st))
    assert meta == {"epoch": 3}
    assert not path.with_name(path.name + ".partial").exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[:-1], r"truncated: \d+ of \d+ payload bytes"),
        (lambda b: b[:100], "truncated: the header needs"),
        (lambda b: b + b"\0", "1 unexpected bytes appended"),
        (lambda b: b"PK\x03\x04" + b, "not a brainsim checkpoint"),
        (lambda b: b[:-5] + bytes([b[-5] ^ 1]) + b[-4:], "checksum mismatch"),
    ],
    ids=["truncated", "header-truncated", "appended", "not-a-checkpoint", "flipped"],
)
def test_damaged_checkpoint_names_the_problem(saved, damage, message):
    path, model, st = saved
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(bs.train.CheckpointError, match=message):
        bs.train.restore(path, model, st)


def test_any_flipped_bit_is_detected(saved):
    """One bit flipped at every byte of the file: never a silent load."""
    path, model, st = saved
    raw = path.read_bytes()
    for i in range(len(raw)):
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :])
        with pytest.raises(bs.train.CheckpointError):
            bs.train.restore(path, model, st)


def test_wrong_version_kind_and_model(saved, monkeypatch):
    path, model, st = saved
    wider = bs.train.FeedForwardSNN(5, 9, 3, key=jax.random.key(0))
    wider_st = bs.train.default_optimizer().init(eqx.filter(wider, eqx.is_inexact_array))
    with pytest.raises(bs.train.CheckpointError, match=r"\(5, 8\) float32 in the file.*\(5, 9\)"):
        bs.train.restore(path, wider, wider_st)
    with pytest.raises(bs.train.CheckpointError, match="holds 26 arrays, the template has 8"):
        bs.train.restore(path, model)  # no optimiser state in the template
    _checkpoint.write(path, (model, st), kind="simulation")
    with pytest.raises(bs.train.CheckpointError, match="a 'simulation' checkpoint, expected"):
        bs.train.restore(path, model, st)
    monkeypatch.setattr(_checkpoint, "FORMAT_VERSION", 2)
    bs.train.save(path, model, st)
    monkeypatch.setattr(_checkpoint, "FORMAT_VERSION", 1)
    with pytest.raises(
        bs.train.CheckpointError, match="format version 2, this brainsim reads version 1"
    ):
        bs.train.restore(path, model, st)


def test_prng_keys_round_trip(tmp_path):
    tree = {
        "k": jax.random.split(jax.random.key(3), 4),
        "x": np.arange(3.0),
        "b": jnp.arange(4, dtype=jnp.bfloat16) / 3,
    }
    _checkpoint.write(tmp_path / "k", tree, kind="test")
    back, _ = _checkpoint.read(tmp_path / "k", tree, kind="test")
    _same(jax.random.key_data(back["k"]), jax.random.key_data(tree["k"]))
    np.testing.assert_array_equal(back["x"], tree["x"])
    assert back["b"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(back["b"].astype(jnp.float32), tree["b"].astype(jnp.float32))


def test_non_finite_loss_stops_with_epoch_and_batch(tiny):
    model, x, y = tiny
    bad = eqx.tree_at(lambda m: m.readout.w, model, model.readout.w.at[0, 0].set(jnp.inf))
    with pytest.raises(FloatingPointError, match="epoch 1, batch 1 of 3"):
        bs.train.fit(bad, x, y, **KW)


def test_non_finite_gradient_stops(tiny):
    """A finite loss whose gradient is infinite (d sqrt(|u|)/du at u = 0) still stops."""
    model, x, y = tiny

    def loss(m, xb, yb):
        value, logits = losses.ce_max_membrane(m, xb, yb)
        return value + jnp.sqrt(jnp.abs(m.readout.tau_mem[0] - 20.0)), logits

    with pytest.raises(FloatingPointError, match="or gradient at epoch 1, batch 1"):
        bs.train.fit(model, x, y, **{**KW, "loss_fn": loss})


def test_skip_nonfinite_batches(tiny):
    """Batches whose first label is 0 get a NaN loss: with skip_nonfinite they are
    skipped (counted), the others train; a run where every batch is NaN changes
    nothing."""
    model, x, y = tiny

    def loss(m, xb, yb):
        value, logits = losses.ce_max_membrane(m, xb, yb)
        return value + jnp.where(yb[0] == 0, jnp.nan, 0.0), logits

    m, _, hist = bs.train.fit(
        model, x, y, epochs=3, skip_nonfinite=True, **{**KW, "loss_fn": loss}
    )
    key, expected = KW["key"], []
    for _ in range(3):
        key, sub = jax.random.split(key)
        order = np.asarray(jax.random.permutation(sub, len(y)))
        expected.append(int(sum(y[order[b * 8]] == 0 for b in range(3))))
    assert hist["skipped"] == expected and 0 < sum(expected) < 9
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(m))
    assert not np.array_equal(m.layers[0].w, model.layers[0].w)

    def nan_loss(m, xb, yb):
        value, logits = losses.ce_max_membrane(m, xb, yb)
        return value * jnp.nan, logits

    st = bs.train.default_optimizer().init(eqx.filter(model, eqx.is_inexact_array))
    m, st2, hist = bs.train.fit(
        model, x, y, skip_nonfinite=True, opt_state=st, **{**KW, "loss_fn": nan_loss}
    )
    _same((m, st2), (model, st))
    assert hist["skipped"] == [3] and np.isnan(hist["loss"][0])
