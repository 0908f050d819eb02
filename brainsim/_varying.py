"""Values inside ``jax.shard_map`` typed as every device's own (varying along a mesh
axis), whatever op made them."""

import jax


def varies(x, axis: str) -> bool:
    """Whether ``x`` is typed as every device's own value along ``axis`` (varying)."""
    return axis in jax.typeof(x).manual_axis_type.varying


def own(x, axis: str):
    """``x`` typed as every device's own value along ``axis`` (varying), as a device's
    event buffer or state is, whether the op that made it (pure JAX or a native kernel,
    whose results carry no such type) says so or not: a scan's carry, or the branches
    of a ``cond``, need one type."""
    return x if varies(x, axis) else jax.lax.pcast(x, (axis,), to="varying")
