"""Spec text on its way into a page: escaped for each format, its math checked against a whitelist.

Spec strings reach the pages in two ways. Plain strings (a file name, ``spec.source``) are
written as literal text (:func:`md_text`). Prose (``title``, ``description``) keeps its
``$…$`` math, ``$$…$$`` displays, `code` and *emphasis*, and everything else becomes literal
text (:func:`md_prose`). Both produce Markdown, the one source the other formats are written
from; there every run of text is escaped for its format (:func:`literal`) and every formula is
checked again (:func:`checked_math`) — also the ones derive's own templates write, so that no
TeX outside the whitelist of derive.spec.prose reaches pdflatex or KaTeX, whatever its origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from derive.errors import DeriveError
from derive.spec.prose import math_problem, pieces

#: ASCII punctuation: what a Markdown backslash escape may escape (CommonMark).
_PUNCT = r"!-/:-@\[-`{-~"
ESCAPED = re.compile(rf"\\([{_PUNCT}])")
#: Characters escaped wherever they appear in literal text: Markdown's inline syntax, raw HTML,
#: table cells, and math delimiters.
_MD_SPECIAL = set("\\`*_[]<>&|$#~")
_PRIVATE = 0xE000  # an escaped character travels as U+E000 + its code, past the format's own syntax


def md_text(text: str, *, emphasis: bool = False) -> str:
    """Literal text as Markdown: one line, nothing in it read as syntax (``emphasis`` keeps ``*``)."""
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", text)
    special = _MD_SPECIAL - {"*"} if emphasis else _MD_SPECIAL
    return "".join("\\" + ch if ch in special else ch for ch in text)


def _line_starts(markdown: str) -> str:
    """Lines that Markdown would read as a heading, list item, rule, quote or code block made plain."""
    out = []
    for line in markdown.split("\n"):
        line = line.lstrip(" \t")
        if re.match(r"[-+=]|\*\s|\*+\s*$", line):
            line = "\\" + line
        elif m := re.match(r"(\d+)([.)])", line):
            line = m.group(1) + "\\" + m.group(2) + line[m.end():]
        out.append(line)
    return "\n".join(out)


def md_prose(text: str, *, field: str = "text", one_line: bool = False) -> str:
    """Prose (a title, a description) as Markdown: its math (checked), `code` and *emphasis* kept,
    the rest literal. Displays get a paragraph of their own; a ``one_line`` title keeps them inline."""
    out = []
    for kind, part in pieces(text):
        if kind in ("math", "display"):
            tex = " ".join(checked_math(part, field).split())
            if kind == "display" and not one_line:
                out.append(f"\n\n$${tex}$$\n\n")
            else:
                out.append(f"${tex}$")
        elif kind == "code":
            code = " ".join(part.replace("`", "'").split())
            out.append(f"`{code}`" if code else "")
        else:
            lines = part.split("\n") if not one_line else [" ".join(part.split())]
            out.append("\n".join(md_text(line, emphasis=True) for line in lines))
    joined = "".join(out)
    if one_line:
        return " ".join(joined.split())
    return re.sub(r"\n{3,}", "\n\n", _line_starts(joined)).strip("\n")


def checked_math(tex: str, field: str = "a formula") -> str:
    """The TeX of a formula, or a DeriveError naming what in it is not on the whitelist."""
    problem = math_problem(tex)
    if problem:
        shown = tex if len(tex) <= 40 else tex[:37] + "..."
        raise DeriveError(f"{field}: the math ${shown}$ uses {problem}, which derive does not typeset "
                          "(see the commands allowed in docs/spec.md)")
    return tex


def literal(text: str, escape: Callable[[str], str], markup: Callable[[str], str] = lambda s: s) -> str:
    """A run of Markdown text in another format: ``escape`` makes text literal there, ``markup``
    turns *emphasis* into that format's; backslash-escaped characters stay literal through both."""
    hidden = ESCAPED.sub(lambda m: chr(_PRIVATE + ord(m.group(1))), text)
    shown = markup(escape(hidden))
    return re.sub("[\ue000-\ue07f]", lambda m: escape(chr(ord(m.group()) - _PRIVATE)), shown)
