"""The prose of a page speaks the page's notation and counts in the right number."""

from __future__ import annotations

import re

import pytest

import derive
from conftest import spec_from
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

SINGULAR_AS_PLURAL = re.compile(r"\b1 (layers|units|inputs|instances|epochs|answers|outputs|variants|edges)\b")


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
