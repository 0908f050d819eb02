"""Reading a NIR graph's structure: nested subgraphs inlined, node types and shapes
checked, recurrent loops found, an evaluation plan made. Works on node type names and
NumPy parameters only (no JAX), so every check runs before anything is built."""

import numpy as np

from ._network import Unit

NEURONS = ("CubaLIF", "CubaLI", "LIF", "LI", "IF", "I")
STATELESS = ("Affine", "Linear", "Scale", "Threshold", "Delay")
SUPPORTED = ("Input", "Output", "NIRGraph", *STATELESS, *NEURONS)


class UnsupportedNodeError(ValueError):
    """A NIR node brainsim cannot represent (the message lists the supported ones)."""


class NIRShapeError(ValueError):
    """A NIR graph whose node shapes do not fit together along an edge."""


class NIRStructureError(ValueError):
    """A NIR graph brainsim cannot evaluate (inputs/outputs, loops without a neuron)."""


def kind(node) -> str:
    return type(node).__name__


def flatten(graph, prefix: str = ""):
    """``(nodes, edges)`` of ``graph`` with every nested ``NIRGraph`` inlined: a
    subgraph's nodes are named ``"sub.node"`` and its own Input/Output nodes removed
    (edges into the subgraph go to its Input's successors, edges out of it leave from
    its Output's predecessors). Raises ``UnsupportedNodeError`` naming every node type
    not in ``SUPPORTED``."""
    nodes, edges = {}, []
    subs = {}
    for name, node in graph.nodes.items():
        k = kind(node)
        if k not in SUPPORTED:
            raise UnsupportedNodeError(
                f"NIR node {prefix + name!r} is a nir.{k}, which brainsim cannot represent; "
                f"supported node types: {', '.join(SUPPORTED)}"
            )
        if k == "NIRGraph":
            sub_nodes, sub_edges = flatten(node, prefix + name + ".")
            ins = [n for n, v in node.nodes.items() if kind(v) == "Input"]
            outs = [n for n, v in node.nodes.items() if kind(v) == "Output"]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRStructureError(
                    f"NIR subgraph {prefix + name!r} must have one Input and one Output "
                    f"node, has {len(ins)} and {len(outs)}"
                )
            subs[name] = (prefix + name + "." + ins[0], prefix + name + "." + outs[0])
            nodes.update(sub_nodes)
            edges += sub_edges
        else:
            nodes[prefix + name] = node
    for a, b in graph.edges:
        a = subs[a][1] if a in subs else prefix + a
        b = subs[b][0] if b in subs else prefix + b
        edges.append((a, b))
    for inner_in, inner_out in subs.values():
        for name in (inner_in, inner_out):
            nodes[name] = None  # a pass-through, removed below
    return _bypass(nodes, edges)


def _bypass(nodes, edges):
    """Remove the pass-through nodes (``None``), joining their inputs to their outputs."""
    for name in [n for n, v in nodes.items() if v is None]:
        ins = [a for a, b in edges if b == name]
        outs = [b for a, b in edges if a == name]
        edges = [e for e in edges if name not in e] + [(a, b) for a in ins for b in outs]
        del nodes[name]
    return nodes, list(dict.fromkeys(edges))


def _param_shape(node):
    """``(in_shape, out_shape)`` fixed by the node's own parameters (or the shape an
    Input/Output node declares); ``None`` where the node takes the shape of its input
    (neuron/elementwise nodes whose parameters are scalars, as some exporters write
    them)."""
    k = kind(node)
    if k == "Input":
        shape = tuple(int(s) for s in np.atleast_1d(node.input_type["input"]))
        return shape, shape
    if k == "Output":
        declared = (getattr(node, "output_type", None) or {}).get("output")
        if declared is None:
            return None, None
        shape = tuple(int(s) for s in np.atleast_1d(declared))
        return shape, shape
    if k in ("Affine", "Linear"):
        w = np.asarray(node.weight)
        if w.ndim != 2:
            raise UnsupportedNodeError(
                f"nir.{k} with a weight of shape {w.shape}: brainsim supports 2-D weights "
                "(n_out, n_in) only"
            )
        return (w.shape[1],), (w.shape[0],)
    p = {
        "Scale": "scale",
        "Threshold": "threshold",
        "Delay": "delay",
        "CubaLIF": "v_threshold",
        "CubaLI": "tau_mem",
        "LIF": "tau",
        "LI": "tau",
        "IF": "r",
        "I": "r",
    }[k]
    shape = np.shape(getattr(node, p))
    return (None, None) if int(np.prod(shape)) == 1 else (shape, shape)


def shapes(nodes, edges) -> dict:
    """The ``(n,)`` shape of every node's output, checked along every edge. Raises
    ``NIRShapeError`` naming the first edge whose shapes disagree."""
    fixed = {n: _param_shape(v) for n, v in nodes.items()}
    out = {n: s[1] for n, s in fixed.items() if s[1] is not None}
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            if a not in out:
                continue
            want = fixed[b][0]
            if want is not None and want != out[a]:
                raise NIRShapeError(
                    f"NIR edge {a!r} -> {b!r}: {a!r} ({kind(nodes[a])}) gives shape "
                    f"{out[a]}, {b!r} ({kind(nodes[b])}) takes shape {want}"
                )
            if fixed[b][0] is None and out.get(b, out[a]) != out[a]:
                raise NIRShapeError(
                    f"NIR node {b!r} ({kind(nodes[b])}) receives inputs of shapes "
                    f"{out[b]} and {out[a]} (from {a!r})"
                )
            if b not in out:
                out[b] = out[a]
                changed = True
    for n, s in out.items():
        if len(s) != 1:
            raise UnsupportedNodeError(
                f"NIR node {n!r} has shape {s}: brainsim supports flat (n,) signals only"
            )
    missing = sorted(set(nodes) - set(out))
    if missing:
        raise NIRStructureError(f"NIR nodes {missing} are not reachable from an Input node")
    return out


def _loops(nodes, edges):
    """Strongly connected components (Tarjan), as lists of names."""
    succ = {n: [b for a, b in edges if a == n] for n in nodes}
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(comp)

    for v in nodes:
        if v not in index:
            visit(v)
    return comps[::-1]  # Tarjan emits components in reverse topological order


def plan(nodes, edges) -> tuple[str, str, tuple[Unit, ...]]:
    """``(input, output, units)``: the graph's single Input and Output node and the
    evaluation units in topological order. A loop must hold exactly one neuron and take
    outside input only into that neuron; other nodes in it must be stateless and not
    ``Delay``."""
    ins = [n for n, v in nodes.items() if kind(v) == "Input"]
    outs = [n for n, v in nodes.items() if kind(v) == "Output"]
    if len(ins) != 1 or len(outs) != 1:
        raise NIRStructureError(
            f"brainsim evaluates NIR graphs with one Input and one Output node; this one "
            f"has inputs {ins} and outputs {outs}"
        )
    preds = {n: tuple(a for a, b in edges if b == n) for n in nodes}
    units = []
    for comp in _loops(nodes, edges):
        name = comp[0]
        if kind(nodes[name]) in ("Input", "Output"):
            continue
        cyclic = len(comp) > 1 or name in preds[name]
        if not cyclic:
            units.append(Unit(name, preds[name]))
            continue
        units.append(_loop_unit(comp, nodes, preds))
    return ins[0], outs[0], tuple(units)


def _loop_unit(comp, nodes, preds) -> Unit:
    neurons = [n for n in comp if kind(nodes[n]) in NEURONS]
    bad = [n for n in comp if kind(nodes[n]) == "Delay"]
    if len(neurons) != 1 or bad:
        raise NIRStructureError(
            f"NIR recurrent loop {sorted(comp)}: brainsim needs exactly one neuron node "
            f"and no Delay in a loop, found neurons {neurons} and delays {bad}"
        )
    (neuron,) = neurons
    inside = set(comp)
    for n in comp:
        outside = [p for p in preds[n] if p not in inside]
        if n != neuron and outside:
            raise NIRStructureError(
                f"NIR recurrent loop {sorted(comp)}: node {n!r} takes input from outside "
                f"the loop ({outside}); only the loop's neuron {neuron!r} may"
            )
    members, done = [], {neuron}
    rest = [n for n in comp if n != neuron]
    while rest:  # members in dependency order (the loop is cut at the neuron)
        ready = [n for n in rest if all(p in done for p in preds[n])]
        if not ready:
            raise NIRStructureError(
                f"NIR recurrent loop {sorted(comp)} has a cycle without a neuron (through {rest})"
            )
        members += ready
        done.update(ready)
        rest = [n for n in rest if n not in done]
    return Unit(
        neuron,
        tuple(p for p in preds[neuron] if p not in inside),
        members=tuple(members),
        inner=tuple(preds[m] for m in members),
        feedback=tuple(p for p in preds[neuron] if p in inside),
    )
