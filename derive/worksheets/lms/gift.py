"""Moodle's GIFT text format: per variant a category, a description (the network, its picture as a
data URI) and one numerical question per blank, whose answers are the key and the values the
classic mistakes give, each with its diagnosis as feedback and the teacher's partial credit::

    $CATEGORY: $course$/top/derive/two-two-two/variant-01

    ::Variant 01, blank 3\\: instance1.dL/dw11::[html]<p>…</p>{#
    \t=0.0412:0.0001#Right.
    \t=%50%0.0206:0.0001#The factor 2 of the squared error lost …
    }

GIFT's special characters ``~ = # { } :`` are written ``\\~ \\= \\# \\{ \\} \\:`` in every text and a
backslash ``\\\\`` (Moodle's importer turns ``\\n`` into a line break, so a lone backslash in
LaTeX like ``\\nabla`` would break); a question is one line, and a blank line ends it.
A weight is ``%50%`` (one or two digits, then decimals); full credit is a bare ``=``.
"""

from __future__ import annotations

import base64

from derive.i18n import _
from derive.worksheets.lms import Blank, html_math, intro_markdown, number_text, tolerance_text, variant_blanks
from derive.worksheets.lms.cloze import moodle_grade, percent, plain_feedback

SPECIAL = "~=#{}:"


def escape(text: str) -> str:
    """Text as GIFT writes it: backslashes doubled, the special characters escaped, on one line."""
    text = text.replace("\\", "\\\\")
    for ch in SPECIAL:
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split("\n"))


def numerical(b: Blank, decimals: int) -> str:
    tol = tolerance_text(b.tolerance, decimals)
    lines = [f"\t={number_text(b.key, decimals)}:{tol}#Right."]
    for c in b.choices:
        grade = moodle_grade(c.credit)
        weight = "" if grade == 1 else f"%{percent(c.credit)}%"
        lines.append(f"\t={weight}{number_text(c.value, decimals)}:{tol}#{escape(plain_feedback(c.feedback))}")
    return "{#\n" + "\n".join(lines) + "\n}"


def variant_text(run, v) -> str:
    """A variant's part of the GIFT file."""
    decimals = run.settings.rounding.decimals
    picture = run.picture_name(v)
    uri = "data:image/svg+xml;base64," + base64.b64encode(run.picture(v, "svg")).decode("ascii")
    intro = html_math(intro_markdown(run, v)).replace(f'src="{picture}"', f'src="{uri}"')
    out = [f"$CATEGORY: $course$/top/derive/{run.base.name}/variant-{v.label}", "",
           "::" + escape(run.intro_name(v)) + f"::[html]{escape(intro)}", ""]
    for b in variant_blanks(run, v):
        names = {"label": v.label, "n": b.number, "where": b.where, "quantity": b.label, "name": b.name}
        text = html_math(_("Variant %(label)s, blank %(n)s (%(where)s): %(quantity)s = ?") % names
                         + f" {run.settings.rounding.describe()}")
        out += ["::" + escape(_("Variant %(label)s, blank %(n)s: %(name)s") % names) + f"::[html]{escape(text)}"
                f"{numerical(b, decimals)}", ""]
    return "\n".join(out) + "\n"


def document(parts: list[str], run) -> str:
    head = "// " + _("GIFT questions of `%(command)s` (seed %(seed)s): per variant a category, a description (the "
                     "sheet without its blanks) and one numerical question per blank.") % {
        "command": f"derive worksheet {run.base.name}", "seed": run.seed} + "\n\n"
    return head + "".join(parts)
