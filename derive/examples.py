"""The generated examples kept in output/: one list, one function, used by the tests too.

Regenerate with ``python -m derive.examples`` after changing the generator.
"""

from __future__ import annotations

import sys
from pathlib import Path

from derive.pipeline import derive
from derive.render.page import render_files
from derive.spec.parse import load_spec

#: (preset, format) of every worked example in output/, rendered with every view and its pictures.
FORMATS = ("md", "tex", "pdf", "html", "ipynb")
EXAMPLES = tuple((preset, fmt) for fmt in FORMATS for preset in ("two-two-two", "slp-identity", "svm-hinge", "add-times",
                                                                 "sigmoid-neuron", "batch-norm", "cnn",
                                                                 "conv-worksheet", "residual-block", "rnn"))
#: (language, preset, formats) of the samples in another language, under output/LANGUAGE/ (docs/languages.md).
IN_OTHER_LANGUAGES = (("de", "two-two-two", ("md", "pdf")),)
#: (preset, answers file under output/, report file under output/) of every check report.
CHECKS = (("two-two-two", "seed-001/answers.toml", "seed-001/report.md"),)
#: (preset, document under the repository, report file under output/) of every audit report.
AUDITS = (("two-two-two", "tests/fixtures/seed_001.txt", "seed-001/audit.md"),)
VIEWS = ("scalar", "matrix", "tape")
#: (preset, variants, seed, formats, folder under output/) of the worksheet sample.
WORKSHEETS = (("two-two-two", 3, 7, ("md", "pdf", "moodle", "moodle-cloze", "qti", "gift", "prairielearn"),
               "worksheets"),)
OUTPUT = Path(__file__).resolve().parent.parent / "output"


def generate(formats: tuple[str, ...] = FORMATS) -> dict[str, str | bytes]:
    """File name (relative to output/) → content (text, or bytes for pdf and svg) of every generated example."""
    from derive.grade.answers import read_answers
    from derive.grade.judge import check_answers
    from derive.render.page import render_report

    files = {}
    for preset, fmt in EXAMPLES:
        if fmt in formats:
            files.update(render_files(derive(load_spec(preset)), fmt=fmt, views=VIEWS, pictures=True))
    for lang, preset, kinds in IN_OTHER_LANGUAGES:
        for fmt in kinds:
            if fmt in formats:
                made = render_files(derive(load_spec(preset)), fmt=fmt, views=VIEWS, pictures=True, lang=lang)
                files.update({f"{lang}/{name}": content for name, content in made.items()})
    from derive.worksheets.write import worksheet_files

    for preset, variants, seed, kinds, folder in WORKSHEETS:
        made = worksheet_files(load_spec(preset), variants=variants, seed=seed, formats=kinds)
        files.update({f"{folder}/{name}": content for name, content in made.items()})
    for preset, answers, report in CHECKS:
        d = derive(load_spec(preset))
        given = read_answers(OUTPUT / answers, d)
        result = check_answers(d, given)
        text = render_report(result, fmt="md").replace(str(OUTPUT / answers), answers)
        files[report] = text
    from derive.grade.audit.documents import read_document
    from derive.grade.audit.report import audit, render_audit

    for preset, document, report in AUDITS:
        result = audit(derive(load_spec(preset)), read_document(OUTPUT.parent / document))
        files[report] = render_audit(result, fmt="md").replace(str(OUTPUT.parent / document), document)
    return files


def regenerate(out_dir: Path) -> list[Path]:
    from derive.files import save

    return save(out_dir, generate())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    for path in regenerate(target):
        print(path)
