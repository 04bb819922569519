"""Shared test helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from derive.core.activations import ACTIVATIONS
from derive.pipeline import derive
from derive.spec.parse import load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip locally when a tool is missing; in CI (CI=true), where .ci/run installs it, fail instead."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def resolve(tree, path: str):
    """Follow a dotted path (list indices as numbers) into nested dicts and lists."""
    for part in path.split("."):
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    return tree


@pytest.fixture(scope="session")
def two_two_two():
    return derive(load_spec("two-two-two"))


@pytest.fixture(scope="session")
def slp_identity():
    return derive(load_spec("slp-identity"))


def spec_from(text: str, name: str = "test"):
    return parse_spec(text, source=f"{name}.toml", default_name=name)


ALL = sorted(ACTIVATIONS)
#: loss → the output activations it makes sense with
OUTPUTS = {"sse": ALL, "half_sse": ALL, "mse": ALL, "bce": ["sigmoid", "softmax"],
           "cross_entropy": ["softmax", "sigmoid"], "output": ["identity", "sigmoid", "tanh", "relu", "leaky_relu"]}


def random_spec(loss: str, out: str, hidden: str, *, sizes=(3, 4, 3, 2), n_data=3, seed=0, mode="batch",
                training: str | None = None):
    rng = np.random.default_rng(seed)
    sizes = list(sizes)
    if loss == "output":
        sizes[-1] = 1
    lines = [f'name = "combo"', "[network]", f"inputs = {sizes[0]}", f'loss = "{loss}"',
             f'reduction = "{["sum", "mean"][seed % 2]}"']
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        act = out if k == len(sizes) - 2 else hidden
        weights = json.dumps(np.round(rng.normal(0, 1, (n_in, n_out)), 3).tolist())
        lines += ["[[network.layers]]", f"size = {n_out}", f'activation = "{act}"', f"weights = {weights}"]
        if act == "leaky_relu":
            lines.append("slope = 0.05")
        if k % 2 == 0:
            lines.append(f"bias = {json.dumps(np.round(rng.normal(0, 0.5, n_out), 3).tolist())}")
    for _ in range(n_data):
        lines += ["[[data]]", f"x = {json.dumps(np.round(rng.normal(0, 1, sizes[0]), 2).tolist())}"]
        if loss == "cross_entropy":
            lines.append(f"t = {int(rng.integers(1, sizes[-1] + 1))}")
        elif loss == "bce":
            lines.append(f"t = {json.dumps(np.round(rng.uniform(0, 1, sizes[-1]), 2).tolist())}")
        elif loss != "output":
            lines.append(f"t = {json.dumps(np.round(rng.normal(0, 1, sizes[-1]), 2).tolist())}")
    lines += ["[training]", "learning_rate = 0.05", "epochs = 3", training or f'mode = "{mode}"']
    return spec_from("\n".join(lines))


#: A 2-2-1 network on three instances, for tests of training shown on its page (mini-batches, online steps).
SMALL_NET = """
name = "small"
[network]
inputs = 2
loss = "mse"
[[network.layers]]
size = 2
activation = "sigmoid"
weights = [[0.1, 0.2], [0.3, -0.4]]
bias = [0.1, -0.1]
[[network.layers]]
size = 1
activation = "identity"
weights = [[0.5], [-0.6]]
bias = [0.2]
[[data]]
x = [1.0, 2.0]
t = [0.5]
[[data]]
x = [-1.0, 0.5]
t = [0.0]
[[data]]
x = [0.3, 0.3]
t = [1.0]
"""


def small_net(training: str | None = None) -> str:
    """SMALL_NET's text, with ``[training]`` (learning rate 0.1 and the lines given) when ``training`` is given."""
    return SMALL_NET if training is None else SMALL_NET + f"[training]\nlearning_rate = 0.1\n{training}\n"


EXACT = """
    name = "exact-demo"
    arithmetic = "exact"
    [network]
    inputs = 2
    loss = "half_sse"
    [[network.layers]]
    size = 2
    activation = "sigmoid"
    weights = [[1, -1], [0.5, 0]]
    bias = 0
    [[network.layers]]
    size = 1
    activation = "identity"
    weights = [[1], [-1]]
    [[data]]
    x = [0, 2]
    t = [1]
    [training]
    learning_rate = 0.5
"""


def network_presets() -> list[str]:
    """The presets that are networks (not circuits): what the network-only tests go over."""
    from derive.spec.circuit import is_circuit
    from derive.spec.parse import preset_names

    return [p for p in preset_names() if not is_circuit(load_spec(p))]
