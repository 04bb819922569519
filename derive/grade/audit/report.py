"""Audit a written derivation: which of its numbers and equations are wrong, and why.

Each claim (:mod:`derive.grade.audit.claims`) is judged by the precision-claim rule
(:mod:`derive.grade.precision`): right when one of the quantities its name can mean rounds to it
at its last written digit. A wrong number is explained, in this order, by

1. the document's own earlier wrong numbers: it follows from them (the first wrong line is named);
2. digits cut off instead of rounded;
3. a classic mistake of `derive check` (:func:`derive.grade.judge.mistakes`: a missing path,
   updated weights in the backward pass, float32, another learning rate, ...) that gives it;
4. a slip in this one number (the sign, a factor 2, close but beyond rounding).

A number with no readable name counts when it is some quantity's value at its precision; with
six or more digits, printed by a program, it is also wrong when only a classic mistake gives it. Chains ``a = b ≈ c`` whose
members disagree at their printed precision (:func:`derive.verify.chains.check_chain`) are
*inconsistent*.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field

from derive.grade.audit.claims import Claim, Reading, read_claims
from derive.grade.audit.documents import Document
from derive.grade.audit.names import Known, Vocabulary
from derive.core.derivation import Derivation
from derive.grade.answers import Quantity
from derive.grade.precision import agrees, tolerance
from derive.i18n import _

VERDICTS = ("wrong", "inconsistent", "unmatched")
#: Digits a number needs to be matched by its value alone (``2`` or ``0.5`` match too much by chance).
VALUE_DIGITS = 2
#: Digits a nameless number printed by a program needs before a classic mistake alone may call it wrong
#: (a worked example shows partial products and sums that are no quantity: they must not be called wrong).
MISTAKE_DIGITS = 6


@dataclass
class Finding:
    line: int
    text: str
    given: float
    written: str
    quantity: str | None
    expected: float | None
    verdict: str
    diagnosis: str
    origin: list[int] = field(default_factory=list)
    """For a wrong number that follows from earlier wrong ones: the lines where the error started."""
    name: str = ""
    """The name the document gives it (``\\frac{\\partial E_{total}}{\\partial w_6}``), when it gives one."""

    def to_json(self) -> dict:
        return {"line": self.line, "text": self.text, "given": _finite(self.given), "quantity": self.quantity,
                "expected": _finite(self.expected), "verdict": self.verdict, "diagnosis": self.diagnosis}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass
class AuditReport:
    document: str
    spec: str
    format: str
    numbers: int
    checked: int
    chains: int
    """Chains with at least two members that have numbers (compared)."""
    findings: list[Finding]
    skipped: list[str]
    other_network: list[tuple[int, int]]

    def count(self, verdict: str) -> int:
        return sum(f.verdict == verdict for f in self.findings)

    @property
    def ok(self) -> bool:
        return not any(f.verdict in ("wrong", "inconsistent") for f in self.findings)

    @property
    def first_wrong(self) -> list[int]:
        """The lines where errors start: wrong numbers that follow from no earlier wrong one."""
        return sorted({f.line for f in self.findings if f.verdict in ("wrong", "inconsistent") and not f.origin})

    def to_json(self) -> dict:
        return {"document": self.document, "numbers": self.numbers, "checked": self.checked,
                "findings": [f.to_json() for f in self.findings]}


class _Judge:
    def __init__(self, d: Derivation, vocab: Vocabulary, doc: Document):
        self.d, self.vocab, self.doc = d, vocab, doc
        ordered = sorted(vocab.known, key=lambda k: k.value)
        self.values = [k.value for k in ordered]
        self.ordered = ordered
        self._mistakes = None
        self.given: dict[str, float] = {}
        """catalogue name → the document's latest value of it"""
        self.wrong: dict[str, Finding] = {}

    # ------------------------------------------------------------------ lookups

    def by_value(self, c: Claim) -> list[Known]:
        tol = tolerance(c.unit, c.value)
        lo = bisect.bisect_left(self.values, c.value - tol * 1.01)
        hi = bisect.bisect_right(self.values, c.value + tol * 1.01)
        return [k for k in self.ordered[lo:hi] if agrees(c.value, c.unit, k.value)]

    @property
    def mistakes(self) -> tuple[list[float], list[tuple[str, str]]]:
        """Every classic mistake's value of every quantity, sorted: (values, [(quantity name, explanation)])."""
        if self._mistakes is None:
            from derive.grade.judge import mistakes

            rows = []
            for _label, explanation, values in mistakes(self.d):
                for name, v in values.items():
                    if math.isfinite(v):
                        rows.append((v, name, explanation))
            rows.sort(key=lambda r: r[0])
            self._mistakes = ([r[0] for r in rows], [(r[1], r[2]) for r in rows])
        return self._mistakes

    def mistake_matches(self, c: Claim, names: set[str] | None) -> list[tuple[float, str, str]]:
        values, rows = self.mistakes
        tol = tolerance(c.unit, c.value)
        lo = bisect.bisect_left(values, c.value - tol * 1.01)
        hi = bisect.bisect_right(values, c.value + tol * 1.01)
        out = []
        for k in range(lo, hi):
            name, explanation = rows[k]
            if (names is None or name in names) and agrees(c.value, c.unit, values[k]):
                out.append((abs(values[k] - c.value), name, explanation))
        return out

    # ------------------------------------------------------------------ judging

    def judge(self, c: Claim) -> Finding | None | bool:
        """A finding, or True when the claim was checked and is right, or None when it was not judged."""
        if c.cands:
            right = [k for k in c.cands if agrees(c.value, c.unit, k.value)]
            if right:
                self._remember(right[0], c.value)
                return True
            known = {k.name: k for k in c.cands}
            diagnosis, k, origin = self.diagnose(c, c.cands)
            if c.other_network:
                return self._finding(c, None, "unmatched", _("named %(name)s, but written where the document works "
                                                             "with other parameters or inputs than the spec's (from "
                                                             "line %(line)s)") % {"name": c.name, "line": self._region(c)})
            if diagnosis is None and not c.tight:
                return None  # a number near a name in prose that is none of its values: not a claim about it
            if k is None:
                k = self._nearest(c, c.cands)
                diagnosis = diagnosis or self.slip(c, k)[1]
            f = self._finding(c, k, "wrong", diagnosis, origin)
            if k.quantity is not None:
                self.given[k.name] = c.value
                self.wrong[k.name] = f
            del known
            return f
        if c.digits >= VALUE_DIGITS:
            right = self.by_value(c)
            if right:
                if len({k.name for k in right}) == 1:
                    self._remember(right[0], c.value)
                return True
        if c.digits >= MISTAKE_DIGITS and c.result:
            matches = self.mistake_matches(c, None)
            if matches:
                names = {m[1] for m in matches}
                known = {k.name: k for k in self.vocab.known if k.name in names}
                best = min(matches)
                k = known.get(best[1])
                if k is not None:
                    tied = [m[2] for m in matches if m[1] == best[1] and m[0] <= best[0] + 1e-12 * abs(c.value)]
                    return self._finding(c, k, "wrong", "; or ".join(dict.fromkeys(tied)))
            if c.result:
                return self._finding(c, None, "unmatched", _("no quantity of the spec has this value, and no "
                                                             "classic mistake gives it"))
        return None

    def _region(self, c: Claim) -> int:
        return min((a for a, b in self.reading.other_network if a <= c.line < b), default=c.line)

    def _remember(self, k: Known, value: float) -> None:
        if k.quantity is not None:
            self.given[k.name] = value

    def _nearest(self, c: Claim, cands: list[Known]) -> Known:
        return min(cands, key=lambda k: abs(c.value - k.value) / max(abs(k.value), 1e-300))

    def _finding(self, c: Claim, k: Known | None, verdict: str, diagnosis: str, origin=None) -> Finding:
        return Finding(line=c.line, text=self.doc.line_text(c.line, c.written), given=c.value, written=c.written,
                       quantity=None if k is None else k.name, expected=None if k is None else k.value,
                       verdict=verdict, diagnosis=diagnosis, origin=list(origin or []), name=c.name)

    def diagnose(self, c: Claim, cands: list[Known]) -> tuple[str | None, Known | None, list[int]]:
        from derive.grade.judge import Tolerance, inputs_of, recompute

        if getattr(self.d, "kind", None) == "circuit":
            from derive.grade.circuit import audit_inputs_of as inputs_of, audit_recompute as recompute

        # 1. it follows from the document's own earlier wrong numbers
        for k in cands:
            if k.quantity is None:
                continue
            upstream = [u for u in inputs_of(self.d, k.quantity) if u in self.wrong]
            if not upstream:
                continue
            again = recompute(self.d, k.quantity, self.given)
            if again is not None and (agrees(c.value, c.unit, again) or Tolerance().allows(c.value, again)):
                origin = sorted({line for u in upstream for line in (self.wrong[u].origin or [self.wrong[u].line])})
                names = ", ".join(_("%(name)s (line %(line)s)") % {"name": u, "line": self.wrong[u].line}
                                  for u in upstream)
                return _("follows correctly from the document's own wrong %(names)s") % {"names": names}, k, origin
        # 2. digits cut off
        for k in cands:
            kind, text = self.slip(c, k)
            if kind == "cut":
                return text, k, []
        # 3. a classic mistake
        names = {k.name for k in cands if k.quantity is not None}
        matches = self.mistake_matches(c, names) if names else []
        if matches:
            best = min(matches)
            k = next(k for k in cands if k.name == best[1])
            tied = [m[2] for m in matches if m[1] == best[1] and m[0] <= best[0] + 1e-12 * abs(c.value) + 1e-300]
            return "; or ".join(dict.fromkeys(tied)), k, []
        # 4. a slip in this number
        for k in cands:
            kind, text = self.slip(c, k)
            if kind in ("sign", "twice", "half"):
                return text, k, []
        return None, None, []

    def slip(self, c: Claim, k: Known) -> tuple[str, str]:
        """(kind, words) of a slip in this number (see derive.grade.judge.slip_of)."""
        from derive.grade.judge import Tolerance, Verdict, slip_of

        q = k.quantity or Quantity(table="", key=k.name, kind="value", node=k.node, instance=None, value=k.value)
        written = c.written if "e" not in c.written.lower() else repr(c.value)
        v = Verdict(name=k.name, quantity=q, given=written, status="wrong", given_value=c.value)
        kind, text = slip_of(v, Tolerance())
        if kind == "none" and k.value != 0 and abs(c.value - k.value) <= 1e-3 * abs(k.value):
            same = _common_digits(c.value, k.value)
            kind, text = "close", _("right to %(same)s significant digits, but it shows %(digits)s: the last ones are off "
                                    "by %(off)s (rounded intermediate values carried forward?)") % {
                "same": same, "digits": c.digits, "off": f"{abs(c.value - k.value):.2g}"}
        return kind, text


#: How a page says to how many significant digits it prints every number (derive's own pages, English
#: and German): its chains are then held to that precision, not to half a unit of a number's last digit
#: (a printed 0.5 stands for 0.49995 … 0.50005 there, not for 0.45 … 0.55).
_DECLARED = re.compile(r"shown\s+to\s+(\d{1,2})\s+significant\s+digits|mit\s+(\d{1,2})\s+"
                       r"(?:geltenden\s+Ziffern|signifikanten\s+Stellen)\s+gezeigt")


def declared_digits(doc: Document) -> int | None:
    """The significant digits a document declares for all its numbers, when it says so (1 to 17)."""
    for piece in doc.pieces():
        if piece.kind == "prose":
            m = _DECLARED.search(piece.text)
            if m:
                n = int(m.group(1) or m.group(2))
                return n if 1 <= n <= 17 else None
    return None


def audit(d: Derivation, doc: Document) -> AuditReport:
    from derive.verify.chains import check_chain

    if getattr(d, "kind", None) == "circuit":
        from derive.grade.circuit import CircuitVocabulary

        vocab = CircuitVocabulary(d)
    else:
        vocab = Vocabulary(d)
    reading = read_claims(doc, vocab)
    judge = _Judge(d, vocab, doc)
    judge.reading = reading
    findings: list[Finding] = []
    checked = 0
    for c in reading.claims:
        result = judge.judge(c)
        if result is True:
            checked += 1
        elif isinstance(result, Finding):
            checked += result.verdict == "wrong"
            findings.append(result)
    compared = 0
    digits = declared_digits(doc)
    for chain in reading.chains:
        try:
            check = check_chain(chain, digits=digits)
        except (RecursionError, ValueError, ArithmeticError):
            reading.skipped.append(_("line %(line)s: a chain that cannot be evaluated") % {"line": chain.line})
            continue
        compared += check.comparisons > 0
        for bad in check.failures[:1]:  # the first false step names the wrong member; the rest follow from it
            right = (bad.right_range[0] + bad.right_range[1]) / 2
            left = (bad.left_range[0] + bad.left_range[1]) / 2
            if any(f.line == bad.line and f.verdict == "wrong" and abs(f.given - right) <= 1e-12 * max(1, abs(right))
                   for f in findings):
                continue  # already reported as a wrong number
            findings.append(Finding(line=bad.line, text=doc.line_text(bad.line, bad.right.strip()), given=right,
                                    written=bad.right, quantity=None, expected=left, verdict="inconsistent",
                                    diagnosis=_("%(left)s %(relation)s %(right)s is false at the printed precision "
                                                "(%(left_range)s vs %(right_range)s)") % {
                                        "left": _short(bad.left), "relation": bad.relation, "right": _short(bad.right),
                                        "left_range": _range(bad.left_range), "right_range": _range(bad.right_range)}))
    findings.sort(key=lambda f: (f.line, VERDICTS.index(f.verdict)))
    return AuditReport(document=doc.source, spec=d.spec.name, format=doc.format, numbers=reading.numbers,
                       checked=checked, chains=compared, findings=findings, skipped=reading.skipped,
                       other_network=reading.other_network)


def _common_digits(a: float, b: float) -> int:
    """How many significant digits a and b share when both are rounded to them."""
    for n in range(17, 0, -1):
        if float(f"{a:.{n - 1}e}") == float(f"{b:.{n - 1}e}"):
            return n
    return 0


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _range(r: tuple[float, float]) -> str:
    mid = (r[0] + r[1]) / 2
    return f"{mid:.6g}" if r[1] - r[0] <= 1e-12 * max(1.0, abs(mid)) else f"{r[0]:.6g} … {r[1]:.6g}"


def render_audit(report: AuditReport, fmt: str = "text", templates=None, lang: str | None = None) -> str:
    """The report as terminal text or Markdown (templates/audit_report.{txt,md}.j2), in ``lang``."""
    from pathlib import Path

    from derive.i18n import language
    from derive.render.page import environment

    env = environment(Path(templates) if templates else None)
    name = {"text": "audit_report.txt.j2", "md": "audit_report.md.j2"}[fmt]
    with language(lang):
        return env.get_template(name).render(report=report, plain=lambda x: f"{x + 0.0:.10g}")  # (no "-0")
