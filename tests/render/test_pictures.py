"""Pictures: the numbers drawn are the numbers of an independent NumPy pass, read back out of the SVG
text; text is text with a title and a description; no label sits on another."""

from __future__ import annotations

import base64
import itertools
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import network_presets, need, spec_from
from derive.verify import reference
from derive.pipeline import derive
from derive.render.pictures import FONT, Picture, Rect, Text, draw, network_scene, pictures_of, plain, scene_of
from derive.render.page import render, render_files
from derive.spec.parse import load_spec, preset_names

SVG = "{http://www.w3.org/2000/svg}"

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

#: A 4-4-4 network: in its first layer, with every label at one fraction of its edge, three weight
#: labels sat exactly on three others (edges 1→4 and 2→1 pass through the same point).
FOUR = """
name = "four"
[network]
inputs = 4
loss = "sse"
[[network.layers]]
size = 4
activation = "sigmoid"
weights = { random = "normal", seed = 1, decimals = 3 }
bias = { random = "normal", seed = 2, decimals = 2 }
[[network.layers]]
size = 4
activation = "tanh"
weights = { random = "normal", seed = 3, decimals = 3 }
[[data]]
x = [1, -0.5, 0.25, 2]
t = [0.1, 0.2, 0.3, 0.4]
[[data]]
x = [-1, 0.5, 1.5, 0]
t = [0.4, 0.3, 0.2, 0.1]
[training]
learning_rate = 0.1
epochs = 20
"""

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def labels(svg: bytes) -> list[str]:
    """The texts of an SVG as a reader's software sees them: the content of each <text> element."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def number(text: str) -> float:
    """A number as a picture prints it: 0.7319, −1.781 × 10⁻⁸."""
    text = text.strip().replace("−", "-")
    m = re.fullmatch(r"(-?[\d.]+)(?: × 10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+))?", text)
    assert m, text
    exponent = m.group(2) or "⁰"
    return float(m.group(1)) * 10.0 ** int(exponent.translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")))


def drawn_values(svg: bytes) -> dict[str, float]:
    """``name = number`` labels, by name; a unit box's lines as ``unit.in`` / ``unit.out`` / ``unit.dout`` …"""
    out: dict[str, float] = {}
    unit = None
    for text in labels(svg):
        for line in text.split("\n"):
            if re.fullmatch(r"[a-z]+[₀-₉]+", line):
                unit = line
            elif m := re.fullmatch(r"(in|out) = (.+)", line):
                out[f"{unit}.{m.group(1)}"] = number(m.group(2))
            elif m := re.fullmatch(r"∂L/∂(in|out) = (.+)", line):
                out[f"{unit}.d{m.group(1)}"] = number(m.group(2))
            elif m := re.fullmatch(r"(.+?) = (.+)", line):
                out[m.group(1)] = number(m.group(2))
    return out


def expected_values(spec, n: int, *, edges: bool = False) -> dict[str, float]:
    """The same labels from NumPy (derive.verify.reference), named from the spec by hand."""
    X, T = reference.data_arrays(spec)
    p = reference.backward(spec, reference.Params.from_spec(spec), X, T)
    expected = {"L": p.loss[n]}
    for l, layer in enumerate(spec.layers):
        for j in range(layer.size):
            unit = f"{layer.name}{j + 1}".translate(SUB)
            expected |= {f"{unit}.in": p.Z[l][n, j], f"{unit}.out": p.A[l][n, j],
                         f"{unit}.din": p.dZ[l][n, j], f"{unit}.dout": p.dA[l][n, j]}
            if layer.bias is not None:
                expected[f"b_{unit}"] = layer.bias[j]
        for i, row in enumerate(layer.weights):
            for j, w in enumerate(row):
                name = f"{layer.weight_symbol}{i + 1}{j + 1}".translate(SUB)
                expected[name] = w
                if edges:
                    expected[f"∂L/∂{name}"] = p.dW[l][n, i, j]
    for i, x in enumerate(spec.data[n].x):
        expected[f"∂L/∂x{i + 1}".translate(SUB)] = p.dX[n, i]
    for k, t in enumerate(spec.data[n].t):
        expected[f"t{k + 1}".translate(SUB)] = t
    return expected


@pytest.mark.parametrize("which, edges", [("two-two-two", False), ("biased", False), ("four", True)])
def test_the_network_shows_the_numbers_of_an_independent_pass(which, edges):
    spec = load_spec(which) if which == "two-two-two" else spec_from({"biased": BIASED, "four": FOUR}[which], which)
    d = derive(spec)
    for n in range(len(spec.data)):
        drawn = drawn_values(draw(d, Picture(f"network-{n + 1}", ""), "svg", edge_gradients=edges))
        expected = expected_values(spec, n, edges=edges)
        assert set(expected) <= set(drawn), set(expected) - set(drawn)
        for key, value in expected.items():
            assert drawn[key] == pytest.approx(value, rel=6e-4, abs=1e-12), key


def test_edge_gradients_are_an_option():
    d = derive(load_spec("two-two-two"))
    plain_svg, with_edges = (labels(draw(d, Picture("network-1", ""), "svg", edge_gradients=e)) for e in (False, True))
    assert not any(t.startswith("∂L/∂w") for t in plain_svg)
    assert "∂L/∂w₁₁ = −5.344 × 10⁻⁸" in with_edges       # the seed's vanishing gradient, on its edge
    captions = [p.caption for p in pictures_of(d, edge_gradients=True)]
    assert "gradients of the loss (red)" in captions[0]


def test_text_is_text_with_a_title_and_a_description():
    d = derive(load_spec("two-two-two"))
    for picture in pictures_of(d):
        svg = draw(d, picture, "svg")
        root = ET.fromstring(svg)
        assert root.get("role") == "img" and root.get("aria-labelledby") == "title desc"
        title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
        assert title.text == picture.title and len(desc.text) > 60
        assert labels(svg), "no <text>: the text was drawn as paths"
        assert b"<path id=\"DejaVu" not in svg                # no glyphs as paths
        assert not any("\\" in t or "$" in t for t in labels(svg)), labels(svg)
    desc = ET.fromstring(draw(d, Picture("network-1", "t"), "svg")).find(f"{SVG}desc").text
    # The description says the numbers the picture shows.
    assert "w₁₁ = 6" in desc and "h₁: in = 16, out = 0.99999989" in desc and "L = 0.08699" in desc


def test_the_svg_is_the_same_on_every_machine():
    """No ids (Matplotlib hashed its own from coordinates), no dates, coordinates to 1/100 pt."""
    d = derive(spec_from(BIASED, "biased"))
    for picture in pictures_of(d):
        svg = draw(d, picture, "svg").decode()
        assert set(re.findall(r'id="([^"]+)"', svg)) == {"title", "desc"}
        attributes = re.findall(r'="([^"]*)"', svg)
        assert not [a for a in attributes if re.search(r"\d\.\d{3,}", a)]
        assert svg == draw(d, picture, "svg").decode()


def overlapping(items) -> list[tuple[str, str]]:
    """Pairs of texts (or of a text and a box that is not its own background) whose extents overlap
    by more than a hundredth of a point."""
    texts = [(t.text, t.extent()) for t in items if isinstance(t, Text)]
    return [(a, b) for (a, p), (b, q) in itertools.combinations(texts, 2)
            if min(p[2], q[2]) - max(p[0], q[0]) > 0.01 and min(p[3], q[3]) - max(p[1], q[1]) > 0.01]


@pytest.mark.parametrize("which", [*network_presets(), "biased", "four"])
@pytest.mark.parametrize("edges", [False, True])
def test_no_label_sits_on_another(which, edges):
    spec = spec_from({"biased": BIASED, "four": FOUR}[which], which) if which in ("biased", "four") \
        else load_spec(which)
    d = derive(spec)
    for notation in ("inout", "layer"):
        scene = network_scene(d, 0, notation=notation, edge_gradients=edges)
        assert len(scene.texts()) > 10
        assert overlapping(scene.items) == []
        # Every text inside the picture, and every unit's box clear of every label outside it.
        boxes = [r.extent() for r in scene.items if isinstance(r, Rect) and r.stroke != "none"]
        for t in scene.texts():
            x0, y0, x1, y1 = t.extent()
            assert 0 <= x0 and x1 <= scene.width and 0 <= y0 and y1 <= scene.height, t.text
            inside = [b for b in boxes if b[0] <= x0 and x1 <= b[2] and b[1] <= y0 and y1 <= b[3]]
            if not inside:
                assert not any(min(b[2], x1) - max(b[0], x0) > 0.01 and min(b[3], y1) - max(b[1], y0) > 0.01
                               for b in boxes), t.text


def test_the_overlap_test_can_fail():
    items = [Text(50, 20, "w₁₄ = 0.5", 9.5), Text(60, 22, "w₂₁ = −2", 9.5), Text(50, 60, "far away", 9.5)]
    assert overlapping(items) == [("w₁₄ = 0.5", "w₂₁ = −2")]


def test_text_extents_are_the_fonts():
    """The widths the layout uses are those Matplotlib's text layout measures with the same font
    (which draws the PDF), within 1 %: the overlap test measures what is drawn."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    renderer = RendererAgg(100, 100, 7200)  # at 72 dpi hinting rounds each advance to a whole pixel
    d = derive(spec_from(FOUR, "four"))
    scene = network_scene(d, 0, edge_gradients=True)
    for t in scene.texts():
        prop = FontProperties(family=FONT, size=t.size, weight="bold" if t.bold else "normal",
                              style="italic" if t.italic else "normal")
        width, _, _ = renderer.get_text_width_height_descent(t.text, prop, ismath=False)
        width /= 100
        assert t.width == pytest.approx(width, rel=0.01, abs=0.3), t.text


def test_plain_labels():
    assert plain("w_{11}") == "w₁₁" and plain(r"b_{h_{1}}") == "b_h₁" and plain("W^{[1]}_{11}") == "W[1]₁₁"
    assert plain(r"-1.781 \times 10^{-8}") == "−1.781 × 10⁻⁸" and plain(r"\mathrm{net}_{h_{1}}") == "net_h₁"


def test_the_loss_plot_ends_at_the_trained_loss():
    spec = spec_from(BIASED, "biased")
    d = derive(spec)
    [loss] = [p for p in pictures_of(d) if p.role == "loss"]
    final = reference.train(spec).losses[-1]
    assert number(labels(draw(d, loss, "svg"))[-1]) == pytest.approx(final, rel=6e-4)
    assert "30 epochs of plain gradient descent on the whole data (learning rate 0.1)" in loss.caption


def test_the_loss_plot_says_how_the_network_trains_and_what_it_plots():
    """Adam on single instances with a step schedule and L2: the caption and axis say so (not "batch gradient
    descent" of the loss L), and a run of one epoch has whole-number epoch ticks."""
    spec = spec_from(BIASED.replace("[training]", "[training]\noptimizer = \"adam\"\nbatch_size = 1\n"
                                    "schedule = { kind = \"step\", step_size = 1, gamma = 0.5 }\n")
                     .replace("[network]", "[network]\nregularization = { kind = \"l2\", lambda = 0.01 }"), "adam")
    d = derive(spec)
    [loss] = [p for p in pictures_of(d) if p.role == "loss"]
    assert "loss plus regularization term" in loss.caption
    assert f"of Adam on {'the whole data' if len(d.instances) == 1 else 'one instance at a time'}" in loss.caption
    assert "step schedule" in loss.caption
    assert any(t.startswith("J = L + R") for t in labels(draw(d, loss, "svg")))
    one = derive(spec_from(BIASED.replace("epochs = 30", "epochs = 1"), "one"))
    texts = labels(draw(one, Picture("loss", ""), "svg"))
    ticks = texts[:texts.index("epoch")]
    assert "0" in ticks and "1" in ticks and not any("." in x for x in ticks[:2]), texts


def test_a_tiny_final_loss_reads_as_a_number():
    """slp-identity trains to 2.251e-15: the label and the log axis are numbers, not raw TeX (issue 10)."""
    d = derive(load_spec("slp-identity"))
    texts = labels(draw(d, Picture("loss", ""), "svg"))
    final = d.training.losses[-1]
    assert number(texts[-1]) == pytest.approx(final, rel=6e-4) and final < 1e-14
    assert "10⁻¹⁵" in texts and not any("\\" in t or "^" in t for t in texts)


def test_no_training_no_loss_plot():
    d = derive(spec_from(BIASED.split("[training]")[0], "biased"))
    assert [p.role for p in pictures_of(d)] == ["network-1"]


def test_the_layer_notation_names_things_as_the_formulas_do():
    d = derive(load_spec("two-two-two"))
    texts = labels(draw(d, Picture("network-1", ""), "svg", notation="layer"))
    assert "W[1]₁₁ = 6" in texts and "a[2]₁\nz = 1.004\na = 0.7319" in "\n".join(texts) and "z = 16" in texts
    assert not any("w₁₁" in t or t.startswith("in =") for t in texts)


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
    assert drawn_values(base64.b64decode(images[0]))["h₁.in"] == 16


def test_pdf_with_pictures_compiles():
    need(shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None,
         "pdflatex compiles -f pdf; pdftotext reads it")
    d = derive(spec_from(BIASED, "biased"))
    text = subprocess.run(["pdftotext", "-", "-"], input=render(d, fmt="pdf", pictures=True), capture_output=True,
                          check=True).stdout.decode()
    # The labels of the drawn network are text inside the document (Matplotlib embeds its fonts).
    assert "in = 6.1" in text and "epoch" in text


@pytest.mark.parametrize("which", [*network_presets(), "biased"])
def test_the_loss_plot_has_no_label_on_another(which):
    d = derive(spec_from(BIASED, "biased") if which == "biased" else load_spec(which))
    scene = scene_of(d, Picture("loss", ""))
    assert overlapping(scene.items) == []
    assert all(0 <= t.extent()[0] and t.extent()[2] <= scene.width for t in scene.texts())


def test_a_wide_layer_draws_its_edges_without_labels():
    """A 9×9 layer (81 weights): the labels would be a thicket and take long to place; the page's
    matrix lists the weights, and the description says so."""
    n = 9
    rows = [[round(0.1 * (i - j), 1) for j in range(n)] for i in range(n)]
    text = (f'name = "wide"\n[network]\ninputs = {n}\nloss = "sse"\n[[network.layers]]\nsize = {n}\n'
            f'activation = "tanh"\nweights = {rows}\n[[network.layers]]\nsize = 1\nactivation = "identity"\n'
            f'weights = {[[1.0]] * n}\n[[data]]\nx = {[0.5] * n}\nt = [1]\n')
    d = derive(spec_from(text, "wide"))
    scene = network_scene(d, 0)
    texts = [t.text for t in scene.texts()]
    assert not any(t.startswith("w₁₁") for t in texts) and "v₁₁ = 1" in texts   # the small layer keeps its labels
    assert "The 81 weights into layer h are not labelled" in scene.description
    assert overlapping(scene.items) == []
