"""Moodle "Embedded answers (Cloze)" questions in Moodle XML: one question per variant.

The question text is the variant's sheet (the network picture embedded as a file of the question,
the data, the loss, the rounding policy) and a table with every blank as a NUMERICAL
sub-question: ``{1:NUMERICAL:=0.7319:0.0001#Right.~%50%0.3660:0.0001#The factor 2 …}``. The
key is worth full marks; each value a classic mistake gives is a further answer with its
diagnosis as feedback and the teacher's partial credit (``[worksheet] partial``).

Cloze syntax (Moodle's qtype_multianswer): an answer ends at an unescaped ``~``, ``#`` or ``}``,
a feedback at an unescaped ``~`` or ``}``; numbers match ``-?(\\d+[.,]?\\d*|[.,]\\d+)([eE][-+]?\\d+)?``.
Feedback texts here never contain ``{ } ~ #`` or a backslash (they are replaced), so nothing
depends on how a Moodle version unescapes them.
"""

from __future__ import annotations

import base64
import html
import xml.etree.ElementTree as ET

from derive.i18n import _
from derive.worksheets.lms import Blank, html_math, intro_markdown, number_text, tolerance_text, variant_blanks

#: The grades Moodle accepts for an answer (question_bank::fraction_options), as fractions.
MOODLE_GRADES = (1.0, 0.9, 0.8333333, 0.8, 0.75, 0.7, 0.6666667, 0.6, 0.5, 0.4, 0.3333333, 0.3, 0.25, 0.2,
                 0.1666667, 0.1428571, 0.125, 0.1111111, 0.1, 0.05, 0.0)


def moodle_grade(credit: float) -> float:
    """The Moodle grade nearest to a credit (Moodle refuses other fractions on import)."""
    return min(MOODLE_GRADES, key=lambda g: (abs(g - credit), -g))


def percent(credit: float) -> str:
    """A grade as Moodle's percent: 50, 33.33333, 0."""
    return f"{100 * moodle_grade(credit):.5f}".rstrip("0").rstrip(".")


def plain_feedback(text: str) -> str:
    """Feedback safe inside a cloze answer and a GIFT answer alike: HTML-escaped, without { } ~ # \\."""
    for bad, good in (("{", "("), ("}", ")"), ("~", "-"), ("#", "no. "), ("\\", "/")):
        text = text.replace(bad, good)
    return html.escape(text, quote=False)


def subquestion(b: Blank, decimals: int) -> str:
    """One blank as a NUMERICAL sub-question with the mistake answers."""
    tol = tolerance_text(b.tolerance, decimals)
    parts = [f"={number_text(b.key, decimals)}:{tol}#{plain_feedback(_('Right.'))}"]
    for c in b.choices:
        parts.append(f"%{percent(c.credit)}%{number_text(c.value, decimals)}:{tol}#{plain_feedback(c.feedback)}")
    return "{1:NUMERICAL:" + "~".join(parts) + "}"


def question(run, v) -> ET.Element:
    """The cloze question of one variant, as a Moodle XML <question>."""
    decimals = run.settings.rounding.decimals
    picture = run.picture_name(v)
    blanks = variant_blanks(run, v)
    rows = "\n".join(
        f"<tr><td>{b.number}</td><td>{html_math(b.label).strip().removeprefix('<p>').removesuffix('</p>')}</td>"
        f"<td>{b.where}</td><td><code>{html.escape(b.name)}</code></td><td>{subquestion(b, decimals)}</td></tr>"
        for b in blanks)
    body = html_math(intro_markdown(run, v)).replace(f'src="{picture}"', f'src="@@PLUGINFILE@@/{picture}"')
    text = (f"{body}\n<table class=\"generaltable\">\n"
            "<tr><th>#</th>" + "".join(f"<th>{html.escape(h)}</th>" for h in (
                _("quantity"), run.where_heading, _("answers file"), _("your answer"))) + "</tr>\n"
            f"{rows}\n</table>\n")
    q = ET.Element("question", {"type": "cloze"})
    ET.SubElement(ET.SubElement(q, "name"), "text").text = _("%(name)s: variant %(label)s (%(code)s)") % {
        "name": run.base.name, "label": v.label, "code": run.code(v)}
    qt = ET.SubElement(q, "questiontext", {"format": "html"})
    ET.SubElement(qt, "text").text = text
    file = ET.SubElement(qt, "file", {"name": picture, "path": "/", "encoding": "base64"})
    file.text = base64.b64encode(run.picture(v, "svg")).decode("ascii")
    feedback = "".join(f"<p>{b.number}. {html.escape(b.name)} = {b.text}</p>" for b in blanks)
    gf = ET.SubElement(q, "generalfeedback", {"format": "html"})
    ET.SubElement(gf, "text").text = "<p>" + html.escape(_("The key:")) + f"</p>{feedback}"
    ET.SubElement(q, "penalty").text = "0.3333333"
    ET.SubElement(q, "hidden").text = "0"
    ET.SubElement(q, "idnumber").text = f"derive-{run.base.name}-{run.code(v)}"
    return q


def category(run) -> ET.Element:
    c = ET.Element("question", {"type": "category"})
    ET.SubElement(ET.SubElement(c, "category"), "text").text = f"$course$/top/derive/{run.base.name}/cloze"
    return c


def quiz(questions: list[str], run) -> str:
    """moodle-cloze.xml: the category, then every variant's question (given as XML strings)."""
    root = ET.Element("quiz")
    root.append(category(run))
    for text in questions:
        root.append(ET.fromstring(text))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
