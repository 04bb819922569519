"""The residual-block preset's page: the gradient of the block's input shown as the sum of its two paths (the
residual branch and the skip connection), with numbers that match torch autograd, every chain true in every
format and language."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from derive.pipeline import derive
from derive.render.page import render
from derive.spec.parse import load_spec
from derive.verify.chains import check_page
from tests.conftest import need

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def block():
    return derive(load_spec("residual-block"))


def _paths_by_torch(spec):
    """Per unit of h: (the share through the branch F, the share along the skip connection, their sum), each
    from autograd with the other path detached."""
    t = lambda rows: torch.tensor(np.array(rows, dtype=float), dtype=torch.float64)  # noqa: E731
    (h, f, g, r, y), x = spec.layers, t(spec.data[0].x)
    target = t(spec.data[0].t)

    def run(branch: bool, skip: bool):
        hout = torch.relu(x @ t(h.weights)).requires_grad_()
        hout.retain_grad()
        a = (hout if branch else hout.detach()) @ t(f.weights)
        F = torch.relu(a) @ t(g.weights)
        z = F + (hout if skip else hout.detach())
        out = torch.relu(z) @ t(y.weights)
        (0.5 * ((out - target) ** 2).sum()).backward()
        return hout.grad.numpy()

    return run(True, False), run(False, True), run(True, True)


def test_the_page_shows_the_gradient_of_the_blocks_input_as_the_sum_of_its_two_paths(block):
    md = render(block, fmt="md")
    branch, skip, total = _paths_by_torch(block.spec)
    assert "is the sum of its paths to the loss: through the residual branch, and along the skip connection" in md
    for j in range(2):
        lead = f"For $h_{{{j + 1}}}^{{\\mathrm{{out}}}}$:"
        block = md[md.index(lead):]
        rows = block[:block.index("\\end{aligned}")].splitlines()[3:]
        assert "through the residual branch (layers f, g):" in rows[0] and "along the skip connection to layer r:" in rows[1]
        assert "together:" in rows[2]
        shown = [float(re.search(r"(?:=|\\approx) (-?\d+(?:\.\d+)?)(?: \\\\)?$", row).group(1)) for row in rows]
        np.testing.assert_allclose(shown, [branch[j], skip[j], total[j]], rtol=5e-4)
        assert branch[j] != 0 and skip[j] != 0  # both paths carry something: the sum is not one of them
    report = check_page(md, "md", digits=4)
    assert report.failures == [] and report.comparisons > 0
    # a wrong share is caught by the page's self-check
    row = next(r for r in md.splitlines() if r.startswith("&\\text{through the residual branch"))
    wrong = md.replace(row, row.replace(f"= {branch[0]:g} ", f"= {branch[0] + 0.01:g} "))
    assert wrong != md and len(check_page(wrong, "md", digits=4).failures) == 1


@pytest.mark.parametrize("lang", ["en", "de"])
@pytest.mark.parametrize("fmt", ["md", "tex", "html", "ipynb"])
def test_every_format_shows_the_paths_with_every_chain_true(block, fmt, lang):
    text = render(block, fmt=fmt, lang=lang, views=("scalar", "matrix", "tape"), pictures=fmt in ("html", "ipynb"))
    words = {"en": "along the skip connection to layer r", "de": "entlang der Sprungverbindung zu Schicht r"}[lang]
    assert words in text
    assert check_page(text, fmt, digits=4).failures == []


def test_the_pdf_shows_the_paths(block):
    need(shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None, "pdflatex, pdftotext")
    pdf = render(block, fmt="pdf", pictures=True)
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    flat = " ".join(text.split())
    assert "along the skip connection to layer r" in flat and "through the residual branch (layers f, g)" in flat
