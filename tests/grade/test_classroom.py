"""A whole class at once: `derive check VARIANTS_DIR SUBMISSIONS_DIR -o REPORT_DIR`, run as a user runs it."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from conftest import ROOT
from derive.grade.classroom import grade_class, simulated_class
from derive.spec.parse import load_spec
from derive.worksheets.write import worksheet_files


@pytest.fixture(scope="module")
def worksheet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    for name, content in worksheet_files(load_spec("two-two-two"), variants=3, seed=7, formats=()).items():
        (folder / name).write_text(content)
    return folder


def test_the_blank_file_says_its_variant(worksheet):
    text = (worksheet / "variant-02.answers.toml").read_text()
    assert '[worksheet]\nvariant = "7-02"' in text


def test_a_class_is_graded_in_one_run_with_a_row_and_a_report_per_student(worksheet, tmp_path):
    subs = tmp_path / "subs"
    made = simulated_class(worksheet, subs, 40, seed=3)
    # and a few a teacher will meet
    (subs / "broken.toml").write_text("not = [toml\n")
    (subs / "lost.toml").write_text('[worksheet]\nvariant = "7-09"\n')
    (subs / "other-seed.toml").write_text('[worksheet]\nvariant = "8-01"\n')
    (subs / "no-variant.toml").write_text('[instance1]\nh1_in = 0.1\n')
    (subs / "-2+3.toml").write_text((worksheet / "variant-01.key.toml").read_text())
    out = tmp_path / "report"
    run = subprocess.run([sys.executable, "-m", "derive", "check", str(worksheet), str(subs), "-o", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "graded" in run.stderr and "Traceback" not in run.stderr
    text = (out / "grades.csv").read_text()
    rows = {r["student"]: r for r in csv.DictReader(text.splitlines())}
    assert len(rows) == 45
    header = next(csv.reader(text.splitlines()))
    assert header[:4] == ["student", "variant", "score", "error"] and "instance1.h1_in" in header
    blanks = header[4:]
    for student, what in made.items():
        r = rows[student]
        assert (out / "students" / f"{student}.md").is_file()
        if what == "right":
            assert r["score"] == "1.0000" and set(r[b] for b in blanks) == {"1"}, student
        elif what.startswith("slip"):
            wrong = [b for b in blanks if r[b] == "0"]
            assert wrong == [what.split()[1]], (student, wrong)
            assert float(r["score"]) == pytest.approx((len(blanks) - 1) / len(blanks), abs=1e-4)
        elif what in ("not TOML", "unknown variant", "unknown table"):
            assert r["score"] == "" and r["error"], student
    assert "not valid TOML" in rows["broken"]["error"]
    assert "no variant 7-09" in rows["lost"]["error"]
    assert "seed 8" in rows["other-seed"]["error"]
    assert "does not say its variant" in rows["no-variant"]["error"]
    # a file name a spreadsheet would run as a formula is kept, but not as a formula
    assert "\n'-2_3," in text
    summary = (out / "summary.md").read_text()
    assert "45 submissions" in summary and "## Mistakes" in summary
    assert (out / "mistakes.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_the_summary_counts_students_per_mistake(worksheet, tmp_path):
    subs = tmp_path / "subs"
    made = simulated_class(worksheet, subs, 60, seed=5)
    results = grade_class(worksheet, subs)
    slips = [s for s, what in made.items() if what.startswith("slip")]
    by = {r.student: r for r in results}
    for s in slips:
        name = made[s].split()[1]
        assert [n for d, n in by[s].mistakes] == [name]
    from derive.grade.classroom import summary

    rows, _ = summary(results)
    counted = {d: c for d, c, _ in rows}
    expected = sum(1 for r in results if any(d == "the sign is flipped" for d, _ in r.mistakes))
    assert counted.get("the sign is flipped", 0) == expected > 0


def test_diagnoses_that_differ_in_their_numbers_only_are_counted_together():
    from derive.grade.classroom import Result, summary

    a = Result("a", mistakes=[("the update used learning rate 0.05 instead of 0.5", "update.w11")])
    b = Result("b", mistakes=[("the update used learning rate 0.099 instead of 0.5", "update.w11"),
                              ("the sign is flipped", "instance1.e1")])
    c = Result("c", mistakes=[("the sign is flipped", "instance1.e1")])
    rows, _ = summary([a, b, c])
    assert [(d, n, dict(s)) for d, n, s in rows] == [
        ("the sign is flipped", 2, {"instance1.e1": 2}),
        ("the update used learning rate … instead of 0.5", 2, {"update.w11": 2})]
