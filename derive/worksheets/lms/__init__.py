"""What every learning-platform export of a worksheet variant needs: its blanks, each with the key,
the tolerance, and the values the classic mistakes give (with their diagnosis and the credit the
teacher sets in ``[worksheet] partial``).

The writers (:mod:`.cloze`, :mod:`.gift`, :mod:`.qti`, :mod:`.prairielearn`) only format these
records; nothing here is computed twice.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field

from derive.errors import SpecError
from derive.i18n import _
from derive.grade.answers import Quantity

#: The partial-credit names that are not a classic mistake's.
FOLLOWS = "follows_from_earlier"
ALL_MISTAKES = "mistakes"
#: Credit when the spec says nothing: the diagnosis is shown, no credit is given, except for a
#: number that follows correctly from the student's own earlier wrong one (where the format can tell).
DEFAULT_PARTIAL = {FOLLOWS: 0.5, ALL_MISTAKES: 0.0}
#: At most this many mistake answers per blank (the most credited first, then in the order found).
MAX_CHOICES = 12


@dataclass(frozen=True)
class Choice:
    """A wrong value a classic mistake gives, its diagnosis, and its credit (0 to 1)."""

    value: float
    credit: float
    feedback: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Blank:
    number: int
    """From 1, as on the sheet."""
    quantity: Quantity
    label: str
    """Markdown with $…$ math: ``$h_{1,out}$``, ``$\\partial L / \\partial w_{11}$``."""
    where: str
    """``instance 1`` or ``all instances``."""
    key: float
    """The key under the sheet's rounding policy."""
    text: str
    """The key as the sheet prints it (``0.7319``)."""
    tolerance: float
    """Absolute: one unit in the last decimal place asked for."""
    choices: tuple[Choice, ...] = field(default=())
    name: str = ""
    """As the answers file names it: ``instance1.dL/dw11`` of a network, ``df/dq`` of a circuit."""


def credit_of(label: str, partial: dict[str, float]) -> float:
    """The credit of a mistake: the longest name in ``partial`` that is the label or a prefix of it
    (``no-derivative`` covers ``no-derivative-h``), else ``mistakes``, else 0."""
    best = None
    for key in partial:
        if key in (FOLLOWS, ALL_MISTAKES):
            continue
        if label == key or label.startswith(key + "-"):
            if best is None or len(key) > len(best):
                best = key
    if best is not None:
        return partial[best]
    return partial.get(ALL_MISTAKES, DEFAULT_PARTIAL[ALL_MISTAKES])


def check_partial(partial: dict[str, float], labels: list[str], source: str) -> None:
    """Every name in ``[worksheet] partial`` must name a mistake this worksheet can make (or a prefix of one)."""
    names = {FOLLOWS, ALL_MISTAKES}
    for label in labels:
        parts = label.split("-")
        names.update("-".join(parts[:n]) for n in range(1, len(parts) + 1))
    for key in partial:
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; expected one of {', '.join(sorted(names))}"
            raise SpecError(source, f"worksheet.partial.{key}", f"no such mistake in this worksheet{hint}")


def _nearby_rate(label: str, rate: float | None) -> bool:
    """Of the learning rates a student might have used, keep the usual slips only (×2, ×½, ×10, ×0.1, 1)."""
    if not label.startswith("rate-") or rate is None:
        return True
    try:
        other = float(label[5:])
    except ValueError:
        return True
    return any(math.isclose(other, r, rel_tol=1e-9) for r in (2 * rate, rate / 2, 10 * rate, rate / 10, 1.0))


def variant_blanks(run, v, *, mistakes: bool = True) -> list[Blank]:
    """The blanks of variant ``v`` of a worksheet run, with the mistakes' values where they differ from
    the key by more than the tolerance (equal ones are merged, their diagnoses joined).

    ``run`` is a network's (:class:`derive.worksheets.write.Run`) or a circuit's
    (:class:`derive.worksheets.circuit.CircuitRun`): it gives the page, each blank's answers-file name,
    its label and where it is asked; the classic mistakes of the registry are those of its kind."""
    from derive.grade.judge import cached_mistakes as classic_mistakes

    s = run.settings
    page = run.page(v)
    unit = s.rounding.unit
    partial = {**DEFAULT_PARTIAL, **dict(s.partial)}
    alternatives = classic_mistakes(v.derivation) if mistakes else []
    training = v.derivation.spec.training
    rate = training.learning_rate if training else None
    out = []
    for n, q in enumerate(v.blanks, start=1):
        name = run.name_of(q)
        key = v.key[name]
        tol = blank_tolerance(key, s)
        choices: list[list] = []  # [value, credit, [feedback…], [label…]]
        for label, explanation, values in alternatives:
            alt = values.get(name)
            if alt is None or not math.isfinite(alt) or not _nearby_rate(label, rate):
                continue
            alt = s.rounding(alt)
            if abs(alt - key) <= tol * (1 + 1e-9):
                continue  # the mistake does not show in this number at the sheet's precision
            credit = credit_of(label, partial)
            for c in choices:
                if abs(c[0] - alt) <= unit * (1 + 1e-9):
                    c[1] = max(c[1], credit)
                    if explanation not in c[2]:
                        c[2].append(explanation)
                    c[3].append(label)
                    break
            else:
                choices.append([alt, credit, [explanation], [label]])
        choices.sort(key=lambda c: -c[1])  # a stable sort: ties keep the order the mistakes were found
        kept = tuple(Choice(value=c[0], credit=c[1], feedback=_sentence("; or ".join(c[2])), labels=tuple(c[3]))
                     for c in choices[:MAX_CHOICES])
        out.append(Blank(number=n, quantity=q, label=run.label(page, q), where=run.where(q), key=key,
                         text=run.answer(v, q), tolerance=tol, choices=kept, name=name))
    return out


def blank_tolerance(key: float, settings) -> float:
    """What the sheet promises for a blank, as `derive check` grants it from the answers file's [tolerance]:
    within one unit of its last decimal, or within 0.1 % of the key."""
    tol = settings.tolerance
    return max(tol["atol"], tol["rtol"] * abs(key))


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def number_text(x: float, decimals: int) -> str:
    """A number as the exports write it: fixed decimals, no exponent, no ``-0``."""
    out = f"{x:.{decimals}f}"
    return out[1:] if re.fullmatch(r"-0\.?0*", out) else out


def tolerance_text(tol: float, decimals: int) -> str:
    """A blank's tolerance as the exports write it: never rounded below itself (3 more decimals, zeros stripped)."""
    out = f"{tol:.{decimals + 3}f}".rstrip("0")
    return out.rstrip(".") if out.endswith(".") else out


def intro_markdown(run, v) -> str:
    """The sheet of a variant without its name line and its table of blanks: the network, the data,
    the loss, the rounding policy and any given values (of a circuit: its leaves, gates and rounding)."""
    picture = run.picture_name(v)
    intro = run.markdown(v, key=False, picture=picture)
    intro = intro.split("## " + _("Your answers"))[0].replace(_("Name:") + " ______________________________\n", "")
    return intro.rstrip() + "\n"


def html_math(markdown: str) -> str:
    """Markdown with $…$ math as HTML with \\(…\\) and \\[…\\] (MathJax, as Moodle, Canvas and PrairieLearn load it)."""
    from derive.render.html import markdown_to_html

    return markdown_to_html(markdown, math="delimiters")


def variant_code(seed: int, k: int) -> str:
    """The code a sheet prints, from which its key is made again: ``7-03`` is seed 7, variant 3."""
    return f"{seed}-{k:02d}"


def parse_variant_code(text: str) -> tuple[int | None, int]:
    """``7-03`` → (7, 3); ``3`` or ``03`` → (None, 3). ValueError when it is neither."""
    m = re.fullmatch(r"\s*(?:(\d{1,10})-)?(\d{1,4})\s*", str(text))
    if not m:
        raise ValueError(f"'{text}' is not a variant code (like 7-03: seed 7, variant 3)")
    return (int(m.group(1)) if m.group(1) else None), int(m.group(2))
