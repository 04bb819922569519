"""The reader of displayed math: LaTeX as derive prints it and as people write it, against NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from derive.verify.mathreader import (MAX_DEPTH, MathSyntaxError, Name, Unevaluable, canonical_name, evaluate,
                                      interval, names, parse_math)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("tex, expected", [
    (r"0.1 \cdot 1 + 0.4 \cdot 0.5 + \left(-0.7\right) \cdot \left(-1\right) + 0.1", 0.1 + 0.2 + 0.7 + 0.1),
    (r"\frac{e^{0.2267}}{e^{0.2267} + e^{-0.2981} + e^{0.3694}}",
     np.exp(0.2267) / (np.exp(0.2267) + np.exp(-0.2981) + np.exp(0.3694))),
    (r"\left(e^{0.2267} + e^{\left(-0.2981\right)} + e^{0.3694}\right) \cdot -1 \cdot e^{0.2267}",
     -(np.exp(0.2267) + np.exp(-0.2981) + np.exp(0.3694)) * np.exp(0.2267)),
    (r"- \frac{1}{0.25}", -4.0),
    (r"\dfrac{2 \cdot 0.5126}{2}", 0.5126),
    (r"\frac12 \times 3", 1.5),
    (r"\left(-0.5\right)^{2}", 0.25),
    (r"-0.5^{2}", -0.25),
    (r"2^{-1}", 0.5),
    (r"-5.344 \times 10^{-8}", -5.344e-8),
    (r"1.5 \cdot 10^{3} + 1", 1501.0),
    (r"\sigma\left(0.5\right)", sigmoid(0.5)),
    (r"\sigma(-4)", sigmoid(-4)),
    (r"\frac{1}{1 + e^{- \left(-0.5\right)}}", sigmoid(-0.5)),
    (r"\tanh{\left(1.1 \right)}", np.tanh(1.1)),
    (r"1 - \tanh^{2}(0.3)", 1 - np.tanh(0.3) ** 2),
    (r"\log{\left(0.3643 \right)} - \ln 2", np.log(0.3643) - np.log(2)),
    (r"\exp(1) + \exp\left(-1\right)", np.exp(1) + np.exp(-1)),
    (r"\operatorname{ReLU}\left(-4\right) + \mathrm{ReLU}(2)", 2.0),
    (r"\max(0, -3) + \max\left(0, 1.5\right) + \max\{0, 2\}", 3.5),
    (r"\operatorname{LeakyReLU}_{0.05}\left(-2\right)", -0.1),
    (r"\left[-0.3 > 0\right] + 0.05 \cdot \left[-0.3 \le 0\right]", 0.05),
    (r"[2 > 0]", 1.0),
    (r"\sqrt{16} \div 8", 0.5),
    (r"2 \, (3 + 4)", 14.0),
    (r"\left[1 + 2\right] \left\{3\right\}", 9.0),
    (r"\bigl(1 + 1\bigr) \times 2", 4.0),
    (r"0.25 \cdot \left(1 - 0.25\right)", 0.1875),
    (r"−2 · 3", -6.0),
    (r"{-2}^{2}", 4.0),
])
def test_values_against_numpy(tex, expected):
    assert evaluate(parse_math(tex)) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("tex, name", [
    # derive's three notations
    (r"h_{1}^{\mathrm{in}}", "h_{1}^{in}"),
    (r"h_{2,1}^{\mathrm{out}}", "h_{2,1}^{out}"),
    (r"\mathrm{net}_{h_{1}}", "net_{h_{1}}"),
    (r"\mathrm{out}_{y_{2}}", "out_{y_{2}}"),
    (r"a^{[1]}_{1}", "a_{1}^{[1]}"),
    (r"z^{[2]}_{3}", "z_{3}^{[2]}"),
    (r"W^{[1]}_{11}", "W_{11}^{[1]}"),
    (r"b^{[2]}_{1}", "b_{1}^{[2]}"),
    (r"w_{11}", "w_{11}"),
    (r"b_{h_{1}}", "b_{h_{1}}"),
    (r"\frac{\partial L}{\partial w_{11}}", "∂L/∂w_{11}"),
    (r"\frac{\partial L}{\partial h_{1}^{\mathrm{out}}}", "∂L/∂h_{1}^{out}"),
    (r"\frac{\partial y_{1}^{\mathrm{in}}}{\partial h_{1}^{\mathrm{out}}}", "∂y_{1}^{in}/∂h_{1}^{out}"),
    # as people write them
    (r"net_{h1}", "net_{h1}"),
    (r"out_{o1}", "out_{o1}"),
    (r"\delta_{o1}", r"\delta_{o1}"),
    (r"w_5", "w_{5}"),
    (r"w_{5}", "w_{5}"),
    (r"E_{total}", "E_{total}"),
    (r"E_{\text{total}}", "E_{total}"),
    (r"\frac{\partial E_{total}}{\partial w_5}", "∂E_{total}/∂w_{5}"),
    (r"\partial E_{total} / \partial out_{o1}", "∂E_{total}/∂out_{o1}"),
    (r"h_1^{\mathrm{in}}", "h_{1}^{in}"),
    (r"x^{(2)}", "x^{(2)}"),
    (r"\eta", r"\eta"),
])
def test_names_are_canonical(tex, name):
    assert canonical_name(tex) == name


def test_the_same_name_written_two_ways_is_one_name():
    assert canonical_name(r"h_{1}^{\mathrm{in}}") == canonical_name(r"h_1^{\mathrm{in}}")
    assert canonical_name(r"w_5") == canonical_name(r"w_{5}")
    assert canonical_name(r"E_{\mathrm{total}}") == canonical_name(r"E_{total}")


def test_names_take_their_values_from_the_caller():
    node = parse_math(r"w_{11} x_{1} + \mathrm{net}_{h_{1}} \cdot 2 e_{1}^{2}")
    assert names(node) == {"w_{11}", "x_{1}", "net_{h_{1}}", "e_{1}"}
    values = {"w_{11}": 0.5, "x_{1}": -2.0, "net_{h_{1}}": 3.0, "e_{1}": 0.25}
    assert evaluate(node, values) == pytest.approx(0.5 * -2 + 3 * 2 * 0.25 ** 2)
    with pytest.raises(Unevaluable):
        evaluate(node)
    assert evaluate(parse_math(r"\frac{\partial E_{total}}{\partial w_5} \cdot 0.5"), {"∂E_{total}/∂w_{5}": 0.08}) == 0.04


def test_a_superscript_on_a_name_is_a_power_when_it_is_a_number():
    assert parse_math(r"e_{1}^{2}").op == "pow"
    assert isinstance(parse_math(r"h_{1}^{\mathrm{in}}"), Name)
    assert evaluate(parse_math(r"e^{1}")) == pytest.approx(math.e)


def test_intervals_carry_the_printed_precision():
    lo, hi = interval(parse_math("0.2267"))
    assert (lo, hi) == pytest.approx((0.22665, 0.22675))
    assert interval(parse_math("16")) == (16.0, 16.0)
    lo, hi = interval(parse_math(r"2 \cdot 0.25"))
    assert (lo, hi) == pytest.approx((0.49, 0.51))
    lo, hi = interval(parse_math(r"e^{0.5}"))
    assert lo == pytest.approx(np.exp(0.45)) and hi == pytest.approx(np.exp(0.55))
    # digits: an integer printed to 4 significant digits may be rounded at its units
    assert interval(parse_math("1235"), digits=4) == (1234.5, 1235.5)
    # the square of a range through 0
    assert interval(parse_math(r"\left(0.0\right)^{2}")) == pytest.approx((0.0, 0.0025))


@pytest.mark.parametrize("tex", [r"\log(-1)", r"\frac{1}{0}", r"(1, 2)", r"\sqrt{-4}", r"L", r"\partial L"])
def test_members_without_a_value(tex):
    with pytest.raises((Unevaluable, MathSyntaxError)):
        evaluate(parse_math(tex))


@pytest.mark.parametrize("tex", [
    "", r"\frac{1}{", r"1 +", r"\sum_{i=1}^{3} x_i", r"\begin{bmatrix} 1 \end{bmatrix}", "1 = 2",
    "(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5),
    "{" * 500 + "1" + "}" * 500,
    "1" * 10_000_000,
    "+".join(["1"] * 5000),
    "\x00\x01\xff",
    "e^{" * 30 + "1" + "}" * 30,
])
def test_bad_input_is_a_clean_error(tex):
    with pytest.raises(MathSyntaxError):
        parse_math(tex)


def test_moderate_nesting_reads():
    tex = "(" * 30 + "1" + ")" * 30
    assert evaluate(parse_math(tex)) == 1.0
    assert evaluate(parse_math("e^{" * 3 + "0" + "}" * 3)) == pytest.approx(np.exp(np.exp(1)))
