"""derive.audit: the command's audit from Python, on a file or on text."""

from __future__ import annotations

import derive
from derive.verify import reference
from derive.spec.parse import load_spec


def test_audit_finds_the_one_wrong_number_and_nothing_else(tmp_path):
    spec = load_spec("two-two-two")
    X, T = reference.data_arrays(spec)
    _, A = reference.forward(spec, reference.Params.from_spec(spec), X)
    true = float(A[0][0, 0])  # h1_out of instance 1, computed by the NumPy reference
    right = f"In the first instance $h_{{1}}^{{\\mathrm{{out}}}} = {true:.4f}$.\n"
    wrong = f"In the first instance $h_{{1}}^{{\\mathrm{{out}}}} = {true + 0.01:.4f}$.\n"
    assert derive.audit("two-two-two", right, fmt="md").ok
    (tmp_path / "post.md").write_text(wrong)
    report = derive.audit("two-two-two", tmp_path / "post.md")
    assert not report.ok
    assert [f.verdict for f in report.findings] == ["wrong"]
    assert report.to_json()["findings"][0]["expected"] == true
