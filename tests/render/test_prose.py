"""The prose of a page speaks the page's notation and counts in the right number."""

from __future__ import annotations

import re

import pytest

import derive
from conftest import spec_from
from derive.core.losses import LOSSES
from derive.render.printer import NOTATIONS

ONE = """
name = "one"
[network]
inputs = 1
loss = "sse"
[[network.layers]]
size = 1
activation = "tanh"
weights = [[0.5]]
[[data]]
x = [2]
t = [1]
[training]
learning_rate = 0.1
epochs = 1
"""

SINGULAR_AS_PLURAL = re.compile(r"\b1 (\w+ )?(layers|units|inputs|instances|epochs|answers|outputs|variants|edges)\b")


@pytest.mark.parametrize("notation", NOTATIONS)
def test_prose_names_values_as_the_notation_does(notation):
    page = derive.document("two-two-two", "md", notation=notation, views="scalar,matrix,tape")
    words = {"inout": ("*in* value", "*out* value"), "netout": ("*net*", "*out* value"), "layer": ("$z^{[l]}_{j}$", "$a^{[l]}_{j}$")}
    assert all(w in page for w in words[notation])
    if notation != "inout":
        assert "*in* value" not in page and "*in*" not in page
    if notation == "layer":
        assert "*out*" not in page


def test_one_of_each_is_singular():
    d = derive.derive(spec_from(ONE, "one"))
    texts = [derive.document(d, "md", views="scalar,matrix,tape"), derive.document(d, "ipynb"),
             derive.document(derive.check(d, {"y1_out": 0.76}), "text"),
             derive.document(derive.check(d, {"y1_out": 0.76}), "md")]
    for text in texts:
        assert not SINGULAR_AS_PLURAL.search(text), SINGULAR_AS_PLURAL.search(text).group(0)
    assert "1 answer:" in texts[2] and "1 layer" in derive.document("slp-identity", "md")


@pytest.mark.parametrize("loss", ["sse", "half_sse", "mse"])
def test_a_loss_of_one_output_is_one_squared_error(loss):
    """With one output unit, the mean (or sum) of the squared errors is that error squared: the page
    wrote "$L = 1 e_{1}^{2}$", which reads as 1e… in print, and "its 1 output units … and so on"."""
    import sympy as sp

    d = derive.derive(spec_from(ONE.replace('loss = "sse"', f'loss = "{loss}"'), "one"))
    page = derive.document(d, "md")
    start = page.index("## Loss function")
    section = page[start:page.index("### Instance 1", start)]
    assert "and so on" not in section and not SINGULAR_AS_PLURAL.search(section)
    assert "L = 1" not in section and "1 e_" not in page
    half = sp.Rational(1, 2) if loss == "half_sse" else 1
    e = sp.Symbol("e")
    shown = {"sse": r"L = e_{1}^{2}", "half_sse": r"L = \frac{e_{1}^{2}}{2}", "mse": r"L = e_{1}^{2}"}[loss]
    assert f"$${shown}$$" in section
    assert LOSSES[d.spec.loss].expr([e]) - half * e**2 == 0
