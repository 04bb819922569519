"""HTML: the Markdown a template renders, written as HTML whose math KaTeX typesets in the browser.

Each formula is an element of its own, ``<span class="math">TeX</span>`` inline and
``<div class="math display">TeX</div>`` displayed, which the page's script hands to
``katex.render`` (a literal ``$`` in the text is never math). KaTeX itself travels inside the
page (``document.html.j2``; its files are in ``derive/render/katex``), or is loaded from
``--katex URL``. For MathJax pages (Moodle) ``math="delimiters"`` writes ``\\(…\\)`` and ``\\[…\\]``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from functools import lru_cache
from importlib import resources

from derive.render.escape import checked_math, inline_markup, literal
from derive.render.markdown import split_displays, split_inline, write

#: A CDN for --katex, of the version shipped in derive/render/katex.
KATEX_VERSION = "0.16.22"
KATEX_CDN = f"https://cdn.jsdelivr.net/npm/katex@{KATEX_VERSION}/dist"


def _text(text: str) -> str:
    return html.escape(text, quote=False)


def _emphasis(text: str) -> str:
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text, flags=re.S)
    return re.sub(r"\*(.+?)\*", r"<em>\1</em>", text, flags=re.S)


def _mathjax_text(text: str) -> str:
    """Text for a page that MathJax scans for delimiters: no \\( \\[ or $$ can start in it."""
    return _text(text).replace("\\", "\\<span></span>").replace("$", "$<span></span>")


class _Html:
    """The HTML of each kind of block (``math`` is "katex" or "delimiters")."""

    def __init__(self, files: dict[str, bytes], math: str):
        self.files = files
        self.math = math
        self.text = _text if math == "katex" else _mathjax_text

    def inline(self, text: str) -> str:
        return inline_markup(split_inline(text), self.text, _emphasis, lambda m: self.formula(m, display=False),
                             lambda c: "<code>" + self.text(c) + "</code>")

    def formula(self, tex: str, *, display: bool) -> str:
        tex = _text(checked_math(tex))
        if self.math == "delimiters":
            return f'<div class="display">\\[{tex}\\]</div>' if display else f"\\({tex}\\)"
        return f'<div class="math display">{tex}</div>' if display else f'<span class="math">{tex}</span>'

    def mixed(self, text: str) -> str:
        return "".join(self.formula(p, display=True) if kind == "display" else self.inline(p)
                       for kind, p in split_displays(text))

    def display(self, b):
        return self.formula(b.text, display=True)

    def heading(self, b):
        return f"<h{b.level}>{self.inline(b.text)}</h{b.level}>"

    def table(self, b):
        header, *body = b.rows
        lines = ["<tr>" + "".join(f"<th>{self.inline(c)}</th>" for c in header) + "</tr>"]
        lines += ["<tr>" + "".join(f"<td>{self.inline(c)}</td>" for c in row) + "</tr>" for row in body]
        return "<table>\n" + "\n".join(lines) + "\n</table>"

    def item(self, b):
        return f"<li>{self.mixed(b.text)}</li>"

    def rule(self, b):
        return "<hr>"

    def paragraph(self, b):
        return f"<p>{self.mixed(b.text)}</p>"

    def image(self, b):
        """A picture inside the page (a data: URI, so the page stays one file), or linked when not at hand."""
        if b.target in self.files:
            src = "data:image/svg+xml;base64," + base64.b64encode(self.files[b.target]).decode("ascii")
        else:
            src = html.escape(b.target, quote=True)
        alt = html.escape(re.sub(r"[$`*\\]", "", b.text), quote=True)
        return f'<figure><img src="{src}" alt="{alt}"><figcaption>{self.inline(b.text)}</figcaption></figure>'

    @staticmethod
    def list_open():
        return "<ul>"

    @staticmethod
    def list_close():
        return "</ul>"


def markdown_to_html(markdown: str, files: dict[str, bytes] | None = None, *, math: str = "katex") -> str:
    """The HTML body of a rendered worked example (its ``#`` title is left to the page).

    ``files`` holds the pictures the Markdown links to, which the page then carries inside it.
    """
    return "\n".join(write(markdown, _Html(files or {}, math))) + "\n"


def inline_html(text: str) -> str:
    """One line of Markdown (a title) as HTML."""
    return _Html({}, "katex").inline(text)


def plain(text: str) -> str:
    """One line of Markdown as plain text (for ``<title>``): escapes resolved, math as its TeX."""
    out = []
    for kind, part in split_inline(text):
        out.append(part if kind != "text" else literal(part, lambda s: s, lambda s: re.sub(r"\*+", "", s)))
    return " ".join("".join(out).split())


# --------------------------------------------------------------------------- KaTeX inside the page

#: Typesets every formula element; errors show in red in place (throwOnError false), trust off.
RENDER_SCRIPT = """document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".math").forEach(function (el) {
    katex.render(el.textContent, el, {displayMode: el.classList.contains("display"), throwOnError: false,
                                      trust: false, strict: "ignore", maxExpand: 1000});
  });
});"""


@lru_cache(maxsize=1)
def katex_inline() -> tuple[str, str]:
    """(CSS with the fonts as data: URIs, JavaScript) of the KaTeX shipped with derive."""
    folder = resources.files("derive.render") / "katex"
    css = (folder / "katex.min.css").read_text(encoding="utf-8")

    def font(m: re.Match) -> str:
        data = base64.b64encode((folder / "fonts" / m.group(1)).read_bytes()).decode("ascii")
        return f'url(data:font/woff2;base64,{data}) format("woff2")'

    # each @font-face lists woff2, woff and ttf; keep the woff2 alone, inside the CSS
    css = re.sub(r'url\(fonts/([\w-]+\.woff2)\) format\("woff2"\)(,url\(fonts/[\w.-]+\) format\("\w+"\))*', font, css)
    if "url(fonts/" in css:
        raise RuntimeError("katex.min.css names a font file derive does not ship")
    js = (folder / "katex.min.js").read_text(encoding="utf-8")
    return css, js


def script_hash(script: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def html_page(env, *, title: str, body: str, spec, katex: str | None = None) -> str:
    """The standalone page around a body: KaTeX inside it (or loaded from ``katex``, a URL of its
    dist/ folder), and a Content-Security-Policy that lets nothing else load or run."""
    from markupsafe import Markup

    if katex:
        base = katex.rstrip("/")
        origin = "file:" if base.startswith("file:") else base + "/"
        css, js = "", ""
        csp = (f"default-src 'none'; img-src data:; font-src {origin} data:; style-src {origin} 'unsafe-inline'; "
               f"script-src {origin} {script_hash(RENDER_SCRIPT)}")
    else:
        base = ""
        css, js = katex_inline()
        csp = (f"default-src 'none'; img-src data:; font-src data:; style-src 'unsafe-inline'; "
               f"script-src {script_hash(js)} {script_hash(RENDER_SCRIPT)}")
    return env.get_template("document.html.j2").render(
        title=plain(title), heading=Markup(inline_html(title)), body=Markup(body), spec=spec, katex=base,
        katex_css=Markup(css), katex_js=Markup(js), render_script=Markup(RENDER_SCRIPT), csp=csp)
