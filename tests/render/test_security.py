"""Hostile spec text: no file is read, and no markup or script gets in, through any string of a spec
into any format (md, tex, pdf, html, ipynb, worksheet sheets/keys md and PDF, Moodle XML).

A marker file in tmp stands for /etc/passwd: each attack tries to \\input it (or reach it some other
way), and its content must never appear in what derive writes — in the PDF's text (pdftotext),
the HTML's text, the notebook. Spec strings are refused at validation when they carry something
derive does not typeset (a one-line SpecError naming the field); the writers check again, so a
spec built in Python (past the validation) is no way around it either.
"""

from __future__ import annotations

import dataclasses
import html.parser
import json
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, need, spec_from
from derive.errors import DeriveError, SpecError
from derive.pipeline import derive
from derive.render.page import render
from derive.spec.parse import load_spec

SECRET = "SECRET-MARKER-5f3a9c"
SPEC = """
name = "hostile"
title = "T"
[network]
inputs = 2
loss = "sse"
[[network.layers]]
name = "h"
size = 2
activation = "sigmoid"
weights = [[0.5, -0.25], [1, 0.75]]
[[network.layers]]
name = "y"
size = 1
activation = "sigmoid"
weights = [[1], [-1]]
[[data]]
x = [1, 2]
t = [1]
"""


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "marker.tex"
    path.write_text(SECRET + "\n")
    return str(path)


def attacks(m: str) -> list[str]:
    """Ways to make pdflatex (or a browser) read the file ``m``, or to inject markup or script."""
    return [
        f"$\\input{{{m}}}$", f"$$\\input{{{m}}}$$", f"$\\include{{{m}}}$", f"$\\text{{\\input{{{m}}}}}$",
        f"$^^5cinput{{{m}}}$", f"$\\csname input\\endcsname{{{m}}}$", f"$\\def\\x{{\\input}}\\x{{{m}}}$",
        f"$\\openin1={m} \\read1 to\\x \\x$", f"$\\catcode`\\|=0 |input{{{m}}}$", f"$\\immediate\\write18{{cat {m}}}$",
        f"$\\begin{{aligned}}\\input{{{m}}}\\end{{aligned}}$", f"$\\begin{{filecontents}}x\\end{{filecontents}}$",
        f"plain \\input{{{m}}} text", f"`\\input{{{m}}}`", f"\\(\\input{{{m}}}\\)", f"\\[\\input{{{m}}}\\]",
        f"$x % comment\n\\input{{{m}}}$", f"$x}}\\input{{{m}}}{{$", f"Title\n\n## Injected\n\n$\\input{{{m}}}$",
        "</title></h1><script>alert(1)</script>", "<img src=x onerror=alert(1)>", "$\\href{javascript:alert(1)}{x}$",
        "a $ b", "line\u2028break", "nul\x00byte",
    ]


#: Where spec text goes, as the TOML that sets it (each replaces a line of SPEC).
FIELDS = {
    "title": lambda v: SPEC.replace('title = "T"', f"title = {json.dumps(v)}"),
    "description": lambda v: SPEC.replace('title = "T"', f'title = "T"\ndescription = {json.dumps(v)}'),
    "name": lambda v: SPEC.replace('name = "hostile"', f"name = {json.dumps(v)}"),
    "network.inputs[0]": lambda v: SPEC.replace("inputs = 2", f'inputs = [{json.dumps(v)}, "x2"]'),
    "network.layers[0].name": lambda v: SPEC.replace('name = "h"', f"name = {json.dumps(v)}"),
    "network.layers[0].weight_symbol": lambda v: SPEC.replace('name = "h"', f'name = "h"\nweight_symbol = {json.dumps(v)}'),
}


def pdf_text(pdf: bytes, tmp_path) -> str:
    need(shutil.which("pdftotext") is not None, "pdftotext is not installed (poppler-utils)")
    (tmp_path / "doc.pdf").write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(tmp_path / "doc.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout


def markup(fmt: str, seen: str) -> bool:
    """Whether an attack's tags got into HTML or Markdown as tags (in LaTeX and PDF they are mere text;
    Markdown writes them escaped, \\<script\\>; in Moodle XML they would be &lt;script&gt;)."""
    if fmt in ("md", "ipynb"):
        return bool(re.search(r"(?<!\\)<(script|img)", seen))
    if fmt == "xml":
        return "&lt;script&gt;alert" in seen or "&lt;img src=x" in seen
    if fmt == "html":
        return "<script>alert" in seen or "<img src=x" in seen
    return False


def every_format(d, tmp_path) -> dict[str, str]:
    """What a reader sees of each format: the text (PDF through pdftotext), or a DeriveError's message."""
    seen = {}
    for fmt in ("md", "tex", "html", "ipynb", "pdf"):
        try:
            out = render(d, fmt=fmt, views=("scalar", "matrix", "tape"))
        except DeriveError as exc:
            seen[fmt] = f"refused: {exc}"
            continue
        if fmt == "ipynb":  # the cells (the metadata's title is a JSON string that nothing renders)
            out = "\n".join("".join(c["source"]) for c in json.loads(out)["cells"])
        seen[fmt] = pdf_text(out, tmp_path) if fmt == "pdf" else out
    return seen


def worksheet_outputs(spec, tmp_path) -> dict[str, str]:
    from derive.worksheets.write import worksheet_files

    try:
        files = worksheet_files(spec, variants=1, seed=3, formats=("md", "pdf", "moodle"))
    except DeriveError as exc:
        return {"worksheet": f"refused: {exc}"}
    return {name: pdf_text(data, tmp_path) if name.endswith(".pdf") else
            (data if isinstance(data, str) else "") for name, data in files.items()}


def test_every_attack_on_every_field_is_refused_at_validation(marker):
    """Each attack is a one-line SpecError naming its field, or (markup in a title) harmless text."""
    accepted = []
    for field, toml in FIELDS.items():
        for attack in attacks(marker):
            try:
                spec_from(toml(attack))
            except SpecError as exc:
                assert exc.field == field and "\n" not in str(exc), (field, attack, str(exc))
            else:
                accepted.append((field, attack))
    # what is left is plain text: markup characters in a title or description, which every format escapes
    assert set(accepted) == {(f, a) for f in ("title", "description")
                             for a in ("</title></h1><script>alert(1)</script>", "<img src=x onerror=alert(1)>")}


def test_names_ending_in_a_newline_are_refused():
    for field in ("name", "network.inputs[0]", "network.layers[0].name"):
        with pytest.raises(SpecError, match=re.escape(field)):
            spec_from(FIELDS[field]("h\n"))


@pytest.mark.parametrize("field", ["title", "description"])
def test_no_format_reads_a_file_even_past_validation(field, marker, tmp_path):
    """A Spec made in Python skips the validation: every format still refuses the math or escapes the text."""
    base = derive(spec_from(SPEC))
    for attack in attacks(marker):
        d = dataclasses.replace(base, spec=dataclasses.replace(base.spec, **{field: attack}))
        for fmt, seen in every_format(d, tmp_path).items():
            assert SECRET not in seen, (field, attack, fmt)
            assert not markup(fmt, seen), (field, attack, fmt)
            if field == "title" and fmt in ("md", "ipynb") and not seen.startswith("refused"):
                assert "## Injected" not in seen, (attack, fmt)
            if fmt == "tex" and not seen.startswith("refused"):
                assert not re.search(r"\\(input|include|openin|read|catcode|def|write|immediate|csname)\b", seen)


def test_worksheets_read_no_file(marker, tmp_path):
    base = spec_from(SPEC)
    for attack in [a for a in attacks(marker) if "\\" in a or "<" in a][:12]:
        for name, seen in worksheet_outputs(dataclasses.replace(base, title=attack), tmp_path).items():
            assert SECRET not in seen, (attack, name)
            assert not markup(name.rsplit(".", 1)[-1], seen), (attack, name)
            if name == "moodle.xml":  # the question texts are HTML inside XML: parse both
                import xml.etree.ElementTree as ET

                for text in ET.fromstring(seen).iter("text"):
                    assert "<script" not in (text.text or "") and "\\(\\input" not in (text.text or "")


def test_the_source_path_is_text(marker, tmp_path):
    """The file name is printed on the page: a path that spells \\input reads nothing."""
    folder = tmp_path / "$\\input{" / marker.strip("/").rsplit(".", 1)[0].replace("/", "/")
    # a directory chain whose path, read as TeX, is $\input{<marker without .tex>}$
    path = tmp_path / ("$\\input{" + marker.rsplit(".", 1)[0]) 
    path = tmp_path.joinpath("$\\input{", *marker.strip("/").rsplit(".", 1)[0].split("/")[:-1],
                             marker.rsplit("/", 1)[1].rsplit(".", 1)[0] + "}$")
    path.mkdir(parents=True)
    spec_file = path / "net.toml"
    spec_file.write_text(SPEC)
    d = derive(load_spec(str(spec_file)))
    assert "$\\input{/" in d.spec.source
    for fmt, seen in every_format(d, tmp_path).items():
        assert SECRET not in seen, fmt


class _Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def test_markup_in_a_title_stays_text_in_the_browser(tmp_path):
    """In Chromium's DOM: the title is the literal text, and the page has only its own two scripts."""
    from render.test_html import browse

    attack = "</title></h1><script>alert(1)</script><img src=x onerror=alert(2)>"
    spec = spec_from(FIELDS["title"](attack))
    page = render(derive(spec), fmt="html")
    parsed = _Dom()
    parsed.feed(page)
    assert parsed.title == attack and parsed.tags.count("script") == 2 and "img" not in parsed.tags
    dom, requests = browse(page, tmp_path)
    live = _Dom()
    live.feed(dom)
    assert live.title == attack and live.tags.count("script") == 2 and not requests
    h1 = re.search(r"<h1>(.*?)</h1>", dom, flags=re.S).group(1)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in h1


def test_pdflatex_is_hardened(marker, tmp_path, monkeypatch):
    """Even a document that asks pdflatex to read a file by its absolute path cannot (openin_any=p),
    and shell escape is off."""
    from derive.render.tex import compile_pdf

    need(shutil.which("pdflatex") is not None, "pdflatex is not installed")
    tex = ("\\documentclass{article}\\begin{document}\\makeatletter"
           f"\\IfFileExists{{{marker}}}{{FOUND}}{{NOTFOUND}} \\immediate\\write18{{echo SHELL > {tmp_path}/shell}}"
           "\\end{document}")
    text = pdf_text(compile_pdf(tex, "hard"), tmp_path)
    assert "NOTFOUND" in text and SECRET not in text and not (tmp_path / "shell").exists()


def _uses(command: str) -> str:
    """A formula that uses ``command`` as it is meant to be used."""
    two = {"frac", "dfrac", "tfrac", "binom", "dbinom", "tbinom", "overset", "underset", "stackrel"}
    if command in two:
        return f"\\{command}{{a}}{{b}}"
    if command.lower().startswith("big"):
        return f"\\{command}( x \\{command})" if command[-1] not in "lr" else f"\\{command}( x"
    if command in ("limits", "nolimits"):
        return f"\\sum\\{command}_{{i}} x"
    if command in ("left", "right", "middle"):
        return "\\left( a \\middle| b \\right)"
    if command in ("begin", "end"):
        return "\\begin{bmatrix} a \\end{bmatrix}"
    return f"\\{command}{{x}}"


def test_every_whitelisted_command_works_in_pdflatex_and_katex(tmp_path):
    """The whitelist promises what both typesetters accept: each command and environment, once."""
    import json as _json

    from derive.spec.prose import COMMANDS, ENVIRONMENTS, math_problem
    from derive.render.tex import compile_pdf

    formulas = [_uses(c) for c in sorted(COMMANDS)]
    args = {"array": "{cc}", "alignedat": "{2}"}
    formulas += [f"\\begin{{{e}}}{args.get(e, '')} {'a' if e == 'gathered' else 'a & b'} \\\\ c \\end{{{e}}}"
                 for e in sorted(ENVIRONMENTS)]
    formulas += ["a \\, b \\; c \\: d \\! e \\ f \\{ \\} \\| \\$ \\& \\_ \\% \\#"]
    assert not [f for f in formulas if math_problem(f)]
    need(shutil.which("pdflatex") is not None, "pdflatex is not installed")
    template = (ROOT / "templates" / "document.tex.j2").read_text()
    preamble = template[template.index("\\documentclass"):template.index("{% endraw %}")]
    pdf = compile_pdf(preamble + "\\begin{document}\n" + "\n\n".join(f"${f}$" for f in formulas) + "\n\\end{document}\n",
                      "whitelist")
    assert pdf.startswith(b"%PDF")
    node = shutil.which("node")
    need(node is not None and (ROOT / "tests" / "katex" / "node_modules" / "katex").is_dir(),
         "KaTeX is not installed: npm ci --prefix tests/katex")
    run = subprocess.run([node, str(ROOT / "tests" / "katex" / "check.js")], capture_output=True, text=True,
                         input=_json.dumps([{"tex": f, "display": False} for f in formulas]), timeout=120,
                         cwd=ROOT / "tests" / "katex")
    assert _json.loads(run.stdout) == []
