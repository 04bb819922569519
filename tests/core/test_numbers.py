"""Numbers (stage 4): values and gradients of a small network against a hand computation and NumPy,
exact arithmetic, rounding carried forward, and the backward sum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from conftest import spec_from
from derive.core.chain import derive_steps
from derive.core.graph import build_graph
from derive.core.numbers import (backward, evaluate, evaluate_rounded, initial_parameters, leaf_values, round_to,
                                 to_exact)

NET = """
arithmetic = "{arithmetic}"
[network]
inputs = 2
loss = "half_sse"
[[network.layers]]
size = 2
activation = "sigmoid"
weights = [[0.5, -1], [0.25, 2]]
bias = [0, 0.5]
[[network.layers]]
size = 1
activation = "identity"
weights = [[2], [-1]]
[[data]]
x = [2, -1]
t = [1]
"""


def setup(arithmetic="float"):
    spec = spec_from(NET.format(arithmetic=arithmetic))
    graph = build_graph(spec)
    steps = derive_steps(graph)
    return spec, graph, steps, leaf_values(graph, initial_parameters(graph), spec.data[0])


def by_hand():
    """The forward and backward pass written out with math and NumPy, nothing of derive."""
    x, W, b, V, t = np.array([2.0, -1.0]), np.array([[0.5, -1], [0.25, 2]]), np.array([0, 0.5]), np.array([2.0, -1]), 1.0
    z = x @ W + b                 # [0.75, -3.5]
    h = 1 / (1 + np.exp(-z))
    y = h @ V
    L = 0.5 * (y - t) ** 2
    dy = y - t
    dh = dy * V
    dz = dh * h * (1 - h)
    return {"h1_in": z[0], "h2_in": z[1], "h1_out": h[0], "h2_out": h[1], "y1_out": y, "L": L}, {
        "y1_out": dy, "h1_out": dh[0], "h2_out": dh[1], "h1_in": dz[0], "h2_in": dz[1],
        "w11": x[0] * dz[0], "w21": x[1] * dz[0], "w12": x[0] * dz[1], "w22": x[1] * dz[1],
        "b_h1": dz[0], "b_h2": dz[1], "v11": h[0] * dy, "v21": h[1] * dy, "x1": W[0] @ dz, "x2": W[1] @ dz}


def test_values_and_gradients_are_the_hand_computation():
    _, _, steps, leaves = setup()
    num = evaluate(steps, leaves)
    values, grads = by_hand()
    for k, v in values.items():
        assert num.value[k] == pytest.approx(float(v), rel=1e-14), k
    for k, g in grads.items():
        assert num.grad[k] == pytest.approx(float(g), rel=1e-13), k
    assert num.loss == num.value["L"] and num.grad["L"] == 1.0


def test_leaves_carry_parameters_inputs_and_targets():
    spec, graph, _, leaves = setup()
    assert leaves["w12"] == -1 and leaves["b_h2"] == 0.5 and leaves["v21"] == -1
    assert leaves["x1"] == 2 and leaves["x2"] == -1 and leaves["t1"] == 1


def test_exact_arithmetic_keeps_closed_forms():
    _, graph, steps, leaves = setup("exact")
    num = evaluate(steps, leaves, exact=True)
    assert num.exact["h1_in"] == sp.Rational(3, 4)
    assert sp.simplify(num.exact["h1_out"] - 1 / (1 + sp.exp(-sp.Rational(3, 4)))) == 0
    values, grads = by_hand()
    assert num.value["L"] == pytest.approx(float(values["L"]), rel=1e-14)
    assert float(num.exact_grad["w11"]) == pytest.approx(float(grads["w11"]), rel=1e-13)


def test_to_exact_reads_the_shortest_decimal():
    assert to_exact(0.1) == sp.Rational(1, 10) and to_exact(-2.5) == sp.Rational(-5, 2) and to_exact(3) == 3


def test_rounding_carried_forward():
    _, _, steps, leaves = setup()
    exact = evaluate(steps, leaves)
    same = evaluate_rounded(steps, leaves, lambda v: v)
    assert same.value == pytest.approx(exact.value, rel=1e-15) and same.grad == pytest.approx(exact.grad, rel=1e-15)
    r = round_to(2)
    rounded = evaluate_rounded(steps, leaves, r)
    # by hand with two significant digits at every step: z1 = 0.75, σ(0.75) = 0.68, z2 = -3.5, σ(-3.5) = 0.029
    assert rounded.value["h1_out"] == 0.68 and rounded.value["h2_out"] == 0.029
    assert rounded.value["y1_out"] == r(2 * 0.68 - 0.029)
    assert round_to(3)(0.123456) == 0.123 and round_to(2)(-1234.0) == -1200.0


def test_backward_sums_every_child():
    """dL/dn = Σ_c dL/dc · ∂c/∂n on a hand-made diamond: a → b, a → c, b → L, c → L."""

    class Step:
        def __init__(self, node, terms):
            self.node, self.terms = node, terms

    class Term:
        def __init__(self, child):
            self.child = child

    class Steps:
        steps = {"L": Step("L", ()), "b": Step("b", (Term("L"),)), "c": Step("c", (Term("L"),)),
                 "a": Step("a", (Term("b"), Term("c")))}

    local = {("L", "b"): 3.0, ("L", "c"): -2.0, ("b", "a"): 5.0, ("c", "a"): 7.0}
    grad = backward(Steps(), local, 1.0)
    assert grad == {"L": 1.0, "b": 3.0, "c": -2.0, "a": 3.0 * 5.0 + (-2.0) * 7.0}
    exact = backward(Steps(), {k: sp.Integer(int(v)) for k, v in local.items()}, sp.S.One)
    assert exact["a"] == 1 and isinstance(exact["a"], sp.Integer)
    assert math.isclose(grad["a"], 1.0)
