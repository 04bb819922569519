"""Audits of hand-made documents with known mistakes and known correct lines.

The homework is Matt Mazur's 2-2-2 example (tests/fixtures/audit/mazur.toml) in his notation, as
Markdown, HTML and a notebook; the LaTeX write-up is the 2-2-2 network of the seed post. The true
values come from Mazur's published figures and an independent NumPy pass, never from the tool.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import FIXTURES
from derive.grade.audit.documents import read_document
from derive.grade.audit.report import audit
from derive.cli import main
from derive.pipeline import derive
from derive.spec.parse import load_spec

DOCS = FIXTURES / "audit"


def mazur_numpy():
    """Mazur's network in NumPy: forward, backward, the update (biases fixed, as in his post)."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    i, t = np.array([0.05, 0.10]), np.array([0.01, 0.99])
    W, V = np.array([[0.15, 0.25], [0.20, 0.30]]), np.array([[0.40, 0.50], [0.45, 0.55]])

    def run(W, V, V_back=None):
        h = sig(i @ W + 0.35)
        o = sig(h @ V + 0.60)
        d_o = (o - t) * o * (1 - o)
        d_h = ((V if V_back is None else V_back) @ d_o) * h * (1 - h)
        return {"h": h, "net_o": h @ V + 0.60, "o": o, "E": 0.5 * np.sum((t - o) ** 2),
                "gV": np.outer(h, d_o), "gW": np.outer(i, d_h)}

    r = run(W, V)
    W1, V1 = W - 0.5 * r["gW"], V - 0.5 * r["gV"]
    r["V+"], r["W+"], r["E+"] = V1, W1, run(W1, V1)["E"]
    r["gW with V+"] = run(W, V, V_back=V1)["gW"]
    r["V+ at 0.6"] = V - 0.6 * r["gV"]
    return r


#: Mazur's published figures (they agree with NumPy to the digits he prints)
PUBLISHED = {"out_h1": 0.593269992, "E_total": 0.298371109, "dE/dw5": 0.082167041, "w5+": 0.35891648,
             "w6+": 0.408666186, "w7+": 0.511301270, "w8+": 0.561370121, "w1+": 0.149780716}

#: (the number as written, quantity, words of the diagnosis) of every known mistake of the homework
HOMEWORK_MISTAKES = [
    ("0.5932", "instance1.h1_out", "cut off instead of rounded"),
    ("1.105877970", "instance1.o1_in", "follows correctly from the document's own wrong instance1.h1_out"),
    ("-0.082667628", "instance1.dL/dv21", "sign"),
    ("0.563644145", "update.v22", "learning rate 0.6"),
    ("0.000729446", "instance1.dL/dw21", "updated weights"),
    ("0.291027924", "update.L", "right to 6 significant digits"),
]
#: numbers of the homework that are right (each must be checked and never flagged)
HOMEWORK_RIGHT = ["0.3775", "0.596884378", "0.75136507", "0.772928465", "0.298371109", "0.082167041", "0.35891648",
                  "0.408666186", "0.511301270", "0.036350306", "0.000438568", "0.149780716", "0.19956143",
                  "0.24975114", "0.29950229"]


def test_the_published_figures_are_the_numpy_ones():
    r = mazur_numpy()
    assert r["h"][0] == pytest.approx(PUBLISHED["out_h1"], abs=5e-10)
    assert r["E"] == pytest.approx(PUBLISHED["E_total"], abs=5e-10)
    assert r["gV"][0, 0] == pytest.approx(PUBLISHED["dE/dw5"], abs=5e-10)
    assert [r["V+"][0, 0], r["V+"][1, 0], r["V+"][0, 1], r["V+"][1, 1]] == pytest.approx(
        [PUBLISHED[k] for k in ("w5+", "w6+", "w7+", "w8+")], abs=5e-9)
    assert r["W+"][0, 0] == pytest.approx(PUBLISHED["w1+"], abs=5e-10)
    # Mazur's "total error is down to 0.291027924" is off in the 7th digit: the example
    assert round(r["E+"], 9) == 0.291027774


def line_of(path, written: str) -> int:
    for k, line in enumerate(path.read_text().splitlines(), start=1):
        if written in line:
            return k
    raise AssertionError(f"{written} not in {path}")


@pytest.mark.parametrize("fmt", ["md", "html", "ipynb"])
def test_mazur_homework(fmt):
    path = DOCS / f"mazur_homework.{fmt}"
    d = derive(load_spec(str(DOCS / "mazur.toml")))
    report = audit(d, read_document(path))
    r = mazur_numpy()
    truth = {"instance1.h1_out": r["h"][0], "instance1.o1_in": r["net_o"][0], "instance1.dL/dv21": r["gV"][1, 0],
             "update.v22": r["V+"][1, 1], "instance1.dL/dw21": r["gW"][1, 0], "update.L": r["E+"]}
    found = {(f.written, f.quantity, f.verdict): f for f in report.findings}
    assert len(report.findings) == len(HOMEWORK_MISTAKES), [(f.line, f.written) for f in report.findings]
    for written, quantity, words in HOMEWORK_MISTAKES:
        f = found[(written, quantity, "wrong")]
        assert words in f.diagnosis, (written, f.diagnosis)
        assert f.expected == pytest.approx(truth[quantity], rel=1e-9)
        assert f.line == line_of(path, written)
    # the numbers the mistakes stand for are what the mistakes give (so the diagnoses are true)
    assert round(r["V+ at 0.6"][1, 1], 9) == 0.563644145
    assert round(r["gW with V+"][1, 0], 9) == 0.000729446
    assert round(-r["gV"][1, 0], 9) == -0.082667628
    assert report.first_wrong == sorted(line_of(path, w) for w, q, _ in HOMEWORK_MISTAKES if "follows" not in _)
    follows = found[("1.105877970", "instance1.o1_in", "wrong")]
    assert follows.origin == [line_of(path, "0.5932")]
    assert report.checked >= len(HOMEWORK_RIGHT) + len(HOMEWORK_MISTAKES)


def test_correct_lines_of_the_homework_are_never_flagged():
    path = DOCS / "mazur_homework.md"
    report = audit(derive(load_spec(str(DOCS / "mazur.toml"))), read_document(path))
    flagged = {(f.line, f.written) for f in report.findings}
    for written in HOMEWORK_RIGHT:
        assert (line_of(path, written), written) not in flagged, written


def test_latex_writeup_with_an_inconsistent_chain(capsys):
    path = DOCS / "writeup.tex"
    report = audit(derive(load_spec("two-two-two")), read_document(path))
    by_line = {f.line: f for f in report.findings}
    loss = line_of(path, "0.07188 + 0.01153")
    assert set(by_line) == {loss, line_of(path, "-0.5362")}
    bad = by_line[loss]
    assert bad.verdict == "inconsistent" and bad.written == "0.07188 + 0.01153"
    assert bad.expected == pytest.approx(0.2681 ** 2 + 0.1230 ** 2, abs=1e-5)  # the member before it (its range's middle)
    assert bad.given == pytest.approx(0.07188 + 0.01153, rel=1e-12)
    # 2·(−0.2681) = −0.5362 carries a rounded e₁ forward; the true gradient 2(y₁ − 1) rounds to −0.5361
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    y1 = sig(1 * sig(16) + 0.25 * sig(-4))
    rounded = by_line[line_of(path, "-0.5362")]
    assert rounded.verdict == "wrong" and rounded.expected == pytest.approx(2 * (y1 - 1), rel=1e-12)
    assert round(2 * (y1 - 1), 4) == -0.5361
    with pytest.raises(SystemExit) as exit:
        main(["audit", "two-two-two", str(path), "--format", "json"])
    assert exit.value.code == 1
    out = json.loads(capsys.readouterr().out)
    assert [f["verdict"] for f in out["findings"]] == ["inconsistent", "wrong"]


def test_reports_render(capsys):
    for fmt in ("text", "md"):
        with pytest.raises(SystemExit) as exit:
            main(["audit", str(DOCS / "mazur.toml"), str(DOCS / "mazur_homework.md"), "--format", fmt])
        assert exit.value.code == 1
        out = capsys.readouterr().out
        assert "0.291027924" in out and "learning rate 0.6" in out and "6 wrong" in out


def test_a_clean_document_exits_0(tmp_path, capsys):
    page = tmp_path / "ok.md"
    page.write_text("The output is $y_{1}^{\\mathrm{out}} = \\sigma(1.004) \\approx 0.7319$ and "
                    "$L = 0.08699 + 0.3303 \\approx 0.4172$.\n")
    with pytest.raises(SystemExit) as exit:
        main(["audit", "two-two-two", str(page)])
    assert exit.value.code == 0
    assert "0 wrong, 0 inconsistent" in capsys.readouterr().out


def test_numbers_about_other_inputs_are_not_held_to_the_spec(tmp_path):
    """A prediction for a new input is unmatched, not wrong; after the next heading the spec holds again."""
    page = tmp_path / "predictions.md"
    page.write_text("# Predictions\n\n"
                    "The network gives $y_{1}^{\\mathrm{out}} \\approx 0.7319$ for the first instance.\n\n"
                    "For a new input $x = (1, 1)$ it gives $y_{1}^{\\mathrm{out}} = 0.6012$.\n\n"
                    "```python\nX = np.array([[2., 0.5]])\nprint(net.forward(X))\n>>> [[0.6512 0.2]]\n```\n\n"
                    "## Back to the training data\n\n"
                    "Here $y_{1}^{\\mathrm{out}} = 0.6012$ is simply wrong.\n")
    report = audit(derive(load_spec("two-two-two")), read_document(page))
    assert [(f.line, f.verdict) for f in report.findings] == [(5, "unmatched"), (15, "wrong")]


def test_a_page_that_declares_its_digits_is_held_to_them(tmp_path):
    """derive's pages say "Numbers are shown to 4 significant digits": a weight printed 0.5 there is
    0.49995 … 0.50005, not 0.45 … 0.55. A factor changed inside a chain (−0.3082 to −0.3382 in
    (−0.3382) · 0.5 ≈ −0.1541, 10 % off) hid in the ±10 % that 0.5 got, and is now found; the page as
    rendered stays clean, and the same edit in a document that declares nothing is read as before."""
    from conftest import small_net, spec_from
    from derive.render.page import render

    d = derive(spec_from(small_net(), "mini"))
    page = render(d)
    assert "shown to 4 significant digits" in page
    (tmp_path / "page.md").write_text(page)
    assert audit(d, read_document(tmp_path / "page.md")).findings == []
    line = next(k for k, text in enumerate(page.splitlines()) if r"\left(-0.3082\right) \cdot 0.5 \approx -0.1541" in text)
    lines = page.splitlines()
    lines[line] = lines[line].replace(r"\left(-0.3082\right)", r"\left(-0.3382\right)")
    (tmp_path / "edited.md").write_text("\n".join(lines) + "\n")
    report = audit(d, read_document(tmp_path / "edited.md"))
    assert [(f.line, f.verdict) for f in report.findings] == [(line + 1, "inconsistent")]
    undeclared = "\n".join(lines).replace("Numbers are shown to 4 significant digits", "Numbers are rounded")
    (tmp_path / "undeclared.md").write_text(undeclared + "\n")
    assert audit(d, read_document(tmp_path / "undeclared.md")).findings == []
