"""add (a residual connection from an earlier layer) against torch autograd, and its one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from derive.errors import SpecError
from derive.pipeline import derive
from tests.conftest import spec_from

torch = pytest.importorskip("torch")

SPEC = """
[network]
inputs = 2
loss = "half_sse"
[[network.layers]]
name = "h"
size = 2
activation = "tanh"
weights = [[0.5, -0.4], [0.3, 0.8]]
bias = [0.1, -0.1]
[[network.layers]]
name = "g"
size = 2
activation = "relu"
weights = [[1.2, -0.7], [0.4, 0.9]]
[[network.layers]]
name = "r"
type = "add"
from = "h"
[[network.layers]]
name = "y"
size = 1
activation = "sigmoid"
weights = [[1], [-0.5]]
[[data]]
x = [1, 2]
t = [0.5]
[[data]]
x = [-0.5, 0.3]
t = [0.2]
"""


def test_a_residual_addition_matches_torch():
    d = derive(spec_from(SPEC))
    v = d.to_values()
    W = torch.tensor([[0.5, -0.4], [0.3, 0.8]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.1, -0.1], dtype=torch.float64, requires_grad=True)
    U = torch.tensor([[1.2, -0.7], [0.4, 0.9]], dtype=torch.float64, requires_grad=True)
    V = torch.tensor([[1.0], [-0.5]], dtype=torch.float64, requires_grad=True)
    X = torch.tensor([[1.0, 2.0], [-0.5, 0.3]], dtype=torch.float64, requires_grad=True)
    h = torch.tanh(X @ W + b)
    h.retain_grad()
    r = torch.relu(h @ U) + h
    y = torch.sigmoid(r @ V)
    loss = (0.5 * (y - torch.tensor([[0.5], [0.2]], dtype=torch.float64)) ** 2).sum()
    loss.backward()
    close = lambda ours, theirs: np.testing.assert_allclose(np.array(ours, dtype=float),  # noqa: E731
                                                            theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    close(v["loss"], loss)
    for name, t in (("h", W), ("g", U), ("y", V)):
        close(v["grad"][name]["weights"], t.grad)
    close(v["grad"]["h"]["bias"], b.grad)
    for n, inst in enumerate(v["instances"]):
        close(inst["layers"]["r"]["out"], r[n])
        close(inst["grad"]["h"]["out"], h.grad[n])  # the sum of both paths
        close(inst["grad"]["inputs"], X.grad[n])
    assert d.checks["numpy"].passed and d.checks["finite_differences"].passed


@pytest.mark.parametrize("source, words", [
    ("y", "'y' names no earlier layer"),
    ("r", "'r' names a later layer or this one"),
    ("q", "'q' names no earlier layer"),
])
def test_from_must_name_an_earlier_layer(source, words):
    with pytest.raises(SpecError) as err:
        spec_from(SPEC.replace('from = "h"', f'from = "{source}"'))
    assert "network.layers[2].from" in str(err.value) and words in str(err.value), str(err.value)


def test_from_must_have_the_same_shape():
    text = SPEC.replace("size = 2\nactivation = \"relu\"\nweights = [[1.2, -0.7], [0.4, 0.9]]",
                        "size = 3\nactivation = \"relu\"\nweights = [[1.2, -0.7, 1], [0.4, 0.9, 1]]")
    text = text.replace("weights = [[1], [-0.5]]", "weights = [[1], [-0.5], [2]]")
    with pytest.raises(SpecError, match=r"network\.layers\[2\]\.from: layer h gives shape 2, but the layer before "
                                        r"gives 3"):
        spec_from(text)


def test_from_is_required():
    with pytest.raises(SpecError, match=r"network\.layers\[2\]\.from: missing"):
        spec_from(SPEC.replace('from = "h"\n', ""))


# -- an activation after the addition: ResNet's block relu(x + F(x)), the preset residual-block

def _block(spec_text: str, act: str):
    """The spec with the addition's activation set to ``act`` (and a slope for leaky_relu)."""
    extra = f'\nactivation = "{act}"' + ("\nslope = 0.1" if act == "leaky_relu" else "")
    return spec_from(spec_text.replace('from = "h"', 'from = "h"' + extra))


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_an_activation_after_the_addition_matches_torch(act):
    d = derive(_block(SPEC, act))
    v = d.to_values()
    f = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
         "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.1)}[act]
    W = torch.tensor([[0.5, -0.4], [0.3, 0.8]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.1, -0.1], dtype=torch.float64, requires_grad=True)
    U = torch.tensor([[1.2, -0.7], [0.4, 0.9]], dtype=torch.float64, requires_grad=True)
    V = torch.tensor([[1.0], [-0.5]], dtype=torch.float64, requires_grad=True)
    X = torch.tensor([[1.0, 2.0], [-0.5, 0.3]], dtype=torch.float64, requires_grad=True)
    h = torch.tanh(X @ W + b)
    h.retain_grad()
    z = torch.relu(h @ U) + h
    z.retain_grad()
    r = f(z)
    y = torch.sigmoid(r @ V)
    loss = (0.5 * (y - torch.tensor([[0.5], [0.2]], dtype=torch.float64)) ** 2).sum()
    loss.backward()
    close = lambda ours, theirs: np.testing.assert_allclose(np.array(ours, dtype=float),  # noqa: E731
                                                            theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    close(v["loss"], loss)
    for name, t in (("h", W), ("g", U), ("y", V)):
        close(v["grad"][name]["weights"], t.grad)
    close(v["grad"]["h"]["bias"], b.grad)
    for n, inst in enumerate(v["instances"]):
        close(inst["layers"]["r"]["in"], z[n])
        close(inst["layers"]["r"]["out"], r[n])
        close(inst["grad"]["r"]["in"], z.grad[n])
        close(inst["grad"]["h"]["out"], h.grad[n])  # the sum of both paths, after the activation's derivative
        close(inst["grad"]["inputs"], X.grad[n])
    assert all(c.passed is not False for c in d.checks.values()), [k for k, c in d.checks.items() if c.passed is False]
    assert d.checks["numpy"].passed and d.checks["finite_differences"].passed


def test_an_addition_without_an_activation_is_the_sum_itself():
    """The default adds no node of its own: the unit is the sum (its in and out values are one)."""
    d = derive(spec_from(SPEC))
    assert [n.key for n in d.graph.computed if n.layer == 2] == ["r1_out", "r2_out"]
    relu = derive(_block(SPEC, "relu"))
    assert [n.key for n in relu.graph.computed if n.layer == 2] == ["r1_in", "r2_in", "r1_out", "r2_out"]


@pytest.mark.parametrize("change, message", [
    ('from = "h"\nactivation = "softmax"', r"network\.layers\[2\]\.activation: an add layer takes an activation "
                                           r"applied entry by entry, not softmax"),
    ('from = "h"\nactivation = "swish"', r"network\.layers\[2\]\.activation: "),
    ('from = "h"\nslope = 0.1', r"network\.layers\[2\]\.activation: missing"),
    ('from = "h"\nactivation = "relu"\nslope = 0.1', r"network\.layers\[2\]\.slope: only leaky_relu"),
])
def test_a_wrong_activation_of_an_addition_is_named(change, message):
    with pytest.raises(SpecError, match=message):
        spec_from(SPEC.replace('from = "h"', change))


def test_an_addition_with_an_activation_dumps_back_to_itself():
    from derive.spec.parse import dump_spec

    spec = _block(SPEC, "leaky_relu")
    again = spec_from(dump_spec(spec))
    assert again.layers[2].activation == "leaky_relu" and again.layers[2].slope == 0.1
    assert again.layers == spec.layers
