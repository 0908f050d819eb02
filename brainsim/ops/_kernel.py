"""One mechanism for every operator with kernels: a pure-JAX reference bound to
per-platform kernels.

An op is its reference (any platform: the portable path and the test oracle), its
kernel registrations, and nothing else::

    compact_op = Kernel("compact", _portable, when="any spike dtype")

    @compact_op.register("cpu")
    def _(active, *, capacity):
        return _native.spike_compact(active, capacity)

    indices, count = compact_op(active, capacity=8)

A call runs a platform's kernel where one is registered, available (the native library
is loaded and on: ``bs.ops.configure``) and applies to the arguments (``applies``),
through ``jax.lax.platform_dependent`` (so a computation placed on another platform
takes the reference), and the reference otherwise. The ``gpu`` slot takes a kernel the
same way (none is registered yet: GPUs run the reference). Keyword arguments are static.
With ``jvp="reference"``, derivatives (forward and reverse mode) are the reference's
(``jax.custom_jvp``; for a kernel with the reference's values, e.g. a fused step whose
spike function has a surrogate gradient). With ``bwd``, the op gets a custom VJP whose
backward pass ``bwd(*args, ct, **static)`` (pure JAX) returns one cotangent per
argument; its residuals are the arguments, those not listed in ``saves`` (positions;
default all) passed as ``None`` (a large input the backward pass does not need, e.g. a
delay ring, is then not kept per step of a scan).
Batching is the kernels' own (``jax.ffi.ffi_call``'s ``vmap_method`` or a
``custom_vmap``). Every op is listed in ``KERNELS`` (for reports and a generic
equivalence suite over all registrations).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax

from . import _native

PLATFORMS = ("cpu", "gpu")
_LOWERING = {"gpu": ("cuda", "rocm")}  # jax.lax.platform_dependent's names

KERNELS: dict[str, Kernel] = {}


class Kernel:
    """An operator: ``reference(*args, **static)`` in pure JAX, and kernels by platform.

    ``name``: its name in ``KERNELS`` and ``backend_info``; ``when``: where its kernels
    apply, in words (reported by ``backend_info``); ``bwd``: the pure-JAX backward pass
    (``None``: the op is differentiated as its forward path is, or not at all);
    ``saves``: the positions of the arguments ``bwd`` needs (module docstring); ``jvp``:
    ``"reference"`` for derivatives through the reference (exclusive with ``bwd``)."""

    def __init__(
        self,
        name: str,
        reference: Callable,
        *,
        when: str,
        bwd: Callable | None = None,
        saves: tuple[int, ...] | None = None,
        jvp: str | None = None,
    ):
        if jvp not in (None, "reference") or (jvp and bwd is not None):
            raise ValueError(f"Kernel {name!r}: jvp must be None or 'reference' (without bwd)")
        if name in KERNELS:
            raise ValueError(f"Kernel: an op named {name!r} is already registered")
        self.name, self.reference, self.when, self.bwd = name, reference, when, bwd
        self.saves, self.jvp = saves, jvp
        self.kernels: dict[str, tuple[Callable, Callable | None]] = {}
        KERNELS[name] = self

    def register(self, platform: str, *, applies: Callable | None = None):
        """Decorator: ``fn(*args, **static)`` is the op's kernel on ``platform`` (one of
        ``PLATFORMS``) wherever ``applies(*args, **static)`` is true (default: always)."""
        if platform not in PLATFORMS:
            raise ValueError(
                f"Kernel.register: platform must be one of {PLATFORMS}, got {platform!r}"
            )

        def add(fn):
            self.kernels[platform] = (fn, applies)
            return fn

        return add

    def active(self, *args, **static) -> dict[str, Callable]:
        """The kernels that would run on these arguments, by platform."""
        out = {}
        for platform, (fn, applies) in self.kernels.items():
            if platform == "cpu" and not _native.available():
                continue
            if applies is None or applies(*args, **static):
                out[platform] = functools.partial(fn, **static)
        return out

    def forward(self, *args, **static):
        """The op's value, without its custom VJP."""
        kernels = self.active(*args, **static)
        reference = functools.partial(self.reference, **static)
        if not kernels:
            return reference(*args)
        if set(kernels) == {"cpu"} and _native.cpu_only():
            return kernels["cpu"](*args)  # the reference need not even be traced
        # platform_dependent names GPUs by vendor.
        branches = {}
        for platform, fn in kernels.items():
            branches.update(dict.fromkeys(_LOWERING.get(platform, (platform,)), fn))
        return jax.lax.platform_dependent(*args, default=reference, **branches)

    def __call__(self, *args, **static):
        if self.jvp == "reference":
            reference = functools.partial(self.reference, **static)

            @jax.custom_jvp
            def op(*args):
                return self.forward(*args, **static)

            op.defjvp(lambda primals, tangents: jax.jvp(reference, primals, tangents))
            return op(*args)
        if self.bwd is None:
            return self.forward(*args, **static)

        @jax.custom_vjp
        def op(*args):
            return self.forward(*args, **static)

        def fwd(*args):
            keep = self.saves
            res = (
                args
                if keep is None
                else tuple(a if i in keep else None for i, a in enumerate(args))
            )
            return self.forward(*args, **static), res

        op.defvjp(fwd, lambda res, ct: tuple(self.bwd(*res, ct, **static)))
        return op(*args)


def named_call(target: str, operands: dict, results: dict, aliases=(), **attrs) -> dict:
    """One ``jax.ffi.ffi_call`` of a kernel whose operands and results are named groups
    (``_native/lif_network.h``: ``ArgReader``/``RetReader``): ``operands`` maps each
    group's name to its arrays and ``results`` each result group's name to its
    ``jax.ShapeDtypeStruct``s, both in the kernel's order of groups (the dicts' order);
    ``aliases``: ``((operand group, i), (result group, j))`` pairs, a result written in
    place of an operand. ``attrs``: the kernel's named attributes. Returns the results as
    a dict of lists, by group."""
    at_in, at_out = _positions(operands), _positions(results)
    flat_in = [x for group in operands.values() for x in group]
    flat_out = [x for group in results.values() for x in group]
    alias = {at_in[a]: at_out[r] for a, r in aliases}
    res = iter(jax.ffi.ffi_call(target, flat_out, input_output_aliases=alias)(*flat_in, **attrs))
    return {k: [next(res) for _ in group] for k, group in results.items()}


def _positions(groups: dict) -> dict:
    """``(group, i)`` -> position in the call's flat list of the groups in order."""
    keys = [(k, i) for k, group in groups.items() for i in range(len(group))]
    return {key: n for n, key in enumerate(keys)}
