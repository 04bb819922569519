"""Languages (--lang): the German catalog is complete and current, and German pages, sheets, keys and
reports carry none of the English words of the templates, while still passing the page self-check."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from conftest import ROOT, need
from derive.i18n import LOCALE_DIR, language, languages, ngettext
from derive.pipeline import derive
from derive.render.page import render_files
from derive.spec.parse import load_spec

POT = LOCALE_DIR / "messages.pot"
PO = LOCALE_DIR / "de" / "LC_MESSAGES" / "messages.po"

#: The msgids whose German is the same word (checked below to be exactly these): they may appear on German pages.
SAME_IN_GERMAN = {"Backpropagation", "Training", "Name:", "ok"}


def catalog(path):
    with open(path, "rb") as f:
        return read_po(f, locale="de" if path == PO else None)


def ids(cat) -> set:
    return {m.id for m in cat if m.id}


# -- the catalog


def test_german_catalog_is_complete_and_consistent():
    cat = catalog(PO)
    untranslated = [m.id for m in cat if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))]
    fuzzy = [m.id for m in cat if m.id and m.fuzzy]
    assert not untranslated, f"untranslated: {untranslated[:5]}"
    assert not fuzzy, f"fuzzy: {fuzzy[:5]}"
    # Babel's own checks: the same %(name)s placeholders in every translation, the plural forms German has.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in cat.check()]
    assert not problems, problems[:5]
    assert cat.num_plurals == 2


def test_catalogs_are_current_with_the_sources():
    """Extracting again (python + jinja2, by babel.cfg) gives the msgids of messages.pot and of the German .po."""
    with open(ROOT / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {message for _file, _line, message, _comments, _context in
             extract_from_dir(str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS)}
    found = {m if isinstance(m, str) else m[:2] for m in found}
    pot, po = ids(catalog(POT)), ids(catalog(PO))
    assert found - pot == set(), f"not in messages.pot (run pybabel extract, see docs/languages.md): {sorted(found - pot, key=str)[:5]}"
    assert pot - found == set(), f"in messages.pot but no longer in the sources: {sorted(pot - found, key=str)[:5]}"
    assert pot == po, f"messages.po differs from messages.pot (run pybabel update): {sorted(pot ^ po, key=str)[:5]}"


def test_same_words_allow_list_is_exact():
    same = {m.id for m in catalog(PO) if m.id and m.string == m.id}
    assert same == SAME_IN_GERMAN


def test_shipped_languages():
    assert languages() == ("en", "de")


def test_plural_forms():
    with language("de"):
        assert ngettext("%(num)d unit", "%(num)d units", 1) % {"num": 1} == "1 Einheit"
        assert ngettext("%(num)d unit", "%(num)d units", 2) % {"num": 2} == "2 Einheiten"
    one = render_files(derive(load_spec("slp-identity")), lang="de", pictures=False)["slp-identity.md"]
    two = render_files(derive(load_spec("two-two-two")), lang="de", pictures=False)["two-two-two.md"]
    assert "und 1 Schicht von Einheiten." in one
    assert "und 2 Schichten von Einheiten." in two
    assert "Das Netz hat 2 Eingaben" in two


@pytest.mark.parametrize("command", [["render", "two-two-two"], ["worksheet", "two-two-two"],
                                     ["check", "two-two-two", "--blank"], ["audit", "two-two-two", "x.md"]])
def test_unknown_language_is_one_line_and_exit_2(command, tmp_path):
    run = subprocess.run([sys.executable, "-m", "derive", *command, "--lang", "xx", *(["-o", str(tmp_path)]
                          if command[0] == "worksheet" else [])], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert "--lang" in run.stderr and "'xx'" in run.stderr and "en, de" in run.stderr


# -- German output carries no English words of the templates


def english_phrases() -> tuple[set[str], set[str]]:
    """(phrases of two or more words, single words) of the English msgids: the pieces of two or more words between
    placeholders, math, code and punctuation, and the msgids that are one word; leaving out those German writes
    the same."""
    phrases, words = set(), set()
    for m in catalog(POT):
        for text in ([m.id] if isinstance(m.id, str) else list(m.id)) if m.id else []:
            if text in SAME_IN_GERMAN:
                continue
            if re.fullmatch(r"[A-Za-z]{3,}:?", text):  # a msgid of one word (a table heading): the word
                words.add(text.rstrip(":"))
                continue
            text = re.sub(r"%\(\w+\)[sd]|\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", "|", text, flags=re.S).replace("%%", "%")
            for piece in re.split(r"[|.,;:()!?\n\"*]", text):
                piece = " ".join(piece.split())
                # words, not formulas (abs Δ ≤ 1e-6·max) or commands (derive check)
                if (len(re.findall(r"[A-Za-z]{3,}", piece)) >= 2 and not re.search(r"[0-9≤·Δ=]", piece)
                        and not piece.startswith("derive ")):
                    phrases.add(piece)
    return phrases, words


PHRASES, WORDS = english_phrases()


def english_in(text: str, *, words: bool = True, user_text: tuple[str, ...] = ()) -> list[str]:
    """The English template phrases (and, with ``words``, the one-word msgids outside math and code) found in
    a German text. LaTeX and PDF text are looked at for phrases only: their code and math cannot be told apart."""
    for t in user_text:  # the spec's own title and description are the user's words, not the templates'
        text = text.replace(t, " ")
    text = re.sub(r"derive (check|audit|render|values|worksheet)\b", " ", text)  # commands are no words
    text = " ".join(text.split())
    found = [p for p in PHRASES if re.search(r"(?<![A-Za-z])" + re.escape(p) + r"(?![A-Za-z])", text)]
    if words:  # Markdown and HTML: leave out math and code before looking for single words
        text = re.sub(r"`[^`]*`", " ", text)  # code first: a $ in code would pair with the math's
        text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", " ", text)
    if words:
        found += [w for w in WORDS if re.search(r"(?<![A-Za-z_./\\\[-])" + w + r"(?![A-Za-z0-9_./(\[-])", text)]  # not a name in code
    return sorted(found)


def test_the_check_itself_finds_english():
    assert "The network has" in PHRASES and "quantity" in WORDS
    assert "The network has" in english_in("Das Netz. The network has 2 inputs.")
    assert english_in("| quantity | Größe |") == ["quantity"]
    assert english_in("$\\mathrm{quantity}$ `quantity` Größe") == []


def user_words(spec) -> tuple[str, ...]:
    return tuple(t for t in (spec.title, spec.description or "") if t)


def untitled(preset: str):
    """A preset without its English title and description (where LaTeX and PDF text cannot be told apart)."""
    return dataclasses.replace(load_spec(preset), title="Beispiel", description="")


@pytest.mark.parametrize("preset", ["two-two-two", "slp-identity", "svm-hinge", "cnn"])
def test_german_worked_example_markdown(preset):
    d = derive(load_spec(preset))
    for notation in ("inout", "netout", "layer"):
        md = render_files(d, fmt="md", lang="de", notation=notation, views=("scalar", "matrix", "tape"),
                          pictures=False)[f"{preset}.md"]
        assert english_in(md, user_text=user_words(d.spec)) == []
        assert "## Vorwärtsdurchlauf" in md and "## Backpropagation" in md


def test_german_worked_example_tex_html_ipynb():
    d = derive(untitled("svm-hinge"))
    files = {fmt: render_files(d, fmt=fmt, lang="de", views=("scalar", "matrix", "tape"), pictures=False)
             for fmt in ("tex", "html", "ipynb")}
    tex = files["tex"]["svm-hinge.tex"]
    assert "\\usepackage[ngerman,shorthands=off]{babel}" in tex
    assert english_in(tex, words=False, user_text=user_words(d.spec)) == []
    html = files["html"]["svm-hinge.html"]
    assert '<html lang="de">' in html
    body = re.sub(r"<code>.*?</code>|<[^>]+>", " ", html.split("<body>")[1], flags=re.S)
    assert english_in(body, user_text=user_words(d.spec)) == []
    cells = json.loads(files["ipynb"]["svm-hinge.ipynb"])["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "Vorwärtsdurchlauf" in markdown
    english = json.loads(render_files(d, fmt="ipynb", views=("scalar", "matrix", "tape"),
                                      pictures=False)["svm-hinge.ipynb"])["cells"]
    assert [c["cell_type"] for c in cells] == [c["cell_type"] for c in english]  # each code cell after its section
    assert english_in(markdown, user_text=user_words(d.spec)) == []


def test_english_is_the_default_and_unchanged():
    d = derive(load_spec("two-two-two"))
    default = render_files(d, pictures=False)["two-two-two.md"]
    assert render_files(d, lang="en", pictures=False)["two-two-two.md"] == default
    assert "## Forward pass" in default
    assert "babel" not in render_files(d, fmt="tex", pictures=False)["two-two-two.tex"]


def test_german_sheets_keys_and_reports(tmp_path):
    from derive.grade.answers import answers_file, read_answers
    from derive.grade.audit.documents import read_document
    from derive.grade.audit.report import audit, render_audit
    from derive.grade.judge import check_answers
    from derive.render.page import render_report
    from derive.worksheets.write import worksheet_files

    base = load_spec("two-two-two")
    with language("de"):
        files = worksheet_files(base, variants=2, seed=7, formats=("md",))
    texts = {name: text for name, text in files.items() if name.endswith(".md")}
    assert {"variant-01.sheet.md", "variant-01.key.md", "keys.md"} <= set(texts)
    for name, text in texts.items():
        assert english_in(text, user_text=user_words(base)) == [], name
    assert "## Ihre Antworten" in texts["variant-01.sheet.md"]
    for name in ("variant-01.answers.toml", "variant-01.key.toml", "variant-01.toml"):
        comments = "\n".join(line for line in files[name].splitlines() if line.startswith("#"))
        assert comments and english_in(comments, user_text=user_words(base)) == [], name
    with language("de"):
        blank = answers_file(derive(base), filled=False)
    assert english_in("\n".join(line for line in blank.splitlines() if line.startswith("#"))) == []
    d = derive(base)
    given = read_answers(ROOT / "output" / "seed-001" / "answers.toml", d)
    with language("de"):
        report = check_answers(d, given)
        reports = [render_report(report, fmt=fmt) for fmt in ("text", "md")]
        found = audit(d, read_document(ROOT / "tests" / "fixtures" / "seed_001.txt"))
        reports += [render_audit(found, fmt=fmt) for fmt in ("text", "md")]
    for text in reports:
        # the audited document's own lines, quoted (in the terminal report after "|", in Markdown as code)
        text = re.sub(r"(?m)^\s+\| .*$|`[^`\n]*`", " ", text)
        assert english_in(text) == [], text[:200]
    assert "8 falsch" in reports[0]


def test_german_class_report(tmp_path):
    from derive.grade.classroom import class_files, grade_class, simulated_class
    from derive.worksheets.write import worksheet_files
    from derive.files import save

    variants = tmp_path / "variants"
    save(variants, worksheet_files(load_spec("two-two-two"), variants=2, seed=3, formats=("md",)))
    simulated_class(variants, tmp_path / "class", 6, seed=1)
    with language("de"):
        files = class_files(grade_class(variants, tmp_path / "class"))
    for name, text in files.items():
        if name.endswith(".md"):
            assert english_in(text) == [], (name, text[:300])


def test_german_pdf_text(tmp_path):
    need(shutil.which("pdflatex") is not None, "pdflatex is not installed")
    need(shutil.which("pdftotext") is not None, "pdftotext is not installed (poppler-utils)")
    from derive.worksheets.write import worksheet_files

    base = load_spec("two-two-two")
    with language("de"):
        files = worksheet_files(base, variants=1, seed=7, formats=("pdf",))
    files["example.pdf"] = render_files(derive(untitled("two-two-two")), fmt="pdf", lang="de")["two-two-two.pdf"]
    for name in ("sheets.pdf", "keys.pdf", "example.pdf"):
        (tmp_path / name).write_bytes(files[name])
        text = subprocess.run(["pdftotext", "-layout", str(tmp_path / name), "-"], capture_output=True, text=True,
                              check=True).stdout
        text = re.sub(r"-\n\s*", "", text)  # words hyphenated at the end of a line
        assert english_in(text, words=False, user_text=user_words(base)) == [], name
        assert "Variante 01" in text or "Vorwärtsdurchlauf" in text


@pytest.mark.parametrize("preset", ["two-two-two", "svm-hinge"])
def test_german_notebook_code_runs_and_speaks_german(preset):
    import contextlib
    import io

    import numpy as np

    cells = json.loads(render_files(derive(load_spec(preset)), fmt="ipynb", lang="de", pictures=False)
                       [f"{preset}.ipynb"])["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), np.printoptions():  # the notebook sets its own print options
        exec(compile(code, "<notebook>", "exec"), {"__name__": "__notebook__"})
    printed = out.getvalue()
    assert "stimmt mit der Herleitung überein" in printed and "agrees" not in printed
    assert english_in(notebook_words(code)) == []


def notebook_words(code: str) -> str:
    """The comments, docstrings and check labels of notebook code."""
    found = re.findall(r'#(.*)|"""(.*?)"""|check\("([^"]*)"', code)
    return "\n".join(" ".join(groups) for groups in found)


def test_the_notebook_check_finds_english():
    cells = json.loads(render_files(derive(load_spec("two-two-two")), fmt="ipynb", pictures=False)
                       ["two-two-two.ipynb"])["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "the loss of each instance" in english_in(notebook_words(code))


KINKED = """
name = "kinked"
[network]
inputs = 2
loss = "mse"
[[network.layers]]
size = 2
activation = "relu"
weights = [[1, -1], [1, 2]]
[[network.layers]]
size = 2
activation = "leaky_relu"
slope = 0.1
weights = [[1, 0.5], [-1, 1]]
bias = [0.5, 0]
train_bias = false
[[data]]
x = [1, -1]
t = [0.5, 1]
[[data]]
x = [2, 1]
t = [1, 0]
[training]
learning_rate = 0.1
optimizer = "adam"
batch_size = 1
epochs = 4
schedule = { kind = "step", step_size = 1, gamma = 0.5 }
"""


@pytest.mark.parametrize("case", ["kinked", "bce", "cross_entropy", "tanh-online", "output"])
def test_german_pages_the_presets_do_not_cover(case):
    """A relu at its kink (and the checks skipped there), Adam with mini-batches and a schedule, a
    fixed bias, cross-entropy after softmax, online training: German throughout, every chain true."""
    from conftest import random_spec, spec_from

    spec = {"kinked": lambda: spec_from(KINKED, "kinked"),
            "bce": lambda: random_spec("bce", "sigmoid", "relu", seed=1),
            "cross_entropy": lambda: random_spec("cross_entropy", "softmax", "leaky_relu", seed=2),
            "tanh-online": lambda: random_spec("mse", "tanh", "tanh", seed=3, mode="online"),
            "output": lambda: random_spec("output", "identity", "sigmoid", seed=4)}[case]()
    d = derive(spec)
    md = render_files(d, fmt="md", lang="de", views=("scalar", "matrix", "tape"), pictures=True)
    page = md[f"{spec.name}.md"]
    # "step" is the spec's name of the schedule (as "relu" of an activation), shown in the loss plot's caption
    assert english_in(page, user_text=user_words(spec) + ("Zeitplan step",)) == []
    if case == "kinked":
        assert "genau am Knick der Aktivierung" in page and "Wir setzen $\\operatorname{ReLU}'(0) = 0$" in page
        assert "übersprungen: eine relu-Einheit liegt genau an ihrem Knick" in page
    if case == "cross_entropy":
        assert "Kreuzentropie nach Softmax vereinfacht sich zu" in page


def test_german_lms_quizzes():
    """Moodle XML, Moodle cloze, GIFT, QTI and PrairieLearn in German: their question texts, names and feedback."""
    import html
    import io
    import zipfile

    from derive.worksheets.write import worksheet_files

    base = load_spec("two-two-two")
    with language("de"):
        files = worksheet_files(base, variants=1, seed=7,
                                formats=("moodle", "moodle-cloze", "gift", "qti", "prairielearn"))
    texts = {name: files[name] for name in ("moodle.xml", "moodle-cloze.xml", "gift.txt")}
    with zipfile.ZipFile(io.BytesIO(files["qti.zip"])) as z:
        texts.update({n: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml")})
    texts.update({n: t for n, t in files.items() if n.startswith("prairielearn/") and n.endswith((".json", ".html"))})
    assert "Lücke" in texts["gift.txt"] and "Richtig." in texts["moodle-cloze.xml"]
    for name, text in texts.items():
        plain = html.unescape(re.sub(r"<[^>]+>", " ", html.unescape(text)))
        plain = re.sub(r"`[^`]*`|data:[^\s\"')]+", " ", plain)  # code, embedded pictures
        assert english_in(plain, words=False, user_text=user_words(base)) == [], name
