"""Every public name has an entry in the hand-written API reference (docs/api/*.md).

The public names are the explicit ``X as X`` re-exports of ``brainsim/__init__.py`` and
of each subpackage it re-exports, and the public definitions of the plain modules
re-exported as namespaces (``bs.analysis``, ``bs.train.losses``, ...). An entry is a
mkdocstrings line ``::: brainsim.path.Name`` naming the object (under any path), or
one naming the plain module that defines it (the page then renders all its members).
"""

import ast
import importlib
import inspect
import re
import types
from pathlib import Path

import brainsim

DOCS = Path(__file__).parents[1] / "docs" / "api"


def _reexports(package: types.ModuleType) -> list[str]:
    tree = ast.parse(Path(package.__file__).read_text())
    return [
        alias.asname
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname is not None and alias.asname == alias.name.split(".")[-1]
    ]


def _definitions(module: types.ModuleType) -> list[str]:
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    ]


def public_names() -> dict[str, object]:
    """``{dotted public name: object}``."""
    out, todo = {}, [brainsim]
    while todo:
        mod = todo.pop()
        is_package = hasattr(mod, "__path__")
        for name in _reexports(mod) if is_package else _definitions(mod):
            obj = getattr(mod, name)
            if name == "__version__":
                continue
            if isinstance(obj, types.ModuleType):
                todo.append(obj)
                continue
            out[f"{mod.__name__}.{name}"] = obj
    return out


def _resolve(target: str):
    parts = target.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(target)


def documented():
    """The objects and modules the API pages name."""
    text = "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
    return [_resolve(t) for t in re.findall(r"^:::\s*(\S+)", text, re.M)]


def test_every_public_name_has_a_reference_entry():
    entries = documented()
    ids = {id(obj) for obj in entries}
    modules = {obj.__name__ for obj in entries if isinstance(obj, types.ModuleType)}
    missing = [
        name
        for name, obj in public_names().items()
        if id(obj) not in ids and getattr(obj, "__module__", None) not in modules
    ]
    assert not missing, f"{len(missing)} public names without an API entry: {missing}"


def test_the_walk_finds_the_known_names():
    """The walk itself: it sees names at every level (so the test above can fail)."""
    names = public_names()
    for name in (
        "brainsim.simulate",
        "brainsim.neurons.LIF",
        "brainsim.train.fit",
        "brainsim.train.losses.ce_max_membrane",
        "brainsim.conn.NormalDelay",
    ):
        assert name in names
    assert not any(n.split(".")[-1].startswith("_") for n in names)
