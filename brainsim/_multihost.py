"""Runs over the devices of several processes (``jax.distributed``): global arrays made
from values every process holds, the blocks a process holds, and a check that every
process runs the same thing. With one process, each of them is its single-process self.
"""

import hashlib

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec


def place(x, sharding) -> jax.Array:
    """The global array with value ``x`` (the same in every process; PRNG keys too) laid
    out by ``sharding``: each process transfers only the blocks of its own devices."""
    if isinstance(x, jax.Array) and (
        not x.is_fully_addressable or x.sharding.device_set == sharding.device_set
    ):
        # already global (a previous run's state) or on the mesh's devices (a stored
        # shard's blocks): moved by JAX, which keeps a block already in place (no copy)
        return jax.device_put(x, sharding)
    if x is None:
        return None
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        data = jax.random.key_data(x)  # its trailing axis (the key's words) unsharded
        spec = (*sharding.spec, *[None] * (data.ndim - len(sharding.spec)))
        data = place(data, NamedSharding(sharding.mesh, PartitionSpec(*spec)))
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def local_blocks(x: jax.Array) -> list[tuple[int, np.ndarray]]:
    """The blocks of ``x`` (sharded along its last axis) held by this process's devices:
    ``[(first index along the last axis, block), ...]`` in ascending order."""
    blocks = {s.index[-1].start or 0: s for s in x.addressable_shards}
    return [(start, np.asarray(blocks[start].data)) for start in sorted(blocks)]


def fingerprint(*parts) -> np.ndarray:
    """A digest ``(8,)`` uint32 of ``parts``: strings, numbers and arrays (their dtype,
    shape and bytes; a global array not held whole by this process: dtype and shape)."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(parts):
        if isinstance(leaf, jax.Array | np.ndarray | np.generic):
            arr = leaf
            h.update(f"{arr.dtype}{arr.shape}".encode())
            if not isinstance(arr, jax.Array) or arr.is_fully_addressable:
                if jax.dtypes.issubdtype(arr.dtype, jax.dtypes.prng_key):
                    arr = jax.random.key_data(arr)
                h.update(np.ascontiguousarray(np.asarray(arr)).tobytes())
        else:
            h.update(repr(leaf).encode())
    return np.frombuffer(h.digest(), np.uint32)


def check_same(what: str, *parts) -> None:
    """Raise the same ``ValueError`` in every process unless every process has the same
    ``fingerprint(*parts)`` (one all-gather; nothing, not even the digest, when there is
    one process)."""
    if jax.process_count() == 1:
        return
    digest = fingerprint(*parts)
    every = np.asarray(multihost_utils.process_allgather(digest)).reshape(-1, digest.size)
    differ = [p for p in range(len(every)) if not np.array_equal(every[p], every[0])]
    if differ:
        raise ValueError(
            f"{what} differ between processes: processes {differ} disagree with process 0 "
            "(run the same script, brainsim version and seeds in every process)"
        )


def agree_max(x: np.ndarray) -> np.ndarray:
    """The elementwise maximum of ``x`` over every process (one all-gather)."""
    if jax.process_count() == 1:
        return x
    return np.asarray(multihost_utils.process_allgather(x)).reshape(-1, *x.shape).max(axis=0)
