"""Honest verdicts: gradient names in formulas, a number's claimed precision, and "the sign is
flipped in this number" kept apart from "the error written t − y"."""

from __future__ import annotations

import pytest

from derive.grade.answers import parse_answers
from derive.grade.judge import check_answers


def one(d, table, key, value, **more):
    doc = {table: {key: value, **more}}
    report = check_answers(d, parse_answers(doc, d))
    return next(v for v in report.verdicts if v.name == f"{table}.{key}")


@pytest.mark.parametrize("formula", ["dL/dy1_out * y1_out * (1 - y1_out)", "dL_dy1_out * y1_out*(1-y1_out)",
                                     "∂L/∂y1_out * y1_out * (1 - y1_out)", "dL / dy1_out * sigma(y1_in) * (1 - sigma(y1_in))"])
def test_a_formula_may_use_the_gradients_before_it(two_two_two, formula):
    v = one(two_two_two, "instance1", "dL/dy1_in", formula)
    assert v.status == "correct", v.note


def test_a_gradient_formula_is_checked_at_other_points_too(two_two_two):
    d = two_two_two
    n = d.instances[0]
    # the right number here, from the chain rule of another unit: wrong in general
    factor = n.grad["y1_in"] / n.grad["y2_out"]
    v = one(d, "instance1", "dL/dy1_in", f"dL/dy2_out * {factor!r}")
    assert v.status == "wrong" and "not the quantity in general" in v.note
    # the activation's derivative left out: the value of dL/dy1_out, which the diagnosis names
    v = one(d, "instance1", "dL/dy1_in", "dL/dy1_out")
    assert v.status == "wrong" and "derivative left out in layer y" in v.diagnosis


def test_a_gradient_formula_may_not_use_itself_or_a_later_gradient(two_two_two):
    for formula in ("dL/dy1_in", "dL_dh1_out * 2"):
        v = one(two_two_two, "instance1", "dL/dy1_in", formula)
        assert v.status == "cannot judge" and "not its own nor later ones" in v.note
    v = one(two_two_two, "instance1", "y1_out", "dL/dy1_out + 1")
    assert v.status == "cannot judge"


def test_a_number_claims_the_digits_it_shows(two_two_two):
    true = two_two_two.instances[0].value["y1_out"]
    close_but_wrong = f"{true + 3e-7:.9f}"  # agrees to 6 significant digits, differs in the 7th
    v = one(two_two_two, "instance1", "y1_out", close_but_wrong)
    assert v.status == "wrong" and "claims 9 significant digits" in v.note
    far = one(two_two_two, "instance1", "y1_out", f"{true + 0.1:.9f}")
    assert far.status == "wrong" and not far.note  # wrong at any precision: no word about digits
    for text in (f"{true:.4f}", f"{true:.6f}", f"{true:.9f}", repr(true)):
        assert one(two_two_two, "instance1", "y1_out", text).status == "correct", text
    # a value within the tolerance, written with the digits it has, is still right (rounded intermediates)
    assert one(two_two_two, "instance1", "y1_out", f"{true - 8e-5:.4f}").status == "correct"


def test_a_flipped_gradient_is_not_the_error_written_t_minus_y_unless_the_errors_are(two_two_two):
    d = two_two_two
    n = d.instances[0]
    e, g = n.value["e1"], n.grad["e1"]
    # the errors right, one gradient with the wrong sign: a slip in that number
    v = one(d, "instance1", "dL/de1", -g, e1=e)
    assert v.diagnosis == "the sign is flipped"
    # the errors written t − y, and the gradient flipped with them: the classic mistake
    v = one(d, "instance1", "e1", -e, **{"dL/de1": -g})
    assert "the error written t − y" in v.diagnosis
    assert "t − y" in one(d, "instance1", "dL/dy1_in", -n.grad["y1_in"], e1=-e, e2=-n.value["e2"]).diagnosis
    assert one(d, "instance1", "dL/dy1_in", -n.grad["y1_in"], e1=e).diagnosis == "the sign is flipped"
