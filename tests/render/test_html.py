"""HTML: the writer by exact strings, and every page rendered by KaTeX in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import ROOT, need
from derive.pipeline import derive
from derive.render.html import markdown_to_html
from derive.render.printer import NOTATIONS
from derive.render.page import render
from derive.spec.parse import load_spec, preset_names

KATEX_DIST = ROOT / "tests" / "katex" / "node_modules" / "katex" / "dist"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_writer():
    md = "# T\n\n## A *b* & c\n\nx < $a_{1} < 2$ and `k_1`\n\n$$\n\\frac{1}{2} & 3\n$$\n\n| h | $x$ |\n|---|---|\n| 1 | 2 |\n"
    assert markdown_to_html(md) == (
        "<h2>A <em>b</em> &amp; c</h2>\n<p>x &lt; $a_{1} &lt; 2$ and <code>k_1</code></p>\n"
        '<div class="display">\\[\\frac{1}{2} &amp; 3\\]</div>\n'
        "<table>\n<tr><th>h</th><th>$x$</th></tr>\n<tr><td>1</td><td>2</td></tr>\n</table>\n")


def dom(page: str, tmp_path) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    need(browser is not None, "chromium is not installed")
    need(KATEX_DIST.is_dir(), "KaTeX is not installed: npm ci --prefix tests/katex")
    path = tmp_path / "page.html"
    path.write_text(page)
    run = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=20000", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=180)
    return run.stdout


def formula_count(page: str) -> int:
    """Displays plus inline formulas of a page's body."""
    body = page[page.index("<body>"):]
    displays = re.findall(r'<div class="display">.*?</div>', body, flags=re.S)
    rest = re.sub(r'<div class="display">.*?</div>', "", body, flags=re.S)
    return len(displays) + rest.count("$") // 2


def rendered_ok(page: str, tmp_path) -> bool:
    """Every formula became KaTeX output (a broken one stays raw text or becomes a katex-error)."""
    rendered = dom(page, tmp_path)
    return "katex-error" not in rendered and rendered.count('class="katex"') == formula_count(page)


@pytest.mark.parametrize("preset", preset_names())
@pytest.mark.parametrize("notation", NOTATIONS)
def test_page_renders_every_formula(preset, notation, tmp_path):
    page = render(derive(load_spec(preset)), fmt="html", notation=notation, katex=KATEX_DIST.as_uri(),
                  views=("scalar", "matrix", "tape"))
    assert formula_count(page) > 50
    assert rendered_ok(page, tmp_path)


def test_dom_check_can_fail(tmp_path):
    page = render(derive(load_spec("two-two-two")), fmt="html", katex=KATEX_DIST.as_uri())
    assert not rendered_ok(page.replace(r"\frac{\partial L}", r"\frac{\partial L", 1), tmp_path)
    assert not rendered_ok(page.replace(r"\partial", r"\partail", 1), tmp_path)


def test_fragment_and_default_katex(two_two_two):
    assert render(two_two_two, fmt="html", fragment=True).startswith("<p>A 2-2-2 network")
    assert "cdn.jsdelivr.net/npm/katex@0.16.22/dist/katex.min.js" in render(two_two_two, fmt="html")
