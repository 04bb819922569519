"""HTML: the writer by exact strings, and every page typeset by KaTeX in headless Chromium with the
network off — KaTeX and its fonts travel inside the page."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading

import pytest

from conftest import network_presets, ROOT, need
from derive.pipeline import derive
from derive.render.html import KATEX_CDN, markdown_to_html
from derive.render.printer import NOTATIONS
from derive.render.page import render
from derive.spec.parse import load_spec, preset_names

KATEX_DIST = ROOT / "tests" / "katex" / "node_modules" / "katex" / "dist"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_writer():
    md = ("# T\n\n## A *b* & c\n\nx < $a_{1} < 2$ and `k_1` cost \\$5 \\*not\\* emphasis\n\n$$\n\\frac{1}{2} & 3\n$$\n\n"
          "| h | $x$ |\n|---|---|\n| 1 | 2 |\n")
    assert markdown_to_html(md) == (
        "<h2>A <em>b</em> &amp; c</h2>\n"
        '<p>x &lt; <span class="math">a_{1} &lt; 2</span> and <code>k_1</code> cost $5 *not* emphasis</p>\n'
        '<div class="math display">\\frac{1}{2} &amp; 3</div>\n'
        '<table>\n<tr><th>h</th><th><span class="math">x</span></th></tr>\n<tr><td>1</td><td>2</td></tr>\n</table>\n')
    assert markdown_to_html("a $x$ b\n", math="delimiters") == "<p>a \\(x\\) b</p>\n"


class Sink:
    """A proxy that accepts connections and records them: every request the browser makes goes here
    (and host names resolve to nothing), so a page that works offline must leave it empty."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.requests.append(conn.recv(4096))
            except OSError:
                self.requests.append(b"?")
            conn.close()

    def close(self):
        self.server.close()


def browse(page: str, tmp_path, *, shot: str | None = None) -> tuple[str, list[bytes]]:
    """The page's DOM after its scripts ran in headless Chromium, offline; and the requests it made."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    need(browser is not None, "chromium is not installed")
    path = tmp_path / "page.html"
    path.write_text(page)
    sink = Sink()
    offline = [f"--proxy-server=http://127.0.0.1:{sink.port}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    what = [f"--screenshot={shot}", "--window-size=1000,1400"] if shot else ["--dump-dom"]
    try:
        run = subprocess.run([browser, *CHROMIUM_FLAGS, *offline, f"--user-data-dir={tmp_path / 'profile'}",
                              "--virtual-time-budget=20000", *what, path.as_uri()],
                             capture_output=True, text=True, timeout=180)
    finally:
        sink.close()
    # Chromium's own housekeeping (its clock, updates) goes to Google's hosts; the page's would not
    own = re.compile(rb"^\S+ (https?://)?[\w.-]*(google\.com|googleapis\.com|gvt1\.com)[:/ ]")
    return run.stdout, [r for r in sink.requests if not own.match(r)]


def formula_count(page: str) -> int:
    """The formula elements of a page's body."""
    return len(re.findall(r'class="math( display)?"', page[page.index("<body>"):]))


def typeset(dom: str) -> int:
    """The formula elements that KaTeX filled (a broken formula becomes a katex-error instead)."""
    return len(re.findall(r'class="math( display)?"><span class="katex(-display)?"', dom))


def rendered_ok(page: str, tmp_path) -> bool:
    """Every formula became KaTeX output, offline, and the page asked the network for nothing."""
    dom, requests = browse(page, tmp_path)
    body = dom[dom.find("<body"):]  # (the page's own KaTeX script names katex-error)
    return not requests and "katex-error" not in body and typeset(body) == formula_count(page) > 0


@pytest.mark.parametrize("preset", network_presets())
@pytest.mark.parametrize("notation", NOTATIONS)
def test_page_renders_every_formula_offline(preset, notation, tmp_path):
    page = render(derive(load_spec(preset)), fmt="html", notation=notation, views=("scalar", "matrix", "tape"))
    assert formula_count(page) > 50
    assert rendered_ok(page, tmp_path)


def test_dom_check_can_fail(tmp_path):
    page = render(derive(load_spec("two-two-two")), fmt="html")
    assert not rendered_ok(page.replace(r"\frac{\partial L}", r"\frac{\partial L", 1), tmp_path)
    assert not rendered_ok(page.replace(r"\partial", r"\partail", 1), tmp_path)
    # the CDN page asks the network (and, offline, typesets nothing)
    dom, requests = browse(render(derive(load_spec("two-two-two")), fmt="html", katex=KATEX_CDN), tmp_path)
    assert requests and typeset(dom) == 0


def test_page_carries_katex_and_its_fonts(two_two_two):
    page = render(two_two_two, fmt="html")
    assert "katex.render(" in page and "cdn.jsdelivr" not in page
    assert page.count("data:font/woff2;base64,") == 20 and "url(fonts/" not in page
    # nothing is fetched: every src and href is a data: URI
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not [u for u in re.findall(r'(?:src|href)="([^"]*)"', markup) if not u.startswith("data:")]
    assert "default-src &#39;none&#39;" in page  # and the policy would refuse anything else


def test_fonts_load_offline(tmp_path, two_two_two):
    """The KaTeX fonts a page uses load from the page itself (checked by the browser's FontFaceSet)."""
    page = render(two_two_two, fmt="html")
    probe = ("<script>window.addEventListener('load', function () { setTimeout(function () {"
             "document.body.setAttribute('data-fonts', Array.from(document.fonts).filter(function (f) {"
             "return f.status !== 'unloaded'; }).map(function (f) { return f.family + ':' + f.status; }).join(' '));"
             "}, 500); });</script></body>")
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page).replace("</body>", probe)
    dom, requests = browse(page, tmp_path)
    fonts = re.search(r'data-fonts="([^"]*)"', dom).group(1).split()
    assert not requests
    assert "KaTeX_Main:loaded" in fonts and "KaTeX_Math:loaded" in fonts, fonts
    assert not [f for f in fonts if not f.endswith(":loaded")], fonts


def test_katex_url_still_works(tmp_path, two_two_two):
    need(KATEX_DIST.is_dir(), "KaTeX is not installed: npm ci --prefix tests/katex")
    page = render(two_two_two, fmt="html", katex=KATEX_DIST.as_uri() + "/")
    assert f'src="{KATEX_DIST.as_uri()}/katex.min.js"' in page and "data:font" not in page
    assert rendered_ok(page, tmp_path)


def test_screenshot(tmp_path):
    """A picture of the page for a person to look at (kept in tmp); here: it is not blank."""
    page = render(derive(load_spec("slp-identity")), fmt="html", views=("scalar", "matrix"))
    shot = tmp_path / "page.png"
    browse(page, tmp_path, shot=str(shot))
    assert shot.is_file() and shot.stat().st_size > 20_000


def test_fragment(two_two_two):
    assert render(two_two_two, fmt="html", fragment=True).startswith("<p>A 2-2-2 network")
