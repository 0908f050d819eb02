"""Compiler options: fast compilation for programs whose arithmetic is cheap or native.

``FAST_COMPILE``: no LLVM optimisation (``xla_backend_optimization_level`` 0) and XLA's
classic loop emitters instead of the MLIR fusion emitters. A program compiled so compiles
in a third to a half of the time and gives the same bits for integer arithmetic and the
same values up to rounding for floating point (CPU seconds, COBA 4000: ``Network.init``
0.47-0.50 -> 0.11-0.17, ``jax.random.fold_in`` 0.13-0.16 -> 0.07-0.09). Used, through
``loop_options``, for simulation loops whose steps are native kernels sequenced by XLA.
Not for ``Network.init``: its state must have the bits that a caller's ``jax.jit`` of it
gives, and "up to rounding" is not that.
"""

import math

from jax.extend import core

FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}

# Primitives that move or reshape data without arithmetic (unoptimised code copies as fast).
_MOVES = frozenset(
    {
        "broadcast_in_dim",
        "concatenate",
        "convert_element_type",
        "copy",
        "copy_p",
        "dynamic_slice",
        "dynamic_update_slice",
        "expand_dims",
        "iota",
        "reshape",
        "slice",
        "squeeze",
        "transpose",
    }
)
# At most this many elements computed by XLA itself per step: the loop is glue around
# native kernels. Measured per step: COBA/CUBA through the whole-network kernel 52/72
# (at any N); the portable COBA path, COBAHH and Brunel (2000) at N = 4000: 3.9e6, 3.6e6
# and 4.2e5.
GLUE_ELEMENTS = 1024


def _subjaxprs(eqn):
    for value in eqn.params.values():
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, core.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, core.Jaxpr):
                yield item


def loop_elements(jaxpr: core.Jaxpr, in_loop: bool = False) -> int:
    """Elements computed by XLA's own arithmetic in the loop bodies of ``jaxpr`` (each body
    counted once: per step for a step's body), leaving out data movement (``_MOVES``) and
    foreign-function (native kernel) calls."""
    total = 0
    for eqn in jaxpr.eqns:
        subs = list(_subjaxprs(eqn))
        if subs:
            loop = in_loop or eqn.primitive.name in ("scan", "while")
            total += sum(loop_elements(sub, loop) for sub in subs)
        elif in_loop and eqn.primitive.name not in _MOVES | {"ffi_call"}:
            total += sum(math.prod(getattr(v.aval, "shape", ())) for v in eqn.outvars)
    return total


def loop_options(jaxpr: core.Jaxpr) -> dict | None:
    """Compiler options for a simulation loop: ``FAST_COMPILE`` when its steps are native
    kernels (at most ``GLUE_ELEMENTS`` elements of XLA arithmetic per step), else ``None``
    (full optimisation, which XLA-computed steps need: COBAHH at N = 4000 runs ~10x slower
    unoptimised). COBA 4000, CPU seconds: loop compile 0.46 -> 0.22 with the same run time
    (0.079-0.083 s per simulated second either way)."""
    return FAST_COMPILE if loop_elements(jaxpr) <= GLUE_ELEMENTS else None
