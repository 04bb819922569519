"""The files of a worksheet run: per variant its spec, answers files, sheet and key; for the class
one combined key, one PDF of all sheets and one of all keys, and a Moodle XML quiz.

Every file is a pure function of (base spec, settings, seed, k): the same command writes the
same bytes, and variant k's files do not depend on how many variants there are.
"""

from __future__ import annotations

import base64
import dataclasses
import multiprocessing as mp
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from derive.grade.answers import Quantity, answers_file
from derive.i18n import N_, _, current, language
from derive.render.printer import format_number
from derive.render.escape import md_prose
from derive.render.markdown import sections
from derive.render.page import Page, environment, render
from derive.spec.parse import SCOPES, Spec, dump_spec
from derive.worksheets.draw import Settings, Variant, given_values, make_variant

FORMATS = ("md", "pdf", "moodle", "moodle-cloze", "qti", "gift", "prairielearn")
#: The formats for a learning platform (derive.worksheets.lms).
LMS_FORMATS = ("moodle-cloze", "qti", "gift", "prairielearn")
PARTS = {"forward": N_("the forward pass"), "loss": N_("the loss"), "output-layer": N_("the output layer's gradients"),
         "hidden-layers": N_("the hidden layers' gradients"), "update": N_("the update step")}
#: Which sections of a worked example show the steps of each part of the scope (its headings, in English).
SECTIONS = {"forward": (N_("Forward pass"),), "loss": (N_("Loss function"),),
            "output-layer": (N_("Loss function"), N_("Backpropagation"), N_("The gradient over all the data")),
            "hidden-layers": (N_("Loss function"), N_("Backpropagation"), N_("The gradient over all the data")),
            "update": (N_("The gradient over all the data"), N_("Gradient descent update"))}


def update_rule(page: Page) -> dict:
    r"""The optimizer's whole rule for a sheet, asked of its class: the LaTeX rows of its first step for a
    parameter θ (``m_{\theta} \leftarrow \beta_1 m_{\theta} + …``, in the page's letters), its options as
    ``$\beta_1 = 0.9$``, the state that starts at 0 (``$m_{\theta} = v_{\theta} = 0$``) and the gradient."""
    opt, letters, theta = page.optimizer, page.lettering, r"\theta"
    first = opt.advance(1.0, 1.0, opt.init_state(0.0), 1.0)
    rows = []
    for line in first.lines:
        target, formula = (letters.tex(t).replace("@", theta) for t in (line.target, line.formula))
        rows.append(f"{target} {'&' + chr(92) + 'leftarrow' if line.assign else '&='} {formula}")
    fresh = opt.init_state(0.0)
    zeros = [letters.tex(letter) + "_{" + theta + "}" for letter, buffer in opt.letters.items()
             if buffer is not None and fresh.get(buffer) is not None]
    g = page.update_letter("g")
    return {"rows": rows, "options": ["$" + sym + " = " + page.num(value) + "$" for sym, value in opt.symbols()],
            "zeros": "$" + " = ".join(zeros) + " = 0$" if zeros else "",
            "gradient": "$" + g + "_{" + theta + r"} = \partial L / \partial \theta$"}


def parts_text(scope: tuple[str, ...]) -> str:
    words = [_(PARTS[s]) for s in SCOPES if s in scope]
    if len(words) == 1:
        return words[0]
    return _("%(first)s and %(last)s") % {"first": ", ".join(words[:-1]), "last": words[-1]}


class Run:
    """One `derive worksheet` run: the settings, and the files as they are made."""

    def __init__(self, base: Spec, *, seed: int, scope: tuple[str, ...] | None = None, notation: str = "inout",
                 decimals: int | None = None, carry: bool | None = None, blanks: int | None = None):
        self.base = base
        self.seed = seed
        self.settings = Settings.of(base, scope=scope, decimals=decimals, carry=carry, blanks=blanks)
        self.notation = notation
        self.env = environment()
        self.lang = current()
        """The language of every word (the worker processes write in it too)."""
        self.title = _("Worksheet: %(title)s") % {"title": md_prose(base.title, field="title", one_line=True)}  # Markdown
        self._worked: tuple[int, dict[str, str]] = (0, {})

    # -- one variant

    def variant(self, k: int) -> Variant:
        return make_variant(self.base, self.settings, self.seed, k)

    def code(self, v: Variant) -> str:
        """The variant's code on its sheet (``7-03``: seed 7, variant 3): its key can be made again from it."""
        from derive.worksheets.lms import variant_code

        return variant_code(self.seed, v.number)

    def page(self, v: Variant) -> Page:
        return Page(v.derivation, notation=self.notation)

    def name_of(self, q: Quantity) -> str:
        """A blank's name in the answers file (and in the LMS exports): ``instance1.dL/dw11``."""
        return q.name

    def where(self, q: Quantity) -> str:
        """Where a blank is asked: ``instance 1``, ``all instances``."""
        return (_("instance %(n)s") % {"n": q.instance + 1}) if q.instance is not None else _("all instances")

    @property
    def where_heading(self) -> str:
        """The heading of :meth:`where`'s column."""
        return _("instance")

    def intro_name(self, v: Variant) -> str:
        """The title of a variant's introduction in the LMS exports."""
        return _("Variant %(label)s: the network") % {"label": v.label}

    def picture_name(self, v: Variant) -> str:
        return f"{v.stem}-network.svg"

    def spec_toml(self) -> str:
        """The base spec with its worksheet settings, for PrairieLearn's server to draw the variants from."""
        from derive.worksheets.lms.prairielearn import spec_toml

        return spec_toml(self)

    def check(self, v: Variant, given: dict[str, float]):
        """`derive check` of numbers given by answers-file name (a learning platform's submission)."""
        from derive.grade.answers import parse_answers
        from derive.grade.judge import Tolerance, check_answers

        doc: dict = {}
        for name, value in given.items():
            table, key = name.split(".", 1)
            doc.setdefault(table, {})[key] = float(value)
        rounding = self.settings.rounding
        answers = parse_answers(doc, v.derivation, source="prairielearn")
        answers = dataclasses.replace(answers, rounding={"decimals": rounding.decimals, "carry": rounding.carry})
        return check_answers(v.derivation, answers, Tolerance.of(self.settings.tolerance))

    def label(self, page: Page, q: Quantity) -> str:
        name = page.name(q.node)
        if q.kind in ("value", "total_loss", "batch_value"):
            return f"${name}$"
        if q.kind in ("grad", "total_grad", "batch_grad"):
            return rf"$\partial L / \partial {name}$"
        if q.kind == "first_update":
            return _("%(name)s after the first update") % {"name": f"${name}$"}
        return _("%(name)s after the update") % {"name": f"${name}$"}

    def answer(self, v: Variant, q: Quantity) -> str:
        return f"{v.key[q.name]:.{self.settings.rounding.decimals}f}"

    def text_files(self, v: Variant) -> dict[str, str]:
        """variant-NN.toml, .answers.toml and .key.toml."""
        d, s = v.derivation, self.settings
        only = {q.name for q in v.blanks}
        tables = {"worksheet": {"variant": self.code(v)}, "tolerance": s.tolerance,
                  "rounding": {"decimals": s.rounding.decimals, "carry": s.rounding.carry}}
        names = {"label": v.label, "name": self.base.name, "stem": v.stem, "source": self.base.source,
                 "seed": self.seed, "rounding": s.rounding.describe()}
        comment = [_("Answers for worksheet variant %(label)s of %(name)s.") % names,
                   _("Fill in each \"\" and run: derive check %(stem)s.toml %(stem)s.answers.toml") % names,
                   _("Rounding: %(rounding)s") % names]
        key_comment = [_("The key of worksheet variant %(label)s of %(name)s: derive check %(stem)s.toml "
                         "%(stem)s.key.toml passes.") % names, _("Rounding: %(rounding)s") % names]
        return {
            f"{v.stem}.toml": dump_spec(d.spec, comment=(
                _("Worksheet variant %(label)s of %(name)s (%(source)s), drawn with seed %(seed)s.") % names)),
            f"{v.stem}.answers.toml": answers_file(d, filled=False, only=only, settings=tables, heading=comment),
            f"{v.stem}.key.toml": answers_file(d, filled=True, only=only, settings=tables, heading=key_comment,
                                               values=v.key),
        }

    def markdown(self, v: Variant, *, key: bool, picture: str) -> str:
        """The sheet or the key of a variant, as Markdown."""
        d = v.derivation
        page = Page(d, notation=self.notation)
        worked = self.worked(v)
        steps = ""
        if key:
            wanted = [h for part in SCOPES if part in self.settings.scope for h in SECTIONS[part]]
            steps = "\n".join(worked[_(h)] for h in dict.fromkeys(wanted) if _(h) in worked)
        network = worked[_("The network")].split("\n", 1)[1].strip("\n") + "\n"
        return self.env.get_template("worksheet.md.j2").render(
            v=v, page=page, settings=self.settings, key=key, title=self.title, picture=picture, network=network,
            code=self.code(v), base_name=self.base.name,
            given=given_values(d, self.settings.given, self.settings.rounding), steps=steps,
            parts=parts_text(self.settings.scope), loss_text=_(d.graph.loss.sheet_text),
            label=lambda q: self.label(page, q), answer=lambda q: self.answer(v, q),
            rule=update_rule(page) if d.spec.training else None)

    def worked(self, v: Variant) -> dict[str, str]:
        """The sections of the variant's worked example (rendered once for its sheet and its key)."""
        if self._worked[0] != v.number:
            page = render(v.derivation, fragment=True, notation=self.notation)
            self._worked = (v.number, {h: text for h, text in sections(page) if h is not None})
        return self._worked[1]

    def picture(self, v: Variant, fmt: str) -> bytes:
        from derive.render.pictures import Picture, draw

        return draw(v.derivation, Picture("given-1", ""), fmt, notation=self.notation)

    # -- the class

    def combined_key(self, parts: list["Part"]) -> str:
        return self.env.get_template("worksheet_keys.md.j2").render(
            title=self.title, base=self.base, seed=self.seed, settings=self.settings, variants=parts,
            num=lambda x: format_number(x, 4))

    def pdf(self, pages: list[tuple[str, str]], name: str, pictures: dict[str, bytes]) -> bytes:
        from derive.render.tex import compile_pdf, inline, markdown_to_latex

        tex = self.env.get_template("worksheets.tex.j2").render(
            pages=[(inline(heading), markdown_to_latex(body)) for heading, body in pages])
        return compile_pdf(tex, name, pictures)



@dataclass
class Part:
    """What one variant adds to a run (plain strings and bytes: it may come from another process)."""

    files: dict[str, str | bytes] = field(default_factory=dict)
    sheet: tuple[str, str] | None = None
    """(heading, Markdown) of its page in sheets.pdf; ``key`` the same for keys.pdf."""
    key: tuple[str, str] | None = None
    figure: tuple[str, bytes] | None = None
    """The picture the pdf pages include."""
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    """The combined key's rows: (quantity, instance, answers-file name, key)."""
    label: str = ""
    moodle: list[str] = field(default_factory=list)
    """Its Moodle questions, as XML."""
    cloze: str = ""
    """Its Moodle cloze question, as XML."""
    gift: str = ""
    qti: tuple[str, str, str, bytes] | None = None
    """(identifier, assessment XML, picture name, picture) of its QTI assessment."""


def variant_part(run: Run, k: int, formats: tuple[str, ...]) -> Part:
    v = run.variant(k)
    part = Part(files=run.text_files(v), label=v.label)
    page = Page(v.derivation, notation=run.notation)
    part.rows = [(run.label(page, q), str(q.instance + 1) if q.instance is not None else _("all"), q.name,
                  run.answer(v, q)) for q in v.blanks]
    if "md" in formats:
        svg = f"{v.stem}-network.svg"
        part.files[svg] = run.picture(v, "svg")
        part.files[f"{v.stem}.sheet.md"] = run.markdown(v, key=False, picture=svg)
        part.files[f"{v.stem}.key.md"] = run.markdown(v, key=True, picture=svg)
    if "pdf" in formats:
        figure = f"{v.stem}-network.pdf"
        part.figure = (figure, run.picture(v, "pdf"))
        part.sheet = (_("Variant %(label)s") % {"label": v.label}, run.markdown(v, key=False, picture=figure))
        part.key = (_("Variant %(label)s: answer key") % {"label": v.label}, run.markdown(v, key=True, picture=figure))
    if "moodle" in formats:
        part.moodle = [ET.tostring(q, encoding="unicode") for q in moodle_questions(run, v)]
    if "moodle-cloze" in formats:
        from derive.worksheets.lms import cloze

        part.cloze = ET.tostring(cloze.question(run, v), encoding="unicode")
    if "gift" in formats:
        from derive.worksheets.lms import gift

        part.gift = gift.variant_text(run, v)
    if "qti" in formats:
        from derive.worksheets.lms import qti

        ident, xml = qti.assessment(run, v)
        part.qti = (ident, xml, run.picture_name(v), run.picture(v, "svg"))
    return part


_WORKER: tuple[Run, tuple[str, ...]] | None = None


def _in_worker(k: int) -> Part:
    run, formats = _WORKER
    with language(run.lang):
        return variant_part(run, k, formats)


#: Runs with at least this many variants share the work among processes (one per CPU, at most 4).
PARALLEL_FROM = 8


def _parts(run: Run, numbers: list[int], formats: tuple[str, ...], progress) -> list[Part]:
    """Every variant's part, in order; large runs in worker processes (fork, where the system has it)."""
    workers = min(os.cpu_count() or 1, 4)
    if len(numbers) < PARALLEL_FROM or workers < 2 or "fork" not in mp.get_all_start_methods():
        parts = []
        for k in numbers:
            parts.append(variant_part(run, k, formats))
            if progress:
                progress(k)
        return parts
    global _WORKER
    _WORKER = (run, formats)  # inherited by the forked workers
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            parts = []
            for k, part in enumerate(pool.map(_in_worker, numbers, chunksize=4), start=1):
                parts.append(part)
                if progress:
                    progress(k)
            return parts
    finally:
        _WORKER = None


def worksheet_files(base: Spec, *, variants: int, seed: int, formats: tuple[str, ...] = ("md",),
                    scope: tuple[str, ...] | None = None, notation: str = "inout", decimals: int | None = None,
                    carry: bool | None = None, progress: Callable[[int], None] | None = None,
                    blanks: int | None = None, only: int | None = None) -> dict[str, str | bytes]:
    """Every file of a worksheet run, by name; ``progress(k)`` is called after each variant.

    ``only`` = k makes variant k alone (``--variant SEED-K``: a sheet's key made again from its code).
    """
    run = Run(base, seed=seed, scope=scope, notation=notation, decimals=decimals, carry=carry, blanks=blanks)
    if any(f in LMS_FORMATS for f in formats) and run.settings.partial:
        from derive.grade.judge import mistakes
        from derive.worksheets.lms import check_partial

        check_partial(dict(run.settings.partial), [m[0] for m in mistakes(run.variant(1).derivation)], base.source)
    parts = _parts(run, [only] if only is not None else list(range(1, variants + 1)), formats, progress)
    files: dict[str, str | bytes] = {}
    for part in parts:
        files.update(part.files)
    if "md" in formats:
        files["keys.md"] = run.combined_key(parts)
    if "pdf" in formats:
        figures = dict(part.figure for part in parts)
        files["sheets.pdf"] = run.pdf([part.sheet for part in parts], "sheets", figures)
        files["keys.pdf"] = run.pdf([part.key for part in parts], "keys", figures)
    if "moodle" in formats:
        quiz = ET.Element("quiz")
        for part in parts:
            for question in part.moodle:
                quiz.append(ET.fromstring(question))
        ET.indent(quiz)
        files["moodle.xml"] = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="unicode") + "\n"
    if "moodle-cloze" in formats:
        from derive.worksheets.lms import cloze

        files["moodle-cloze.xml"] = cloze.quiz([part.cloze for part in parts], run)
    if "gift" in formats:
        from derive.worksheets.lms import gift

        files["gift.txt"] = gift.document([part.gift for part in parts], run)
    if "qti" in formats:
        from derive.worksheets.lms import qti

        files["qti.zip"] = qti.package(run, [part.qti for part in parts])
    if "prairielearn" in formats:
        from derive.worksheets.lms import prairielearn

        files.update(prairielearn.files(run, variants))
    return files


# --------------------------------------------------------------------------- Moodle XML


def _text(parent: ET.Element, tag: str, text: str, fmt: str | None = "html") -> ET.Element:
    el = ET.SubElement(parent, tag, {"format": fmt} if fmt else {})
    ET.SubElement(el, "text").text = text
    return el


def _moodle_math(markdown: str) -> str:
    """Markdown with $…$ math as HTML for Moodle's MathJax filter (\\(…\\) and \\[…\\])."""
    from derive.render.html import markdown_to_html

    return markdown_to_html(markdown, math="delimiters")


def moodle_questions(run: Run, v: Variant) -> list[ET.Element]:
    """A variant's part of the quiz: its category, a description with the network, and one
    numerical question per blank (the key's value, the sheet's tolerance)."""
    from derive.worksheets.lms import blank_tolerance

    out = []
    category = ET.Element("question", {"type": "category"})
    ET.SubElement(ET.SubElement(category, "category"), "text").text = (
        f"$course$/top/derive/{run.base.name}/variant-{v.label}")
    out.append(category)
    page = run.page(v)
    picture = run.picture_name(v)
    intro = run.markdown(v, key=False, picture=picture)
    intro = intro.split("## " + _("Your answers"))[0].replace(_("Name:") + " ______________________________\n", "")
    description = ET.Element("question", {"type": "description"})
    _text(description, "name", run.intro_name(v), fmt=None)
    html = _moodle_math(intro).replace(f'src="{picture}"', f'src="@@PLUGINFILE@@/{picture}"')
    qt = _text(description, "questiontext", html)
    file = ET.SubElement(qt, "file", {"name": picture, "path": "/", "encoding": "base64"})
    file.text = base64.b64encode(run.picture(v, "svg")).decode("ascii")
    out.append(description)
    for n, q in enumerate(v.blanks, start=1):
        question = ET.Element("question", {"type": "numerical"})
        where, name = run.where(q), run.name_of(q)
        _text(question, "name", _("Variant %(label)s, blank %(n)s: %(name)s") % {"label": v.label, "n": n, "name": name},
              fmt=None)
        _text(question, "questiontext", _moodle_math(
            _("Variant %(label)s, blank %(n)s (%(where)s): %(quantity)s = ?") % {
                "label": v.label, "n": n, "where": where, "quantity": run.label(page, q)}
            + f" {run.settings.rounding.describe()}"))
        _text(question, "generalfeedback", "<p>" + _("The key: %(key)s") % {"key": run.answer(v, q)} + "</p>")
        ET.SubElement(question, "defaultgrade").text = "1"
        ET.SubElement(question, "penalty").text = "0.3333333"
        ET.SubElement(question, "hidden").text = "0"
        answer = ET.SubElement(question, "answer", {"fraction": "100", "format": "moodle_auto_format"})
        ET.SubElement(answer, "text").text = run.answer(v, q)
        ET.SubElement(answer, "tolerance").text = repr(blank_tolerance(v.key[name], run.settings))
        _text(answer, "feedback", "<p>" + _("Right.") + "</p>")
        ET.SubElement(question, "unitgradingtype").text = "0"
        ET.SubElement(question, "unitpenalty").text = "0.1000000"
        ET.SubElement(question, "showunits").text = "3"
        ET.SubElement(question, "unitsleft").text = "0"
        out.append(question)
    return out
