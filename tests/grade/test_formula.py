"""Formulas from untrusted answers files: parsed with ast and a whitelist, evaluated by derive's own walker,
compared with math and sympy written independently; LaTeX as derive prints it; refusals name the reason."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from derive.grade.formula import FormulaError, functions, latex_to_plain, parse_formula

KNOWN = {"h1_in": 0, "h1_out": 0, "y1_out": 0, "t1": 0, "w11": 0, "x1": 0, "dL_dh1_out": 0}
POINT = {"h1_in": 0.7, "h1_out": 0.66818777, "y1_out": 1.25, "t1": 0.5, "w11": -0.3, "x1": 2.0, "dL_dh1_out": -0.4}


@pytest.mark.parametrize("text, by_hand", [
    ("2*(y1_out - t1)", lambda p: 2 * (p["y1_out"] - p["t1"])),
    ("sigma(h1_in)", lambda p: 1 / (1 + math.exp(-p["h1_in"]))),
    ("σ(h1_in) * (1 − σ(h1_in))", lambda p: (s := 1 / (1 + math.exp(-p["h1_in"]))) * (1 - s)),
    ("exp(-x1) + ln(2) - log(e)", lambda p: math.exp(-p["x1"]) + math.log(2) - 1),
    ("tanh(w11)^2 + relu(w11) + relu(x1)", lambda p: math.tanh(p["w11"]) ** 2 + p["x1"]),
    ("w11 ** 2 / x1 + sqrt(abs(w11)) + pi", lambda p: p["w11"] ** 2 / p["x1"] + math.sqrt(0.3) + math.pi),
    ("dL/dh1_out * h1_out", lambda p: p["dL_dh1_out"] * p["h1_out"]),
    ("∂L/∂h1_out · 3", lambda p: p["dL_dh1_out"] * 3),
])
def test_evaluation_matches_math(text, by_hand):
    f = parse_formula(text, KNOWN)
    assert f.evaluate(POINT) == pytest.approx(by_hand(POINT), rel=1e-14)


@pytest.mark.parametrize("text", ["2*(y1_out - t1)", "sigma(h1_in)*(1 - sigma(h1_in))", "exp(-x1)*w11**3",
                                  "tanh(w11) / (1 + x1^2)"])
def test_sympy_form_evaluates_to_the_same(text):
    f = parse_formula(text, KNOWN)
    symbols = {n: sp.Symbol(n) for n in KNOWN}
    expr = f.to_sympy(symbols)
    env = {symbols[n]: sp.Float(v) for n, v in POINT.items()}
    assert float(expr.xreplace(env).doit()) == pytest.approx(f.evaluate(POINT), rel=1e-12)


def test_numbers_are_formulas_without_names():
    f = parse_formula("-5.3e-8")
    assert f.is_number and f.evaluate({}) == -5.3e-8


@pytest.mark.parametrize("latex, plain_value", [
    (r"\frac{1}{1 + e^{-0.7}}", 1 / (1 + math.exp(-0.7))),
    (r"2 \cdot \left(1.25 - 0.5\right)", 1.5),
    (r"-5.344 \times 10^{-8}", -5.344e-8),
    (r"\sigma\left(0.7\right)", 1 / (1 + math.exp(-0.7))),
    (r"\operatorname{ReLU}\left(-2\right) + \tanh(0)", 0.0),
    (r"3 \left(2 + 1\right)", 9.0),
])
def test_latex_as_derive_prints_it(latex, plain_value):
    assert parse_formula(latex).evaluate({}) == pytest.approx(plain_value, rel=1e-14)


def test_latex_names_become_variables():
    names = {r"h_{1}^{\mathrm{in}}": "h1_in", r"w_{11}": "w11"}
    assert latex_to_plain(r"w_{11} h_{1}^{\mathrm{in}}", names).replace(" ", "") == "w11*h1_in"
    f = parse_formula(r"\sigma\left(h_{1}^{\mathrm{in}}\right)", KNOWN, names)
    assert f.names == {"h1_in"}


@pytest.mark.parametrize("text, reason", [
    ("__import__('os').system('true')", "unknown"),
    ("h1_in.real", "Attribute, which is not allowed"),
    ("open('x')", "unknown function 'open'"),
    ("[1, 2]", "List, which is not allowed"),
    ("h1_inn + 1", "did you mean h1_in"),
    ("'a'", "not a number"),
    ("lambda: 1", "Lambda, which is not allowed"),
    ("(" * 50 + "1" + ")" * 50, "deeper"),
    ("1+" * 600 + "1", "longer|parts"),
    (r"\int x", "LaTeX"),
    ("sigma(h1_in", "has 1 more '\\(' than '\\)'"),
    ("h1_in)) * 2", "has 2 fewer '\\(' than '\\)'"),
])
def test_refusals_name_the_reason(text, reason):
    with pytest.raises(FormulaError, match=reason):
        parse_formula(text, KNOWN)


def test_evaluation_errors_are_formula_errors():
    with pytest.raises(FormulaError, match="cannot be evaluated|finite"):
        parse_formula("1 / (x1 - 2)", KNOWN).evaluate(POINT)
    with pytest.raises(FormulaError, match="cannot be evaluated|finite"):
        parse_formula("log(w11)", KNOWN).evaluate(POINT)


def test_the_activations_supply_their_functions():
    names = set(functions())
    assert {"sigma", "sigmoid", "tanh", "relu", "exp", "log"} <= names
