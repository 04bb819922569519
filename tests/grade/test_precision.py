"""The precision-claim rule: a written number claims the digits it shows."""

from __future__ import annotations

import pytest

from derive.grade.precision import agrees_as_written, parse_decimal


@pytest.mark.parametrize("text, true, right", [
    ("0.2910", 0.291027774, True),            # four digits shown: ±0.00005
    ("0.291027924", 0.291027774, False),      # nine digits shown: off by 1.5e-7
    ("0.291027774", 0.291027774, True),
    ("0.99", 0.9999998874648379, False),      # truncated: it rounds to 1.00
    ("1.00", 0.9999998874648379, True),
    ("0.0004", 0.0004775167642113309, False),  # truncated: it rounds to 0.0005
    ("0.0005", 0.0004775167642113309, True),
    ("-5.6607e-08", -5.34381483665323e-08, False),
    ("-5.3438e-08", -5.34381483665323e-08, True),
    ("16", 16.0, True),
    ("16.0", 16.0, True),
    ("2", 2.4, True),
    ("2", 2.6, False),
    ("0.7319", 0.7319417133694889, True),
    ("0.7320", 0.7319417133694889, False),
    ("0.08699208259994781", 0.0869920825999478, True),  # the 17th digit is noise, not a claim
])
def test_a_number_claims_the_digits_it_shows(text, true, right):
    assert agrees_as_written(text, true) is right


def test_parse_decimal():
    assert parse_decimal("0.2910") == pytest.approx((0.291, 1e-4, 4))
    value, unit, digits = parse_decimal("-5.6607e-08")
    assert value == -5.6607e-08 and unit == pytest.approx(1e-12) and digits == 5
    assert parse_decimal("abc") is None and parse_decimal("") is None and parse_decimal(".") is None
    assert parse_decimal("1" * 50) is None       # not a claim anyone can make
    assert parse_decimal("1e999") is None        # not finite
