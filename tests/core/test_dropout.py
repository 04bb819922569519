"""dropout with given masks (inverted: kept units scaled by 1/(1 − p)) against torch autograd, and its errors."""

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
loss = "sse"
[[network.layers]]
name = "h"
size = 3
activation = "sigmoid"
weights = [[0.5, -0.4, 0.2], [0.3, 0.8, -0.6]]
bias = [0.1, 0.2, -0.3]
[[network.layers]]
name = "d"
type = "dropout"
p = 0.25
masks = [[1, 0, 1], [0, 1, 1], [1, 1, 0]]
[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = [[1], [-0.5], [2]]
[[data]]
x = [1, 2]
t = [0.5]
[[data]]
x = [-1, 0.5]
t = [0]
[[data]]
x = [0.3, -0.2]
t = [1]
[training]
learning_rate = 0.1
epochs = 2
batch_size = 2
"""


def test_dropout_with_given_masks_matches_torch():
    d = derive(spec_from(SPEC))
    v = d.to_values()
    W = torch.tensor([[0.5, -0.4, 0.2], [0.3, 0.8, -0.6]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.1, 0.2, -0.3], dtype=torch.float64, requires_grad=True)
    V = torch.tensor([[1.0], [-0.5], [2.0]], dtype=torch.float64, requires_grad=True)
    X = torch.tensor([[1, 2], [-1, 0.5], [0.3, -0.2]], dtype=torch.float64, requires_grad=True)
    M = torch.tensor([[1, 0, 1], [0, 1, 1], [1, 1, 0]], dtype=torch.float64)
    h = torch.sigmoid(X @ W + b)
    dropped = h * M / (1 - 0.25)  # what F.dropout(h, 0.25, training=True) computes when it draws the mask M
    loss = ((dropped @ V - torch.tensor([[0.5], [0.0], [1.0]], dtype=torch.float64)) ** 2).sum()
    loss.backward()
    close = lambda ours, theirs: np.testing.assert_allclose(np.array(ours, dtype=float),  # noqa: E731
                                                            theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    close(v["loss"], loss)
    close(v["grad"]["h"]["weights"], W.grad)
    close(v["grad"]["h"]["bias"], b.grad)
    close(v["grad"]["y"]["weights"], V.grad)
    for n, inst in enumerate(v["instances"]):
        close(inst["layers"]["d"]["out"], dropped[n])
        close(inst["grad"]["inputs"], X.grad[n])
    assert all(c.passed is not False for c in d.checks.values()) and d.checks["update"].passed  # mini-batches of 2


@pytest.mark.parametrize("old, new, field, words", [
    ("p = 0.25", "p = 1", "network.layers[1].p", "0 ≤ p < 1"),
    ("[1, 1, 0]]", "[1, 1]]", "network.layers[1].masks[2]", "expected 3 numbers"),
    ("[1, 1, 0]]", "[1, 2, 0]]", "network.layers[1].masks[2]", "zeros and ones"),
    ("masks = [[1, 0, 1], [0, 1, 1], [1, 1, 0]]", "masks = [[1, 0, 1], [0, 1, 1]]", "network.layers[1].masks",
     "3 instances, got 2 masks"),
    ("p = 0.25\n", "", "network.layers[1].p", "missing"),
])
def test_bad_dropout_is_a_one_line_error(old, new, field, words):
    with pytest.raises(SpecError) as err:
        spec_from(SPEC.replace(old, new))
    assert field in str(err.value) and words in str(err.value), str(err.value)
