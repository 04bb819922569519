"""Random circuits for the tests: every gate kind, wires that branch, values away from kinks."""

from __future__ import annotations

import numpy as np

GATES = ("{a} + {b}", "{a} - {b}", "{a} * {b}", "{a} / ({b} * {b} + 1)", "exp({a} / 4)", "log({a} * {a} + 1)",
         "sigma({a})", "tanh({a})", "relu({a})", "max({a}, {b})", "min({a}, {b})", "abs({a})",
         "sqrt({a} * {a} + 1)", "{a} ^ 2", "2 * {a} + {b}", "sigmoid({a} * {b})", "{a} * {a}", "-{a}", "1 / ({a} ^ 2 + 2)")
LEAVES = ("x", "y", "z", "w0", "w1", "u")
NODES = ("q", "r", "s", "h1", "h2", "k", "g", "v", "m")


def random_circuit(seed: int, *, training: bool = False) -> str:
    """The TOML of a random circuit: 2-4 leaves, 3-7 gates (names reused, so wires branch), an output
    that adds every value no gate uses."""
    rng = np.random.default_rng(seed)
    n_leaves = int(rng.integers(2, 5))
    leaves = list(LEAVES[:n_leaves])
    values = {k: float(np.round(rng.uniform(-2, 2), 3)) for k in leaves}
    names = list(leaves)
    used: set[str] = set()
    lines = []
    for i in range(int(rng.integers(3, 8))):
        gate = GATES[int(rng.integers(len(GATES)))]
        a, b = (str(rng.choice(names)) for _ in range(2))
        if "{b}" in gate and a == b and len(names) > 1:
            b = next(n for n in reversed(names) if n != a)
        node = NODES[i]
        lines.append(f"{node} = {gate.format(a=a, b=b)}")
        used |= {a} | ({b} if "{b}" in gate else set())
        names.append(node)
    loose = [n for n in names if n not in used]
    lines.append("f = " + " + ".join(loose))
    nodes = ", ".join(f'"{line}"' for line in lines)
    inputs = ", ".join(f"{k} = {v!r}" for k, v in values.items())
    text = f'name = "random-{seed}"\n[circuit]\ninputs = {{ {inputs} }}\nnodes = [{nodes}]\noutput = "f"\n'
    if training:
        text = text.replace('output = "f"', f'output = "f"\nparameters = ["{leaves[0]}"]')
        text += "[training]\nlearning_rate = 0.05\nepochs = 5\n"
    return text
