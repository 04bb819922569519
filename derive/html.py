"""HTML: the Markdown a template renders, written as HTML whose math KaTeX renders in the browser.

The math is left in its delimiters (``$…$`` inline, ``\\[…\\]`` displayed) for KaTeX's
auto-render, which the page template ``document.html.j2`` loads.
"""

from __future__ import annotations

import html
import re

from derive.markdown import split_displays, split_inline, write

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


def markdown_to_html(markdown: str) -> str:
    """The HTML body of a rendered worked example (its ``#`` title is left to the page)."""
    return "\n".join(write(markdown, _Html)) + "\n"
