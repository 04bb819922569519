"""Rendering: output/ is current, every formula passes KaTeX, and exact strings for small cases."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import EXACT, ROOT, need, random_spec, spec_from
from derive.pipeline import derive
from derive.errors import UsageError
from derive.examples import EXAMPLES, generate
from derive.render.printer import NOTATIONS, format_number
from derive.render.page import render
from derive.spec.parse import load_spec, preset_names

KATEX_DIR = ROOT / "tests" / "katex"


def formulas(markdown: str) -> list[dict]:
    """Every $$display$$ and $inline$ formula of a Markdown text."""
    found = [{"tex": m.strip(), "display": True} for m in re.findall(r"\$\$(.+?)\$\$", markdown, flags=re.S)]
    rest = re.sub(r"\$\$(.+?)\$\$", "", markdown, flags=re.S)
    rest = re.sub(r"`[^`\n]*`", "", rest)
    found += [{"tex": m, "display": False} for m in re.findall(r"\$([^$\n]+?)\$", rest)]
    return found


def katex_errors(items: list[dict]) -> list[dict]:
    need(shutil.which("node") is not None, "node is not installed")
    need((KATEX_DIR / "node_modules" / "katex").is_dir(), "KaTeX is not installed: npm ci --prefix tests/katex")
    run = subprocess.run(["node", str(KATEX_DIR / "check.js")], input=json.dumps(items), capture_output=True,
                         text=True, check=True, timeout=300)
    return json.loads(run.stdout)


def pdf_text(data: bytes) -> str:
    """The text of a PDF (pdftotext), to compare documents whose bytes depend on the TeX installation."""
    run = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    return run.stdout.decode("utf-8", "replace")


#: A decimal number as generated files print it (coordinates, repr of floats): sign, digits, exponent.
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def same_to_the_last_digit(a: str, b: str) -> bool:
    """Equal texts, except that two numbers may differ by a relative 1e-12, or by one unit of their
    last digit when they have six decimals or more: what a last-bit difference of floating point
    between two CPUs changes (a float printed with repr, a coordinate printed to 6 decimals), and
    nothing a change of the generator would (numbers shown to 4 digits must be equal)."""
    if a == b:
        return True
    parts_a, parts_b = NUMBER.split(a), NUMBER.split(b)
    numbers_a, numbers_b = NUMBER.findall(a), NUMBER.findall(b)
    if parts_a != parts_b or len(numbers_a) != len(numbers_b):
        return False
    for x, y in zip(numbers_a, numbers_b):
        if x == y:
            continue
        fx, fy = float(x), float(y)
        if abs(fx - fy) <= 1e-12 * max(abs(fx), abs(fy)):
            continue
        decimals = [len(v.lower().split("e")[0].partition(".")[2]) for v in (x, y)]
        if "e" in (x + y).lower() or min(decimals) < 6 or abs(fx - fy) > 1.01 * 10.0 ** -min(decimals):
            return False
    return True


def pdf_streams(data: bytes) -> list[str]:
    """The content of a PDF's streams, inflated (Matplotlib compresses them), as text."""
    import zlib

    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, flags=re.S):
        body = m.group(1)
        try:
            body = zlib.decompress(body)
        except zlib.error:
            pass
        out.append(body.decode("latin-1"))
    return out


def test_same_to_the_last_digit():
    assert same_to_the_last_digit('<path d="M 73.123456 L 5"/>', '<path d="M 73.123457 L 5"/>')
    assert same_to_the_last_digit("assert abs(x - 0.1234567890123456)", "assert abs(x - 0.12345678901234565)")
    assert same_to_the_last_digit("g = -1.7810000000000001e-08", "g = -1.781e-08")
    assert not same_to_the_last_digit("g = -1.781e-08", "g = -1.782e-08")
    assert not same_to_the_last_digit('<path d="M 73.123456"/>', '<path d="M 73.123459"/>')
    assert not same_to_the_last_digit("h = 0.5 + 1e-9", "h = 0.5 + 2e-9")
    assert not same_to_the_last_digit("w = 0.7319", "w = 0.7318")
    assert not same_to_the_last_digit("in = 16", "out = 16")


def test_output_directory_is_current():
    """output/ is what the generator writes now, up to the last digit of a computed number (floating
    point may differ in its last bit between machines); a real change of the generator fails."""
    documents_pdf = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None
    need(documents_pdf, "pdflatex and pdftotext (poppler-utils) compare output/*.pdf")
    fresh = generate()
    on_disk = {str(p.relative_to(ROOT / "output")) for p in (ROOT / "output").rglob("*")
               if p.is_file() and p.name != "answers.toml"}
    assert set(fresh) == on_disk, "output/ differs in files from the generator: run python -m derive.examples"
    for name, content in fresh.items():
        path = ROOT / "output" / name
        if isinstance(content, str):
            same = same_to_the_last_digit(path.read_text(encoding="utf-8"), content)
        elif name.endswith(".pdf") and not name.startswith(tuple(f"{p}-" for p in preset_names())):
            same = pdf_text(path.read_bytes()) == pdf_text(content)  # a whole document, compiled by pdflatex
        elif name.endswith(".pdf"):  # a picture: its drawing operators, inflated
            old, new = pdf_streams(path.read_bytes()), pdf_streams(content)
            same = len(old) == len(new) and all(same_to_the_last_digit(a, b) for a, b in zip(old, new))
        elif name.endswith(".svg"):
            same = same_to_the_last_digit(path.read_bytes().decode("utf-8"), content.decode("utf-8"))
        else:
            same = path.read_bytes() == content
        assert same, f"output/{name} is stale: run python -m derive.examples"


@pytest.mark.parametrize("notation", NOTATIONS)
def test_every_formula_renders_in_katex(notation):
    items = []
    for preset in preset_names():
        items += formulas(render(derive(load_spec(preset)), notation=notation, views=("scalar", "matrix", "tape")))
    # no preset takes mini-batches: the page names a parameter after the first of several updates θ⁽¹⁾
    # (in the layer notation W^{[1](1)}_{11}, one superscript, not TeX's "double superscript" error)
    mini = derive(random_spec("mse", "identity", "sigmoid", training='optimizer = "adam"\nbatch_size = 2'))
    assert mini.after_step is not None and len(mini.after_step.rates) > 1
    items += formulas(render(mini, notation=notation))
    assert len(items) > 100
    assert katex_errors(items) == []


def test_katex_check_can_fail():
    errors = katex_errors([{"tex": r"\frac{1}{", "display": True}, {"tex": r"x_{1}", "display": False}])
    assert [e["tex"] for e in errors] == [r"\frac{1}{"]


def test_formula_extraction():
    text = "a $x_1$ b `$not` c\n$$\n\\frac{1}{2}\n$$\nand $y$."
    assert formulas(text) == [{"tex": r"\frac{1}{2}", "display": True}, {"tex": "x_1", "display": False},
                              {"tex": "y", "display": False}]


TINY = """
    name = "tiny"
    [network]
    inputs = 1
    loss = "sse"
    [[network.layers]]
    size = 1
    activation = "sigmoid"
    weights = [[2]]
    bias = 0.5
    [[data]]
    x = [-1]
    t = [1]
    [training]
    learning_rate = 0.1
"""


def test_small_network_exact_lines():
    text = render(derive(spec_from(TINY)))
    # forward: z = w x + b with the negative input in parentheses, then σ
    assert r"y_{1}^{\mathrm{in}} &= w_{11} x_{1} + b_{y_{1}} = 2 \cdot \left(-1\right) + 0.5 = -1.5 \\" in text
    assert r"y_{1}^{\mathrm{out}} &= \sigma\left(y_{1}^{\mathrm{in}}\right) = \sigma\left(-1.5\right) \approx 0.1824" in text
    # the loss and its local derivative
    assert r"\frac{\partial L}{\partial e_{1}} &= 2 e_{1} = 2 \cdot \left(-0.8176\right) \approx -1.635" in text
    # the sigmoid's local derivative in its usual form
    assert (r"&= \frac{\partial L}{\partial y_{1}^{\mathrm{out}}} \cdot y_{1}^{\mathrm{out}} "
            r"\left(1 - y_{1}^{\mathrm{out}}\right) \\") in text
    # the update line
    assert r"b_{y_{1}} &\leftarrow b_{y_{1}} - \eta \, \frac{\partial L}{\partial b_{y_{1}}} = 0.5 - 0.1 \cdot \left(-0.2439\right) \approx 0.5244" in text


@pytest.mark.parametrize("notation, needle", [
    ("inout", r"h_{1}^{\mathrm{in}} &= w_{11} x_{1} + w_{21} x_{2}"),
    ("netout", r"\mathrm{net}_{h_{1}} &= w_{11} x_{1} + w_{21} x_{2}"),
    ("layer", r"z^{[1]}_{1} &= W^{[1]}_{11} x_{1} + W^{[1]}_{21} x_{2}"),
])
def test_notation_styles(two_two_two, notation, needle):
    assert needle in render(two_two_two, notation=notation)


def test_two_two_two_reads_like_the_seed(two_two_two):
    text = render(two_two_two)
    # the hidden unit feeding both outputs: the sum over both paths, with numbers
    assert (r"&= \left(-0.1052\right) \cdot 1 + 0.02655 \cdot \left(-2\right) \approx -0.1583") in text
    # the vanishing gradient of w11, reused from the hidden unit's gradient
    assert (r"\frac{\partial L}{\partial w_{11}} &= \frac{\partial L}{\partial h_{1}^{\mathrm{in}}} \, "
            r"\frac{\partial h_{1}^{\mathrm{in}}}{\partial w_{11}} = \left(-1.781 \times 10^{-8}\right) \cdot 3 "
            r"\approx -5.344 \times 10^{-8}") in text
    for heading in ("## The network", "## Forward pass", "## Loss function", "## Backpropagation",
                    "## The gradient over all the data", "## Gradient descent update", "## Training", "## Checks"):
        assert heading in text


def test_user_templates_override_single_templates(tmp_path, two_two_two):
    (tmp_path / "base.md.j2").write_text("CUSTOM {{ spec.name }}\n{% block body %}{% endblock %}")
    text = render(two_two_two, templates=tmp_path)
    assert text.startswith("CUSTOM two-two-two\n") and "## Backpropagation" in text


def test_template_errors_are_one_line(tmp_path, two_two_two):
    (tmp_path / "base.md.j2").write_text("{{ no_such_variable }}")
    with pytest.raises(UsageError, match="template error.*no_such_variable"):
        render(two_two_two, templates=tmp_path)


def test_examples_cover_every_preset():
    assert {p for p, _ in EXAMPLES} == set(preset_names())




def test_exact_arithmetic_keeps_rationals_and_closed_forms():
    import sympy as sp

    d = derive(spec_from(EXACT))
    num = d.instances[0]
    assert num.exact["h2_out"] == sp.Rational(1, 2)                     # σ(0) = 1/2
    assert num.exact["w21"] == sp.Rational(1, 2)                        # 0.5 read as 1/2
    assert sp.simplify(num.exact["h1_out"] - 1 / (1 + sp.exp(-1))) == 0  # σ(1) in closed form
    for key, exact in num.exact_grad.items():                          # exact and float agree
        assert float(sp.N(exact, 30)) == num.grad[key]
    float_d = derive(spec_from(EXACT.replace('arithmetic = "exact"', "")))
    for key in float_d.grad:
        assert d.grad[key] == pytest.approx(float_d.grad[key], rel=1e-14, abs=1e-16)
    text = render(d)
    assert r"h_{2}^{\mathrm{out}} &= \sigma\left(h_{2}^{\mathrm{in}}\right) = \sigma\left(0\right) = \frac{1}{2}" + "\n" in text
    assert (r"h_{1}^{\mathrm{out}} &= \sigma\left(h_{1}^{\mathrm{in}}\right) = \sigma\left(1\right) = "
            r"\frac{1}{e^{-1} + 1} \approx 0.7311") in text
    assert r"w_{11} x_{1} + w_{21} x_{2} + b_{h_{1}} = 1 \cdot 0 + \frac{1}{2} \cdot 2 + 0 = 1 \\" in text
    values = d.to_values()
    assert values["arithmetic"] == "exact"
    assert values["instances"][0]["nodes"]["h2_out"]["exact"]["value"] == "1/2"
    assert katex_errors(formulas(text)) == []


def test_jupyter_display(two_two_two):
    assert two_two_two._repr_markdown_() == render(two_two_two, fragment=True)
    assert r"\section*{Backpropagation}" in two_two_two._repr_latex_()


def test_matrix_view_products_equal_numpy(two_two_two):
    import numpy as np

    from derive.verify import reference

    text = render(two_two_two, views=("scalar", "matrix"))
    assert "## The same in matrices" in text and "## The same in matrices" not in render(two_two_two)
    X, T = reference.data_arrays(two_two_two.spec)
    p = reference.backward(two_two_two.spec, reference.Params.from_spec(two_two_two.spec), X, T)
    page_matrix = lambda rows: r"\begin{bmatrix} " + r" \\ ".join(  # noqa: E731
        " & ".join(format_number(float(x)) for x in row) for row in rows) + r" \end{bmatrix}"
    H = p.A[0]
    assert r"\frac{\partial L}{\partial V} &= H^\top \frac{\partial L}{\partial Y^{\mathrm{in}}} = " in text
    assert f"= {page_matrix(H.T @ p.dZ[1])} && (2 \\times 2)" in text        # V's gradient: H^T dY_in
    assert f"= {page_matrix(X.T @ p.dZ[0])} && (2 \\times 2)" in text        # W's gradient: X^T dH_in
    assert f"= {page_matrix(p.dZ[1] @ np.array(two_two_two.spec.layers[1].weights).T)} && (2 \\times 2)" in text
    assert katex_errors(formulas(text)) == []


def test_unknown_view_is_a_usage_error(two_two_two):
    with pytest.raises(UsageError, match="--views: unknown view 'graph'"):
        render(two_two_two, views=("scalar", "graph"))


def test_tape_replay_adds_up_to_every_gradient(two_two_two):
    from collections import defaultdict

    from derive.render.page import Page

    page = Page(two_two_two, views=("tape",))
    for num in two_two_two.instances:
        total = defaultdict(float)
        for node, parent, g, local, product in page.replay(num):
            assert product == g * local
            total[parent] += product
        for key, g in num.grad.items():
            if key != "L":
                assert total[key] == pytest.approx(g, rel=1e-12, abs=1e-300), key
    text = render(two_two_two, views=("tape",))
    assert "## The tape" in text and "| 11 | $L = e_{1}^{2} + e_{2}^{2}$ | $0.08699$ |" in text
