"""HTML: the Markdown a template renders, written as HTML whose math KaTeX renders in the browser.

The math is left in its delimiters (``$…$`` inline, ``\\[…\\]`` displayed) for KaTeX's
auto-render, which the page template ``document.html.j2`` loads.
"""

from __future__ import annotations

import html
import re

from derive.markdown import parse, split_displays, split_inline

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


def markdown_to_html(markdown: str) -> str:
    """The HTML body of a rendered worked example (its ``#`` title is left to the page)."""
    out: list[str] = []
    in_list = False
    for block in parse(markdown):
        if in_list and block.kind != "item":
            out.append("</ul>")
            in_list = False
        if block.kind == "display":
            out.append(_display(block.text))
        elif block.kind == "heading" and block.level > 1:
            out.append(f"<h{block.level}>{inline(block.text)}</h{block.level}>")
        elif block.kind == "table":
            header, *body = block.rows
            rows = ["<tr>" + "".join(f"<th>{inline(c)}</th>" for c in header) + "</tr>"]
            rows += ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in body]
            out.append("<table>\n" + "\n".join(rows) + "\n</table>")
        elif block.kind == "item":
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_mixed(block.text)}</li>")
        elif block.kind == "rule":
            out.append("<hr>")
        elif block.kind == "paragraph":
            out.append(f"<p>{_mixed(block.text)}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out) + "\n"
