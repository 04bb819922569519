"""A whole class of a circuit worksheet: `derive check VARIANTS_DIR SUBMISSIONS_DIR -o REPORT_DIR`, run as the teacher
runs it, every grade and diagnosis read back from the files it writes."""

from __future__ import annotations

import csv
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT
from derive.errors import SpecError
from derive.grade.circuit import parse_circuit_answers
from derive.pipeline import derive
from derive.spec.parse import load_spec

#: x branches into a = x·y and b = x + y.
BRANCH = ('name = "branch"\ntitle = "A wire that branches"\n[circuit]\ninputs = { x = 3, y = -2 }\n'
          'nodes = ["a = x * y", "b = x + y", "f = a * b"]\noutput = "f"\n')


def run(*args):
    return subprocess.run([sys.executable, "-m", "derive", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def _toml_line(name: str, value) -> str:
    return f'"{name}" = {value!r}' if not isinstance(value, str) else f'"{name}" = "{value}"'


def _submission(code: str, answers: dict) -> str:
    return "\n".join(_toml_line(k, v) for k, v in answers.items()) + f'\n\n[worksheet]\nvariant = "{code}"\n'


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    (root / "branch.toml").write_text(BRANCH)
    variants, subs, out = root / "variants", root / "subs", root / "report"
    result = run("worksheet", root / "branch.toml", "--variants", "2", "--seed", "3", "-o", variants)
    assert result.returncode == 0, result.stderr
    subs.mkdir()
    key1 = tomllib.loads((variants / "variant-01.key.toml").read_text())
    key2 = tomllib.loads((variants / "variant-02.key.toml").read_text())
    assert key1["worksheet"]["variant"] == "3-01" and key2["worksheet"]["variant"] == "3-02"
    names = [k for k, v in key1.items() if not isinstance(v, dict)]
    (subs / "ann.toml").write_text((variants / "variant-01.key.toml").read_text())
    (subs / "carl.toml").write_text((variants / "variant-01.answers.toml").read_text())
    # bob (variant 2): df/db off by one, df/dy computed correctly from it, df/dx with only the branch through a
    leaves = tomllib.loads((variants / "variant-02.toml").read_text())["circuit"]["inputs"]
    x, y = leaves["x"], leaves["y"]
    a, b = x * y, x + y  # the test's own forward pass: df/da = b, df/db = a
    bob = {k: key2[k] for k in names}
    bob["df/db"] = a + 1
    bob["df/dy"] = round(b * x + (a + 1), 4)
    bob["df/dx"] = round(b * y, 4)
    assert abs(bob["df/dx"] - key2["df/dx"]) > 1e-3 and abs(bob["df/dy"] - key2["df/dy"]) > 1e-3
    (subs / "bob.toml").write_text(_submission("3-02", bob))
    (subs / "dan.toml").write_text(_submission("3-09", {"a": 1}))
    (subs / "eve.toml").write_text('a = 1\n')
    (subs / "mallory.toml").write_text(_submission("3-01", {"a": "__import__('os').system('true')"}))
    result = run("check", variants, subs, "-o", out)
    assert result.returncode == 0, result.stderr
    assert "graded 4 of 6 submissions (2 not gradable" in result.stderr
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").read_text().splitlines())}
    return out, rows, names, key2


def test_every_student_gets_a_row_with_a_cell_per_blank(graded):
    out, rows, names, _ = graded
    assert list(next(iter(rows.values())))[4:] == names  # one column per blank, named as the answers file names it
    assert rows["ann"]["score"] == "1.0000" and all(rows["ann"][n] == "1" for n in names)
    assert rows["carl"]["score"] == "0.0000" and all(rows["carl"][n] == "" for n in names)
    assert rows["bob"]["variant"] == "3-02"
    assert {n for n in names if rows["bob"][n] == "0"} == {"df/db", "df/dy", "df/dx"}
    assert float(rows["bob"]["score"]) == pytest.approx((len(names) - 3) / len(names), abs=1e-4)
    assert rows["mallory"]["a"] == "?" and rows["mallory"]["score"] == "0.0000"
    assert "no variant 3-09" in rows["dan"]["error"] and rows["dan"]["score"] == ""
    assert "worksheet.variant" in rows["eve"]["error"]
    assert {p.name for p in (out / "students").iterdir()} == {f"{s}.md" for s in rows}


def test_reports_and_summary_name_the_circuit_mistakes(graded):
    out, _, _, _ = graded
    bob = (out / "students/bob.md").read_text()
    assert "only the one through a was counted" in bob
    assert "follows correctly from your wrong answer for df/db" in bob
    summary = (out / "summary.md").read_text()
    assert "the wire x branches into a, b" in summary and "`df/dx` (1)" in summary
    assert "| `df/dy` | 1 |" in summary  # a number that follows from the student's own wrong one
    assert (out / "mistakes.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_one_circuit_spec_for_everyone(tmp_path):
    d = derive(load_spec("add-times"))
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs/ann.toml").write_text('q = 3\n"df/dx" = -4\n')
    (tmp_path / "subs/bob.toml").write_text('q = 3\n"df/dx" = 4\n')
    result = run("check", "add-times", tmp_path / "subs", "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "out/grades.csv").read_text().splitlines())}
    assert rows["ann"]["score"] == "1.0000" and rows["bob"]["score"] == "0.5000" and rows["bob"]["df/dx"] == "0"
    assert d.grad["x"] == -4


@pytest.mark.parametrize("text, field", [('[worksheet]\nvariant = true\n', "worksheet.variant"),
                                         ('[worksheet]\nseed = 1\n', "worksheet.seed"),
                                         ('worksheet = 3\n', "worksheet")])
def test_a_bad_worksheet_table_in_a_circuit_answers_file_names_the_field(text, field):
    d = derive(load_spec("add-times"))
    with pytest.raises(SpecError) as exc:
        parse_circuit_answers(tomllib.loads(text), d, source="a.toml")
    assert exc.value.field == field


def test_a_simulated_class_of_a_circuit_worksheet(tmp_path):
    from derive.grade.classroom import simulated_class
    from derive.grade.mistakes import mistakes

    (tmp_path / "branch.toml").write_text(BRANCH)
    variants, subs, out = tmp_path / "variants", tmp_path / "subs", tmp_path / "report"
    assert run("worksheet", tmp_path / "branch.toml", "--variants", "3", "--seed", "5", "-o", variants).returncode == 0
    made = simulated_class(variants, subs, 80, seed=2)
    result = run("check", variants, subs, "-o", out)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").read_text().splitlines())}
    blanks = list(next(iter(rows.values())))[4:]
    assert len(rows) == 80 and "df/dx" in blanks
    kinds, shown = set(), 0
    for student, what in made.items():
        r = rows[student]
        kinds.add(what.split()[0])
        if what == "right":
            assert r["score"] == "1.0000" and {r[b] for b in blanks} == {"1"}, student
        elif what.startswith("slip"):
            assert [b for b in blanks if r[b] == "0"] == [what.split()[1]], (student, r)
        elif what.startswith("mistake"):
            # wrong exactly where the mistake's number is not the key's (a branch whose gradient is 0 shows nowhere)
            label = what.split()[1]
            d = derive(load_spec(str(variants / f"variant-{r['variant'][-2:]}.toml")), symbolic=False)
            key = tomllib.loads((variants / f"variant-{r['variant'][-2:]}.key.toml").read_text())
            candidates = [[b for b in blanks if abs(round(alt[b], 4) - key[b]) > max(1e-4, 1e-3 * abs(key[b]))]
                          for name, _, alt in mistakes(d) if name == label]  # a gate's two wrong local gradients
            wrong = [b for b in blanks if r[b] == "0"]
            assert wrong in candidates, (student, what)
            shown += bool(wrong)
        elif what == "half left blank":
            assert "" in {r[b] for b in blanks} and "0" not in {r[b] for b in blanks}
        elif what in ("not TOML", "unknown variant", "unknown table"):
            assert r["score"] == "" and r["error"], student
        elif what in ("hostile formula", "infinite number"):
            assert r["error"] or "?" in {r[b] for b in blanks}, student
    assert {"right", "slip", "mistake"} <= kinds and shown > 5
    summary = (out / "summary.md").read_text()
    assert "the wire x branches into a, b" in summary or "local gradient" in summary
