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


# ---------------------------------------------------------------- substituted expressions are true

t, y, z1, z2, z3, e1, a = sp.symbols("t y z1 z2 z3 e1 a", real=True)
LOSS_NAMES = {t: "t_{1}", y: "y_{1}", z1: "z_{1}", z2: "z_{2}", z3: "z_{3}", e1: "e_{1}", a: "a_{1}"}


@pytest.mark.parametrize("expr, values, text", [
    # cross-entropy's -t/y with t = 1, y = 0.25: a true fraction, not "- 1 · 0.25 · -1"
    (-t / y, {t: 1.0, y: 0.25}, r"- \frac{1}{0.25}"),
    # bce's -t/y + (1-t)/(1-y)
    (sp.Add(-t / y, (1 - t) / (1 - y), evaluate=False), {t: 0.3, y: 0.4},
     r"- \frac{0.3}{0.4} + \frac{1 - 0.3}{1 - 0.4}"),
    # mse's 2e/K with K = 2
    (sp.Mul(2, e1, sp.Pow(sp.Integer(2), -1, evaluate=False), evaluate=False), {e1: 0.5126},
     r"\frac{2 \cdot 0.5126}{2}"),
    # softmax
    (sp.exp(z1) / sp.Add(sp.exp(z1), sp.exp(z2), sp.exp(z3), evaluate=False), {z1: 0.09099, z2: -0.6239, z3: 0.1874},
     r"\frac{e^{0.09099}}{e^{0.09099} + e^{-0.6239} + e^{0.1874}}"),
    # softmax's off-diagonal Jacobian -a_j a_i
    (sp.Mul(-1, a, y, evaluate=False), {a: 0.3, y: -0.2}, r"- 0.3 \cdot \left(-0.2\right)"),
    # powers of negative numbers, and tanh's 1 - a²
    (e1**2, {e1: -0.5}, r"\left(-0.5\right)^{2}"),
    (sp.Add(1, -a**2, evaluate=False), {a: -0.6911}, r"1 - \left(-0.6911\right)^{2}"),
    # the sigmoid spelled out, at a negative input
    (1 / (1 + sp.exp(-z1)), {z1: -0.5}, r"\frac{1}{1 + e^{- \left(-0.5\right)}}"),
    # unary minus of a negative value, a negative factor inside a product
    (-z1, {z1: -3.0}, r"- \left(-3\right)"),
    (sp.Mul(z1, z2, evaluate=False), {z1: 2.0, z2: -3.0}, r"2 \cdot \left(-3\right)"),
    # a reciprocal alone, a negative power
    (1 / y, {y: 0.25}, r"\frac{1}{0.25}"),
    (y**-2, {y: 0.5}, r"\frac{1}{0.5^{2}}"),
    (sp.Mul(t, sp.Pow(y, -2, evaluate=False), evaluate=False), {t: 3.0, y: -0.5}, r"\frac{3}{\left(-0.5\right)^{2}}"),
    # nested functions take their argument bare, products inside them keep their parentheses
    (sigmoid(sp.Mul(z1, z2, evaluate=False)), {z1: 2.0, z2: -3.0}, r"\sigma\left(2 \cdot \left(-3\right)\right)"),
    (sp.exp(z1), {z1: -0.2981}, r"e^{-0.2981}"),
])
def test_substituted_expressions_print_as_true_math(expr, values, text):
    printed = tex(expr, LOSS_NAMES, values)
    assert printed == text
    # and the text, read back, is the expression's value (up to the rounding of the printed numbers)
    from derive.verify.mathreader import interval, parse_math

    lo, hi = interval(parse_math(printed), digits=4)
    true = float(expr.xreplace({k: sp.Float(v) for k, v in values.items()}))
    assert lo - 1e-12 <= true <= hi + 1e-12


def test_exact_rationals_are_parenthesized_where_they_would_misread():
    assert tex(y**2, LOSS_NAMES, {y: 0.5}, exact={y: sp.Rational(1, 2)}) == r"\left(\frac{1}{2}\right)^{2}"
    assert tex(sp.Mul(t, y, evaluate=False), LOSS_NAMES, {t: 3.0, y: -0.5},
               exact={t: sp.Integer(3), y: sp.Rational(-1, 2)}) == r"3 \cdot \left(- \frac{1}{2}\right)"


def _registry_expressions():
    """Every expression the registries give the page to substitute: activations' units and partials,
    losses and their partials (softmax coupled over three units)."""
    from derive.core.activations import ACTIVATIONS
    from derive.core.losses import LOSSES

    zs = sp.symbols("z1:4", real=True)
    outs = sp.symbols("a1:4", real=True)
    ys = sp.symbols("y1:4", real=True)
    ts = sp.symbols("t1:4", real=True)
    cases = []
    for name, act in sorted(ACTIVATIONS.items()):
        for j in range(3 if not act.elementwise else 1):
            cases.append((f"{name} unit {j}", act.unit_expr(j, zs)))
            for i in range(3 if not act.elementwise else 1):
                cases.append((f"{name} ∂a{j}/∂z{i}", act.partial(j, i, zs, outs)))
    for name, loss in sorted(LOSSES.items()):
        cases.append((f"{name} loss", loss.expr(ys, ts)))
        for k in range(3):
            cases.append((f"{name} ∂L/∂y{k}", loss.partial(k, ys, ts)))
    symbols = (*zs, *outs, *ys, *ts)
    names = {s: f"{s.name[0]}_{{{s.name[1:]}}}" for s in symbols}
    return cases, symbols, names


@pytest.mark.parametrize("seed", range(6))
def test_every_registry_expression_substituted_reads_back_true(seed):
    """What issue 10 found: each expression the page substitutes, printed with numbers, read back by the
    verifier, holds its true value within the printed precision (values of both signs, 4 and 2 digits)."""
    import numpy as np

    from derive.verify.mathreader import interval, parse_math

    cases, symbols, names = _registry_expressions()
    rng = np.random.default_rng(seed)
    digits = 2 if seed % 3 == 2 else 4
    values = {s: float(np.round(rng.uniform(0.05, 0.95) if s.name[0] in "aty" else rng.normal(0, 1.5), 5))
              for s in symbols}
    checked = 0
    for label, expr in cases:
        if not expr.free_symbols & set(values):
            continue
        printed = tex(expr, names, values, digits)
        lo, hi = interval(parse_math(printed), digits=digits)
        true = float(expr.xreplace({k: sp.Float(v, 30) for k, v in values.items()}).evalf(30))
        tol = 1e-9 * max(1.0, abs(true))
        assert lo - tol <= true <= hi + tol, f"{label}: {printed} reads as [{lo}, {hi}], is {true}"
        checked += 1
    assert checked >= 30
