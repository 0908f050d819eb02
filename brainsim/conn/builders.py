"""Connectivity builders: rules that produce a layout for given population sizes.

``builder.build(key, n_pre, n_post, recurrent=False) -> (layout, weights or None)``.
Building runs once, with NumPy seeded from the JAX key, so the same key gives the same
network on every backend. ``allow_self=False`` removes the ``i -> i`` synapses of a
recurrent projection (pre and post the same population).

Traceable builders draw from the key's ``jax.random`` bits instead, into arrays whose
shape does not depend on the draw, so a network can be built from a traced key (inside
``jax.jit``, or ``jax.vmap`` over network seeds): ``FixedProb(p, dense=True)`` and the
deterministic ``AllToAll``, ``OneToOne``, and ``ProceduralFixedOutDegree`` (its seed
drawn from the key). The same key gives the same synapses eagerly
and traced (integer arithmetic on the same bits). The others need a concrete key.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import to_device
from .._checks import check_count, check_prob
from .._random import host_bits, host_key
from .blocks import (
    draw_total_number,
    group_by_pre,
    parallel,
    skip_positions,
    stable_argsort,
    total_number_window,
)
from .by_delay import with_delays as with_delays
from .delay_rules import NormalDelay
from .layouts import CSR, ELL, Delayed, Dense, Procedural
from .weight_rules import AbstractWeightRule, ConstantWeights

#: Synapses per block of targets drawn together by ``FixedInDegree`` (at least one
#: target; a block's temporaries are O(this)).
IN_DEGREE_BLOCK = 1 << 16


def seed_words(key) -> list[int]:
    """The words of a JAX key, the entropy of NumPy seed sequences (deterministic)."""
    _check_key(key)
    if isinstance(key, jax.core.Tracer):
        raise ValueError(
            "this connectivity is drawn with NumPy and needs a concrete key, got a traced "
            "one (a network built inside jax.jit or jax.vmap): use a traceable builder, "
            "bs.conn.FixedProb(p, dense=True) or bs.conn.ProceduralFixedOutDegree (see "
            "bs.conn), or build outside the transformation"
        )
    return np.asarray(jax.random.key_data(key)).ravel().tolist()


def _check_key(key):
    if key is None:
        raise ValueError(
            "key is required to build random connectivity: pass "
            "Network(..., key=jax.random.key(seed))"
        )


def bernoulli_mask(key, p: float, n_pre: int, n_post: int, no_self: bool):
    """``(n_pre, n_post)`` bool: pair ``(i, j)`` is connected iff the top 24 of its
    ``jax.random.bits(key, (n_pre, n_post))`` are below ``round(p·2^24)`` (probability
    ``p`` to within 3e-8), never ``i = j`` with ``no_self``. The bits of a concrete
    threefry key are computed on the host (``_random.host_bits``: nothing compiled), of a
    traced key by ``jax.random``; the same bits, so the same mask."""
    _check_key(key)
    threshold = np.uint32(round(p * 2**24))
    data = host_key(key)
    if data is None:
        mask = (jax.random.bits(key, (n_pre, n_post)) >> 8) < threshold
        return mask & ~jnp.eye(n_pre, n_post, dtype=bool) if no_self else mask
    mask = (host_bits(data, (n_pre, n_post)) >> np.uint32(8)) < threshold
    if no_self:
        np.fill_diagonal(mask, False)
    return to_device(mask, bool)


def numpy_rng(key) -> np.random.Generator:
    """A NumPy generator seeded from a JAX key (deterministic)."""
    return np.random.default_rng(seed_words(key))


def rows_from_edges(pre, post, n_pre, weights=None):
    """Edge lists grouped by pre, each row's edges in their given order: ``(indptr
    (n_pre + 1,) int64, targets, weights reordered alike or None)``."""
    pre, post = np.asarray(pre, np.int64), np.asarray(post, np.int64)
    weights = None if weights is None else np.asarray(weights)
    if np.any(pre[1:] < pre[:-1]):  # edges not yet grouped by row (FromDense's are)
        order = stable_argsort(pre, n_pre)
        post, weights = post[order], None if weights is None else weights[order]
    indptr = np.zeros(n_pre + 1, np.int64)
    np.cumsum(np.bincount(pre, minlength=n_pre), out=indptr[1:])
    return indptr, post, weights


def csr_from_edges(pre, post, n_pre, n_post, weights=None):
    """A ``CSR`` layout (and weights reordered alike) from edge lists."""
    indptr, post, weights = rows_from_edges(pre, post, n_pre, weights)
    return CSR(n_pre, n_post, indptr, post), weights


def _skip_self(targets, rows):
    """Map candidates drawn from ``n - 1`` non-self indices to ``[0, n)`` skipping ``rows``."""
    return targets + (targets >= rows)


def _distinct(rng, n_rows, k, m):
    """``(n_rows, k)`` sorted distinct integers in ``[0, m)`` per row."""
    if k > m // 2:
        return np.sort(np.argsort(rng.random((n_rows, m)), axis=1)[:, :k], axis=1)
    # int32 draws are the same numbers as int64 ones below 2**31, in half the memory
    out = rng.integers(0, m, (n_rows, k), dtype=np.int32 if m < 2**31 else np.int64)
    out.sort(axis=1)
    while True:
        dup = np.zeros_like(out, bool)
        dup[:, 1:] = out[:, 1:] == out[:, :-1]
        if not dup.any():
            return out
        out[dup] = rng.integers(0, m, int(dup.sum()))
        out.sort(axis=1)


class AbstractBuilder(eqx.Module):
    """A connectivity rule; ``build`` turns it into a layout for given sizes."""

    @abc.abstractmethod
    def build(self, key, n_pre: int, n_post: int, recurrent: bool = False):
        """``(layout, weights or None)``."""

    def build_window(self, key, n_pre: int, n_post: int, window, recurrent: bool = False):
        """Only the synapses of ``build``'s ``CSR`` layout onto the targets ``window =
        (lo, hi)``, built without holding the others (one process's share of a
        multi-process run): ``(indptr (n_pre + 1,) int64, targets int32 counted from
        ``lo``, weights float32 or None)``, in the full layout's order, equal to what
        cutting the built layout gives. Rules without it raise ``ValueError``."""
        raise ValueError(
            f"{type(self).__name__} cannot build one process's synapses alone (FixedProb, "
            "FixedInDegree, FixedTotalNumber, FromEdges and OneToOne can; or use "
            "procedural connectivity)"
        )


class _SelfOption(AbstractBuilder):
    allow_self: bool = eqx.field(default=True, static=True, kw_only=True)

    def _no_self(self, n_pre, n_post, recurrent):
        if not self.allow_self and recurrent and n_pre != n_post:
            raise ValueError(f"allow_self=False needs n_pre == n_post, got {n_pre}, {n_post}")
        return not self.allow_self and recurrent


class AllToAll(_SelfOption):
    """Every pre connects to every post (a ``Dense`` layout)."""

    def build(self, key, n_pre, n_post, recurrent=False):
        mask = (
            to_device(~np.eye(n_pre, dtype=bool), bool)
            if self._no_self(n_pre, n_post, recurrent)
            else None
        )
        return Dense(n_pre, n_post, mask), None


def _check_one_to_one(n_pre: int, n_post: int) -> None:
    if n_pre != n_post:
        raise ValueError(f"OneToOne needs n_pre == n_post, got {n_pre} and {n_post}")


class OneToOne(AbstractBuilder):
    """Pre ``i`` connects to post ``i`` (needs equal sizes)."""

    def build(self, key, n_pre, n_post, recurrent=False):
        _check_one_to_one(n_pre, n_post)
        return ELL(n_pre, n_post, to_device(np.arange(n_pre)[:, None], np.int32)), None

    def build_window(self, key, n_pre, n_post, window, recurrent=False):
        """The synapses ``i -> i`` for ``i`` in ``window`` (its ``ELL`` layout as rows)."""
        _check_one_to_one(n_pre, n_post)
        lo, hi = window
        indptr = np.clip(np.arange(n_pre + 1, dtype=np.int64) - lo, 0, hi - lo)
        return indptr, np.arange(hi - lo, dtype=np.int32), None


class FixedProb(_SelfOption):
    """Each (pre, post) pair is connected independently with probability ``p``, so
    in- and out-degrees are Binomial. O(synapses) construction by geometric skipping
    (NumPy, a concrete key) into a ``CSR`` layout.

    ``dense=True``: a ``Dense`` layout whose mask is drawn from the key's
    ``jax.random.bits`` (``bernoulli_mask``): traceable, so the network can be built
    from a traced key (``jax.vmap`` over network seeds), the same synapses eagerly and
    traced; another draw than the CSR's for the same key. O(``n_pre·n_post``) memory
    and cost per step: for networks up to a few thousand neurons per population."""

    p: float
    dense: bool = eqx.field(default=False, static=True, kw_only=True)

    def __check_init__(self):
        check_prob("FixedProb.p", self.p)

    def build(self, key, n_pre, n_post, recurrent=False):
        no_self = self._no_self(n_pre, n_post, recurrent)
        if self.dense:
            return Dense(n_pre, n_post, bernoulli_mask(key, self.p, n_pre, n_post, no_self)), None
        rng = numpy_rng(key)
        cols = n_post - 1 if no_self else n_post
        # The synapses are drawn in order of (pre, post): no sort, no 64-bit division.
        indptr, targets = skip_positions(rng, self.p, n_pre, cols, no_self)
        return CSR(n_pre, n_post, indptr, targets), None

    def build_window(self, key, n_pre, n_post, window, recurrent=False):
        if self.dense:
            raise ValueError(
                "FixedProb(dense=True) builds a Dense layout, not one process's CSR "
                "synapses: use dense=False (or procedural connectivity)"
            )
        no_self = self._no_self(n_pre, n_post, recurrent)
        cols = n_post - 1 if no_self else n_post
        return (*skip_positions(numpy_rng(key), self.p, n_pre, cols, no_self, window), None)


class FixedTotalNumber(_SelfOption):
    """Exactly ``n`` synapses, each an independent, uniformly drawn (pre, post) pair:
    multapses occur (NEST's ``fixed_total_number``, the rule of Potjans & Diesmann's
    microcircuit); with ``allow_self=False`` a recurrent projection draws among the
    ``n_pre·(n_pre - 1)`` pairs ``i != j``. In- and out-degrees are Binomial(``n``,
    1/``n_post``) and Binomial(``n``, 1/``n_pre``).

    ``weights``: a rule (``NormalWeights``, ...) each synapse's weight is drawn from, in
    the projection's weight unit (give ``Projection(weight=None)`` to use them); ``None``
    draws none (the projection's weight applies). ``delays``: a delay rule
    (``NormalDelay``) each synapse's delay is drawn from, giving a ``Delayed`` layout (in
    place of ``Projection(delays=...)``); ``None``: a ``CSR`` layout.

    Built straight into the final arrays (``bs.conn.blocks``): int32 targets, float32
    weights and a uint8 delay index per synapse (9 bytes), rows sorted by (delay,
    target), drawn in parallel blocks of ~2^16 synapses with O(block) temporaries."""

    n: int = eqx.field(static=True)
    weights: AbstractWeightRule | None = None
    delays: NormalDelay | None = None

    def __check_init__(self):
        check_count("FixedTotalNumber.n", self.n, 2**31 - 1)

    def _checked_no_self(self, n_pre, n_post, recurrent) -> bool:
        no_self = self._no_self(n_pre, n_post, recurrent)
        if self.n and (n_post - no_self) < 1:
            raise ValueError(
                f"FixedTotalNumber.n must be 0 when no pair is allowed ({n_pre} x {n_post}"
                f" neurons, no self-connections), got {self.n}"
            )
        return no_self

    def build_window(self, key, n_pre, n_post, window, recurrent=False):
        """``AbstractBuilder.build_window``; with ``delays`` the result also has each
        synapse's delay index and the delay values (ms), as in the ``Delayed`` layout:
        ``(indptr, targets, weights, group, delays)``."""
        no_self = self._checked_no_self(n_pre, n_post, recurrent)
        return total_number_window(
            seed_words(key),
            n_pre,
            n_post,
            self.n,
            window,
            no_self=no_self,
            weights=self.weights,
            delays=self.delays,
        )

    def build(self, key, n_pre, n_post, recurrent=False):
        no_self = self._checked_no_self(n_pre, n_post, recurrent)
        indptr, targets, w, group, values = draw_total_number(
            seed_words(key),
            n_pre,
            n_post,
            self.n,
            no_self=no_self,
            weights=self.weights,
            delays=self.delays,
        )
        csr = CSR(n_pre, n_post, indptr, targets)  # moved without a copy (aligned)
        w = None if w is None else to_device(w, np.float32)
        if group is None:
            return csr, w
        return Delayed(n_pre, n_post, csr, to_device(group, group.dtype), values), w


class FixedInDegree(_SelfOption):
    """Each post receives exactly ``k`` synapses from distinct pres. Drawn by blocks of
    consecutive targets (about ``IN_DEGREE_BLOCK`` synapses each, on several threads),
    every block from its own child of the key's seed sequence, so the synapses depend on
    the key only, and one process of a multi-process run draws only the blocks of its
    own targets (``build_window``)."""

    k: int = eqx.field(static=True)

    def __check_init__(self):
        check_count("FixedInDegree.k", self.k)  # the upper bound, the population size, in build

    def build(self, key, n_pre, n_post, recurrent=False):
        pre = self._draw(key, n_pre, n_post, recurrent, 0, n_post)
        return CSR(n_pre, n_post, *group_by_pre(pre, n_pre)), None

    def build_window(self, key, n_pre, n_post, window, recurrent=False):
        """``AbstractBuilder.build_window``: only the blocks of targets overlapping
        ``window`` are drawn, and only the window's rows kept."""
        lo, hi = window
        return (*group_by_pre(self._draw(key, n_pre, n_post, recurrent, lo, hi), n_pre), None)

    def _draw(self, key, n_pre, n_post, recurrent, lo: int, hi: int) -> np.ndarray:
        """The presynaptic neurons of targets ``[lo, hi)``: ``(hi - lo, k)``, each row
        sorted and distinct (never the target itself in a recurrent projection with
        ``allow_self=False``)."""
        no_self = self._no_self(n_pre, n_post, recurrent)
        m = n_pre - 1 if no_self else n_pre
        check_count("FixedInDegree.k", self.k, m)
        rows = max(1, IN_DEGREE_BLOCK // max(self.k, 1))  # targets per block
        first, last = lo // rows, -(-hi // rows)
        seeds = np.random.SeedSequence(seed_words(key)).spawn(last)
        pre = np.empty((hi - lo, self.k), np.int32 if m < 2**31 else np.int64)

        def block(b):
            b0, b1 = b * rows, min((b + 1) * rows, n_post)
            got = _distinct(np.random.default_rng(seeds[b]), b1 - b0, self.k, m)
            if no_self:
                got += got >= np.arange(b0, b1)[:, None]
            s0, s1 = max(b0, lo), min(b1, hi)
            pre[s0 - lo : s1 - lo] = got[s0 - b0 : s1 - b0]

        parallel(lambda i: block(first + i), last - first)
        return pre


class FixedOutDegree(_SelfOption):
    """Each pre sends exactly ``k`` synapses to distinct posts (an ``ELL`` layout)."""

    k: int = eqx.field(static=True)

    def __check_init__(self):
        check_count("FixedOutDegree.k", self.k)  # the upper bound, the population size, in build

    def build(self, key, n_pre, n_post, recurrent=False):
        no_self = self._no_self(n_pre, n_post, recurrent)
        m = n_post - 1 if no_self else n_post
        check_count("FixedOutDegree.k", self.k, m)
        post = _distinct(numpy_rng(key), n_pre, self.k, m)
        if no_self:
            post = _skip_self(post, np.arange(n_pre)[:, None])
        return ELL(n_pre, n_post, to_device(post, np.int32)), None


class ProceduralFixedOutDegree(_SelfOption):
    """Each pre sends ``k`` synapses to independently, uniformly drawn posts, regenerated
    from a seed inside the event kernel instead of stored (a ``Procedural`` layout).
    Multapses are allowed (as NEST's ``fixed_outdegree`` default), so the out-degree is
    exactly ``k`` and the in-degree Binomial(``n_pre·k``, 1/``n_post``), mean
    ``k·n_pre/n_post``. ``weights``: the rule of each synapse's factor (constant,
    ``UniformWeights``, ``NormalWeights``), multiplied by the projection's weight.

    The seed (two uint32 words) is the key's first two ``jax.random.bits`` (computed on
    the host for a concrete key): the same network on every trace, backend and kernel
    path, and traceable (a traced key gives a traced seed: ``jax.vmap`` over network
    seeds)."""

    k: int = eqx.field(static=True)
    weights: AbstractWeightRule = eqx.field(default=ConstantWeights(), static=True)

    def __check_init__(self):
        check_count("ProceduralFixedOutDegree.k", self.k)

    def build(self, key, n_pre, n_post, recurrent=False):
        _check_key(key)
        data = host_key(key)
        seed = jax.random.bits(key, (2,)) if data is None else host_bits(data, (2,))
        no_self = self._no_self(n_pre, n_post, recurrent)
        layout = Procedural(n_pre, n_post, self.k, seed, skip_self=no_self, weights=self.weights)
        return layout, None


class FromDense(AbstractBuilder):
    """The nonzero entries of a ``(n_pre, n_post)`` matrix become synapses (CSR) with
    those weights."""

    matrix: np.ndarray

    def build(self, key, n_pre, n_post, recurrent=False):
        w = np.asarray(self.matrix)
        if w.shape != (n_pre, n_post):
            raise ValueError(f"FromDense.matrix must have shape {(n_pre, n_post)}, got {w.shape}")
        pre, post = np.nonzero(w)
        return csr_from_edges(pre, post, n_pre, n_post, w[pre, post])


class FromEdges(AbstractBuilder):
    """Synapses ``pre[k] -> post[k]`` with optional ``weights[k]`` (CSR)."""

    pre: np.ndarray
    post: np.ndarray
    weights: np.ndarray | None = None

    def build(self, key, n_pre, n_post, recurrent=False):
        pre, post = self._checked(n_pre, n_post)
        return csr_from_edges(pre, post, n_pre, n_post, self.weights)

    def build_window(self, key, n_pre, n_post, window, recurrent=False):
        pre, post = self._checked(n_pre, n_post)
        keep = (post >= window[0]) & (post < window[1])
        w = None if self.weights is None else np.asarray(self.weights)[keep]
        indptr, targets, w = rows_from_edges(pre[keep], post[keep] - window[0], n_pre, w)
        return indptr, targets.astype(np.int32), w

    def _checked(self, n_pre, n_post):
        pre, post = np.asarray(self.pre), np.asarray(self.post)
        if pre.shape != post.shape or pre.ndim != 1:
            raise ValueError(
                f"FromEdges: pre and post must be 1-D of equal length, got "
                f"{pre.shape} and {post.shape}"
            )
        for name, idx, n in (("pre", pre, n_pre), ("post", post, n_post)):
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(
                    f"FromEdges.{name} must be in [0, {n - 1}], got min {idx.min()}, "
                    f"max {idx.max()}"
                )
        if self.weights is not None and np.shape(self.weights) != pre.shape:
            raise ValueError(
                f"FromEdges.weights must have shape {pre.shape}, got {np.shape(self.weights)}"
            )
        return pre, post
