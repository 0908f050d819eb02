r"""NIR (Neuromorphic Intermediate Representation) import and export.

``to_nir(model)`` writes a brainsim model as a ``nir.NIRGraph`` (save it with
``nir.write``); ``from_nir(graph, dt)`` turns a NIR graph (or ``.nir`` file) written by
brainsim, snnTorch, Norse, Spyx, ... into a ``NIRNetwork``, a differentiable brainsim
model. Needs the ``nir`` package (``pip install 'brainsim[nir]'``).

**Conventions.** NIR describes neurons by continuous-time equations, e.g. the
current-based LIF (``CubaLIF``)

$$\tau_{syn}\dot I = -I + w_{in} S, \qquad \tau_{mem}\dot v = (v_{leak} - v) + r I,
\qquad v > v_{th} \Rightarrow \text{spike},\ v \leftarrow v_{reset}$$

with time in **seconds** (NIR's peers write seconds; brainsim's ``dt`` is in ms and
converted). A step of $\Delta t$ discretises each linear stage with the input held over
the step, $y_t = a\,y_{t-1} + f\,u_t$, by ``method``:

- ``"exp"`` (default): $a = e^{-\Delta t/\tau}$, $f = 1 - a$: exact for a held input;
  brainsim's own ``LIFLayer`` decays;
- ``"euler"``: $a = 1 - \Delta t/\tau$, $f = \Delta t/\tau$: forward Euler, what
  snnTorch and Norse simulate (snnTorch writes ``tau = dt/(1 - beta)``, ``r = tau/dt``,
  ``w_in = tau_syn/dt`` with ``dt = 1e-4`` s).

The current is updated first and the membrane uses the new current (as snnTorch and
brainsim do): $I_t = \alpha I_{t-1} + f_{syn} w_{in} x_t$,
$v_t = \beta v_{t-1} + f_{mem}(v_{leak} + r I_t)$; a spike when $v_t > v_{th}$ resets
$v_t$ to $v_{reset}$ in the same step. ``LIF``/``LI`` have no current stage
($v_t = \beta v_{t-1} + f_{mem}(v_{leak} + r x_t)$), ``IF``/``I`` no leak
($v_t = v_{t-1} + \Delta t\, r\, x_t$, exact). The membrane starts at $v_{leak}$.
Inputs are per-step values (a spike is 1 in its step). Edges into a node add; an
edge back into a neuron inside a recurrent loop carries the previous step's value.
``Delay`` must be a whole number of steps. A brainsim ``LIFLayer`` with decays
$\alpha, \beta$ is written with $\tau$ from the chosen method's inverse,
$r = 1/(1 - \beta)$, $w_{in} = 1/(1 - \alpha)$ and $v_{leak} = v_{reset} = 0$, so
reading it back with the same ``method`` and ``dt`` gives the same decays and a unit
input gain: the same spikes.
"""

from ._export import SUPPORTED_MODELS as SUPPORTED_MODELS
from ._export import UnsupportedModelError as UnsupportedModelError
from ._export import to_nir as to_nir
from ._graph import SUPPORTED as SUPPORTED
from ._graph import NIRShapeError as NIRShapeError
from ._graph import NIRStructureError as NIRStructureError
from ._graph import UnsupportedNodeError as UnsupportedNodeError
from ._import import from_nir as from_nir
from ._network import NIRNetwork as NIRNetwork
