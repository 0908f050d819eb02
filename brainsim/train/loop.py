"""Training loop: optax optimiser, BPTT through the model's scans, minibatches.

``fit`` shuffles the data every epoch (``key``), takes one jitted optimiser step per
minibatch, and shows a tqdm bar with the running loss and accuracy. Which leaves are
trained is ``trainable`` (default every inexact array: weights, time constants,
thresholds, ``eps``); the rest is held fixed.

The default optimiser (``default_optimizer``) is Adam with a linear learning-rate
warm-up. Without it, Adam's first full-size steps (each weight moves by ~lr, about a
quarter of a readout weight's initial spread) can push every readout weight of one class
negative: that class's membrane then never rises above its value at the first step, its
max-over-time logit has no gradient, and the class stays dead (digits, rate code:
86–94 % test instead of ~96 %, seeds 0–2; see benchmarks/train_accuracy.py).

Batching: ``batch_mode="axis"`` runs the model on ``(B, T, n)`` directly (one matmul per
layer for the whole batch and all steps); ``"vmap"`` maps the per-sample model over the
batch (same result).
"""

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .. import _checkpoint
from .._checks import check_count, check_positive, check_size
from ..datasets import check_dataset
from .losses import accuracy


def default_optimizer(
    lr: float = 2e-3,
    warmup_steps: int = 100,
    decay_steps: int | None = None,
    clip_norm: float | None = 1.0,
) -> optax.GradientTransformation:
    """Adam whose learning rate rises linearly from 0 to ``lr`` over ``warmup_steps``
    optimiser steps (module docstring: keeps max-over-time readouts from dying), then
    stays at ``lr``, or, given the total number of steps ``decay_steps``, follows a
    cosine decay to ``lr / 20`` at ``decay_steps``. Gradients are first clipped to a
    global norm of ``clip_norm`` (None: no clipping), a guard against an occasional
    exploding BPTT gradient (neutral where measured: Randman recurrent, seed 2, 40
    epochs: constant lr after the warm-up 95.0 %, with the cosine decay 98.8 % unclipped
    and 98.7 % clipped)."""
    check_positive("default_optimizer.lr", lr)
    check_size("default_optimizer.warmup_steps", warmup_steps)
    if clip_norm is not None:
        check_positive("default_optimizer.clip_norm", clip_norm)
    if decay_steps is None:
        schedule = optax.linear_schedule(0.0, lr, warmup_steps)
    elif decay_steps <= warmup_steps:
        raise ValueError(
            f"default_optimizer.decay_steps must exceed warmup_steps ({warmup_steps}), "
            f"got {decay_steps}"
        )
    else:
        schedule = optax.warmup_cosine_decay_schedule(0.0, lr, warmup_steps, decay_steps, lr / 20)
    adam = optax.adam(schedule)
    return adam if clip_norm is None else optax.chain(optax.clip_by_global_norm(clip_norm), adam)


@functools.lru_cache(maxsize=32)
def _vmapped(loss_fn):
    def f(model, x, y):
        per = jax.vmap(lambda xi, yi: loss_fn(model, xi[None], yi[None]))
        losses, logits = per(x, y)
        return jnp.mean(losses), logits[:, 0]

    return f


@functools.lru_cache(maxsize=32)
def _guarded_step(loss_fn, optimizer, trainable, skip_nonfinite: bool):
    """The jitted optimiser step, also returning whether the loss and every gradient
    are finite; with ``skip_nonfinite`` a non-finite step leaves the model and the
    optimiser state as they were."""

    @eqx.filter_jit
    def step(model, opt_state, x, y):
        params, static = eqx.partition(model, trainable)

        def f(p):
            return loss_fn(eqx.combine(p, static), x, y)

        (loss, logits), grads = jax.value_and_grad(f, has_aux=True)(params)
        finite = jnp.all(jnp.isfinite(loss))
        for g in jax.tree.leaves(grads):
            finite &= jnp.all(jnp.isfinite(g))
        updates, new_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        if skip_nonfinite:
            keep = lambda new, old: jnp.where(finite, new, old)
            new_params = jax.tree.map(keep, new_params, params)
            new_state = jax.tree.map(keep, new_state, opt_state)
        return eqx.combine(new_params, static), new_state, loss, logits, finite

    return step


def make_step(loss_fn, optimizer, trainable=eqx.is_inexact_array):
    """A jitted ``step(model, opt_state, x, y) -> (model, opt_state, loss, logits)``
    (cached: repeated ``fit`` calls with the same loss and optimiser compile once)."""
    step = _guarded_step(loss_fn, optimizer, trainable, False)
    return lambda model, opt_state, x, y: step(model, opt_state, x, y)[:4]


def evaluate(model, loss_fn, x, y, batch_size: int = 256) -> tuple[float, float]:
    """Mean loss and accuracy over ``(x, y)`` in batches."""
    check_dataset("evaluate", x, y)
    check_size("evaluate.batch_size", batch_size)
    f = eqx.filter_jit(loss_fn)
    tot_l, tot_a = 0.0, 0.0
    for i in range(0, len(y), batch_size):
        xb, yb = jnp.asarray(x[i : i + batch_size]), jnp.asarray(y[i : i + batch_size])
        loss, logits = f(model, xb, yb)
        tot_l += float(loss) * len(yb)
        tot_a += float(accuracy(logits, yb)) * len(yb)
    return tot_l / len(y), tot_a / len(y)


def _input_width(model) -> int | None:
    """``n_in`` of a model whose first layer holds an ``(n_in, n)`` weight ``w``."""
    layers = getattr(model, "layers", None)
    w = getattr(layers[0], "w", None) if layers else None
    return None if w is None or np.ndim(w) != 2 else int(np.shape(w)[0])


def _check_window(name: str, value, n_steps: int) -> None:
    """A rematerialization/truncation window: None or an int in ``[1, n_steps]``."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        ok = False
    else:
        ok = 1 <= value <= n_steps
    if not ok:
        raise ValueError(
            f"{name} must be None or an integer in [1, {n_steps}] (steps), got {value!r}"
        )


def _check_fit_args(model, x, y, *, epochs, batch_size, initial_epoch, windows) -> None:
    """The checks ``fit`` runs before anything is compiled (each error names the
    argument, its value and the allowed range)."""
    n_classes = model.readout.w.shape[1] if getattr(model, "readout", None) is not None else None
    check_dataset("fit", x, y, n_classes)
    if np.ndim(x) < 3:
        raise ValueError(f"fit: x must be (N, T, n_in), got shape {np.shape(x)}")
    n_in = _input_width(model)
    if n_in is not None and np.shape(x)[-1] != n_in:
        raise ValueError(
            f"fit: x has {np.shape(x)[-1]} input channels (shape {np.shape(x)}) but the "
            f"model's first layer takes n_in = {n_in}"
        )
    check_size("fit.epochs", epochs)
    check_size("fit.batch_size", batch_size)
    check_count("fit.initial_epoch", initial_epoch)
    checkpoint_every, truncate_every = windows
    for name, value in zip(("checkpoint_every", "truncate_every"), windows, strict=True):
        _check_window(f"fit.{name}", value, np.shape(x)[1])
    if checkpoint_every and truncate_every and truncate_every % checkpoint_every:
        raise ValueError(
            f"fit.truncate_every ({truncate_every}) must be a multiple of "
            f"checkpoint_every ({checkpoint_every})"
        )


def fit(
    model,
    x,
    y,
    *,
    loss_fn,
    optimizer=None,
    epochs: int = 1,
    batch_size: int = 64,
    key=None,
    trainable=eqx.is_inexact_array,
    batch_mode: str = "axis",
    checkpoint_every: int | None = None,
    truncate_every: int | None = None,
    progress: bool = True,
    opt_state=None,
    initial_epoch: int = 0,
    skip_nonfinite: bool = False,
):
    """Train ``model`` on ``x (N, T, n_in)``, ``y (N,)``; returns
    ``(model, opt_state, history)`` with per-epoch mean ``loss`` and ``accuracy`` and
    the number of ``skipped`` batches.

    Args:
        epochs: epochs to run in this call (integer >= 1).
        batch_size: samples per optimiser step (integer >= 1); the last partial batch of
            an epoch is dropped (fixed shapes).
        key: shuffling key (default ``jax.random.key(0)``).
        checkpoint_every, truncate_every: the model's rematerialization and
            truncated-BPTT windows in steps (None or an integer in ``[1, T]``; see
            ``bs.train.scan_time``).
        optimizer: default ``default_optimizer()`` (Adam 2e-3 after a 100-step warm-up,
            clipped).
        opt_state, initial_epoch: resume a run: the optimiser state and the number of
            epochs already done (saved with ``bs.train.save``); epoch ``e`` is shuffled
            by the same key whichever call runs it, so ``fit`` for ``a`` epochs, then
            for ``b`` more with ``initial_epoch=a``, gives the bits of ``a + b`` epochs
            in one call.
        skip_nonfinite: a batch whose loss or gradient is not finite raises
            ``FloatingPointError`` naming the epoch and batch (default); with True it is
            skipped (the model and optimiser state unchanged) and counted in
            ``history["skipped"]``.

    All arguments are checked before anything is compiled.
    """
    windows = (checkpoint_every, truncate_every)
    _check_fit_args(
        model,
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        initial_epoch=initial_epoch,
        windows=windows,
    )
    if batch_mode not in ("axis", "vmap"):
        raise ValueError(f"fit: batch_mode must be 'axis' or 'vmap', got {batch_mode!r}")
    if checkpoint_every is not None or truncate_every is not None:
        model = dataclasses.replace(
            model, checkpoint_every=checkpoint_every, truncate_every=truncate_every
        )
    optimizer = default_optimizer() if optimizer is None else optimizer
    key = jax.random.key(0) if key is None else key
    if opt_state is None:
        opt_state = optimizer.init(eqx.filter(model, trainable))
    loss_fn = _vmapped(loss_fn) if batch_mode == "vmap" else loss_fn
    step = _guarded_step(loss_fn, optimizer, trainable, bool(skip_nonfinite))
    n_batches = max(1, len(y) // batch_size)
    history = {"loss": [], "accuracy": [], "skipped": []}
    # Epoch e is shuffled by the (e+1)-th split of ``key``, whichever call runs it.
    for _ in range(initial_epoch):
        key, _ = jax.random.split(key)
    last = initial_epoch + epochs
    for epoch in range(initial_epoch, last):
        key, sub = jax.random.split(key)
        order = np.asarray(jax.random.permutation(sub, len(y)))
        bar = tqdm(
            range(n_batches), desc=f"epoch {epoch + 1}/{last}", disable=not progress, leave=False
        )
        losses, accs = [], []
        for b in bar:
            idx = order[b * batch_size : (b + 1) * batch_size]
            xb, yb = jnp.asarray(x[idx]), jnp.asarray(y[idx])
            new = step(model, opt_state, xb, yb)
            if not bool(new[4]):
                if not skip_nonfinite:
                    raise FloatingPointError(
                        f"fit: non-finite loss ({float(new[2]):g}) or gradient at epoch "
                        f"{epoch + 1}, batch {b + 1} of {n_batches}; check the inputs and "
                        "the learning rate, or pass skip_nonfinite=True to skip such batches"
                    )
                continue
            model, opt_state = new[0], new[1]
            losses.append(float(new[2]))
            accs.append(float(accuracy(new[3], yb)))
            bar.set_postfix(loss=f"{np.mean(losses):.3f}", acc=f"{np.mean(accs):.3f}")
        history["loss"].append(float(np.mean(losses)) if losses else float("nan"))
        history["accuracy"].append(float(np.mean(accs)) if accs else float("nan"))
        history["skipped"].append(n_batches - len(losses))
    return model, opt_state, history


def save(path, model, opt_state=None, metadata: dict | None = None) -> None:
    """Write a training checkpoint to the one file ``path``: the array leaves of
    ``(model, opt_state)`` and ``metadata`` (JSON: hyperparameters, the epochs done for
    ``fit(initial_epoch=...)``, ...), with a format version and a SHA-256 checksum (no
    pickle; the file is complete or absent, never half-written)."""
    _checkpoint.write(path, (model, opt_state), kind="train", metadata=metadata)


def restore(path, model_like, opt_state_like=None):
    """``(model, opt_state, metadata)`` read back into the structure of the ``*_like``
    templates (built the same way as the saved ones). Raises
    ``bs.train.CheckpointError`` naming the failed check (not a checkpoint, format
    version, truncated, bytes appended, checksum, a different model)."""
    (model, opt_state), metadata = _checkpoint.read(
        path, (model_like, opt_state_like), kind="train"
    )
    return model, opt_state, metadata
