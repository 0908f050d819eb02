"""A checkpoint file: the array leaves of a pytree, a JSON header, a checksum. No pickle.

Layout (one file, written to a temporary name and renamed, so a killed write never
leaves a half-written checkpoint under the final name)::

    b"BRAINSIM-CHECKPOINT\\n"     magic line
    8 bytes, little-endian        length of the header
    header (UTF-8 JSON)           format version, kind, the leaves (path, shape, dtype),
                                  the payload size, the user's metadata, and the SHA-256
                                  of the header without the checksum plus the payload
    payload                       every array leaf's bytes (C order, the host's byte
                                  order: little-endian wherever JAX runs), in leaf order

Reading checks, in this order, and raises ``CheckpointError`` saying which failed and
why: the magic line (not a checkpoint), the format version, the kind (a training
checkpoint is not a simulation one), the payload size (truncated, or bytes appended),
the checksum (corrupted), the leaves against the template (another model).
Only array leaves are stored; the other leaves (Python numbers, static fields) come
from the template the file is read into.
"""

import hashlib
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

FORMAT_VERSION = 1
_MAGIC = b"BRAINSIM-CHECKPOINT\n"
_KEY = "key<"  # dtype prefix of typed PRNG keys (stored as their uint32 key data)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read into the given template; the message says
    which check failed (not a checkpoint, version, kind, truncated, appended bytes,
    checksum, model structure) and why."""


def _arrays(tree):
    """``[(path, array)]`` of the array leaves of ``tree``."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [(jax.tree_util.keystr(p), x) for p, x in flat if isinstance(x, jax.Array | np.ndarray)]


def _spec(x) -> tuple[tuple[int, ...], str]:
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return tuple(x.shape), f"{_KEY}{jax.random.key_impl(x)}>"
    return tuple(x.shape), jnp.dtype(x.dtype).name  # "float32", "bfloat16", ...


def _digest(header: dict, payload: bytes) -> str:
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    h.update(payload)
    return h.hexdigest()


def write(path, tree, *, kind: str, metadata: dict | None = None) -> None:
    """Write the array leaves of ``tree`` and ``metadata`` (JSON-serialisable) to
    ``path``."""
    leaves = _arrays(tree)
    chunks = []
    for _, x in leaves:
        data = jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x
        chunks.append(np.ascontiguousarray(np.asarray(data)).tobytes())
    payload = b"".join(chunks)
    header = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "leaves": [[p, *_spec(x)] for p, x in leaves],
        "payload_bytes": len(payload),
        "metadata": metadata or {},
    }
    try:
        header["sha256"] = _digest(header, payload)
    except TypeError as e:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable: {e}") from None
    head = json.dumps(header, sort_keys=True).encode()
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(head).to_bytes(8, "little") + head + payload)
    os.replace(tmp, path)


def read(path, like, *, kind: str):
    """``(tree, metadata)``: the file at ``path`` read into the structure of ``like``."""
    raw = Path(path).read_bytes()
    header, payload = _parse(path, raw)
    if header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path}: format version {header.get('format_version')!r}, this "
            f"brainsim reads version {FORMAT_VERSION}"
        )
    if header.get("kind") != kind:
        raise CheckpointError(
            f"checkpoint {path}: a {header.get('kind')!r} checkpoint, expected {kind!r}"
        )
    size = header["payload_bytes"]
    if len(payload) < size:
        raise CheckpointError(
            f"checkpoint {path}: truncated: {len(payload)} of {size} payload bytes present"
        )
    if len(payload) > size:
        raise CheckpointError(
            f"checkpoint {path}: {len(payload) - size} unexpected bytes appended after "
            f"the {size} payload bytes"
        )
    expected = header.pop("sha256", None)
    if _digest(header, payload) != expected:
        raise CheckpointError(
            f"checkpoint {path}: content checksum mismatch (SHA-256): the file is corrupted"
        )
    return _fill(path, header["leaves"], payload, like), header["metadata"]


def _parse(path, raw: bytes):
    if not raw.startswith(_MAGIC):
        raise CheckpointError(f"checkpoint {path}: not a brainsim checkpoint (no magic line)")
    start = len(_MAGIC) + 8
    n = int.from_bytes(raw[len(_MAGIC) : start], "little")
    if len(raw) < start + n:
        raise CheckpointError(
            f"checkpoint {path}: truncated: the header needs {n} bytes, "
            f"{max(len(raw) - start, 0)} present"
        )
    try:
        header = json.loads(raw[start : start + n].decode())
        assert isinstance(header, dict) and {"leaves", "payload_bytes"} <= header.keys()
    except (ValueError, AssertionError):
        raise CheckpointError(
            f"checkpoint {path}: the header is not valid (corrupted or not a checkpoint)"
        ) from None
    return header, raw[start + n :]


def _fill(path, saved, payload: bytes, like):
    want = _arrays(like)
    if len(saved) != len(want):
        raise CheckpointError(
            f"checkpoint {path}: holds {len(saved)} arrays, the template has {len(want)} "
            "(a different model or optimiser)"
        )
    out, offset = [], 0
    for (name, shape, dtype), (p, x) in zip(saved, want, strict=True):
        if [name, tuple(shape), dtype] != [p, *_spec(x)]:
            raise CheckpointError(
                f"checkpoint {path}: array {name} is {tuple(shape)} {dtype} in the file but "
                f"the template has {p} {_spec(x)[0]} {_spec(x)[1]} (a different model)"
            )
        if dtype.startswith(_KEY):
            data = jax.random.key_data(x)
            n = data.size * data.dtype.itemsize
            buf = np.frombuffer(payload, data.dtype, data.size, offset).reshape(data.shape)
            value = jax.random.wrap_key_data(buf, impl=dtype[len(_KEY) : -1])
        else:
            kind = jnp.dtype(dtype)
            n = int(np.prod(shape, dtype=np.int64)) * kind.itemsize
            arr = np.frombuffer(payload, kind, int(np.prod(shape)), offset).reshape(shape)
            value = jnp.asarray(arr) if isinstance(x, jax.Array) else arr.copy()
        out.append(value)
        offset += n
    leaves, treedef = jax.tree.flatten(like)
    it = iter(out)
    filled = [next(it) if isinstance(x, jax.Array | np.ndarray) else x for x in leaves]
    return jax.tree.unflatten(treedef, filled)
