"""Connectivity layouts: which presynaptic neuron connects to which postsynaptic one.

Layouts hold structure only (integer index arrays, sizes); the weights belong to the
projection and have the layout's ``weight_shape`` (or are a scalar, homogeneous weight).
Only ``brainsim.ops`` knows how to propagate spikes through a layout.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import to_device
from .._checks import check_count
from .weight_rules import AbstractWeightRule, ConstantWeights


class AbstractLayout(eqx.Module):
    """Which presynaptic neuron connects to which postsynaptic one (no weights)."""

    n_pre: eqx.AbstractVar[int]
    n_post: eqx.AbstractVar[int]

    @property
    @abc.abstractmethod
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of a per-synapse weight array for this layout."""

    @property
    @abc.abstractmethod
    def n_synapses(self) -> int:
        """Number of synapses."""


class Dense(AbstractLayout):
    """All pairs, optionally masked: ``mask[i, j]`` says whether pre ``i`` connects to post
    ``j`` (``None``: every pair). Cost per step is O(n_pre·n_post): for small or
    densely active networks (training) and as the reference for the event layouts."""

    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)
    mask: jnp.ndarray | None = None  # (n_pre, n_post) bool

    @property
    def weight_shape(self):
        return (self.n_pre, self.n_post)

    @property
    def n_synapses(self):
        if self.mask is None:
            return self.n_pre * self.n_post
        return int(jnp.count_nonzero(self.mask))


class CSR(AbstractLayout):
    """Compressed sparse rows by presynaptic neuron: the targets of pre ``i`` are
    ``indices[indptr[i]:indptr[i+1]]``. Any out-degree distribution; ``max_degree`` is
    the largest out-degree (fixes the shape of event buffers; ``max_degree=`` may give
    a larger bound, e.g. the largest of several blocks that must share one shape)."""

    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)
    indptr: jnp.ndarray  # (n_pre + 1,) int32
    indices: jnp.ndarray  # (nnz,) int32, postsynaptic targets
    max_degree: int = eqx.field(static=True)

    def __init__(self, n_pre, n_post, indptr, indices, max_degree=None):
        indptr = np.asarray(indptr)
        if indptr.shape != (n_pre + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise ValueError(f"CSR.indptr must be non-decreasing, shape ({n_pre + 1},), from 0")
        self.n_pre, self.n_post = n_pre, n_post
        self.indptr = to_device(indptr, np.int32)
        self.indices = to_device(indices, np.int32)
        self.max_degree = int(np.diff(indptr).max(initial=0))
        if max_degree is not None:
            if max_degree < self.max_degree:
                raise ValueError(
                    f"CSR.max_degree must be >= the largest out-degree {self.max_degree}, "
                    f"got {max_degree}"
                )
            self.max_degree = int(max_degree)

    @property
    def weight_shape(self):
        return (self.indices.shape[0],)

    @property
    def n_synapses(self):
        return self.indices.shape[0]


class ELL(AbstractLayout):
    """Fixed out-degree (ELLPACK): pre ``i`` connects to ``indices[i, :]``, exactly ``k``
    targets each."""

    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)
    indices: jnp.ndarray  # (n_pre, k) int32

    @property
    def weight_shape(self):
        return self.indices.shape

    @property
    def n_synapses(self):
        return self.indices.size


class Delayed(AbstractLayout):
    """Synapses with per-synapse delays: a CSR layout by presynaptic neuron plus the
    delay of every synapse.

    The targets of pre ``i`` are ``csr.indices[csr.indptr[i]:csr.indptr[i+1]]``; synapse
    ``s`` has the delay ``delays[group[s]]`` (ms), ``delays`` being the distinct values in
    ascending order (static, so they are checked against ``dt`` before anything is
    compiled). Within a row the synapses are sorted by (delay, target). Weights are in
    ``csr``'s synapse order (``bs.conn.with_delays`` reorders them). ``group`` is the
    smallest unsigned/signed integer type that holds the number of values (uint8 for up
    to 256 delay values): one byte per synapse next to the 4-byte target index.
    """

    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)
    csr: CSR
    group: jnp.ndarray  # (n_synapses,) uint8 / int16 / int32: index into ``delays``
    delays: tuple[float, ...] = eqx.field(static=True)

    @property
    def weight_shape(self):
        return self.csr.weight_shape

    @property
    def n_synapses(self):
        return self.csr.n_synapses


class Procedural(AbstractLayout):
    """Fixed out-degree connectivity that is never stored: the ``k`` targets and weight
    factors of presynaptic neuron ``i`` are regenerated, whenever ``i`` spikes, from a
    counter-based hash of ``(seed, i, c)``, ``c = 0 … k-1`` (``brainsim.ops.procedural``
    gives the exact definition). Every target is drawn independently and uniformly, so
    multapses occur (NEST's ``fixed_outdegree`` with its default
    ``allow_multapses=True``); the in-degree is Binomial(``n_pre·k``, 1/``n_post``).
    With ``skip_self`` target ``i`` is excluded (draws over the other ``n_post - 1``).

    ``seed``: two uint32 words (a tuple of ints, or a uint32 array ``(2,)``), data of the
    layout rather than a constant of the program: a network built from a traced key has
    a traced seed (``jax.vmap`` over network seeds), and networks that differ only in
    their seeds share compiled programs.

    ``weights`` is the rule of the per-synapse factor ``r_ij``; the projection's weight
    is a scalar gain: ``w_ij = weight · r_ij``. Memory: none per synapse."""

    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)
    k: int = eqx.field(static=True)
    seed: jax.Array = eqx.field(converter=lambda s: _seed_words(s))  # uint32 (2,)
    skip_self: bool = eqx.field(default=False, static=True)
    weights: AbstractWeightRule = eqx.field(default=ConstantWeights(), static=True)

    def __check_init__(self):
        check_count("Procedural.k", self.k)
        if self.n_post >= 2**31 or self.n_pre >= 2**31:
            raise ValueError(f"Procedural: sizes must be < 2**31, got {self.n_pre}, {self.n_post}")
        if self.skip_self and (self.n_pre != self.n_post or self.n_post < 2):
            raise ValueError(
                f"Procedural.skip_self needs n_pre == n_post >= 2, got {self.n_pre}, {self.n_post}"
            )

    @property
    def weight_shape(self):
        return ()  # only a scalar gain: the per-synapse factors are regenerated

    @property
    def n_synapses(self):
        return self.n_pre * self.k


def _seed_words(seed):
    """``Procedural.seed`` as a uint32 array ``(2,)``, checked where it is concrete."""
    if isinstance(seed, jax.core.Tracer):
        return seed.astype(jnp.uint32)
    words = np.asarray(seed)
    if (
        words.shape != (2,)
        or not np.issubdtype(words.dtype, np.integer)
        or (words < 0).any()
        or (words >= 2**32).any()
    ):
        raise ValueError(f"Procedural.seed must be two uint32 words, got {seed!r}")
    return words.astype(np.uint32)
