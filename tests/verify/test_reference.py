"""The NumPy reference on its own: its forward and backward passes against PyTorch's autograd and against
central differences of its own loss, for every activation and loss; it never touches SymPy."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from conftest import ALL, OUTPUTS, ROOT, random_spec
from derive.verify import reference

CASES = [(loss, out, hidden) for loss, outs in OUTPUTS.items() for out in outs[:3] for hidden in ("tanh", "relu")]


def torch_pass(spec):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    acts = {"identity": lambda z, l: z, "sigmoid": lambda z, l: torch.sigmoid(z), "tanh": lambda z, l: torch.tanh(z),
            "relu": lambda z, l: torch.relu(z), "leaky_relu": lambda z, l: F.leaky_relu(z, negative_slope=l.slope),
            "softmax": lambda z, l: torch.softmax(z, dim=1)}
    X = torch.tensor([i.x for i in spec.data], dtype=torch.float64, requires_grad=True)
    T = torch.tensor([i.t for i in spec.data], dtype=torch.float64) if spec.data[0].t else None
    Ws = [torch.tensor(l.weights, dtype=torch.float64, requires_grad=True) for l in spec.layers]
    bs = [None if l.bias is None else torch.tensor(l.bias, dtype=torch.float64, requires_grad=True)
          for l in spec.layers]
    a, outs = X, []
    for layer, W, b in zip(spec.layers, Ws, bs):
        a = acts[layer.activation](a @ W + (b if b is not None else 0), layer)
        outs.append(a)
    per = {"sse": lambda: ((a - T) ** 2).sum(1), "half_sse": lambda: 0.5 * ((a - T) ** 2).sum(1),
           "mse": lambda: ((a - T) ** 2).mean(1), "bce": lambda: -(T * torch.log(a) + (1 - T) * torch.log(1 - a)).sum(1),
           "cross_entropy": lambda: -(T * torch.log(a)).sum(1), "output": lambda: a[:, 0]}[spec.loss]()
    per.sum().backward()  # the sum of the instance losses: each instance's own gradient, summed
    return per.detach().numpy(), [o.detach().numpy() for o in outs], Ws, bs, X.grad.numpy()


@pytest.mark.parametrize("loss, out, hidden", CASES, ids=lambda v: v)
def test_forward_and_backward_equal_pytorch(loss, out, hidden):
    spec = random_spec(loss, out, hidden, sizes=(3, 4, 2), seed=len(loss + out + hidden))
    per, outs, Ws, bs, dX = torch_pass(spec)
    X, T = reference.data_arrays(spec)
    p = reference.backward(spec, reference.Params.from_spec(spec), X, T)
    np.testing.assert_allclose(p.loss, per, rtol=1e-12, atol=1e-14)
    for l, o in enumerate(outs):
        np.testing.assert_allclose(p.A[l], o, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(p.dW[l].sum(axis=0), Ws[l].grad.numpy(), rtol=1e-10, atol=1e-13)
        if bs[l] is not None:
            np.testing.assert_allclose(p.db[l].sum(axis=0), bs[l].grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(p.dX, dX, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("act", ALL)
def test_total_gradient_equals_central_differences_of_its_own_loss(act):
    spec = random_spec("half_sse", act, act, sizes=(2, 3, 2), seed=11)
    X, T = reference.data_arrays(spec)
    params = reference.Params.from_spec(spec)
    gW, gb = reference.total_gradient(spec, reference.backward(spec, params, X, T), params)
    h = 1e-6
    for l in range(len(spec.layers)):
        for idx in np.ndindex(params.W[l].shape):
            plus, minus = params.copy(), params.copy()
            plus.W[l][idx] += h
            minus.W[l][idx] -= h
            numeric = (reference.total_loss(spec, plus, X, T) - reference.total_loss(spec, minus, X, T)) / (2 * h)
            assert gW[l][idx] == pytest.approx(numeric, rel=1e-5, abs=1e-7), (l, idx)


def test_a_circuit_has_no_targets():
    spec = random_spec("output", "identity", "sigmoid", sizes=(2, 3, 1))
    X, T = reference.data_arrays(spec)
    assert X.shape == (3, 2) and T.shape == (3, 1) and not T.any()
    p = reference.backward(spec, reference.Params.from_spec(spec), X, T)
    np.testing.assert_array_equal(p.loss, p.A[-1][:, 0])
    np.testing.assert_array_equal(p.dA[-1], np.ones((3, 1)))


def test_mean_reduction_averages_the_instances():
    spec = random_spec("sse", "sigmoid", "tanh", sizes=(2, 2, 2), seed=1)  # seed 1: mean
    assert spec.reduction == "mean"
    X, T = reference.data_arrays(spec)
    params = reference.Params.from_spec(spec)
    p = reference.backward(spec, params, X, T)
    gW, _ = reference.total_gradient(spec, p, params)
    np.testing.assert_allclose(gW[0], p.dW[0].mean(axis=0), rtol=1e-15)
    assert reference.total_loss(spec, params, X, T) == pytest.approx(p.loss.mean(), rel=1e-15)


def test_the_reference_imports_no_sympy():
    """Independence: the reference and the NumPy-side modules it uses never import SymPy's derivation."""
    tree = ast.parse(Path(ROOT / "derive/verify/reference.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m and ("sympy" in m or m in ("derive.core.graph", "derive.core.chain",
                                                                       "derive.core.numbers", "derive.pipeline"))}
