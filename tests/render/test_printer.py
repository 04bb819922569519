"""The number policy and the printer, by exact strings."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.render.printer import format_number, is_exact, tex
from derive.core.activations import relu, sigmoid, step


@pytest.mark.parametrize("x, text", [
    (16.0, "16"),
    (-4.0, "-4"),
    (0.0, "0"),
    (0.25, "0.25"),
    (0.7319417133694889, "0.7319"),
    (0.12303185591001443, "0.123"),
    (-0.5361165732610222, "-0.5361"),
    (0.001420143672, "0.00142"),
    (0.9999998874648379, "0.99999989"),  # would round to 1: keep digits until the gap shows
    (4.999763309384074, "4.99976"),
    (1.0000001, "1.0000001"),
    (-5.34381483665323e-08, r"-5.344 \times 10^{-8}"),
    (4.733812240027136e-04, r"4.734 \times 10^{-4}"),
    (123456.7, r"1.235 \times 10^{5}"),
    (2000000.0, r"2 \times 10^{6}"),
    (12345.6, "12346"),
])
def test_format_number(x, text):
    assert format_number(x) == text


def test_digits_setting():
    assert format_number(0.7319417133694889, 2) == "0.73"
    assert format_number(0.7319417133694889, 8) == "0.73194171"


@pytest.mark.parametrize("x, exact", [(16.0, True), (0.25, True), (0.7319417, False), (1e-8, True),
                                      (-5.34381483665323e-08, False)])
def test_is_exact(x, exact):
    assert is_exact(x) is exact


x, w, b = sp.symbols("x w b")
NAMES = {x: "x_{1}", w: "w_{11}", b: "b_{h_{1}}"}


def test_printer_keeps_the_order_the_graph_built():
    expr = sp.Add(sp.Mul(w, x, evaluate=False), b, evaluate=False)
    assert tex(expr, NAMES) == r"w_{11} x_{1} + b_{h_{1}}"
    assert tex(expr, NAMES, {w: -2.0, x: 3.0, b: 0.5}) == r"\left(-2\right) \cdot 3 + 0.5"


def test_substituted_functions_take_no_extra_parentheses():
    assert tex(sigmoid(x), NAMES, {x: -4.0}) == r"\sigma\left(-4\right)"
    assert tex(relu(x), NAMES, {x: -4.0}) == r"\operatorname{ReLU}\left(-4\right)"
    assert tex(step(x), NAMES) == r"\left[x_{1} > 0\right]"
    assert tex(sp.tanh(x), NAMES, {x: 0.5}) == r"\tanh{\left(0.5 \right)}"


def test_tiny_values_are_parenthesized_as_factors():
    assert tex(sp.Mul(w, x, evaluate=False), NAMES, {w: 1e-8, x: 2.0}) == r"\left(1 \times 10^{-8}\right) \cdot 2"
