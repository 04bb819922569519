"""Every worked example in output/ (md, tex, html, ipynb) audits clean against its own spec."""

from __future__ import annotations

import pytest

from conftest import ROOT
from derive.grade.audit.documents import read_document
from derive.grade.audit.report import audit
from derive.examples import EXAMPLES
from derive.pipeline import derive
from derive.spec.parse import load_spec

PAGES = [(preset, fmt) for preset, fmt in EXAMPLES if fmt in ("md", "tex", "html", "ipynb")]


@pytest.mark.parametrize("preset, fmt", PAGES)
def test_derives_own_pages_audit_clean(preset, fmt):
    report = audit(derive(load_spec(preset)), read_document(ROOT / "output" / f"{preset}.{fmt}"))
    assert report.findings == []
    assert not report.skipped
    # the audit really read the page: most of its results are matched to quantities, chains compared
    if report.spec in ("add-times", "sigmoid-neuron"):  # circuits: a page of a few gates
        assert report.checked >= {"add-times": 8, "sigmoid-neuron": 30}[report.spec] and report.chains >= 2
    elif report.spec in ("conv-worksheet", "residual-block", "rnn"):  # one instance, a 2×2 kernel, 2-unit layers
        # or 3 steps: a short page
        assert report.checked >= 100 and report.chains >= 30
    else:
        assert report.checked > 150 and report.chains > 50
