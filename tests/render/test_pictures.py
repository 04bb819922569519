"""Pictures: the numbers drawn are the numbers of an independent NumPy pass, in every format."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import need, spec_from
from derive.verify import reference
from derive.pipeline import derive
from derive.render.pictures import Picture, draw, pictures_of
from derive.render.page import render, render_files
from derive.spec.parse import load_spec

BIASED = """
name = "biased"
[network]
inputs = 3
loss = "half_sse"
reduction = "mean"
[[network.layers]]
name = "h"
size = 2
activation = "relu"
weights = [[0.5, -1], [2, 0.25], [-1.5, 1]]
bias = [0.1, -0.2]
[[network.layers]]
name = "o"
size = 1
activation = "tanh"
weights = [[1.5], [-0.5]]
bias = [0.3]
[[data]]
x = [1, 2, -1]
t = [0.5]
[training]
learning_rate = 0.1
epochs = 30
"""


def labels(svg: bytes) -> list[str]:
    """The texts of an SVG Matplotlib drew (it keeps each one as a comment beside its glyphs)."""
    return re.findall(r"<!-- (.*?) -->", svg.decode("utf-8"))


def number(tex: str) -> float:
    """A number as derive prints it: 0.7319, -1.781 \\times 10^{-8}."""
    m = re.fullmatch(r"(-?[\d.]+)(?: \\times 10\^\{(-?\d+)\})?", tex.strip())
    assert m, tex
    return float(m.group(1)) * 10.0 ** int(m.group(2) or 0)


def drawn_values(svg: bytes) -> dict[str, float]:
    """``$name = number$`` labels, by name; unit boxes as ``unit.in`` / ``unit.out`` / ``unit.dout`` …"""
    out: dict[str, float] = {}
    unit = None
    for text in labels(svg):
        if m := re.fullmatch(r"\$\\mathbf\{(\w+)_\{(\d+)\}\}\$", text):
            unit = f"{m.group(1)}{m.group(2)}"
        elif m := re.fullmatch(r"\$\\mathrm\{(in|out)\} = (.+)\$", text):
            out[f"{unit}.{m.group(1)}"] = number(m.group(2))
        elif m := re.fullmatch(r"\$\\partial L/\\partial \\mathrm\{(in|out)\} = (.+)\$", text):
            out[f"{unit}.d{m.group(1)}"] = number(m.group(2))
        elif m := re.fullmatch(r"\$(.+?) = (.+)\$", text):
            out[m.group(1)] = number(m.group(2))
    return out


@pytest.mark.parametrize("which", ["two-two-two", "biased"])
def test_the_network_shows_the_numbers_of_an_independent_pass(which):
    spec = load_spec(which) if which != "biased" else spec_from(BIASED, "biased")
    d = derive(spec)
    X, T = reference.data_arrays(spec)
    params = reference.Params.from_spec(spec)
    p = reference.backward(spec, params, X, T)
    for n in range(len(spec.data)):
        drawn = drawn_values(draw(d, Picture(f"network-{n + 1}", ""), "svg"))
        expected = {"L": p.loss[n]}
        for l, layer in enumerate(spec.layers):
            for j in range(layer.size):
                unit = f"{layer.name}{j + 1}"
                expected |= {f"{unit}.in": p.Z[l][n, j], f"{unit}.out": p.A[l][n, j],
                             f"{unit}.din": p.dZ[l][n, j], f"{unit}.dout": p.dA[l][n, j]}
                if layer.bias is not None:
                    expected[rf"b_{{{layer.name}_{{{j + 1}}}}}"] = layer.bias[j]
            for i, row in enumerate(layer.weights):
                for j, w in enumerate(row):
                    expected[f"{layer.weight_symbol}_{{{i + 1}{j + 1}}}"] = w
        for i, x in enumerate(spec.data[n].x):
            expected[rf"\partial L/\partial x_{{{i + 1}}}"] = p.dX[n, i]
        for k, t in enumerate(spec.data[n].t):
            expected[f"t_{{{k + 1}}}"] = t
        assert set(expected) <= set(drawn), set(expected) - set(drawn)
        for key, value in expected.items():
            assert drawn[key] == pytest.approx(value, rel=6e-4, abs=1e-12), key


def test_the_loss_plot_ends_at_the_trained_loss():
    spec = spec_from(BIASED, "biased")
    d = derive(spec)
    [loss] = [p for p in pictures_of(d) if p.role == "loss"]
    final = reference.train(spec).losses[-1]
    assert number(labels(draw(d, loss, "svg"))[-1]) == pytest.approx(final, rel=6e-4)
    assert "30 epochs of batch gradient descent (learning rate 0.1)" in loss.caption


def test_no_training_no_loss_plot():
    d = derive(spec_from(BIASED.split("[training]")[0], "biased"))
    assert [p.role for p in pictures_of(d)] == ["network-1"]


def test_the_layer_notation_names_things_as_the_formulas_do():
    d = derive(load_spec("two-two-two"))
    texts = labels(draw(d, Picture("network-1", ""), "svg", notation="layer"))
    assert "$W^{[1]}_{11} = 6$" in texts and "$a^{[2]}_{1}$" in texts and r"$\mathrm{z} = 16$" in texts
    assert not any("w_{11}" in t or r"\mathrm{in}" in t for t in texts)


def test_markdown_links_svg_files_and_tex_includes_pdf_files():
    d = derive(load_spec("two-two-two"))
    md = render_files(d, fmt="md")
    assert list(md) == ["two-two-two.md", "two-two-two-network-1.svg", "two-two-two-network-2.svg",
                        "two-two-two-loss.svg"]
    tex = render_files(d, fmt="tex")
    included = re.findall(r"\\includegraphics\[[^]]*\]\{([^}]+)\}", tex["two-two-two.tex"])
    assert included == list(tex)[1:]
    assert all(tex[f].startswith(b"%PDF-") for f in included)


def test_html_carries_its_pictures_inside():
    d = derive(load_spec("two-two-two"))
    page = render(d, fmt="html", pictures=True)
    images = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert len(images) == 3
    assert drawn_values(base64.b64decode(images[0]))["h1.in"] == 16


def test_pdf_with_pictures_compiles():
    need(shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None,
         "pdflatex compiles -f pdf; pdftotext reads it")
    d = derive(spec_from(BIASED, "biased"))
    text = subprocess.run(["pdftotext", "-", "-"], input=render(d, fmt="pdf", pictures=True), capture_output=True,
                          check=True).stdout.decode()
    # The labels of the drawn network are text inside the document (Matplotlib embeds its fonts).
    assert "in = 6.1" in text and "epoch" in text
