"""Type aliases used across brainsim, each with its unit.

brainsim's unit system (NEST/Brian2 conventions): time in ms, voltage in mV,
conductance in nS, current in pA, capacitance in pF, rate in Hz, distance in µm.
With these units nS·mV = pA and pA/pF = mV/ms, so no conversion factors appear.
"""

from typing import Any, TypeAlias

import jax

Array: TypeAlias = jax.Array
Key: TypeAlias = jax.Array  # a typed PRNG key, jax.random.key(seed)
PyTree: TypeAlias = Any

Spikes: TypeAlias = jax.Array  # (..., n) spike values, 0/1 in the forward pass
Voltage: TypeAlias = jax.Array  # mV
Current: TypeAlias = jax.Array  # pA
Conductance: TypeAlias = jax.Array  # nS
Time: TypeAlias = float | jax.Array  # ms
