"""Compiler options for programs that run once per network (building, ``init``).

Compiled without LLVM optimisation (``xla_backend_optimization_level`` 0) and with XLA's
classic loop emitters instead of the MLIR fusion emitters, such a program compiles in a
third to a half of the time (CPU seconds, COBA 4000: ``Network.init`` 0.47-0.50 -> 0.11-0.17,
the key derivation of ``jax.random.fold_in`` 0.13-0.16 -> 0.07-0.09) and still runs in
milliseconds; integer programs give the same bits, floating-point ones the same values up
to rounding. The simulation loop keeps the full optimisation: it runs for every step.
"""

FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
