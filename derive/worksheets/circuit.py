"""`derive worksheet` of a circuit: variants with random leaf values, blanks for every value and gradient, keys.

Variant k draws its leaves from a generator seeded by (seed, k) alone, from the spec's
``[worksheet] inputs`` range (default: the whole numbers −5 … 5 but 0), and draws again while
the circuit has no value there (a log of a non-positive number, a division by zero), sits on a kink
(ReLU at 0, a max of equal values: the gradient there is a convention), grows beyond 10⁴, repeats an
earlier variant, makes a gradient 0 or hides a classic mistake (:func:`circuit_degenerate`). Per
variant: its spec, a blank answers file and the filled key (for `derive check`), the sheet and
the key in Markdown with the circuit's picture (the sheet's shows the leaves' values only), and
for ``-f pdf`` one PDF of all sheets and one of all keys. The learning-platform formats are written by the
network's writers (:mod:`derive.worksheets.lms`), which ask a :class:`CircuitRun` what they ask a network's run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from derive.errors import SpecError, UsageError
from derive.i18n import N_, _
from derive.grade.policy import Rounding
from derive.spec.parse import Range

FORMATS = ("md", "pdf", "moodle", "moodle-cloze", "qti", "gift", "prairielearn")
#: The formats for a learning platform, written by derive.worksheets.lms as for a network.
LMS_FORMATS = ("moodle-cloze", "qti", "gift", "prairielearn")
DEFAULT_RANGE = Range(low=-5, high=5, decimals=0, nonzero=True)
MAX_ATTEMPTS = 100
LARGEST = 1e4


def _draw(rng: np.random.Generator, r: Range, n: int) -> list[float]:
    step = 10.0 ** -r.decimals
    lo, hi = math.ceil(r.low / step - 1e-9), math.floor(r.high / step + 1e-9)
    ks = np.arange(lo, hi + 1)
    if r.nonzero:
        ks = ks[ks != 0]
    return [float(np.round(k * step, r.decimals)) + 0.0 for k in rng.choice(ks, size=n)]


def circuit_degenerate(d, rounding: Rounding, exempt: frozenset | set = frozenset()) -> str | None:
    """Why a drawn circuit would make a poor sheet, or None: a gradient that is 0 at the sheet's precision
    (a slip in it shows nowhere), or a classic mistake that changes no number the sheet asks at its
    precision (a leaf of 1 makes a swapped local gradient, or an unmultiplied upstream one, right)."""
    from derive.grade.circuit import circuit_catalogue
    from derive.grade.mistakes import mistakes

    catalogue = circuit_catalogue(d)
    for name, q in catalogue.items():
        if q.kind == "grad" and rounding(q.value) == 0 and name not in exempt:
            return f"{name} is 0"
    for label, _explanation, values in mistakes(d):
        if label not in exempt and all(rounding(values.get(name, q.value)) == rounding(q.value) for name, q in catalogue.items()):
            return f"the mistake {label} changes no answer"
    return None


def make_circuit_variant(base, seed: int, k: int, inputs: Range | None = None, rounding: Rounding | None = None,
                         avoid: frozenset = frozenset()):
    """Variant k's derivation (from 1), redrawn while degenerate or while its leaves are in ``avoid`` (the
    earlier variants' leaves: two students of one class never get the same sheet)."""
    from derive.pipeline import derive
    from derive.verify.circuit import on_kink

    rounding = rounding or Rounding(decimals=4)
    hidden: dict[str, int] = {}
    exempt: set[str] = set()

    r = inputs or (base.worksheet.inputs if base.worksheet is not None and base.worksheet.inputs is not None
                   else DEFAULT_RANGE)
    rng = np.random.default_rng([seed, k])
    reason = ""
    for attempt in range(MAX_ATTEMPTS):
        leaves = dict(zip([n for n, _ in base.inputs], _draw(rng, r, len(base.inputs))))
        spec = replace(base.with_inputs(leaves), name=f"{base.name}-variant-{k:02d}", training=None, parameters=(),
                       title=f"{base.title} (worksheet variant {k:02d})")
        try:
            d = derive(spec, symbolic=False)
        except SpecError as exc:
            reason = exc.message
            continue
        numbers = list(d.value.values()) + list(d.grad.values())
        if not all(math.isfinite(x) and abs(x) <= LARGEST for x in numbers):
            reason = f"a value beyond {LARGEST:g}"
            continue
        kinks = on_kink(d)
        if kinks:
            reason = f"a kink at {kinks[0]}"
            continue
        if tuple(leaves.values()) in avoid:
            reason = "the same leaves as an earlier variant"
            continue
        # after half the draws a circuit that no draw makes perfect gets its best usable one
        why = circuit_degenerate(d, rounding, exempt) if attempt < MAX_ATTEMPTS // 2 else None
        if why is not None:
            reason = why
            # a gradient that is 0, or a mistake hidden, whatever the draw (x − x, a max that never passes one
            # input) is the circuit's, not the draw's: after MAX_ATTEMPTS / 10 draws it is let be
            what = why.split()[2] if why.startswith("the mistake ") else why.split()[0]
            hidden[what] = hidden.get(what, 0) + 1
            if hidden[what] >= MAX_ATTEMPTS // 10:
                exempt.add(what)
            continue
        return d
    raise SpecError(base.source, "worksheet.inputs", f"variant {k}: {MAX_ATTEMPTS} draws had no usable circuit (the "
                                                     f"last: {reason}); change the range")


def dump_circuit(spec, comment: str = "") -> str:
    """A circuit spec as TOML that reads back to the same circuit."""
    from derive.spec.parse import _toml_string

    lines = [f"# {comment}"] if comment else []
    lines += [f"name = {_toml_string(spec.name)}", f"title = {_toml_string(spec.title)}"]
    if spec.description:
        lines.append(f"description = {_toml_string(spec.description)}")
    lines += ["", "[circuit]", "inputs = { " + ", ".join(f"{k} = {v!r}" for k, v in spec.inputs) + " }",
              "nodes = [" + ", ".join(_toml_string(f"{n.name} = {n.text}") for n in spec.nodes) + "]",
              f"output = {_toml_string(spec.output)}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CircuitSettings:
    """A circuit worksheet run's settings: its [worksheet] table with the command line over it."""

    inputs: Range
    rounding: Rounding
    partial: tuple[tuple[str, float], ...] = ()
    """The [worksheet] partial credits of the LMS exports (derive.worksheets.lms), as for a network."""
    blanks: int | None = None

    @classmethod
    def of(cls, base, *, decimals: int | None = None, blanks: int | None = None) -> "CircuitSettings":
        ws = base.worksheet
        return cls(inputs=ws.inputs if ws is not None and ws.inputs is not None else DEFAULT_RANGE,
                   rounding=Rounding(decimals=decimals if decimals is not None else (ws.decimals if ws is not None
                                                                                     else 4)),
                   partial=ws.partial if ws is not None else (),
                   blanks=blanks if blanks is not None else (ws.blanks if ws is not None else None))

    @property
    def tolerance(self) -> dict[str, float]:
        """The [tolerance] of the answers files: one unit in the last decimal place asked for, or 0.1 %."""
        return {"atol": self.rounding.unit, "rtol": 1e-3}


@dataclass
class CircuitVariant:
    number: int
    derivation: object
    blanks: list
    """The catalogue's quantities the sheet asks (derive.grade.circuit.circuit_catalogue)."""
    key: dict[str, float]
    """By answers-file name (``q``, ``df/dq``): the value rounded to the sheet's decimals."""

    @property
    def label(self) -> str:
        return f"{self.number:02d}"

    @property
    def stem(self) -> str:
        return f"variant-{self.number:02d}"


class CircuitRun:
    """One `derive worksheet` run of a circuit, with what the LMS writers (derive.worksheets.lms) ask of a run:
    the variants, their blanks' names, labels and keys, the sheet's introduction and the picture."""

    notation = "inout"

    def __init__(self, base, *, seed: int, decimals: int | None = None, blanks: int | None = None):
        from derive.i18n import current
        from derive.render.escape import md_prose
        from derive.render.page import environment

        self.base = base
        self.seed = seed
        self.settings = CircuitSettings.of(base, decimals=decimals, blanks=blanks)
        self.env = environment()
        self.lang = current()
        self.title = _("Worksheet: %(title)s") % {"title": md_prose(base.title, field="title", one_line=True)}
        self._worked: tuple[int, str] = (0, "")

    # -- one variant

    def variant(self, k: int) -> CircuitVariant:
        from derive.grade.circuit import circuit_catalogue

        d = make_circuit_variant(self.base, self.seed, k, self.settings.inputs, self.settings.rounding,
                                 avoid=self._earlier(k))
        self.__dict__.setdefault("_leaves", {})[k] = tuple(value for _name, value in d.spec.inputs)
        catalogue = list(circuit_catalogue(d).values())
        most = self.settings.blanks
        if most is not None and most < len(catalogue):
            picks = sorted({round(i * (len(catalogue) - 1) / max(1, most - 1)) for i in range(most)})
            catalogue = [catalogue[i] for i in picks]
        return CircuitVariant(number=k, derivation=d, blanks=catalogue,
                              key={q.key: self.settings.rounding(q.value) for q in catalogue})

    def _earlier(self, k: int) -> frozenset:
        """The leaves of variants 1 … k−1 (drawn again when variant k is asked alone, so that it is the same
        variant whatever else the run writes)."""
        seen = self.__dict__.setdefault("_leaves", {})
        for j in range(1, k):
            if j not in seen:
                d = make_circuit_variant(self.base, self.seed, j, self.settings.inputs, self.settings.rounding,
                                         avoid=frozenset(seen[i] for i in range(1, j)))
                seen[j] = tuple(value for _name, value in d.spec.inputs)
        return frozenset(seen[j] for j in range(1, k))

    def code(self, v: CircuitVariant) -> str:
        from derive.worksheets.lms import variant_code

        return variant_code(self.seed, v.number)

    def page(self, v: CircuitVariant):
        from derive.render.circuit import CircuitPage

        return CircuitPage(v.derivation)

    def name_of(self, q) -> str:
        """A blank's name in the answers file: ``q``, ``df/dq``."""
        return q.key

    def label(self, page, q) -> str:
        return f"${page.name(q.node)}$" if q.kind == "value" else f"${page.grad_name(q.node)}$"

    def where(self, q) -> str:
        return _("forward pass") if q.kind == "value" else _("backward pass")

    @property
    def where_heading(self) -> str:
        return _("pass")

    def intro_name(self, v: CircuitVariant) -> str:
        return _("Variant %(label)s: the circuit") % {"label": v.label}

    def answer(self, v: CircuitVariant, q) -> str:
        return f"{v.key[q.key]:.{self.settings.rounding.decimals}f}"

    def picture_name(self, v: CircuitVariant, fmt: str = "svg") -> str:
        return f"{v.stem}-circuit.{fmt}"

    def picture(self, v: CircuitVariant, fmt: str) -> bytes | str:
        from derive.render.circuit import draw_circuit

        return draw_circuit(v.derivation, fmt, reveal=False)

    def steps(self, v: CircuitVariant) -> str:
        """The worked forward pass, local gradients and backward pass of a variant (its key's last section)."""
        from derive.render.markdown import sections
        from derive.render.page import render

        if self._worked[0] != v.number:
            worked = {h: text for h, text in sections(render(v.derivation, fragment=True)) if h is not None}
            self._worked = (v.number, "\n".join(worked[_(h)] for h in (N_("Forward pass"), N_("Local gradients"),
                                                                       N_("Backward pass")) if _(h) in worked))
        return self._worked[1]

    def markdown(self, v: CircuitVariant, *, key: bool, picture: str) -> str:
        """The sheet or the key of a variant, as Markdown."""
        page = self.page(v)
        decimals = self.settings.rounding.decimals
        return self.env.get_template("circuit_worksheet.md.j2").render(
            d=v.derivation, page=page, key=key, title=self.title, picture=picture, code=self.code(v),
            base_name=self.base.name, stem=v.stem, label=lambda q: self.label(page, q), blanks=v.blanks,
            answer=lambda q: self.answer(v, q), steps=self.steps(v) if key else "", decimals=decimals,
            unit=self.settings.rounding.unit, number=v.label)

    def text_files(self, v: CircuitVariant) -> dict[str, str]:
        """variant-NN.toml, .answers.toml and .key.toml."""
        from derive.grade.circuit import answers_file

        decimals, unit = self.settings.rounding.decimals, self.settings.rounding.unit
        stem, code, name = v.stem, self.code(v), self.base.name
        heading = [f"Answers for worksheet variant {v.label} of {name} (code {code}): fill in each \"\" (to "
                   f"{decimals} decimal places)", f"and run: derive check {stem}.toml {stem}.answers.toml",
                   f"[tolerance] atol = {unit:g} (one unit of the last decimal), rtol = 0.001"]
        tolerance = f"\n[tolerance]\natol = {unit!r}\nrtol = 0.001\n\n[worksheet]\nvariant = \"{code}\"\n"
        only = {q.key for q in v.blanks}
        d = v.derivation
        return {
            f"{stem}.toml": dump_circuit(d.spec, comment=f"Worksheet variant {v.label} of {name} "
                                                         f"({self.base.shown_source}), drawn with seed {self.seed}."),
            f"{stem}.answers.toml": answers_file(d, filled=False, only=only, heading=heading) + tolerance,
            f"{stem}.key.toml": answers_file(d, filled=True, only=only, values=v.key, heading=[
                f"The key of worksheet variant {v.label} of {name}."]) + tolerance,
        }

    # -- what PrairieLearn's server asks

    def spec_toml(self) -> str:
        """The base circuit and, written out in full, the worksheet settings its variants are drawn with."""
        s, r = self.settings, self.settings.inputs
        lines = ["", "[worksheet]", f"inputs = {{ low = {r.low!r}, high = {r.high!r}, decimals = {r.decimals}, "
                                    f"nonzero = {'true' if r.nonzero else 'false'} }}",
                 f"decimals = {s.rounding.decimals}"]
        if s.blanks is not None:
            lines.append(f"blanks = {s.blanks}")
        if s.partial:
            lines.append("partial = { " + ", ".join(f'"{k}" = {v!r}' for k, v in s.partial) + " }")
        base = replace(self.base, training=None)
        return dump_circuit(base, comment=_("The base spec of a derive worksheet (%(source)s).") % {
            "source": self.base.source}) + "\n".join(lines) + "\n"

    def check(self, v: CircuitVariant, given: dict[str, float]):
        """`derive check` of numbers given by answers-file name (a learning platform's submission)."""
        from derive.grade.circuit import check_circuit, parse_circuit_answers
        from derive.grade.judge import Tolerance

        d = v.derivation
        return check_circuit(d, parse_circuit_answers(dict(given), d, source="prairielearn"),
                             Tolerance.of(self.settings.tolerance))


def circuit_worksheet_files(base, *, variants: int, seed: int, formats: tuple[str, ...] = ("md",),
                            decimals: int | None = None, blanks: int | None = None, only: int | None = None,
                            progress=None) -> dict[str, str | bytes]:
    """Every file of a circuit worksheet run, by name (as :func:`derive.worksheets.write.worksheet_files`)."""
    from derive.render.page import environment

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"-f: format '{unknown[0]}' is not available for a circuit; available: {', '.join(FORMATS)}")
    run = CircuitRun(base, seed=seed, decimals=decimals, blanks=blanks)
    if any(f in LMS_FORMATS for f in formats) and run.settings.partial:
        from derive.grade.mistakes import mistakes
        from derive.worksheets.lms import check_partial

        check_partial(dict(run.settings.partial), [m[0] for m in mistakes(run.variant(1).derivation)], base.source)
    decimals = run.settings.rounding.decimals
    files: dict[str, str | bytes] = {}
    sheets, keys, figures, rows, made = [], [], {}, [], []
    numbers = [only] if only is not None else list(range(1, variants + 1))
    for k in numbers:
        v = run.variant(k)
        made.append(v)
        files.update(run.text_files(v))
        page = run.page(v)
        rows.append((v.label, [(run.label(page, q), q.key, run.answer(v, q)) for q in v.blanks]))
        if "md" in formats:
            svg = run.picture_name(v)
            files[svg] = run.picture(v, "svg")
            files[f"{v.stem}.sheet.md"] = run.markdown(v, key=False, picture=svg)
            files[f"{v.stem}.key.md"] = run.markdown(v, key=True, picture=svg)
        if "pdf" in formats:
            figure = run.picture_name(v, "pdf")
            figures[figure] = run.picture(v, "pdf")
            sheets.append((_("Variant %(label)s") % {"label": v.label}, run.markdown(v, key=False, picture=figure)))
            keys.append((_("Variant %(label)s: answer key") % {"label": v.label},
                         run.markdown(v, key=True, picture=figure)))
        if progress:
            progress(k)
    if "md" in formats:
        files["keys.md"] = environment().get_template("circuit_worksheet_keys.md.j2").render(
            title=run.title, base=base, seed=seed, variants=rows, decimals=decimals)
    if "pdf" in formats:
        from derive.render.tex import compile_pdf, inline, markdown_to_latex

        for name, pages in (("sheets", sheets), ("keys", keys)):
            tex = run.env.get_template("worksheets.tex.j2").render(
                pages=[(inline(h), markdown_to_latex(body)) for h, body in pages])
            files[f"{name}.pdf"] = compile_pdf(tex, name, figures)
    files.update(lms_files(run, made, formats, variants))
    return files


def lms_files(run, made: list, formats: tuple[str, ...], variants: int) -> dict[str, str | bytes]:
    """The learning-platform exports of a run's variants: the same writers as a network's, asking the run."""
    import xml.etree.ElementTree as ET

    files: dict[str, str | bytes] = {}
    if "moodle" in formats:
        from derive.worksheets.write import moodle_questions

        quiz = ET.Element("quiz")
        for v in made:
            for question in moodle_questions(run, v):
                quiz.append(question)
        ET.indent(quiz)
        files["moodle.xml"] = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="unicode") + "\n"
    if "moodle-cloze" in formats:
        from derive.worksheets.lms import cloze

        files["moodle-cloze.xml"] = cloze.quiz([ET.tostring(cloze.question(run, v), encoding="unicode") for v in made],
                                               run)
    if "gift" in formats:
        from derive.worksheets.lms import gift

        files["gift.txt"] = gift.document([gift.variant_text(run, v) for v in made], run)
    if "qti" in formats:
        from derive.worksheets.lms import qti

        files["qti.zip"] = qti.package(run, [(*qti.assessment(run, v), run.picture_name(v), run.picture(v, "svg"))
                                             for v in made])
    if "prairielearn" in formats:
        from derive.worksheets.lms import prairielearn

        files.update(prairielearn.files(run, variants))
    return files
