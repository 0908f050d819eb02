"""PyNN connectors -> synapse lists (pre, post, weight) for ``bs.conn.FromEdges``."""

import numpy as np

SUPPORTED_CONNECTORS = (
    "AllToAllConnector",
    "OneToOneConnector",
    "FixedProbabilityConnector",
    "FromListConnector",
)


def edges(connector, n_pre: int, n_post: int, rng: np.random.Generator, same: bool):
    """``(pre, post, weight or None, delay or None)`` of ``connector`` between ``n_pre``
    and ``n_post`` cells; ``same``: pre and post are one population (self-connections
    obey ``allow_self_connections``). Weights/delays come only from ``FromListConnector``."""
    name = type(connector).__name__
    if name not in SUPPORTED_CONNECTORS:
        raise ValueError(
            f"brainsim.pynn: connector {name!r} is not supported; supported: "
            f"{', '.join(SUPPORTED_CONNECTORS)}"
        )
    if name == "FromListConnector":
        rows = np.asarray(connector.conn_list, float).reshape(len(connector.conn_list), -1)
        cols = list(getattr(connector, "column_names", ()) or ())
        pre, post = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
        w = rows[:, 2 + cols.index("weight")] if "weight" in cols else None
        d = rows[:, 2 + cols.index("delay")] if "delay" in cols else None
        return pre, post, w, d
    if name == "OneToOneConnector":
        if n_pre != n_post:
            raise ValueError(f"OneToOneConnector needs equal sizes, got {n_pre} and {n_post}")
        i = np.arange(n_pre)
        return i, i, None, None
    p = 1.0
    if name == "FixedProbabilityConnector":
        p = float(connector.p_connect)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"FixedProbabilityConnector.p_connect must be in [0, 1], got {p}")
    no_self = same and not connector.allow_self_connections
    pres, posts = [], []
    for start in range(0, n_pre, 1024):  # rows in blocks: memory O(1024 n_post)
        rows = np.arange(start, min(start + 1024, n_pre))
        mask = (
            rng.random((len(rows), n_post)) < p if p < 1.0 else np.ones((len(rows), n_post), bool)
        )
        if no_self:
            mask[rows < n_post, rows[rows < n_post]] = False
        i, j = np.nonzero(mask)
        pres.append(rows[i])
        posts.append(j)
    return np.concatenate(pres), np.concatenate(posts), None, None
