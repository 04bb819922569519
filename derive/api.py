"""The Python API: the few functions a notebook or a script needs, re-exported by ``import derive``.

Each one takes what a user has at hand (a preset name, a path, TOML text, a dict, a spec or a
derivation) and does what the command of the same name does, raising :class:`derive.DeriveError`
(one line naming the field) where the command would exit with status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:  # imported lazily below: ``import derive`` must stay cheap
    from derive.core.derivation import Derivation
    from derive.grade.audit.report import AuditReport
    from derive.grade.judge import Report
    from derive.spec.parse import Spec

SpecLike = "Spec | Derivation | str | os.PathLike | Mapping"


def presets() -> list[str]:
    """The names of the built-in specs (``two-two-two``, ``slp-identity``, …), sorted."""
    from derive.spec.parse import preset_names

    return preset_names()


def load(spec: Any, *, name: str | None = None) -> "Spec":
    """Read a spec: a preset name, a path to a TOML file, TOML text, a dict, or a Spec (returned as is).

    A dict has the structure of the TOML file (``{"network": {"inputs": 2, "loss": "sse", "layers":
    [...]}, "data": [...]}``); NumPy arrays and tuples in it are taken as lists. ``name`` is the
    output file stem when the spec names none (default: the file's stem, or ``spec``).
    Raises :class:`derive.SpecError` naming the field of anything wrong.
    """
    from derive.core.derivation import Derivation
    from derive.spec.parse import Spec, _Reader, load_spec, parse_spec

    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Derivation):
        return spec.spec
    if isinstance(spec, Mapping):
        return _Reader("<dict>").spec(_plain(spec, "<dict>"), name or "spec")
    if isinstance(spec, str) and ("\n" in spec or "=" in spec):
        return parse_spec(spec, source="<text>", default_name=name or "spec")
    if isinstance(spec, (str, os.PathLike)):
        return load_spec(spec)
    from derive.errors import UsageError

    raise UsageError(f"expected a preset name, a path, TOML text, a dict or a Spec, got {type(spec).__name__}")


def derive(spec: Any, *, verify: bool = True) -> "Derivation":
    """Build, differentiate, evaluate and check a spec (anything :func:`load` reads).

    The result holds every value and gradient (``d.loss``, ``d.grad``, ``d.instances[n].value``),
    the first update (``d.after_step``) and the training run (``d.training``); in Jupyter it
    displays itself as its worked example. ``verify=False`` leaves out the independent checks
    (NumPy, finite differences, ``sympy.diff``); with them, a disagreement raises
    :class:`derive.CheckFailed`.
    """
    from derive.core.derivation import Derivation
    from derive.pipeline import derive as run

    if isinstance(spec, Derivation):
        return spec
    return run(load(spec), verify=verify)


def document(d: Any, fmt: str = "md", *, out_dir: str | os.PathLike | None = None, notation: str = "inout",
           digits: int = 4, views: str | Iterable[str] = "scalar", pictures: bool | None = None,
           edge_gradients: bool = False, fragment: bool = False, templates: str | os.PathLike | None = None,
           katex: str | None = None, lang: str = "en") -> "str | bytes | list[Path]":
    """The worked example of a derivation (or of anything :func:`derive` takes) in ``fmt``: ``derive render``.

    (Called ``document``, not ``render``: ``derive.render`` is the package of the writers.)

    ``fmt`` is ``md``, ``tex``, ``pdf`` (needs pdflatex), ``html`` or ``ipynb``. Without ``out_dir``
    the document is returned (``str``; ``bytes`` for pdf); with it, the document and its pictures
    are written there and their paths returned. The other options are those of ``derive render``:
    ``notation`` (``inout``, ``netout``, ``layer``), ``digits`` shown, ``views`` (``"scalar,matrix,tape"``
    or a list), ``pictures`` (default: on, except md and tex returned as text, whose pictures are
    files of their own), ``edge_gradients`` (∂L/∂w on the edges of the network's picture),
    ``fragment`` (the body only), ``templates`` (a directory overriding built-in templates) and
    ``katex`` (where an html page loads KaTeX from); ``lang`` is the language of every word (``en``,
    ``de``: see docs/languages.md).

    A :class:`derive.Report` of :func:`check` renders too, as ``fmt="text"`` or ``"md"`` (its diagnoses
    in the language :func:`check` was given).
    """
    from derive.grade.judge import Report

    if isinstance(d, Report):
        from derive.render.page import render_report

        return render_report(d, fmt="text" if fmt == "txt" else fmt,
                             templates=Path(templates) if templates else None, lang=lang)
    from derive.render.page import render_files

    d = derive(d)
    if isinstance(views, str):
        views = tuple(v.strip() for v in views.split(",") if v.strip())
    if pictures is None:
        pictures = out_dir is not None or fmt not in ("md", "tex")
    files = render_files(d, fmt=fmt, notation=notation, digits=digits, templates=Path(templates) if templates else None,
                         fragment=fragment, katex=katex, views=tuple(views), pictures=pictures,
                         edge_gradients=edge_gradients, lang=lang)
    if out_dir is None:
        return files[f"{d.spec.name}.{fmt}"]
    from derive.files import save

    return save(Path(out_dir), files)


def values(d: Any) -> dict:
    """Every number of a derivation as the dict that ``derive values`` prints as JSON (see docs/json.md)."""
    return derive(d).to_values()


def answers_file(d: Any, *, filled: bool = False) -> str:
    """An answers file (TOML text) naming every quantity: blank (every value ``""``) or ``filled`` in correctly."""
    from derive.grade.answers import answers_file as make

    d = derive(d)
    if getattr(d, "kind", None) == "circuit":
        from derive.grade.circuit import answers_file as make
    return make(d, filled=filled)


def check(d: Any, answers: Any, *, rtol: float | None = None, atol: float | None = None,
          min_digits: int | None = None, lang: str = "en") -> "Report":
    """Judge a hand derivation: ``answers`` is a path to an answers file, its TOML text, or a dict of it.

    Returns a :class:`derive.Report`: ``report.ok`` (every answer right), ``report.verdicts``
    (one per answer: ``status`` correct, wrong or cannot judge, ``diagnosis``), ``report.to_json()``
    (what ``derive check --format json`` prints) and ``derive.document(report, "md")``. The
    answers-file format is in docs/check.md. ``lang`` is the language of the notes and diagnoses.
    """
    from derive.grade.answers import parse_answers, read_answers
    from derive.i18n import language
    from derive.spec.parse import read_toml
    from derive.grade.judge import Tolerance, check_answers

    d = derive(d)
    if getattr(d, "kind", None) == "circuit":  # answers by node name (derive.grade.circuit)
        from derive.grade.circuit import check_circuit as check_answers, parse_circuit_answers as parse_answers, \
            read_circuit_answers as read_answers
    if isinstance(answers, Mapping):
        given = parse_answers(_plain(answers, "<dict>"), d, "<dict>")
    elif isinstance(answers, str) and ("\n" in answers or "=" in answers):
        given = parse_answers(read_toml(answers, "<text>"), d, "<text>")
    else:
        given = read_answers(answers, d)
    with language(lang):
        return check_answers(d, given, Tolerance.of(given.tolerance, rtol=rtol, atol=atol, min_digits=min_digits))


def audit(d: Any, document: Any, *, fmt: str | None = None, lang: str = "en") -> "AuditReport":
    """Audit a derivation written by anyone, as ``derive audit`` does: every number and chain of ``document``.

    ``document`` is a path to a Markdown, LaTeX, HTML, notebook or text file, or the document's text
    itself (``fmt`` then says which: md, tex, html, ipynb or txt; sniffed when left out). Returns a
    report: ``report.ok`` (nothing wrong or inconsistent), ``report.findings`` (line, verdict,
    quantity, true value, diagnosis) and ``report.to_json()`` (what ``derive audit --format json``
    prints). docs/audit.md describes what is read and how a number is judged. ``lang`` is the language
    of the diagnoses.
    """
    from derive.grade.audit.documents import parse_document, read_document
    from derive.grade.audit.report import audit as run_audit

    d = derive(d)
    if isinstance(document, str) and ("\n" in document or len(document) > 4096):
        doc = parse_document(document.encode("utf-8"), "<text>", fmt)
    else:
        doc = read_document(document, fmt)
    from derive.i18n import language

    with language(lang):
        return run_audit(d, doc)


def _plain(value: Any, field: str) -> Any:
    """A dict as tomllib would have read it: NumPy arrays and tuples as lists, NumPy scalars as numbers."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{field}.{k}") for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist(), field)
    if isinstance(value, (list, tuple)):
        return [_plain(v, field) for v in value]
    return value
