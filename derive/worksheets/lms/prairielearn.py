"""A PrairieLearn question directory (``prairielearn/NAME/``) whose variants are the worksheet's.

- ``info.json``: uuid (fixed by the spec's name and the seed), title, topic, tags, ``"type": "v3"``;
- ``question.html``: the sheet (from ``params``) and one ``pl-number-input`` per blank (the blanks
  depend on the network's shape and the scope only, so they are the same for every variant);
- ``server.py``: ``generate(data)`` draws variant ``1 + variant_seed mod VARIANTS`` with derive (the
  same numbers as the paper sheet of that number), ``grade(data)`` judges the submitted numbers
  with derive's check and sets each blank's score and feedback: full marks for the key, the
  teacher's credit for a number that follows correctly from the student's own earlier wrong
  answer (``follows_from_earlier``) or that a classic mistake gives, with its diagnosis;
- ``spec.toml``: the base spec with its ``[worksheet]`` table (every range written out);
  ``derive.json``: seed, number of variants, notation and partial credits.

``server.py`` imports derive: the course's PrairieLearn image must have it installed.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

from derive.i18n import _, language
from derive.spec.parse import Range, dump_spec
from derive.worksheets.lms import DEFAULT_PARTIAL, FOLLOWS, credit_of, html_math, intro_markdown, variant_blanks

SERVER = '''"""PrairieLearn's server file of a derive worksheet: variants drawn and answers graded by derive."""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def generate(data):
    from derive.worksheets.lms.prairielearn import generate as derive_generate

    derive_generate(HERE, data)


def grade(data):
    from derive.worksheets.lms.prairielearn import grade as derive_grade

    derive_grade(HERE, data)
'''


def answers_name(number: int) -> str:
    return f"b{number}"


def _range(r: Range) -> str:
    return (f"{{ low = {r.low!r}, high = {r.high!r}, decimals = {r.decimals}, "
            f"nonzero = {'true' if r.nonzero else 'false'} }}")


def spec_toml(run) -> str:
    """The base spec and, written out in full, the worksheet settings its variants are drawn with."""
    s = run.settings
    lines = ["", "[worksheet]"]
    for name in ("inputs", "weights", "bias", "targets"):
        r = getattr(s, name)
        if r is not None:
            lines.append(f"{name} = {_range(r)}")
    lines += [f"scope = {json.dumps(list(s.scope))}", f"decimals = {s.rounding.decimals}",
              f"carry = {'true' if s.rounding.carry else 'false'}", f"given = {json.dumps(list(s.given))}",
              f"degenerate = {'true' if s.degenerate else 'false'}"]
    if s.blanks is not None:
        lines.append(f"blanks = {s.blanks}")
    if s.partial:
        lines.append("partial = { " + ", ".join(f'"{k}" = {v!r}' for k, v in s.partial) + " }")
    return dump_spec(run.base, comment=_("The base spec of a derive worksheet (%(source)s).") % {
        "source": run.base.source}) + \
        "\n".join(lines) + "\n"


def plain_title(title: str) -> str:
    """A title as PrairieLearn lists it, in plain text: ``$f = (x + y) z$`` → ``f = (x + y) z`` (math markup
    and TeX commands dropped: the question list shows no math)."""
    text = re.sub(r"\\(?:left|right|,|;|!|quad)", " ", title.replace("$", ""))
    text = re.sub(r"\\([A-Za-z]+)", r"\1", text).replace("{", "").replace("}", "")
    return " ".join(text.split())


def files(run, variants: int) -> dict[str, str]:
    """The question directory's files, by name under ``prairielearn/NAME/``."""
    v = run.variant(1)  # the blanks' labels (the same in every variant)
    blanks = variant_blanks(run, v, mistakes=False)
    name = run.base.name
    info = {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"derive:worksheet:{name}:{run.seed}")),
        "title": _("Backpropagation by hand: %(title)s") % {"title": plain_title(run.base.title)},
        "topic": "Backpropagation",
        "tags": ["derive", "backpropagation", name],
        "type": "v3",
        "singleVariant": False,
        "partialCredit": True,
    }
    tol = run.settings.tolerance  # as `derive check` grants it: atol + rtol·|key| (PrairieLearn's relabs)
    inputs = "\n".join(
        f'<pl-number-input answers-name="{answers_name(b.number)}" '
        f'label="{_attr(html_math(f"{b.number}. {b.label} ({b.where})").strip().removeprefix("<p>").removesuffix("</p>"))} ="'
        f' comparison="relabs" rtol="{tol["rtol"]!r}" atol="{tol["atol"]!r}" show-correct-answer="true"></pl-number-input>'
        for b in blanks)
    question = ("<pl-question-panel>\n{{{params.sheet}}}\n"
                "</pl-question-panel>\n\n" + inputs + "\n")
    settings = {"seed": run.seed, "variants": variants, "notation": run.notation}
    if run.lang != "en":
        settings["lang"] = run.lang  # the words of the sheet and of the feedback
    base = f"prairielearn/{name}/"
    return {base + "info.json": json.dumps(info, indent=2) + "\n", base + "question.html": question,
            base + "server.py": SERVER, base + "spec.toml": run.spec_toml(),
            base + "derive.json": json.dumps(settings, indent=2) + "\n"}


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;")


# --------------------------------------------------------------------------- called by server.py


def _run(here: Path):
    from derive.spec.circuit import is_circuit
    from derive.spec.parse import load_spec

    settings = json.loads((here / "derive.json").read_text())
    base = load_spec(str(here / "spec.toml"))
    with language(settings.get("lang", "en")):
        if is_circuit(base):
            from derive.worksheets.circuit import CircuitRun

            run = CircuitRun(base, seed=int(settings["seed"]))
        else:
            from derive.worksheets.write import Run

            run = Run(base, seed=int(settings["seed"]), notation=settings.get("notation", "inout"))
    return run, int(settings["variants"])


def generate(here: Path, data: dict) -> None:
    """PrairieLearn's generate: draw the variant, put its sheet in params and its key in correct_answers."""
    run, variants = _run(Path(here))
    with language(run.lang):
        _generate(run, variants, data)


def _generate(run, variants: int, data: dict) -> None:
    k = 1 + int(data.get("variant_seed", 0)) % variants
    v = run.variant(k)
    picture = run.picture_name(v)
    uri = "data:image/svg+xml;base64," + base64.b64encode(run.picture(v, "svg")).decode("ascii")
    data["params"]["variant"] = k
    data["params"]["code"] = run.code(v)
    data["params"]["sheet"] = html_math(intro_markdown(run, v)).replace(f'src="{picture}"', f'src="{uri}"')
    for b in variant_blanks(run, v, mistakes=False):
        data["correct_answers"][answers_name(b.number)] = b.key


def grade(here: Path, data: dict) -> None:
    """PrairieLearn's grade: every blank judged by derive, with a score and feedback of its own."""
    run, _variants = _run(Path(here))
    with language(run.lang):
        _grade(run, data)


def _grade(run, data: dict) -> None:
    from derive.grade.judge import mistakes

    v = run.variant(int(data["params"]["variant"]))
    d = v.derivation
    blanks = variant_blanks(run, v, mistakes=False)
    partial = {**DEFAULT_PARTIAL, **dict(run.settings.partial)}
    given: dict[str, float] = {}
    by_name = {}
    for b in blanks:
        key = answers_name(b.number)
        value = data.get("submitted_answers", {}).get(key)
        if key in data.get("format_errors", {}) or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        given[b.name] = float(value)
        by_name[b.name] = b
    report = run.check(v, given)
    labels = {explanation: label for label, explanation, _values in mistakes(d)} if report.count("wrong") else {}
    for b in blanks:
        data["partial_scores"][answers_name(b.number)] = {"score": 0.0, "weight": 1,
                                                          "feedback": _("No number was given.")}
    for verdict in report.verdicts:
        b = by_name[run.name_of(verdict.quantity)]
        score, feedback = 0.0, verdict.note or _("Not the key.")
        if verdict.status == "correct":
            score, feedback = 1.0, _("Right.") + (f" ({verdict.note})" if verdict.note else "")
        elif verdict.status == "wrong" and verdict.diagnosis:
            feedback = verdict.diagnosis[:1].upper() + verdict.diagnosis[1:] + "."
            if verdict.first_wrong:
                score = partial.get(FOLLOWS, 0.0)
                feedback += " " + _("First wrong step: %(steps)s.") % {"steps": ", ".join(verdict.first_wrong)}
            else:
                named = [label for explanation, label in labels.items() if explanation in verdict.diagnosis]
                score = max((credit_of(label, partial) for label in named), default=0.0)
        data["partial_scores"][answers_name(b.number)] = {"score": score, "weight": 1, "feedback": feedback}
    scores = [data["partial_scores"][answers_name(b.number)]["score"] for b in blanks]
    data["score"] = sum(scores) / max(len(scores), 1)
