"""False alarms: derive's own pages of many networks, in every notation and format, audited.

A page derive renders states the spec's numbers under the spec's names, so an audit must find no
wrong and no unmatched number on it; a chain it calls inconsistent must be one the page verifier
(derive.verify.chains) rejects too. By default a fixed sample; every case with DERIVE_SWEEP=all.
"""

from __future__ import annotations

import itertools
import os
import random

import pytest

from conftest import ALL, OUTPUTS, random_spec
from derive.grade.audit.documents import parse_document
from derive.grade.audit.report import audit
from derive.pipeline import derive
from derive.render.page import render_files
from derive.verify.chains import check_page

CASES = [(loss, out, hidden, notation, fmt) for loss, outs in OUTPUTS.items() for out in outs for hidden in ALL
         for notation, fmt in itertools.product(("inout", "netout", "layer"), ("md", "tex", "html", "ipynb"))]


def cases():
    if os.environ.get("DERIVE_SWEEP") == "all":
        return CASES
    return random.Random(10).sample(CASES, 16)


@pytest.mark.slow
@pytest.mark.parametrize("case", cases(), ids=lambda c: "-".join(c))
def test_no_false_alarm_on_derives_own_pages(case):
    loss, out, hidden, notation, fmt = case
    seed = sum(map(ord, "".join(case))) % 89
    d = derive(random_spec(loss, out, hidden, seed=seed))
    text = render_files(d, fmt=fmt, notation=notation, views=("scalar", "matrix", "tape"),
                        pictures=False)[f"{d.spec.name}.{fmt}"]
    report = audit(d, parse_document(text.encode(), f"page.{fmt}"))
    assert [f for f in report.findings if f.verdict != "inconsistent"] == []
    assert report.checked > 50 and not report.skipped
    rejected = {" ".join(f.right.split()) for f in check_page(text, fmt).failures}
    assert {" ".join(f.written.split()) for f in report.findings} <= rejected


#: Training the pages show differently: an optimizer's state lines, and θ⁽¹⁾ after the first of several updates.
TRAININGS = ['optimizer = "adam"\nbatch_size = 2', 'optimizer = "momentum"\nmomentum = 0.9\nbatch_size = 1',
             'optimizer = "rmsprop"\nbatch_size = 2', 'optimizer = "sgd"\nbatch_size = 2',
             'optimizer = "nesterov"\nmomentum = 0.5']
TRAINING_CASES = [(t, notation, fmt) for t in TRAININGS for notation in ("inout", "netout", "layer")
                  for fmt in ("md", "tex", "html", "ipynb")]


@pytest.mark.slow
@pytest.mark.parametrize("case", TRAINING_CASES if os.environ.get("DERIVE_SWEEP") == "all"
                         else random.Random(3).sample(TRAINING_CASES, 8), ids=lambda c: "-".join(c).replace("\n", ","))
def test_no_false_alarm_on_pages_with_an_optimizer_and_mini_batches(case):
    training, notation, fmt = case
    d = derive(random_spec("mse", "identity", "sigmoid", seed=len(training), n_data=3, training=training))
    text = render_files(d, fmt=fmt, notation=notation, pictures=False)[f"{d.spec.name}.{fmt}"]
    report = audit(d, parse_document(text.encode(), f"page.{fmt}"))
    assert [(f.line, f.written, f.verdict) for f in report.findings] == []
    assert report.checked > 50 and not report.skipped
