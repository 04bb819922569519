"""What a written number claims: as many digits as it shows.

``0.2910`` says "0.29100 ± 0.00005": it is right for 0.291027774. ``0.291027924`` says
"± 0.0000000005": it is wrong for 0.291027774, although the two agree to six digits. A
number is right when the true value rounds to it at its last written digit (with a hair of
slack for floating-point noise in the 15th digit and for a document computed in another order).

One rule for every command that compares written numbers with computed ones (`derive audit`;
`derive check` can use it for numbers of many digits).
"""

from __future__ import annotations

import math
import re

#: A decimal as people and programs write it: ``-0.0180``, ``5.34e-08``, ``1.5E+3``, ``.5``.
DECIMAL = re.compile(r"\s*([-+−]?)(\d*)(?:\.(\d*))?(?:[eE]([-+−]?\d{1,4}))?\s*")

#: Relative slack: digits beyond this are floating-point noise, not a claim anyone can check.
NOISE = 1e-9


def parse_decimal(text: str) -> tuple[float, float, int] | None:
    """``(value, unit of the last digit, significant digits)`` of a plain decimal, else None.

    ``"0.2910"`` → (0.291, 1e-4, 4); ``"-5.6607e-08"`` → (-5.6607e-08, 1e-12, 5); ``"16"`` →
    (16.0, 1.0, 2). The digits of an integer's trailing zeros count as written (``200``: unit 1).
    """
    m = DECIMAL.fullmatch(text)
    if not m or not (m.group(2) or m.group(3)):
        return None
    sign, whole, frac = m.group(1), m.group(2) or "", m.group(3) or ""
    exponent = int((m.group(4) or "0").replace("−", "-"))
    if len(whole) + len(frac) > 40:  # nobody writes a number of 40 digits: not a claim we judge
        return None
    try:
        value = float(f"{'-' if sign in '-−' and sign else ''}{whole or '0'}.{frac or '0'}e{exponent}")
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(value):
        return None
    significant = (whole + frac).lstrip("0") or "0"
    if not -330 < exponent - len(frac) < 308:  # "0e999": a zero whose last digit is no float
        return None
    return value, 10.0 ** (exponent - len(frac)), len(significant)


def tolerance(unit: float, true: float) -> float:
    """How far a number whose last digit has ``unit`` may be from ``true`` and still be right."""
    return unit / 2 * (1 + 1e-9) + NOISE * abs(true) + 1e-300


def agrees(given: float, unit: float, true: float) -> bool:
    """Whether ``true`` rounds to ``given`` at the digit of ``unit`` (the precision-claim rule)."""
    return math.isfinite(true) and abs(given - true) <= tolerance(unit, true)


def agrees_as_written(text: str, true: float) -> bool | None:
    """The rule for a written decimal: None when ``text`` is not one."""
    parsed = parse_decimal(text)
    if parsed is None:
        return None
    value, unit, _ = parsed
    return agrees(value, unit, true)
