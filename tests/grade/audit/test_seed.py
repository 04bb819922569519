"""`derive audit` of the seed post as it stands: exactly its known discrepancies, diagnosed.

The expected findings come from the hand transcription tests/fixtures/seed_001.toml (its
`disagrees` entries, explained in docs/seeds.md) and the true values from an independent NumPy
pass of the post's own algorithm, not from the tool's output.
"""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from conftest import FIXTURES
from derive.grade.audit.documents import read_document
from derive.grade.audit.report import audit
from derive.cli import main
from derive.pipeline import derive
from derive.spec.parse import load_spec

ENTRIES = tomllib.loads((FIXTURES / "seed_001.toml").read_text())["value"]
SEED = FIXTURES / "seed_001.txt"
WORDS = {"truncated": "cut off instead of rounded", "float32": "float32", "rate-0.65": "learning rate 0.65"}


def numpy_seed(rate: float = 0.5, dtype=np.float64):
    """The post's algorithm (sigmoid 2-2-2, sum of squared errors, batch update), in NumPy."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    W = np.array([[6, -3], [-2, 5]], dtype=dtype)
    V = np.array([[1, -2], [0.25, 2]], dtype=dtype)
    gW, gV, per = np.zeros_like(W), np.zeros_like(V), []
    for x, t in (([3, 1], [1, 0]), ([-1, 4], [0, 1])):
        X, T = np.array([x], dtype=dtype), np.array([t], dtype=dtype)
        H = sig(X @ W)
        Y = sig(H @ V)
        gYin = Y * (1 - Y) * 2 * (Y - T)
        gHin = H * (1 - H) * (gYin @ V.T)
        per.append({"H": H, "gW": X.T @ gHin, "gV": H.T @ gYin})
        gW, gV = gW + X.T @ gHin, gV + H.T @ gYin
    return per, V - rate * gV


@pytest.fixture(scope="module")
def report():
    return audit(derive(load_spec("two-two-two")), read_document(SEED))


def test_the_seed_audit_flags_exactly_its_known_discrepancies(report):
    expected = {(e["line"], float(e["printed"]), e["disagrees"]) for e in ENTRIES if "disagrees" in e}
    wrong = [f for f in report.findings if f.verdict in ("wrong", "inconsistent")]
    assert {(f.line, f.given) for f in wrong} == {(line, x) for line, x, _ in expected}
    assert all(f.verdict == "wrong" for f in wrong)
    for line, printed, kind in expected:
        f = next(f for f in wrong if (f.line, f.given) == (line, printed))
        assert WORDS[kind] in f.diagnosis, (line, f.diagnosis)
    assert report.first_wrong == [107, 572, 573, 823, 833, 834]
    assert not report.ok


def test_the_true_values_are_the_post_algorithms(report):
    per, V = numpy_seed()
    by = {(f.line, f.given): f for f in report.findings}
    assert by[(107, 0.99)].expected == pytest.approx(per[0]["H"][0, 0], rel=1e-12)
    assert by[(572, -5.6607e-08)].expected == pytest.approx(per[0]["gW"][0, 0], rel=1e-9)
    assert by[(573, -1.8869e-08)].expected == pytest.approx(per[0]["gW"][1, 0], rel=1e-9)
    assert by[(823, 0.0004)].expected == pytest.approx(per[0]["gV"][1, 1], rel=1e-12)
    printed = {(833, 1.06837185): (0, 0), (833, -2.01725687): (0, 1), (834, 0.07134767): (1, 0),
               (834, 2.01595986): (1, 1)}
    _, V65 = numpy_seed(rate=0.65)
    for key, (i, j) in printed.items():
        assert by[key].expected == pytest.approx(V[i, j], rel=1e-12)
        assert round(V65[i, j], 8) == key[1]  # the diagnosis is true: rate 0.65 gives the printed digits
    per32, _ = numpy_seed(dtype=np.float32)
    assert float(f"{per32[0]['gW'][0, 0]:.4e}") == pytest.approx(-5.6607e-08, rel=2e-4)


def test_no_correct_line_of_the_seed_is_flagged(report):
    flagged = {(f.line, f.given) for f in report.findings}
    for e in ENTRIES:
        if "disagrees" in e or e.get("network", "two-two-two") != "two-two-two":
            continue
        assert (e["line"], float(e["printed"])) not in flagged, e
    # numbers about another network (the tweaked weights, the 1-D warm-up) are never called wrong
    unmatched = {f.line for f in report.findings if f.verdict == "unmatched"}
    asides = {e["line"] for e in ENTRIES if e.get("network", "two-two-two") != "two-two-two"}
    assert unmatched <= asides


def test_the_seed_audit_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["audit", "two-two-two", str(SEED), "--format", "json"])
    assert exit.value.code == 1
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"document", "numbers", "checked", "findings"}
    assert all(set(f) == {"line", "text", "given", "quantity", "expected", "verdict", "diagnosis"}
               for f in out["findings"])
    assert out["numbers"] >= out["checked"] > 50
