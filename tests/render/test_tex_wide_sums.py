"""PDF: a layer normalization over many features writes its mean and variance as one long fraction; in the
form of a display broken to fit the line (``\\fitrow``) that fraction is ``\\frac{1}{F} \\bigl( … \\bigr)``, which
breaks between its terms. Checked where a reader sees it: no word of the PDF lies beyond the text's right margin,
and the self-check reads the broken rows too."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import need, spec_from
from derive.pipeline import derive
from derive.render.page import render
from derive.render.tex import _open_fractions, _terms
from derive.verify.chains import check_page, find_chains

MARGIN_PT = 2.2 / 2.54 * 72  # the documents' \usepackage[margin=2.2cm]{geometry}


def layernorm_spec(features: int, notation_name: str = "ln") -> str:
    weights = [[round(((i * 3 + j * 5) % 7 - 3) * 0.25, 2) for j in range(features)] for i in range(2)]
    out = [[round(0.1 * (j + 1) * (-1) ** j, 2)] for j in range(features)]
    return f"""
name = "{notation_name}{features}"
[network]
inputs = 2
loss = "half_sse"
[[network.layers]]
name = "h"
size = {features}
activation = "identity"
weights = {weights}
[[network.layers]]
name = "n"
type = "layernorm"
activation = "tanh"
[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = {out}
[[data]]
x = [1.5, -0.5]
t = [1]
"""


def beyond_the_margin(pdf: bytes, tmp_path) -> list[tuple[int, str, float]]:
    """(page, word, how far past) of every word whose right edge lies beyond the text's right margin."""
    need(shutil.which("pdftotext") is not None, "pdftotext is not installed (poppler-utils)")
    (tmp_path / "doc.pdf").write_bytes(pdf)
    xml = subprocess.run(["pdftotext", "-bbox", str(tmp_path / "doc.pdf"), "-"], capture_output=True, text=True,
                         check=True).stdout
    out = []
    pages = re.finditer(r'<page width="([\d.]+)" height="[\d.]+"(.*?)</page>', xml, flags=re.S)
    for number, page in enumerate(pages, start=1):
        right = float(page.group(1)) - MARGIN_PT
        for x, word in re.findall(r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)<',
                                  page.group(2)):
            if float(x) > right + 1.0:  # a point of slack for the glyphs' side bearings
                out.append((number, word, round(float(x) - right, 1)))
    return out


@pytest.mark.parametrize("features", [6, 8, 12])
@pytest.mark.parametrize("notation", ["inout", "layer"])
def test_a_layernorm_over_many_features_stays_inside_the_margin(features, notation, tmp_path):
    need(shutil.which("pdflatex") is not None, "pdflatex is not installed")
    d = derive(spec_from(layernorm_spec(features)))
    pdf = render(d, fmt="pdf", notation=notation)
    assert beyond_the_margin(pdf, tmp_path) == []
    # the mean and variance were set in the broken form, and its rows are what the self-check read
    tex = render(d, fmt="tex", notation=notation)
    assert "\\frac{1}{" + str(features) + "} \\bigl(" in tex
    report = check_page(tex, "tex", digits=4)
    assert report.failures == []
    broken = [c for _line, c in find_chains(tex, "tex") if "\\bigl(" in c.text]
    assert broken and all(len(c.members) >= 2 for c in broken)


def test_the_margin_check_can_fail(tmp_path):
    """The same page with the broken form's fractions kept whole runs past the margin (what the PDF showed)."""
    need(shutil.which("pdflatex") is not None, "pdflatex is not installed")
    from derive.render import tex as writer

    d = derive(spec_from(layernorm_spec(8)))
    keep = writer._open_fractions
    try:
        writer._open_fractions = lambda math: math
        pdf = render(d, fmt="pdf")
    finally:
        writer._open_fractions = keep
    assert beyond_the_margin(pdf, tmp_path)


def test_a_long_fraction_opens_between_its_terms():
    long = " + ".join(rf"\left(\left({-k}.5\right) - 0.25\right)^{{2}}" for k in range(1, 6))
    row = rf"= \frac{{{long}}}{{5}} \approx 1"
    opened = _open_fractions(row)
    assert opened.startswith(r"= \frac{1}{5} \bigl( {\left(\left(-1.5\right) - 0.25\right)^{2}} + {")
    assert opened.endswith(r"} \bigr) \approx 1") and opened.count("{\\left(\\left(") == 5
    assert _open_fractions(r"\frac{h - \mu}{\sqrt{s}}") == r"\frac{h - \mu}{\sqrt{s}}"  # short: left whole
    assert _terms(r"\left(a - b\right)^{2} + c - {d + e}") == [("", r"\left(a - b\right)^{2}"), ("+", "c"),
                                                                ("-", "{d + e}")]


def test_the_self_check_reads_the_broken_rows():
    """A false number in the broken form of a display, which the PDF shows when the display is too wide, is caught
    (the self-check used to read only the display as written, not the rows set in its place)."""
    tex = render(derive(spec_from(layernorm_spec(12))), fmt="tex")
    row = next(m for m in re.finditer(r"\\fitrow\{= \\frac\{1\}\{12\} \\bigl\(.*?\\approx (-?[\d.]+)\}", tex))
    wrong = tex[:row.start(1)] + "0.5" + tex[row.end(1):]
    assert len(check_page(wrong, "tex", digits=4).failures) == 1
