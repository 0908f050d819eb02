"""What one step of a race network costs in dispatches: the operations XLA runs per step
in the compiled program of ``bs.simulate_core`` (nothing recorded), counted, not timed.

    python benchmarks/step_census.py --models izhikevich coba --n 4000

For every loop of the program: its custom calls (native kernels) and fusions (XLA loops)
per iteration, and the custom calls outside any loop. A network whose whole run is one
native call (``Network.step_block``, e.g. COBA through ``bs.ops.lif_network_run``) shows
that call outside the loops; a network stepped by a ``lax.scan`` shows each step's calls
in the loop body. At small N a step's fixed cost is about the number of these
dispatches, so this is the first thing to look at when a small network is slow.
"""

import argparse
import collections
import re

import jax
from _nonlif_models import MODELS

import brainsim as bs

DT, DURATION = 0.1, 10.0  # ms; the program does not depend on the duration's size


def _computations(hlo: str) -> dict:
    """``{name: text}`` of the HLO module's computations."""
    out = {}
    for block in re.split(r"\n(?=\S)", hlo):
        m = re.match(r"(?:ENTRY\s+)?%?([\w.\-]+)\s", block)
        if m:
            out[m.group(1)] = block
    return out


def _census(text: str) -> dict:
    ops = collections.Counter(re.findall(r'custom_call_target="([^"]+)"', text))
    ops["fusion"] = len(re.findall(r"\sfusion\(", text))
    return dict(ops)


def census(model: str, n: int, seed: int = 0) -> dict:
    """``{"loops": [per-iteration census of each while body], "outside": census}``."""
    build = MODELS[model] if model in MODELS else getattr(bs.models, model)
    net = build(n, key=jax.random.key(seed))
    state = net.init(jax.random.key(seed + 1), dt=DT)
    run = jax.jit(lambda s: bs.simulate_core(net, s, DURATION, DT)[0])
    hlo = run.lower(state).compile().as_text()
    comps = _computations(hlo)
    bodies = re.findall(r"while\(.*?body=%?([\w.\-]+)", hlo)
    loops = [_census(comps.get(b, "")) for b in bodies]
    inside = sum((collections.Counter(x) for x in loops), collections.Counter())
    total = collections.Counter(_census(hlo))
    outside = {k: v for k, v in (total - inside).items() if k != "fusion"}
    return {"loops": loops, "outside": outside}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["izhikevich", "coba"])
    p.add_argument("--n", nargs="+", type=int, default=[4000])
    args = p.parse_args()
    print(f"kernels: {bs.ops.backend_info()['kernels']}")
    for model in args.models:
        for n in args.n:
            got = census(model, n)
            print(f"{model} N={n}: outside loops {got['outside'] or '{}'}")
            for k, loop in enumerate(got["loops"]):
                print(f"  loop {k} per iteration: {loop}")


if __name__ == "__main__":
    main()
