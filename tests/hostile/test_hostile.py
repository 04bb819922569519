"""Hostile inputs through the command line: the expected exit status, one line naming the field,
never a traceback, never exit 3 ("a bug in derive"), never a hang.

Every case of tests/hostile/cases.py runs in-process (``derive.cli.main``) under a watchdog
that fails the case when it runs past :data:`TIME_LIMIT` seconds, instead of hanging CI; a few
run as real processes. The full sweep is long: by default a fixed sample of it runs
(every case with ``DERIVE_SWEEP=all``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile.cases import CASES, Case, Sparse
from conftest import ROOT
from derive.cli import main

#: Seconds a case may take; the watchdog interrupts it at twice that.
TIME_LIMIT = 30.0
SAMPLE = 40


class Hang(BaseException):
    """Raised by the watchdog; a BaseException, so that the CLI's `except Exception` does not swallow it."""


def _sample(cases: list[Case]) -> list[Case]:
    """Every case with DERIVE_SWEEP=all; else a fixed, evenly spread sample of about SAMPLE cases."""
    if os.environ.get("DERIVE_SWEEP") == "all":
        return cases
    step = max(1, len(cases) // SAMPLE)
    return cases[::step]


def materialize(case: Case, tmp: Path) -> list[str]:
    """Write the case's files under tmp; the command line with its placeholders filled in."""
    for name, content in case.files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Sparse):
            with open(path, "wb") as f:
                f.write(content.head)
                f.truncate(content.size)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", errors="surrogateescape", newline="")
    (tmp / "templates").mkdir(exist_ok=True)
    places = {"{spec}": str(tmp / "spec.toml"), "{answers}": str(tmp / "answers.toml"), "{dir}": str(tmp),
              "{templates}": str(tmp / "templates")}
    argv = []
    for arg in case.argv:
        for key, value in places.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    return argv


def run_in_process(argv: list[str], limit: float = 2 * TIME_LIMIT) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, seconds) of ``derive ARGV``, interrupted by a Hang after ``limit`` s."""
    def alarm(signum, frame):
        raise Hang(f"derive {' '.join(argv)[:200]} ran past {limit} s")

    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    start = time.perf_counter()
    env = os.environ.pop("DERIVE_DEBUG", None)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
                status = 0
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if env is not None:
            os.environ["DERIVE_DEBUG"] = env
    return status, out.getvalue(), err.getvalue(), time.perf_counter() - start


def _strict(text: str):
    def refuse(constant):
        raise AssertionError(f"JSON holds {constant}")

    return json.loads(text, parse_constant=refuse)


def assert_outcome(case: Case, status: int, out: str, err: str, seconds: float) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    assert status != 3, err
    assert status == case.status, f"exit {status}, expected {case.status}: {err.strip()[:500]}"
    if status == 2:
        assert err.startswith("derive: error: ") and err.count("\n") == 1 and err.endswith("\n"), repr(err[:500])
        assert case.expect in err, f"expected {case.expect!r} in {err.strip()[:500]!r}"
        assert len(err) < 2000, f"a message of {len(err)} characters"
    if case.json:
        _strict(out)
    assert seconds < TIME_LIMIT, f"took {seconds:.1f} s (limit {TIME_LIMIT} s)"


#: Cases that still fail, with the reason; strict: a fix makes the case pass, and then this entry must go.
KNOWN_BUGS: dict[str, str] = {}


def _marked(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.id, marks=pytest.mark.xfail(reason=KNOWN_BUGS[c.id], strict=True))
            if c.id in KNOWN_BUGS else pytest.param(c, id=c.id) for c in cases]


@pytest.mark.slow
@pytest.mark.parametrize("case", _marked(_sample(CASES)))
def test_hostile_input(case: Case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # -f pdf and worksheet write where they run
    argv = materialize(case, tmp_path)
    assert_outcome(case, *run_in_process(argv))


def test_corpus_is_large_and_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) >= 150
    assert len(set(ids)) == len(ids), [i for i in ids if ids.count(i) > 1]


def test_the_watchdog_fails_a_hang_instead_of_hanging(monkeypatch):
    import derive.cli

    def forever(*args, **kwargs):
        while True:
            pass

    monkeypatch.setattr(derive.cli, "_load", forever)
    with pytest.raises(Hang):
        run_in_process(["values", "two-two-two"], limit=0.5)


def test_the_assertions_catch_a_crash():
    """The checks of each case can fail: exit 3, a traceback, two lines, NaN in JSON, slowness."""
    case = Case("x", (), status=2, expect="field", json=False)
    bad = [(3, "", "derive: internal error: KeyError: 'exp' (a bug in derive)\n", 0.1),
           (2, "", "derive: error: a: field\nsecond line\n", 0.1),
           (2, "", "Traceback (most recent call last):\n", 0.1),
           (2, "", "derive: error: spec.toml: something else\n", 0.1),
           (2, "", "derive: error: spec.toml: field\n", TIME_LIMIT + 1)]
    for outcome in bad:
        with pytest.raises(AssertionError):
            assert_outcome(case, *outcome)
    with pytest.raises(AssertionError):
        assert_outcome(Case("y", (), status=1, json=True), 1, '{"a": NaN}', "", 0.1)
    assert_outcome(case, 2, "", "derive: error: spec.toml: field\n", 0.1)


#: A few cases again as real processes (the console script's own error handling, a real timeout).
SUBPROCESS = ["spec-name-newline", "spec-5gb", "answers-json-1e999999", "answers-bare-exp",
              "option-rtol-inf", "option-worksheet-range-2e10", "text-exact-16-deep", "numeric-bce-identity"]


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS], ids=lambda c: c.id)
def test_hostile_input_in_a_process(case: Case, tmp_path):
    argv = materialize(case, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DERIVE_DEBUG"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "derive", *argv], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=2 * TIME_LIMIT)
    assert_outcome(case, r.returncode, r.stdout, r.stderr, time.perf_counter() - start)


def test_subprocess_cases_exist():
    assert set(SUBPROCESS) <= {c.id for c in CASES}


def test_formula_words_are_the_formulas_names():
    """The spec refuses as input names exactly the constants and functions a formula reads."""
    from derive.grade.formula import CONSTANTS, functions
    from derive.spec.parse import formula_words

    assert set(formula_words()) == set(functions()) | set(CONSTANTS)


def test_check_json_writes_null_for_what_is_not_a_finite_number(tmp_path):
    case = next(c for c in CASES if c.id == "answers-json-1e999999")
    status, out, err, _ = run_in_process(materialize(case, tmp_path))
    verdict = _strict(out)["verdicts"][0]
    assert status == 1 and verdict["status"] == "cannot judge" and verdict["given_value"] is None
    assert verdict["given"] == "1e999999" and "finite" in verdict["note"]


def test_a_class_of_hostile_submissions_is_graded_row_by_row(tmp_path):
    """derive check VARIANTS SUBMISSIONS -o REPORT: a 5 GB file and one nested 1000 deep are rows that
    say why, not a crash, and the 5 GB file is not read whole."""
    assert run_in_process(["worksheet", "two-two-two", "-o", str(tmp_path / "v")])[0] == 0
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "bob.toml").write_text((tmp_path / "v" / "variant-01.answers.toml").read_text())
    with open(subs / "alice.toml", "wb") as f:
        f.write(b"[worksheet]\n")
        f.truncate(5 * 10**9)
    (subs / "carol.toml").write_text("L = " + "[" * 1000 + "]" * 1000 + "\n")
    status, out, err, seconds = run_in_process(["check", str(tmp_path / "v"), str(subs), "-o", str(tmp_path / "r")])
    assert status == 0 and "graded 1 of 3" in err and seconds < TIME_LIMIT
    grades = (tmp_path / "r" / "grades.csv").read_text()
    assert "larger than 1000000 bytes" in grades and "nested too deep" in grades
