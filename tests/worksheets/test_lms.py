"""The learning-platform exports, each read back by its published structure:

- Moodle XML with cloze questions: the XML parsed, every NUMERICAL sub-question read by a parser
  written from Moodle's cloze grammar (qtype_multianswer), its key and tolerance compared with
  the variant's own NumPy reference values;
- GIFT: a parser written from Moodle's GIFT importer (escapes, names, formats, numerical answers
  with weights and feedback) reads back every question and answer;
- QTI 1.2: the zip's manifest and assessments parsed, the ASI structure checked element by
  element (order and required attributes), the keys compared, the Canvas scaling checked;
- PrairieLearn: info.json against a JSON schema written from PrairieLearn's infoQuestion schema
  (and against PrairieLearn's own file when DERIVE_PL_SCHEMA names it), question.html's elements
  and attributes, and server.py run as PrairieLearn runs it, with a fake ``data`` dict.
"""

from __future__ import annotations

import html
import importlib.util
import io
import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser

import pytest

from conftest import ROOT, spec_from
from derive.errors import SpecError
from derive.spec.parse import load_spec
from derive.worksheets.write import worksheet_files
from worksheets.test_worksheet import _reference_values

ALL = ("moodle-cloze", "qti", "gift", "prairielearn")


@pytest.fixture(scope="module")
def made():
    return worksheet_files(load_spec("two-two-two"), variants=3, seed=7, formats=ALL)


def _variant_values(files, k, tmp_path):
    stem = f"variant-{k:02d}"
    (tmp_path / f"{stem}.toml").write_text(files[f"{stem}.toml"])
    return _reference_values(load_spec(tmp_path / f"{stem}.toml"))


def _rounded(x: float, decimals: int = 4) -> float:
    from decimal import ROUND_HALF_UP, Decimal

    return float(Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


# --------------------------------------------------------------------------- Moodle cloze

# From Moodle's qtype_multianswer grammar: {N:TYPE:alternative~alternative…}, an alternative is
# (=|%fraction%)?answer(#feedback)?; an answer ends at an unescaped ~ # }, a feedback at ~ }.
CLOZE = re.compile(r"\{([0-9]*):(NUMERICAL|NM|MULTICHOICE|MC|SHORTANSWER|SA|MW):((?:[^}\\]|\\.)*)\}")
ALTERNATIVE = re.compile(r"(=|%(-?[0-9]+(?:[.,][0-9]*)?)%)?(.+?)(?<!\\)(?:#(.*?))?$", re.S)
NUMBER = r"-?(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?"
NUMERICAL = re.compile(rf"^({NUMBER})(?::({NUMBER}))?$")
MOODLE_GRADES = {100, 90, 83.33333, 80, 75, 70, 66.66667, 60, 50, 40, 33.33333, 30, 25, 20, 16.66667, 14.28571,
                 12.5, 11.11111, 10, 5, 0}


def parse_cloze(text: str) -> list[dict]:
    """Every sub-question: weight, type, and its alternatives (fraction, value, tolerance, feedback)."""
    out = []
    for m in CLOZE.finditer(text):
        alternatives = re.split(r"(?<!\\)~", m.group(3))
        parsed = []
        for alt in alternatives:
            a = ALTERNATIVE.match(alt)
            assert a, alt
            fraction = 100.0 if a.group(1) == "=" else float(a.group(2)) if a.group(2) else 0.0
            answer = a.group(3)
            assert not re.search(r"(?<!\\)[#}]", answer), answer
            n = NUMERICAL.match(answer)
            assert n, f"not a numerical answer: {answer!r}"
            parsed.append({"fraction": fraction, "value": float(n.group(1)), "tolerance": float(n.group(2) or 0),
                           "feedback": a.group(4) or ""})
        out.append({"weight": int(m.group(1) or 1), "type": m.group(2), "answers": parsed})
    return out


def test_cloze_is_moodle_xml_with_one_question_per_variant_and_every_blank_a_numerical_subquestion(made, tmp_path):
    root = ET.fromstring(made["moodle-cloze.xml"])
    assert root.tag == "quiz"
    questions = root.findall("question")
    assert questions[0].get("type") == "category"
    assert questions[0].find("category/text").text.startswith("$course$/top/")
    clozes = questions[1:]
    assert [q.get("type") for q in clozes] == ["cloze"] * 3
    for k, q in enumerate(clozes, start=1):
        assert q.find("name/text").text
        qt = q.find("questiontext")
        assert qt.get("format") == "html"
        text = qt.find("text").text
        # the picture is a file of the question, referred to by @@PLUGINFILE@@
        file = qt.find("file")
        assert file.get("encoding") == "base64" and file.get("path") == "/"
        assert f'src="@@PLUGINFILE@@/{file.get("name")}"' in text
        import base64

        assert base64.b64decode(file.text).lstrip().startswith(b"<?xml")
        subs = parse_cloze(text)
        expected = _variant_values(made, k, tmp_path)
        key = dict(re.findall(r'^(\S+) = (\S+)$', made[f"variant-{k:02d}.key.toml"], re.M))
        names = re.findall(r"<code>([^<]+)</code>", text)
        assert len(subs) == len(names) > 20
        compared = 0
        for name, sub in zip(names, subs):
            name = html.unescape(name)
            assert sub["type"] == "NUMERICAL"
            right = [a for a in sub["answers"] if a["fraction"] == 100]
            # what the sheet promises: within 1e-4, or within 0.1 % of the key (as derive check grants)
            assert len(right) == 1
            assert right[0]["tolerance"] == pytest.approx(max(1e-4, 1e-3 * abs(right[0]["value"])), abs=1e-4 / 2)
            if name in expected:
                assert right[0]["value"] == pytest.approx(_rounded(expected[name]), abs=1e-12), name
                compared += 1
            for wrong in sub["answers"][1:]:
                assert wrong["fraction"] in MOODLE_GRADES
                assert abs(wrong["value"] - right[0]["value"]) > wrong["tolerance"], (name, wrong)
                assert wrong["feedback"] and not re.search(r"[{}~#\\]", wrong["feedback"])
        assert compared > 20


def test_cloze_mistake_answers_are_the_mistakes_values(made, tmp_path):
    """The sign-error answer of a gradient is minus the key, the lost factor 2 half of it (NumPy values)."""
    q = ET.fromstring(made["moodle-cloze.xml"]).findall("question")[1]
    text = q.find("questiontext/text").text
    expected = _variant_values(made, 1, tmp_path)
    names = [html.unescape(n) for n in re.findall(r"<code>([^<]+)</code>", text)]
    seen = set()
    for name, sub in zip(names, parse_cloze(text)):
        if ".dL/d" not in name or name not in expected or name.startswith("total"):
            continue
        g = expected[name]
        for a in sub["answers"][1:]:
            if "flips every gradient" in a["feedback"]:
                assert a["value"] == pytest.approx(_rounded(-g), abs=1e-12), name
                seen.add("sign")
            if a["feedback"].startswith("The factor 2 of the squared error lost"):
                assert a["value"] == pytest.approx(_rounded(g / 2), abs=1e-12), name
                seen.add("half")
    assert seen == {"sign", "half"}


def test_partial_credit_is_the_teachers_and_is_checked(tmp_path):
    base = load_spec("two-two-two")
    text = (ROOT / "derive/spec/presets/two-two-two.toml").read_text() if (
        ROOT / "derive/spec/presets/two-two-two.toml").exists() else None
    if text is None:
        pytest.skip("preset file not found")
    spec = spec_from(text + '\n[worksheet]\npartial = { mistakes = 0.25, sign-error = 0.1, "factor" = 0.5 }\n')
    files = worksheet_files(spec, variants=1, seed=7, formats=("moodle-cloze",))
    answers = [a for s in parse_cloze(files["moodle-cloze.xml"]) for a in s["answers"][1:]]
    sign = [a for a in answers if "flips every gradient" in a["feedback"] and " or " not in a["feedback"]]
    factor = [a for a in answers if a["feedback"].startswith("The factor 2 of")]
    assert sign and {a["fraction"] for a in sign} == {10}
    assert factor and {a["fraction"] for a in factor} == {50}
    other = [a for a in answers if "transposed" in a["feedback"] and " or " not in a["feedback"]]
    assert other and {a["fraction"] for a in other} == {25}
    bad = spec_from(text + '\n[worksheet]\npartial = { sign-eror = 0.5 }\n')
    with pytest.raises(SpecError, match=r"worksheet\.partial\.sign-eror.*sign-error"):
        worksheet_files(bad, variants=1, seed=7, formats=("gift",))
    with pytest.raises(SpecError, match=r"worksheet\.partial\.sign-error.*from 0 to 1"):
        spec_from(text + '\n[worksheet]\npartial = { sign-error = 2 }\n')


# --------------------------------------------------------------------------- GIFT

def _unescape_gift(text: str) -> str:
    """As Moodle's escapedchar_pre/post: \\\\ is a backslash, \\: \\# \\= \\{ \\} \\~ the characters, \\n a newline."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "\\:#={}~n":
            out.append("\n" if text[i + 1] == "n" else text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_gift(text: str) -> list[dict]:
    """Questions of a GIFT file, read as Moodle's importer does (categories, descriptions, numerical)."""
    out = []
    blocks = re.split(r"\n\s*\n", text)
    for block in blocks:
        lines = [ln for ln in block.split("\n") if not ln.strip().startswith("//")]
        block = "\n".join(lines).strip()
        if not block:
            continue
        if block.startswith("$CATEGORY:"):
            out.append({"type": "category", "category": block[10:].strip()})
            continue
        # escaped specials out of the way, as the importer does with placeholders
        protected = re.sub(r"\\(.)", lambda m: "\0" + str(ord(m.group(1))) + "\0", block)
        name = None
        if protected.startswith("::"):
            end = protected.index("::", 2)
            name, protected = protected[2:end], protected[end + 2:].strip()
        restore = lambda s: _unescape_gift(re.sub(r"\0(\d+)\0", lambda m: "\\" + chr(int(m.group(1))), s))  # noqa: E731
        start, finish = protected.find("{"), protected.find("}")
        fmt = None
        qtext = protected if start < 0 else protected[:start]
        if qtext.startswith("["):
            fmt, qtext = qtext[1:qtext.index("]")], qtext[qtext.index("]") + 1:]
        q = {"name": restore(name) if name else None, "format": fmt, "text": restore(qtext).strip()}
        if start < 0 and finish < 0:
            q["type"] = "description"
        else:
            assert 0 <= start < finish, block[:80]
            assert protected[finish + 1:].strip() == "", "text after the answers"
            answers = protected[start + 1:finish].strip()
            assert answers.startswith("#"), "only numerical questions are written"
            q["type"] = "numerical"
            q["answers"] = []
            assert "~" not in answers
            for a in answers[1:].split("="):
                a = a.strip()
                if not a:
                    continue
                weight = 100.0
                m = re.match(r"^%-*([0-9]{1,2})\.?([0-9]*)%", a)
                if m:
                    weight = float(m.group(1) + "." + (m.group(2) or "0"))
                    a = a[m.end():]
                elif a.startswith("%"):
                    raise AssertionError(f"a weight GIFT cannot read: {a[:12]}")
                value, _, feedback = a.partition("#")
                number, _, tol = value.partition(":")
                q["answers"].append({"fraction": weight, "value": float(restore(number)),
                                     "tolerance": float(restore(tol) or 0), "feedback": restore(feedback).strip()})
        out.append(q)
    return out


def test_gift_reads_back_question_by_question_with_the_keys_and_the_mistakes(made, tmp_path):
    qs = parse_gift(made["gift.txt"])
    cats = [q for q in qs if q["type"] == "category"]
    assert [c["category"] for c in cats] == [f"$course$/top/derive/two-two-two/variant-0{k}" for k in (1, 2, 3)]
    descriptions = [q for q in qs if q["type"] == "description"]
    assert len(descriptions) == 3 and all('src="data:image/svg+xml;base64,' in q["text"] for q in descriptions)
    numerical = [q for q in qs if q["type"] == "numerical"]
    assert all(q["format"] == "html" for q in numerical)
    cloze = ET.fromstring(made["moodle-cloze.xml"]).findall("question")[1:]
    for k in (1, 2, 3):
        expected = _variant_values(made, k, tmp_path)
        mine = [q for q in numerical if q["name"].startswith(f"Variant 0{k}, blank ")]
        subs = parse_cloze(cloze[k - 1].find("questiontext/text").text)
        assert len(mine) == len(subs)
        for q, sub in zip(mine, subs):
            name = q["name"].split(": ", 1)[1]
            assert q["answers"][0]["fraction"] == 100
            # the same answers as the cloze question (another writer, another syntax)
            assert [(a["fraction"], a["value"], a["feedback"]) for a in q["answers"]] == \
                   [(a["fraction"], a["value"], html.unescape(a["feedback"])) for a in sub["answers"]]
            if name in expected:
                assert q["answers"][0]["value"] == pytest.approx(_rounded(expected[name]), abs=1e-12)
        # LaTeX survives the escaping: \( \partial L / \partial w_{11} \) comes back as written
        assert any(r"\(\partial L / \partial w_{11}\)" in q["text"] for q in mine)


def test_gift_escapes_every_special_character():
    from derive.worksheets.lms.gift import escape

    nasty = r"a~b=c#d{e}f:g\nabla \frac{1}{2}"
    assert _unescape_gift(escape(nasty)) == nasty
    assert not re.search(r"(?<!\\)[~=#{}:]", escape(nasty).replace("\\\\", ""))


# --------------------------------------------------------------------------- QTI 1.2

# The IMS QTI 1.2 ASI XML binding (DTD), the elements used here: children in the DTD's order.
ASI_ORDER = {
    "questestinterop": ["qticomment", "objectbank", "assessment", "section", "item"],
    "assessment": ["qticomment", "duration", "qtimetadata", "objectives", "assessmentcontrol", "rubric",
                   "presentation_material", "outcomes_processing", "assessproc_extension", "assessfeedback",
                   "selection_ordering", "reference", "sectionref", "section"],
    "section": ["qticomment", "duration", "qtimetadata", "objectives", "sectioncontrol", "sectionprecondition",
                "sectionpostcondition", "rubric", "presentation_material", "outcomes_processing",
                "sectionproc_extension", "sectionfeedback", "selection_ordering", "reference", "itemref", "item",
                "sectionref", "section"],
    "item": ["qticomment", "duration", "itemmetadata", "objectives", "itemcontrol", "itemprecondition",
             "itempostcondition", "itemrubric", "rubric", "presentation", "resprocessing", "itemproc_extension",
             "itemfeedback", "reference"],
    "resprocessing": ["qticomment", "outcomes", "respcondition", "itemproc_extension"],
    "respcondition": ["qticomment", "conditionvar", "setvar", "displayfeedback", "respcond_extension"],
}
REQUIRED = {"assessment": ["ident", "title"], "section": ["ident"], "item": ["ident"],
            "response_str": ["ident"], "response_label": ["ident"], "varequal": ["respident"],
            "vargte": ["respident"], "varlte": ["respident"], "setvar": ["varname"],
            "decvar": ["varname"], "mattext": []}
NS = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"


def _local(tag: str) -> str:
    return tag.split("}", 1)[-1]


def _check_asi(el: ET.Element) -> None:
    tag = _local(el.tag)
    for attr in REQUIRED.get(tag, []):
        assert el.get(attr), f"<{tag}> needs {attr}"
    if tag in ASI_ORDER:
        order = ASI_ORDER[tag]
        positions = [order.index(_local(c.tag)) for c in el]  # ValueError: an element the DTD does not allow here
        assert positions == sorted(positions), f"<{tag}>'s children out of the DTD's order"
    for child in el:
        _check_asi(child)


def _qti(files) -> tuple[zipfile.ZipFile, list[ET.Element]]:
    z = zipfile.ZipFile(io.BytesIO(files["qti.zip"]))
    manifest = ET.fromstring(z.read("imsmanifest.xml"))
    m = "{http://www.imsglobal.org/xsd/imscp_v1p1}"
    resources = manifest.findall(f"{m}resources/{m}resource")
    docs = []
    for res in resources:
        assert res.get("type") == "imsqti_xmlv1p2" and res.get("identifier")
        for f in res.findall(f"{m}file"):
            assert f.get("href") in z.namelist()
        doc = ET.fromstring(z.read(res.get("href")))
        assert doc.tag == f"{NS}questestinterop"
        _check_asi(doc)
        docs.append(doc)
    return z, docs


def test_qti_package_has_one_assessment_per_variant_in_asi_structure_with_the_keys(made, tmp_path):
    z, docs = _qti(made)
    assert len(docs) == 3
    for k, doc in enumerate(docs, start=1):
        expected = _variant_values(made, k, tmp_path)
        items = doc.findall(f"{NS}assessment/{NS}section/{NS}item")
        kinds = [i.find(f"{NS}itemmetadata/{NS}qtimetadata/{NS}qtimetadatafield[{NS}fieldlabel='question_type']"
                        f"/{NS}fieldentry").text for i in items]
        assert kinds[0] == "text_only_question" and set(kinds[1:]) == {"numerical_question"}
        intro = items[0].find(f"{NS}presentation/{NS}material/{NS}mattext").text
        picture = re.search(r'src="([^"]+\.svg)"', intro).group(1)
        folder = doc.find(f"{NS}assessment").get("ident")
        assert f"{folder}/{picture}" in z.namelist()
        compared = 0
        for item in items[1:]:
            name = item.get("title").split(": ", 1)[1]
            assert item.find(f"{NS}presentation/{NS}response_str/{NS}render_fib").get("fibtype") == "Decimal"
            conditions = item.findall(f"{NS}resprocessing/{NS}respcondition")
            assert len(conditions) == 1  # the key only: Canvas counts every numerical answer as right
            c = conditions[0]
            key = float(c.find(f"{NS}conditionvar/{NS}or/{NS}varequal").text)
            low = float(c.find(f"{NS}conditionvar/{NS}or/{NS}and/{NS}vargte").text)
            high = float(c.find(f"{NS}conditionvar/{NS}or/{NS}and/{NS}varlte").text)
            # the sheet's promise: within 1e-4, or within 0.1 % of the key
            assert low < key < high and high - key == pytest.approx(max(1e-4, 1e-3 * abs(key)), abs=1e-6)
            assert c.find(f"{NS}setvar").text == "100"
            if name in expected:
                assert key == pytest.approx(_rounded(expected[name]), abs=1e-12)
                compared += 1
        assert compared > 20


def test_qti_scales_blanks_canvas_would_round_to_zero(tmp_path):
    files = worksheet_files(load_spec("two-two-two"), variants=1, seed=7, formats=("qti",), decimals=6)
    _, (doc,) = _qti(files)
    expected = _variant_values(files, 1, tmp_path)
    items = doc.findall(f"{NS}assessment/{NS}section/{NS}item")
    assert "units of 10<sup>-2</sup>" in items[0].find(f"{NS}presentation/{NS}material/{NS}mattext").text
    for item in items[1:]:
        name = item.get("title").split(": ", 1)[1]
        asked = item.find(f"{NS}presentation/{NS}material/{NS}mattext").text
        assert r"in units of \(10^{-2}\)" in asked and "&lt;" not in asked  # the unit as math, not escaped HTML
        text = item.find(f"{NS}conditionvar/{NS}or/{NS}varequal", None) or \
            item.find(f".//{NS}varequal")
        key = float(text.text)
        assert re.fullmatch(r"-?\d+\.\d{4}", text.text)  # 4 decimals: nothing for Canvas to round away
        if name in expected:
            assert key == pytest.approx(_rounded(expected[name], 6) * 100, abs=1e-9)


# --------------------------------------------------------------------------- PrairieLearn

# Written from PrairieLearn's infoQuestion schema (its required properties, their types and
# the uuid pattern); no other property is allowed there either.
INFO_SCHEMA = {
    "type": "object",
    "required": ["uuid", "type", "title", "topic"],
    "additionalProperties": False,
    "properties": {
        "comment": {}, "uuid": {"type": "string",
                                "pattern": "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"},
        "type": {"type": "string", "enum": ["Calculation", "MultipleChoice", "Checkbox", "File",
                                            "MultipleTrueFalse", "v3"]},
        "title": {"type": "string"}, "topic": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}}, "authors": {"type": "array"},
        "clientFiles": {"type": "array", "items": {"type": "string"}},
        "clientTemplates": {"type": "array", "items": {"type": "string"}}, "template": {"type": "string"},
        "gradingMethod": {"enum": ["Internal", "External", "Manual"]}, "singleVariant": {"type": "boolean"},
        "showCorrectAnswer": {"type": "boolean"}, "partialCredit": {"type": "boolean"}, "options": {"type": "object"},
        "externalGradingOptions": {"type": "object"}, "dependencies": {"type": "object"},
        "workspaceOptions": {"type": "object"}, "sharingSets": {"type": "array"}, "sharePublicly": {"type": "boolean"},
        "shareSourcePublicly": {"type": "boolean"}, "preferences": {"type": "object"},
    },
}
#: pl-number-input's attributes (its element schema).
NUMBER_INPUT = {"allow-blank", "allow-complex", "allow-fractions", "answers-name", "aria-label", "atol",
                "blank-value", "comparison", "correct-answer", "custom-format", "digits", "display",
                "initial-value", "label", "placeholder", "rtol", "show-correct-answer", "show-help-text",
                "show-placeholder", "show-score", "size", "suffix", "weight"}


def test_prairielearn_info_json_is_valid(made):
    jsonschema = pytest.importorskip("jsonschema")
    info = json.loads(made["prairielearn/two-two-two/info.json"])
    jsonschema.validate(info, INFO_SCHEMA)
    assert info["type"] == "v3"
    folder = os.environ.get("DERIVE_PL_SCHEMAS")  # a folder with PrairieLearn's own infoQuestion.json, when at hand
    if folder:
        from pathlib import Path

        jsonschema.validate(info, json.loads((Path(folder) / "infoQuestion.json").read_text()))


def test_prairielearn_question_html_has_one_number_input_per_blank(made):
    found = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "pl-number-input":
                found.append(dict(attrs))

    Reader().feed(made["prairielearn/two-two-two/question.html"])
    key = made["variant-01.key.toml"]
    assert len(found) == len(re.findall(r"^\S+ = -?\d", key, re.M)) - 3 > 20  # not the [tolerance], [rounding]
    folder = os.environ.get("DERIVE_PL_SCHEMAS")  # … and pl-number-input.json, the element's attribute schema
    if folder:
        import jsonschema
        from pathlib import Path

        for attrs in found:
            jsonschema.validate(attrs, json.loads((Path(folder) / "pl-number-input.json").read_text()))
    for i, attrs in enumerate(found, start=1):
        assert set(attrs) <= NUMBER_INPUT, set(attrs) - NUMBER_INPUT
        # the sheet's promise: within 1e-4, or within 0.1 % of the key (PrairieLearn's relabs: atol + rtol·|key|)
        assert attrs["answers-name"] == f"b{i}" and float(attrs["atol"]) == 1e-4 and float(attrs["rtol"]) == 1e-3


def _server(tmp_path, files):
    for name, content in files.items():
        if name.startswith("prairielearn/"):
            p = tmp_path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
    spec = importlib.util.spec_from_file_location("pl_server", tmp_path / "prairielearn/two-two-two/server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prairielearn_server_draws_the_sheets_variants_and_grades_with_partial_credit(made, tmp_path):
    server = _server(tmp_path, made)
    data = {"params": {}, "correct_answers": {}, "variant_seed": 4, "options": {}}
    server.generate(data)
    k = data["params"]["variant"]
    assert k == 1 + 4 % 3 and data["params"]["code"] == f"7-0{k}"
    (tmp_path / "v").mkdir()
    expected = _variant_values(made, k, tmp_path / "v")
    answers = data["correct_answers"]
    cloze = ET.fromstring(made["moodle-cloze.xml"]).findall("question")[k]  # the same blanks, in order
    names = [html.unescape(n) for n in re.findall(r"<code>([^<]+)</code>", cloze.find("questiontext/text").text)]
    assert len(answers) == len(names)
    by_name = dict(zip(names, [answers[f"b{i}"] for i in range(1, len(names) + 1)]))
    for name, value in by_name.items():
        if name in expected:
            assert value == pytest.approx(_rounded(expected[name]), abs=1e-12), name
    # A student: h1_in wrong (a slip), h1_out computed correctly from it, one gradient sign-flipped
    submitted = {f"b{i}": by_name[n] for i, n in enumerate(names, start=1)}
    i_in = names.index("instance1.h1_in") + 1
    i_out = names.index("instance1.h1_out") + 1
    wrong_in = by_name["instance1.h1_in"] + 0.5
    submitted[f"b{i_in}"] = wrong_in
    submitted[f"b{i_out}"] = round(1 / (1 + math.exp(-wrong_in)), 4)
    grading = {**data, "submitted_answers": submitted, "format_errors": {}, "partial_scores": {}, "score": 0,
               "feedback": {}}
    server.grade(grading)
    scores = grading["partial_scores"]
    assert scores[f"b{i_in}"]["score"] == 0
    assert scores[f"b{i_out}"]["score"] == 0.5  # follows_from_earlier, the default credit
    assert "follows correctly from your wrong answer" in scores[f"b{i_out}"]["feedback"].lower()
    assert "h1_in" in scores[f"b{i_out}"]["feedback"]
    assert all(s["score"] == 1 for name, s in scores.items() if name not in (f"b{i_in}", f"b{i_out}"))
    assert grading["score"] == pytest.approx((len(names) - 2 + 0.5) / len(names))
    # a blank left out, one that PrairieLearn could not parse
    grading = {**data, "submitted_answers": {"b1": by_name[names[0]]}, "format_errors": {"b2": "not a number"},
               "partial_scores": {}, "score": 0, "feedback": {}}
    server.grade(grading)
    assert grading["partial_scores"]["b1"]["score"] == 1 and grading["partial_scores"]["b2"]["score"] == 0
