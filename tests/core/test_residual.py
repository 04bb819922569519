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
