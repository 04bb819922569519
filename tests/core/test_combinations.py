"""Every activation × loss combination that makes sense, on random deep and batch networks.

Each derivation runs all its internal checks (NumPy, finite differences, sympy.diff where small,
the update); where PyTorch is installed, the gradients are also compared with its autograd.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ALL, OUTPUTS, random_spec, spec_from
from derive.pipeline import derive
from derive.core.activations import ACTIVATIONS

COMBINATIONS = [(loss, out, hidden) for loss, outs in OUTPUTS.items() for out in outs for hidden in ALL]


@pytest.mark.parametrize("loss, out, hidden", COMBINATIONS, ids=lambda v: v)
def test_combination_passes_every_check(loss, out, hidden):
    d = derive(random_spec(loss, out, hidden, seed=len(loss) + len(out) + len(hidden)))
    assert all(c.passed in (True, None) for c in d.checks.values())
    assert d.checks["numpy"].passed and d.checks["finite_differences"].passed


def test_deep_network():
    d = derive(random_spec("sse", "identity", "tanh", sizes=(2, 3, 3, 3, 3, 3, 3, 2), n_data=2))
    assert d.checks["numpy"].passed and d.checks["finite_differences"].passed
    assert d.checks["sympy_diff"].passed is None  # too deep for the composed-loss check: it says so
    assert "skipped" in d.checks["sympy_diff"].note


@pytest.mark.parametrize("mode", ["batch", "online"])
def test_training_modes(mode):
    d = derive(random_spec("half_sse", "sigmoid", "relu", mode=mode, seed=4))
    assert d.checks["update"].passed
    v = d.to_values()
    assert len(v["training"]["loss"]) == 4 and v["training"]["mode"] == mode


def test_online_update_is_sequential_by_hand():
    """One online epoch equals two single-instance batch steps, one after the other."""
    from derive.core.numbers import evaluate, leaf_values

    d = derive(random_spec("sse", "sigmoid", "tanh", mode="online", n_data=2, seed=6))
    params = dict(d.params)
    for inst in d.spec.data:
        num = evaluate(d.steps, leaf_values(d.graph, params, inst))
        params = {k: v - 0.05 * num.grad[k] if k in num.grad and d.graph[k].trainable else v
                  for k, v in params.items()}
    assert params == pytest.approx(d.after_step.params, rel=1e-12, abs=1e-15)


def test_softmax_cross_entropy_shortcut_is_shown_and_checked():
    from derive.render.page import render

    d = derive(random_spec("cross_entropy", "softmax", "sigmoid", seed=2))
    assert d.checks["shortcut"].passed is True
    assert "Cross-entropy after the softmax simplifies to" in render(d)


def test_relu_at_its_kink_states_the_convention():
    from derive.render.page import render

    spec = spec_from("""
        [network]
        inputs = 2
        loss = "sse"
        [[network.layers]]
        size = 1
        activation = "relu"
        weights = [[1], [1]]
        [[network.layers]]
        size = 1
        activation = "identity"
        weights = [[2]]
        [[data]]
        x = [1, -1]
        t = [1]
    """)
    d = derive(spec)
    assert d.instances[0].value["h1_in"] == 0 and d.instances[0].grad["h1_in"] == 0
    assert "exactly at the kink of the activation" in render(d)
    assert d.checks["finite_differences"].passed and "kink" in d.checks["finite_differences"].note


# ---------------------------------------------------------------- PyTorch, where installed


def torch_gradients(spec):
    torch = pytest.importorskip("torch")
    acts = {"identity": lambda z, l: z, "sigmoid": lambda z, l: torch.sigmoid(z), "tanh": lambda z, l: torch.tanh(z),
            "relu": lambda z, l: torch.relu(z),
            "leaky_relu": lambda z, l: torch.nn.functional.leaky_relu(z, negative_slope=l.slope),
            "softmax": lambda z, l: torch.softmax(z, dim=1)}
    X = torch.tensor([i.x for i in spec.data], dtype=torch.float64)
    T = torch.tensor([i.t for i in spec.data], dtype=torch.float64) if spec.loss != "output" else None
    Ws = [torch.tensor(l.weights, dtype=torch.float64, requires_grad=True) for l in spec.layers]
    bs = [None if l.bias is None else torch.tensor(l.bias, dtype=torch.float64, requires_grad=l.train_bias)
          for l in spec.layers]
    a = X
    for layer, W, b in zip(spec.layers, Ws, bs):
        a = acts[layer.activation](a @ W + (b if b is not None else 0), layer)
    per = {"sse": lambda: ((a - T) ** 2).sum(1), "half_sse": lambda: 0.5 * ((a - T) ** 2).sum(1),
           "mse": lambda: ((a - T) ** 2).mean(1),
           "bce": lambda: -(T * torch.log(a) + (1 - T) * torch.log(1 - a)).sum(1),
           "cross_entropy": lambda: -(T * torch.log(a)).sum(1), "output": lambda: a[:, 0]}[spec.loss]()
    (per.sum() if spec.reduction == "sum" else per.mean()).backward()
    return [W.grad.numpy() for W in Ws], [None if b is None or b.grad is None else b.grad.numpy() for b in bs]


@pytest.mark.parametrize("loss, out, hidden", COMBINATIONS, ids=lambda v: v)
def test_gradients_equal_pytorch(loss, out, hidden):
    spec = random_spec(loss, out, hidden, seed=len(loss) * 7 + len(hidden))
    gW, gb = torch_gradients(spec)
    d = derive(spec)
    v = d.to_values()
    for layer, w, b in zip(spec.layers, gW, gb):
        np.testing.assert_allclose(v["grad"][layer.name]["weights"], w, rtol=1e-9, atol=1e-12, err_msg=layer.name)
        if b is not None:
            np.testing.assert_allclose(v["grad"][layer.name]["bias"], b, rtol=1e-9, atol=1e-12, err_msg=layer.name)
