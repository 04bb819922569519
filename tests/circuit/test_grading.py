"""Circuits through `derive check`, `derive audit` and `derive worksheet`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT, need, spec_from
from derive.grade.circuit import answers_file, check_circuit, circuit_catalogue, parse_circuit_answers
from derive.grade.mistakes import MISTAKES
from derive.pipeline import derive
from derive.spec.parse import load_spec
from tests.circuit.helpers import random_circuit

BRANCH = ('name = "branch"\n[circuit]\ninputs = { x = 3, y = -2 }\n'
          'nodes = ["a = x * y", "b = x + y", "f = a * b"]\noutput = "f"\n')


def check(d, answers: dict):
    return check_circuit(d, parse_circuit_answers(answers, d))


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "derive", *map(str, args)], capture_output=True, text=True, cwd=cwd)


# --------------------------------------------------------------------------- check


def test_the_key_passes_and_the_usual_spellings_name_the_same_gradient(tmp_path):
    d = derive(load_spec("add-times"))
    key = tmp_path / "key.toml"
    key.write_text(answers_file(d, filled=True))
    result = run("check", "add-times", key)
    assert result.returncode == 0, result.stdout + result.stderr
    report = check(d, {"df/dq": -4, "dx": -4, "df_dy": "-4", "∂f/∂z": "q", "q": "x + y"})
    assert report.ok and [v.name for v in report.verdicts] == ["df/dq", "df/dx", "df/dy", "df/dz", "q"]


def test_blank_file_names_every_value_and_gradient():
    d = derive(load_spec("sigmoid-neuron"))
    names = list(circuit_catalogue(d))
    assert names[:8] == ["a", "b", "c", "s", "n", "m", "p", "f"]
    assert {"df/dw0", "df/dx0", "df/dw1", "df/dx1", "df/dw2", "df/dp"} <= set(names)
    blank = run("check", "sigmoid-neuron", "--blank").stdout
    assert '"df/dx0" = ""' in blank and 'a = ""' in blank


@pytest.mark.parametrize("answers, diagnosis", [
    ({"df/dx": -2}, "the wire x branches into a, b: the gradients of its branches add, and only the one through a"),
    ({"df/dy": 3}, "only the one through a was counted"),
    ({"df/dx": -6}, "only the one through b was counted"),
])
def test_a_branch_whose_gradients_were_not_added(answers, diagnosis):
    report = check(derive(spec_from(BRANCH)), answers)
    (v,) = report.verdicts
    assert v.status == "wrong" and diagnosis in v.diagnosis


def test_a_local_gradient_of_the_wrong_gate():
    d = derive(load_spec("sigmoid-neuron"))
    # ∂a/∂x0 of a = w0·x0 is w0 = 2; the student used x0 = -1: df/dx0 = 0.1966 · (-1)
    (v,) = check(d, {"df/dx0": -0.1966}).verdicts
    assert v.status == "wrong" and "multiply gate a = w0·x0 is the other input w0" in v.diagnosis
    d = derive(load_spec("add-times"))
    # the add gate q = x + y given the multiply gate's local gradient: df/dx = -4 · y = -20
    (v,) = check(d, {"df/dx": -20}).verdicts
    assert "adds: its local gradient is +1" in v.diagnosis


def test_the_upstream_gradient_not_multiplied_in():
    d = derive(load_spec("add-times"))
    (v,) = check(d, {"df/dx": 1}).verdicts
    assert v.status == "wrong" and "the local gradient alone" in v.diagnosis


def test_an_answer_that_follows_from_an_earlier_wrong_one():
    d = derive(load_spec("add-times"))
    report = check(d, {"df/dq": 4, "df/dx": 4})
    first, second = report.verdicts
    assert first.status == second.status == "wrong"
    assert "follows correctly from your wrong answer for df/dq" in second.diagnosis and second.first_wrong == ["df/dq"]


def test_the_circuit_mistakes_are_classes_in_the_registry():
    for name in ("branch-not-added", "wrong-gate", "upstream-not-multiplied"):
        assert MISTAKES[name].kind == "circuit"
    assert all(m.kind in ("network", "circuit") for m in MISTAKES.values())


def test_bad_answers_files_name_the_field(tmp_path):
    for text, words in (('w = 3\n', "w: unknown quantity"), ('x = 3\n', "x: 'x' is a leaf"),
                        ('"df/dw" = 1\n', "df/dw: unknown quantity"), ('q = [[1]]\n', "q: expected a number"),
                        ('[tolerance]\nrtol = -1\n', "tolerance.rtol")):
        path = tmp_path / "a.toml"
        path.write_text(text)
        result = run("check", "add-times", path)
        assert result.returncode == 2 and words in result.stderr and len(result.stderr.splitlines()) == 1, \
            result.stderr


def test_a_formula_answer_is_never_evaluated_as_python():
    d = derive(load_spec("add-times"))
    (v,) = check(d, {"q": "__import__('os').system('true')"}).verdicts
    assert v.status == "cannot judge" and "formula" in v.note


# --------------------------------------------------------------------------- audit


def test_a_write_up_with_a_missing_branch_is_audited(tmp_path):
    post = tmp_path / "post.md"
    post.write_text("Forward: $a = 3 \\cdot (-2) = -6$, $b = 3 + (-2) = 1$, $f = a b = -6$.\n\n"
                    "Backward: $\\frac{df}{da} = b = 1$, $\\frac{df}{db} = a = -6$, $\\frac{df}{dx} = -2$.\n")
    spec = tmp_path / "branch.toml"
    spec.write_text(BRANCH)
    result = run("audit", spec, post)
    assert result.returncode == 1
    assert "WRONG  -2" in result.stdout and "branches into a, b" in result.stdout
    assert "1 wrong, 0 inconsistent" in result.stdout


def test_a_cs231n_style_write_up_audits_clean_and_a_slip_is_caught(tmp_path):
    text = ("The forward pass gives $q = x + y = 3$ and $f = q z = -12$. Backward, "
            "$\\frac{\\partial f}{\\partial z} = q = 3$ and $\\frac{\\partial f}{\\partial q} = z = -4$, so "
            "$\\frac{\\partial f}{\\partial x} = -4$ and $\\frac{\\partial f}{\\partial y} = -4$.\n")
    post = tmp_path / "post.md"
    post.write_text(text)
    result = run("audit", "add-times", post)
    assert result.returncode == 0 and "0 wrong" in result.stdout, result.stdout
    post.write_text(text.replace("\\partial y} = -4", "\\partial y} = 4"))
    result = run("audit", "add-times", post)
    assert result.returncode == 1 and "the sign is flipped" in result.stdout


# --------------------------------------------------------------------------- worksheets


def test_circuit_worksheet_variants_keys_and_check(tmp_path):
    result = run("worksheet", "sigmoid-neuron", "--variants", "3", "--seed", "7", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    for k in (1, 2, 3):
        stem = tmp_path / f"variant-{k:02d}"
        assert run("check", f"{stem}.toml", f"{stem}.key.toml").returncode == 0
        blank = run("check", f"{stem}.toml", f"{stem}.answers.toml")
        assert blank.returncode == 0 and "0 answers" in blank.stdout
        sheet = (tmp_path / f"variant-{k:02d}.sheet.md").read_text()
        assert "________________" in sheet and f"variant-{k:02d}-circuit.svg" in sheet
        assert "## Worked steps" in (tmp_path / f"variant-{k:02d}.key.md").read_text()
    # the same seed and k give the same variant, however many are drawn; other k, other leaves
    again = tmp_path / "again"
    run("worksheet", "sigmoid-neuron", "--variant", "7-02", "-o", again)
    assert (again / "variant-02.toml").read_text() == (tmp_path / "variant-02.toml").read_text()
    assert (tmp_path / "variant-01.toml").read_text() != (tmp_path / "variant-02.toml").read_text()


def test_a_wrong_worksheet_answer_gets_its_diagnosis(tmp_path):
    run("worksheet", "add-times", "--variants", "1", "-o", tmp_path)
    d = derive(load_spec(tmp_path / "variant-01.toml"))
    key = {k: v for k, v in circuit_catalogue(d).items()}
    (v,) = check(d, {"df/dx": -key["df/dx"].value}).verdicts
    assert v.status == "wrong" and v.diagnosis


def test_circuit_worksheet_pdf(tmp_path):
    import shutil

    need(shutil.which("pdflatex") is not None, "pdflatex makes the PDF")
    result = run("worksheet", "add-times", "--variants", "2", "-f", "pdf", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sheets.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / "keys.pdf").stat().st_size > 1000


def test_a_class_of_circuit_sheets_has_no_twins_zeros_or_hidden_mistakes():
    """Twenty add-times sheets: no two alike, no gradient 0 (x = −y made q, f and df/dz all 0), and every
    classic mistake changes some answer (z = 1 made "the upstream gradient not multiplied" right, and
    x = 1, y = 4, z = 5 made every gradient 5, a swapped gate unseen): each checked on the keys by
    redoing the mistakes from their definitions, f = (x + y)·z."""
    import tomllib

    from derive.spec.parse import parse_spec
    from derive.worksheets.circuit import circuit_worksheet_files

    files = circuit_worksheet_files(load_spec("add-times"), variants=20, seed=0)
    leaves = []
    for k in range(1, 21):
        x, y, z = tomllib.loads(files[f"variant-{k:02d}.toml"])["circuit"]["inputs"].values()
        leaves.append((x, y, z))
        key = tomllib.loads(files[f"variant-{k:02d}.key.toml"])
        assert all(key[g] != 0 for g in ("df/dq", "df/dz", "df/dx", "df/dy"))
        q = x + y
        unmultiplied = {"df/dx": 1, "df/dy": 1}  # the add gate's local gradient 1, not times df/dq = z
        swapped = {"df/dq": q, "df/dz": z}  # the multiply gate's local gradients swapped
        add_as_times = {"df/dx": z * y, "df/dy": z * x}  # the add gate's gradients taken as a product's
        for slip in (unmultiplied, swapped, add_as_times):
            assert any(abs(v - key[name]) > 1e-9 for name, v in slip.items()), (k, slip)
    assert len(set(leaves)) == 20
    # variant 7 drawn alone is variant 7 of the class
    alone = circuit_worksheet_files(load_spec("add-times"), variants=20, seed=0, only=7)
    assert alone["variant-07.toml"] == files["variant-07.toml"]


@pytest.mark.parametrize("seed", range(6))
def test_random_circuit_worksheets(seed, tmp_path):
    from derive.spec.parse import parse_spec
    from derive.worksheets.circuit import circuit_worksheet_files

    base = parse_spec(random_circuit(seed), source="random.toml")
    files = circuit_worksheet_files(base, variants=2, seed=seed)
    for k in (1, 2):
        d = derive(parse_spec(files[f"variant-{k:02d}.toml"], source="v.toml"))
        key = parse_circuit_answers(__import__("tomllib").loads(files[f"variant-{k:02d}.key.toml"]), d)
        assert check_circuit(d, key).ok


def test_lms_formats_are_written_for_circuits_and_network_options_refused(tmp_path):
    """The exports themselves are read back in tests/worksheets/test_circuit_lms.py."""
    result = run("worksheet", "add-times", "-f", "moodle,moodle-cloze,gift,qti,prairielearn", "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("moodle.xml", "moodle-cloze.xml", "gift.txt", "qti.zip", "prairielearn/add-times/server.py"):
        assert (tmp_path / name).stat().st_size > 100, name
    result = run("worksheet", "add-times", "-f", "gift", "--scope", "forward", "-o", tmp_path)
    assert result.returncode == 2 and "for networks" in result.stderr


def test_a_report_never_writes_minus_zero(tmp_path):
    """f = (x + y)·z with x = −y and z < 0 is −0.0 in floating point; a report shows 0."""
    (tmp_path / "c.toml").write_text('name = "z"\n[circuit]\ninputs = { x = 1, y = -1, z = -3 }\n'
                                     'nodes = ["q = x + y", "f = q * z"]\noutput = "f"\n')
    (tmp_path / "a.toml").write_text("f = 0\n")
    d = derive(load_spec(tmp_path / "c.toml"))
    assert str(d.value["f"]) == "-0.0"
    result = run("check", tmp_path / "c.toml", tmp_path / "a.toml", "--format", "md")
    assert "| `f` | `0` | 0 | correct |" in result.stdout and "-0" not in result.stdout
