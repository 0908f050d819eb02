"""Spyx 1.x (flax.nnx) version of the train_throughput model, run in the peers' venv."""

import jax
import jax.numpy as jnp
import optax
import spyx
from flax import nnx

N_IN, N_OUT = 700, 20


def run_spyx(data, hidden, n_steps, timed):
    rngs = nnx.Rngs(0)
    model = spyx.nn.Sequential(
        nnx.Linear(N_IN, hidden, rngs=rngs),
        spyx.nn.RLIF((hidden,), beta=0.9, activation=spyx.axn.superspike(25), rngs=rngs),
        nnx.Linear(hidden, N_OUT, rngs=rngs),
        spyx.nn.LI((N_OUT,), beta=0.9, rngs=rngs),
    )
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    x = jnp.asarray(data["x"]).swapaxes(0, 1)  # time-major
    y = jnp.asarray(data["y"])

    @nnx.jit
    def step(model, opt, x, y):
        def loss_fn(model):
            out, _ = spyx.nn.run(model, x)
            logits = out.max(axis=0)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    def one():
        jax.block_until_ready(step(model, opt, x, y))

    return {"simulator": f"Spyx {spyx.__version__}", **timed(one, n_steps)}
