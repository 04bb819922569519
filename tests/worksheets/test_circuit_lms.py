"""The learning-platform exports of circuit worksheets, read back with each format's own rules (the parsers and
validators of tests/worksheets/test_lms.py), every key compared with sympy.diff of the circuit as the test reads
it from the variant's own spec file, and the classic circuit mistakes' values (a branch not added, a wrong gate's
local gradient, the upstream gradient not multiplied in) recomputed here from their definitions."""

from __future__ import annotations

import ast
import base64
import html
import importlib.util
import json
import re
import tomllib
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
import sympy as sp

from conftest import ROOT, spec_from
from derive.errors import SpecError
from derive.spec.parse import load_spec
from derive.worksheets.circuit import circuit_worksheet_files
from worksheets.test_lms import INFO_SCHEMA, MOODLE_GRADES, NS, NUMBER_INPUT, _qti, _rounded, parse_cloze, parse_gift

ALL = ("moodle", "moodle-cloze", "gift", "qti", "prairielearn")
#: x branches into a and b: every circuit mistake has something to say about it.
BRANCH = ('name = "branch"\ntitle = "A wire that branches"\n[circuit]\ninputs = { x = 3, y = -2 }\n'
          'nodes = ["a = x * y", "b = x + y", "f = a * b"]\noutput = "f"\n')


@pytest.fixture(scope="module")
def made():
    return circuit_worksheet_files(load_spec("sigmoid-neuron"), variants=3, seed=7, formats=ALL)


@pytest.fixture(scope="module")
def branch():
    return circuit_worksheet_files(spec_from(BRANCH), variants=2, seed=3, formats=ALL)


# --------------------------------------------------------------------------- the test's own sympy reading


def _sympy(tree, env):
    if isinstance(tree, ast.Constant):
        return sp.Float(tree.value) if isinstance(tree.value, float) else sp.Integer(tree.value)
    if isinstance(tree, ast.Name):
        return {"e": sp.E, "pi": sp.pi}.get(tree.id, env.get(tree.id))
    if isinstance(tree, ast.UnaryOp):
        x = _sympy(tree.operand, env)
        return -x if isinstance(tree.op, ast.USub) else x
    if isinstance(tree, ast.BinOp):
        a, b = _sympy(tree.left, env), _sympy(tree.right, env)
        return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.Div: lambda: a / b,
                ast.Pow: lambda: a ** b}[type(tree.op)]()
    args = [_sympy(a, env) for a in tree.args]
    table = {"exp": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs, "tanh": sp.tanh,
             "sigma": lambda x: 1 / (1 + sp.exp(-x)), "sigmoid": lambda x: 1 / (1 + sp.exp(-x))}
    return table[tree.func.id](*args)


def expected(spec_text: str) -> dict[str, float]:
    """Every answers-file name (q, df/dq) → its value: values by composing the gates, the gradient of the output
    by a node as sympy.diff of the output with that node made a free symbol."""
    doc = tomllib.loads(spec_text)["circuit"]
    leaves = {k: sp.Symbol(k) for k in doc["inputs"]}
    at = {leaves[k]: sp.Float(v) for k, v in doc["inputs"].items()}
    nodes = [tuple(s.strip() for s in line.split("=", 1)) for line in doc["nodes"]]
    out = doc["output"]

    def compose(free: str | None):
        env = dict(leaves)
        if free is not None:
            env[free] = sp.Symbol("FREE_" + free)
        for name, text in nodes:
            if name != free:
                env[name] = _sympy(ast.parse(text.replace("^", "**"), mode="eval").body, env)
        return env

    env = compose(None)
    values = {name: float(env[name].subs(at)) for name, _ in nodes}
    result = dict(values)
    for name in list(doc["inputs"]) + [n for n, _ in nodes if n != out]:
        free = compose(name)
        symbol = sp.Symbol("FREE_" + name)
        result[f"d{out}/d{name}"] = float(sp.diff(free[out], symbol).subs({**at, symbol: sp.Float(
            values.get(name, doc["inputs"].get(name)))}))
    return result


def _cloze_questions(files):
    return ET.fromstring(files["moodle-cloze.xml"]).findall("question")[1:]


def _cloze_blanks(question):
    text = question.find("questiontext/text").text
    names = [html.unescape(n) for n in re.findall(r"<code>([^<]+)</code>", text)]
    subs = parse_cloze(text)
    assert len(names) == len(subs)
    return dict(zip(names, subs))


# --------------------------------------------------------------------------- the keys and the blanks


def test_sympy_reading_gives_the_cs231n_figures():
    """The test's own reading is right before it judges anything: CS231n's add-times numbers."""
    e = expected((ROOT / "derive/spec/presets/add-times.toml").read_text())
    assert (e["q"], e["f"], e["df/dx"], e["df/dy"], e["df/dz"], e["df/dq"]) == (3, -12, -4, -4, 3, -4)


def test_cloze_keys_are_sympy_diff_of_each_variant(made):
    questions = _cloze_questions(made)
    assert len(questions) == 3 and {q.get("type") for q in questions} == {"cloze"}
    for k, q in enumerate(questions, start=1):
        e = expected(made[f"variant-{k:02d}.toml"])
        blanks = _cloze_blanks(q)
        assert set(blanks) == set(e)  # every value and every gradient but the output's own
        for name, sub in blanks.items():
            assert sub["type"] == "NUMERICAL"
            right = [a for a in sub["answers"] if a["fraction"] == 100]
            assert len(right) == 1 and right[0] is sub["answers"][0]
            assert right[0]["value"] == pytest.approx(_rounded(e[name]), abs=1e-12), (k, name)
            assert right[0]["tolerance"] == pytest.approx(max(1e-4, 1e-3 * abs(e[name])), abs=1e-4 / 2)
            for wrong in sub["answers"][1:]:
                assert wrong["fraction"] in MOODLE_GRADES
                assert abs(wrong["value"] - right[0]["value"]) > wrong["tolerance"]
                assert wrong["feedback"] and not re.search(r"[{}~#\\]", wrong["feedback"])
        # the picture is the circuit's, embedded as a file of the question
        file = q.find("questiontext/file")
        assert file.get("name") == f"variant-{k:02d}-circuit.svg"
        assert b"<svg" in base64.b64decode(file.text)
        assert f'src="@@PLUGINFILE@@/{file.get("name")}"' in q.find("questiontext/text").text


def test_cloze_mistake_answers_are_the_circuit_mistakes_values(branch):
    """x branches into a = x·y and b = x + y: each mistake's value is recomputed here from its definition."""
    for k, q in enumerate(_cloze_questions(branch), start=1):
        y = tomllib.loads(branch[f"variant-{k:02d}.toml"])["circuit"]["inputs"]["y"]
        e = expected(branch[f"variant-{k:02d}.toml"])
        a, b = e["a"], e["b"]
        df_da, df_db = b, a
        wanted = {
            # only one branch of x counted
            "only the one through a was counted": df_da * y,
            "only the one through b was counted": df_db * 1,
            # the upstream gradient not multiplied in: the local gradients alone, summed over the branches
            "the local gradient alone": y + 1,
        }
        answers = _cloze_blanks(q)["df/dx"]["answers"]
        for words, value in wanted.items():
            hits = [w for w in answers[1:] if words in w["feedback"].lower()]
            if abs(_rounded(value) - answers[0]["value"]) <= answers[0]["tolerance"]:
                assert not hits, words  # the same number as the key: not offered as a mistake
                continue
            assert len(hits) == 1, (words, answers)
            assert hits[0]["value"] == pytest.approx(_rounded(value), abs=1e-12), words
        # a wrong gate: ∂a/∂x of the product taken as x itself (not the other input y)
        hits = [w for w in _cloze_blanks(q)["df/da"]["answers"][1:] if "multiply gate f" in w["feedback"]]
        assert hits and hits[0]["value"] == pytest.approx(_rounded(a), abs=1e-12)
        assert e["df/dx"] == pytest.approx(df_da * y + df_db)


def test_partial_credit_is_the_teachers_and_is_checked():
    spec = spec_from(BRANCH + '[worksheet]\npartial = { mistakes = 0.25, branch-not-added = 0.5 }\n')
    files = circuit_worksheet_files(spec, variants=1, seed=3, formats=("moodle-cloze",))
    answers = [a for s in parse_cloze(files["moodle-cloze.xml"]) for a in s["answers"][1:]]
    branch = [a for a in answers if "branches into" in a["feedback"] and "; or" not in a["feedback"]]
    alone = [a for a in answers if a["feedback"].startswith("The local gradient alone") and "; or" not in a["feedback"]]
    assert branch and {a["fraction"] for a in branch} == {50}
    assert alone and {a["fraction"] for a in alone} == {25}
    bad = spec_from(BRANCH + '[worksheet]\npartial = { branch-not-aded = 0.5 }\n')
    with pytest.raises(SpecError, match=r"worksheet\.partial\.branch-not-aded.*branch-not-added"):
        circuit_worksheet_files(bad, variants=1, seed=3, formats=("gift",))
    with pytest.raises(SpecError, match=r"worksheet\.partial\.wrong-gate.*from 0 to 1"):
        spec_from(BRANCH + '[worksheet]\npartial = { wrong-gate = 2 }\n')


# --------------------------------------------------------------------------- GIFT, Moodle XML


def test_gift_reads_back_with_the_same_answers_as_the_cloze_and_sympy_keys(made):
    qs = parse_gift(made["gift.txt"])
    assert [q["category"] for q in qs if q["type"] == "category"] == [
        f"$course$/top/derive/sigmoid-neuron/variant-0{k}" for k in (1, 2, 3)]
    descriptions = [q for q in qs if q["type"] == "description"]
    assert [q["name"] for q in descriptions] == [f"Variant 0{k}: the circuit" for k in (1, 2, 3)]
    assert all('src="data:image/svg+xml;base64,' in q["text"] for q in descriptions)
    numerical = [q for q in qs if q["type"] == "numerical"]
    for k, cloze in enumerate(_cloze_questions(made), start=1):
        e = expected(made[f"variant-{k:02d}.toml"])
        mine = [q for q in numerical if q["name"].startswith(f"Variant 0{k}, blank ")]
        subs = _cloze_blanks(cloze)
        assert [q["name"].split(": ", 1)[1] for q in mine] == list(subs)
        for q in mine:
            name = q["name"].split(": ", 1)[1]
            assert q["answers"][0]["value"] == pytest.approx(_rounded(e[name]), abs=1e-12)
            assert [(a["fraction"], a["value"], a["feedback"]) for a in q["answers"]] == \
                   [(a["fraction"], a["value"], html.unescape(a["feedback"])) for a in subs[name]["answers"]]
            assert ("(backward pass)" in q["text"]) == ("/" in name)
        assert any(r"\(\frac{df}{dw_{0}}\)" in q["text"] for q in mine)


def test_moodle_xml_numerical_questions_carry_the_sympy_keys(made):
    root = ET.fromstring(made["moodle.xml"])
    numerical = [q for q in root.findall("question") if q.get("type") == "numerical"]
    for k in (1, 2, 3):
        e = expected(made[f"variant-{k:02d}.toml"])
        mine = [q for q in numerical if q.find("name/text").text.startswith(f"Variant 0{k}, blank ")]
        assert len(mine) == len(e)
        for q in mine:
            name = q.find("name/text").text.split(": ", 1)[1]
            (answer,) = q.findall("answer")
            assert answer.get("fraction") == "100"
            assert float(answer.find("text").text) == pytest.approx(_rounded(e[name]), abs=1e-12)
            assert float(answer.find("tolerance").text) == pytest.approx(max(1e-4, 1e-3 * abs(e[name])), rel=1e-3)


# --------------------------------------------------------------------------- QTI 1.2


def test_qti_is_asi_structured_with_the_sympy_keys(made):
    z, docs = _qti(made)
    assert len(docs) == 3
    for k, doc in enumerate(docs, start=1):
        e = expected(made[f"variant-{k:02d}.toml"])
        items = doc.findall(f"{NS}assessment/{NS}section/{NS}item")
        assert items[0].get("title") == f"Variant 0{k}: the circuit"
        intro = items[0].find(f"{NS}presentation/{NS}material/{NS}mattext").text
        picture = re.search(r'src="([^"]+\.svg)"', intro).group(1)
        assert picture == f"variant-0{k}-circuit.svg"
        assert f"{doc.find(f'{NS}assessment').get('ident')}/{picture}" in z.namelist()
        assert len(items) - 1 == len(e)
        for item in items[1:]:
            name = item.get("title").split(": ", 1)[1]
            (c,) = item.findall(f"{NS}resprocessing/{NS}respcondition")
            key = float(c.find(f"{NS}conditionvar/{NS}or/{NS}varequal").text)
            low = float(c.find(f"{NS}conditionvar/{NS}or/{NS}and/{NS}vargte").text)
            high = float(c.find(f"{NS}conditionvar/{NS}or/{NS}and/{NS}varlte").text)
            assert key == pytest.approx(_rounded(e[name]), abs=1e-12), name
            assert low < key < high and high - key == pytest.approx(max(1e-4, 1e-3 * abs(key)), abs=1e-6)


# --------------------------------------------------------------------------- PrairieLearn


def _server(tmp_path, files, name):
    for path, content in files.items():
        if path.startswith("prairielearn/"):
            p = tmp_path / path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
    spec = importlib.util.spec_from_file_location(f"pl_server_{name}", tmp_path / f"prairielearn/{name}/server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prairielearn_info_json_and_question_html(made):
    jsonschema = pytest.importorskip("jsonschema")
    info = json.loads(made["prairielearn/sigmoid-neuron/info.json"])
    jsonschema.validate(info, INFO_SCHEMA)
    assert "$" not in info["title"] and "\\" not in info["title"]  # PrairieLearn lists titles as plain text
    found = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "pl-number-input":
                found.append(dict(attrs))

    Reader().feed(made["prairielearn/sigmoid-neuron/question.html"])
    assert len(found) == len(expected(made["variant-01.toml"]))
    for i, attrs in enumerate(found, start=1):
        assert set(attrs) <= NUMBER_INPUT and attrs["answers-name"] == f"b{i}"
        assert float(attrs["atol"]) == 1e-4 and float(attrs["rtol"]) == 1e-3


def test_prairielearn_server_draws_the_variants_and_grades_with_the_circuit_mistakes(branch, tmp_path):
    files = circuit_worksheet_files(spec_from(BRANCH + '[worksheet]\npartial = { branch-not-added = 0.5 }\n'),
                                    variants=2, seed=3, formats=("prairielearn", "moodle-cloze"))
    server = _server(tmp_path, files, "branch")
    data = {"params": {}, "correct_answers": {}, "variant_seed": 5, "options": {}}
    server.generate(data)
    k = data["params"]["variant"]
    assert k == 1 + 5 % 2 and data["params"]["code"] == f"3-0{k}"
    assert 'src="data:image/svg+xml;base64,' in data["params"]["sheet"]
    e = expected(files[f"variant-{k:02d}.toml"])
    names = list(_cloze_blanks(_cloze_questions(files)[k - 1]))  # the same blanks, in order
    by_name = {n: data["correct_answers"][f"b{i}"] for i, n in enumerate(names, start=1)}
    assert set(by_name) == set(e)
    for name, value in by_name.items():
        assert value == pytest.approx(_rounded(e[name]), abs=1e-12), name
    x, y = (tomllib.loads(files[f"variant-{k:02d}.toml"])["circuit"]["inputs"][n] for n in "xy")
    # A student: df/db wrong by a slip, df/dy computed correctly from it; df/dx with only the branch through a
    submitted = {f"b{i}": by_name[n] for i, n in enumerate(names, start=1)}
    i_db, i_dy, i_dx = (names.index(n) + 1 for n in ("df/db", "df/dy", "df/dx"))
    wrong_db = by_name["df/db"] + 1
    submitted[f"b{i_db}"] = wrong_db
    submitted[f"b{i_dy}"] = round(e["df/da"] * x + wrong_db, 4)
    submitted[f"b{i_dx}"] = round(e["df/da"] * y, 4)
    grading = {**data, "submitted_answers": submitted, "format_errors": {}, "partial_scores": {}, "score": 0,
               "feedback": {}}
    server.grade(grading)
    scores = grading["partial_scores"]
    assert scores[f"b{i_db}"]["score"] == 0
    assert scores[f"b{i_dy}"]["score"] == 0.5 and "follows correctly from your wrong answer" in \
        scores[f"b{i_dy}"]["feedback"].lower() and "df/db" in scores[f"b{i_dy}"]["feedback"]
    assert scores[f"b{i_dx}"]["score"] == 0.5 and "only the one through a was counted" in scores[f"b{i_dx}"]["feedback"]
    others = [s for b, s in scores.items() if b not in (f"b{i_db}", f"b{i_dy}", f"b{i_dx}")]
    assert others and all(s["score"] == 1 for s in others)
    assert grading["score"] == pytest.approx((len(names) - 3 + 1) / len(names))
    # a blank left out, one PrairieLearn could not parse
    grading = {**data, "submitted_answers": {"b1": by_name[names[0]]}, "format_errors": {"b2": "not a number"},
               "partial_scores": {}, "score": 0, "feedback": {}}
    server.grade(grading)
    assert grading["partial_scores"]["b1"]["score"] == 1 and grading["partial_scores"]["b2"]["score"] == 0


def test_german_exports_carry_no_english_words_of_their_own(tmp_path):
    from derive.i18n import language

    with language("de"):
        files = circuit_worksheet_files(load_spec("add-times"), variants=1, seed=1, formats=("moodle-cloze", "gift"))
    text = files["moodle-cloze.xml"] + files["gift.txt"]
    for english in ("forward pass", "backward pass", "the circuit", ">pass<"):
        assert english not in text, english
    assert "Vorwärts" in text and "Rückwärts" in text
