"""HTML: the Markdown a template renders, written as HTML whose math KaTeX renders in the browser.

The math is left in its delimiters (``$…$`` inline, ``\\[…\\]`` displayed) for KaTeX's
auto-render, which the page template ``document.html.j2`` loads.
"""

from __future__ import annotations

import base64
import html
import re

from derive.render.markdown import split_displays, split_inline, write

#: Where the page loads KaTeX from unless told otherwise (--katex).
KATEX_URL = "https://cdn.jsdelivr.net/npm/katex@0.16.22/dist"


def inline(text: str) -> str:
    out = []
    for kind, part in split_inline(text):
        if kind == "math":
            out.append("$" + html.escape(part, quote=False) + "$")
        elif kind == "code":
            out.append("<code>" + html.escape(part, quote=False) + "</code>")
        else:
            part = html.escape(part, quote=False)
            part = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", part, flags=re.S)
            out.append(re.sub(r"\*(.+?)\*", r"<em>\1</em>", part, flags=re.S))
    return "".join(out)


def _display(math: str) -> str:
    return '<div class="display">\\[' + html.escape(math, quote=False) + "\\]</div>"


def _mixed(text: str) -> str:
    return "".join(_display(p) if kind == "display" else inline(p) for kind, p in split_displays(text))


def _table(rows) -> str:
    header, *body = rows
    lines = ["<tr>" + "".join(f"<th>{inline(c)}</th>" for c in header) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in body]
    return "<table>\n" + "\n".join(lines) + "\n</table>"


def _figure(caption: str, file: str, files: dict[str, bytes]) -> str:
    """A picture inside the page (a data: URI, so the page stays one file), or linked when not at hand."""
    if file in files:
        src = "data:image/svg+xml;base64," + base64.b64encode(files[file]).decode("ascii")
    else:
        src = html.escape(file)
    alt = html.escape(caption)
    return f'<figure><img src="{src}" alt="{alt}"><figcaption>{inline(caption)}</figcaption></figure>'


class _Html:
    """The HTML of each kind of block."""

    display = staticmethod(lambda b: _display(b.text))
    heading = staticmethod(lambda b: f"<h{b.level}>{inline(b.text)}</h{b.level}>")
    table = staticmethod(lambda b: _table(b.rows))
    item = staticmethod(lambda b: f"<li>{_mixed(b.text)}</li>")
    rule = staticmethod(lambda b: "<hr>")
    paragraph = staticmethod(lambda b: f"<p>{_mixed(b.text)}</p>")
    list_open = staticmethod(lambda: "<ul>")
    list_close = staticmethod(lambda: "</ul>")


def markdown_to_html(markdown: str, files: dict[str, bytes] | None = None) -> str:
    """The HTML body of a rendered worked example (its ``#`` title is left to the page).

    ``files`` holds the pictures the Markdown links to, which the page then carries inside it.
    """
    class Writer(_Html):
        image = staticmethod(lambda b: _figure(b.text, b.target, files or {}))

    return "\n".join(write(markdown, Writer)) + "\n"
