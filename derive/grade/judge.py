"""Judge a hand derivation: which answers are right, and for each wrong one, what most likely happened.

Each answer is a number or a formula. Numbers are compared with the derivation within a
tolerance; formulas are evaluated (safely, see :mod:`derive.formula`) at the instance's numbers
and at random points. A wrong answer is explained, in this order, by

1. the student's own earlier answers: it follows correctly from values they got wrong upstream
   ("first wrong step");
2. a classic mistake: the derivation redone with that mistake (a missing path, a missing
   activation derivative, y − t written t − y, the loss's factor 2, a transposed weight,
   updated weights used too early, sum versus mean, rounded intermediates, float32, another
   learning rate) gives the student's number;
3. a slip in this one number: digits cut instead of rounded, the sign, a factor 2.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

import sympy as sp

from derive.grade.answers import Answers, Quantity, backward_order, catalogue
from derive.core.derivation import Derivation
from derive.grade.formula import Formula, FormulaError, gradient_names, parse_formula
from derive.grade.precision import agrees, parse_decimal
from derive.i18n import _, current
from derive.core.numbers import evaluate, leaf_values
from derive.spec.parse import Instance
from derive.grade.mistakes import mistakes, quantity_values  # noqa: F401 (the classroom helpers import them from here)

RANDOM_POINTS = 3
#: A written number whose last digit is this many times finer than the tolerance is judged by the
#: digits it shows (0.291027924 for 0.2910277737 is wrong), not by the tolerance (grade/precision.py).
CLAIM = 100


@dataclass(frozen=True)
class Tolerance:
    """When a number counts as right."""

    rtol: float = 1e-3
    """Relative: 1e-3 accepts an answer worked with 4 significant digits."""
    atol: float = 1e-12
    min_digits: int = 2
    """An answer with at least this many significant digits is also right when it is the true value
    correctly rounded at its last digit (0.02 for 0.018 needs min_digits = 1)."""

    @classmethod
    def of(cls, file: dict, **overrides) -> "Tolerance":
        """The defaults, then an answers file's [tolerance] table, then the command line's values (None: unset)."""
        settings = {**{k: v for k, v in file.items()}, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(**{k: (int(v) if k == "min_digits" else float(v)) for k, v in settings.items()})

    def bound(self, true: float) -> float:
        return max(self.atol, self.rtol * abs(true))

    def allows(self, given: float, true: float, text: str | None = None) -> bool:
        if abs(given - true) <= self.bound(true):
            return True
        unit = rounding_unit(text, self.min_digits) if text else None
        return unit is not None and abs(given - true) <= unit / 2 * (1 + 1e-9)


def rounding_unit(text: str, min_digits: int) -> float | None:
    """The unit of the last digit of a decimal like ``-0.0180`` or ``5.34e-08`` (None when not one, or
    when it has fewer than ``min_digits`` significant digits)."""
    m = re.fullmatch(r"\s*[-+]?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?\s*", text)
    if not m or not (m.group(1) or m.group(2)):
        return None
    if len(m.group(3) or "") > 6:  # an exponent beyond ±999999: no float has such a last digit
        return None
    whole, frac, exponent = m.group(1) or "", m.group(2) or "", int(m.group(3) or 0)
    significant = (whole + frac).lstrip("0")
    if len(significant) < min_digits:
        return None
    try:
        return 10.0 ** (exponent - len(frac))
    except OverflowError:
        return None


@dataclass
class Verdict:
    """The judgement of one given value."""

    name: str
    """The quantity, with ``[k]`` when the file gave a list."""
    quantity: Quantity
    given: str
    status: str
    """``correct``, ``wrong`` or ``cannot judge``."""
    given_value: float | None = None
    formula: Formula | None = None
    note: str = ""
    diagnosis: str = ""
    first_wrong: list[str] = field(default_factory=list)
    """For a wrong answer that follows from earlier wrong ones: where the error started."""

    @property
    def expected(self) -> float:
        return self.quantity.value

    def to_json(self, tol: Tolerance) -> dict:
        """JSON never holds NaN or infinity: a value that is not a finite number is null (the verdict and
        the note say why), and ``given`` keeps what was written as a string."""
        return {"name": self.name, "status": self.status, "given": self.given,
                "given_value": _finite(self.given_value), "expected": _finite(self.expected),
                "tolerance": _finite(tol.bound(self.expected)), "note": self.note or None,
                "diagnosis": self.diagnosis or None, "first_wrong_step": self.first_wrong or None}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass
class Report:
    derivation: Derivation
    source: str
    tolerance: Tolerance
    verdicts: list[Verdict]

    def count(self, status: str) -> int:
        return sum(v.status == status for v in self.verdicts)

    @property
    def ok(self) -> bool:
        return all(v.status == "correct" for v in self.verdicts)

    def to_json(self) -> dict:
        t = self.tolerance
        return {"spec": self.derivation.spec.name, "answers": self.source,
                "tolerance": {"rtol": _finite(t.rtol), "atol": _finite(t.atol), "min_digits": t.min_digits},
                "counts": {s: self.count(s) for s in ("correct", "wrong", "cannot judge")},
                "verdicts": [v.to_json(t) for v in self.verdicts]}


# --------------------------------------------------------------------------- judging


def check_answers(d: Derivation, answers: Answers, tolerance: Tolerance | None = None) -> Report:
    """Judge every given value, then explain the wrong ones."""
    tol = tolerance or Tolerance.of(answers.tolerance)
    known = catalogue(d)
    policy = {}
    if answers.rounding is not None:  # a worksheet's policy: its rounded values are right too
        from derive.grade.policy import Rounding, policy_values

        policy = policy_values(d, Rounding(**answers.rounding))
    verdicts = []
    tex: dict = {}  # built once per report: the LaTeX name table, the random points of each instance
    for name, values in answers.given.items():
        for k, raw in enumerate(values):
            label = name if len(values) == 1 else f"{name}[{k + 1}]"
            verdicts.append(_judge(d, known[name], label, raw, tol, policy.get(name), tex))
    _explain(d, known, verdicts, tol)
    return Report(derivation=d, source=answers.source, tolerance=tol, verdicts=verdicts)


def _judge(d: Derivation, q: Quantity, label: str, raw: object, tol: Tolerance,
           rounded: float | None = None, tex: dict | None = None) -> Verdict:
    """The verdict on one given value; ``rounded`` is the quantity under the sheet's rounding policy;
    ``tex`` a cache the caller keeps from one verdict to the next: the table of :func:`latex_names`
    (filled at the first formula) and the random points of :func:`_points`."""
    text = raw.strip() if isinstance(raw, str) else repr(raw)
    v = Verdict(name=label, quantity=q, given=text, status="cannot judge")
    if not isinstance(raw, str):
        try:
            v.given_value = float(raw)
        except OverflowError:  # a TOML integer beyond 1.8e308
            v.given = f"{text[:12]}... ({len(text)} digits)"
            v.note = _("the number is too large for a float (beyond 1.8e308)")
            return v
    else:
        try:
            v.given_value = float(text)
        except ValueError:
            names = d.graph.nodes if q.kind in ("value", "grad") else {}
            if q.kind == "grad":  # the gradients the backward pass has before this one
                names = {**names, **dict.fromkeys(gradient_names(_grads_before(d, q.node)))}
            try:
                table = {}
                if names:
                    cache = tex if tex is not None else {}
                    table = cache.get("latex") or cache.setdefault("latex", latex_names(d))
                v.formula = parse_formula(text, names, table)
            except FormulaError as exc:
                v.note = _("the formula %(problem)s") % {"problem": exc}
                if q.kind == "grad" and "unknown name 'dL_d" in str(exc):
                    v.note += " (" + _("a formula for a gradient may use the gradients backpropagation has before "
                                       "it, not its own nor later ones") + ")"
                return v
            if v.formula.is_number:
                try:
                    v.given_value = v.formula.evaluate({})
                except FormulaError as exc:
                    v.note = _("the formula %(problem)s") % {"problem": exc}
                    return v
                text = None
    if v.formula is not None and not v.formula.is_number:
        return _judge_formula(d, q, v, tex if tex is not None else {})
    if not math.isfinite(v.given_value):
        v.note = _("%(text)s is not a finite number") % {"text": text}
        return v
    parsed = parse_decimal(text) if text else None
    if parsed is not None and parsed[1] * CLAIM < tol.bound(q.value):
        # written with far more digits than the tolerance needs: the number claims them all
        right = agrees(v.given_value, parsed[1], q.value)
        if not right and tol.allows(v.given_value, q.value, text):  # the digits alone make it wrong: say so
            v.note = _("%(text)s claims %(digits)s significant digits, but %(value)s does not round to it at its "
                       "last digit; ") % {"text": text, "digits": parsed[2], "value": f"{q.value:.12g}"}
    else:
        right = tol.allows(v.given_value, q.value, text)
    if not right and rounded is not None and abs(v.given_value - rounded) <= tol.bound(rounded):
        right = True
        v.note = _("right under the sheet's rounding policy (%(rounded)s; the exact value is %(value)s)") % {
            "rounded": f"{rounded:.10g}", "value": f"{q.value:.10g}"}
    v.status = "correct" if right else "wrong"
    return v


def _grads_before(d: Derivation, node: str) -> list[str]:
    """The nodes whose gradients backpropagation has when it reaches ``node``'s (a formula for
    ∂L/∂node may use them: ``dL/dy1_out * y1_out * (1 - y1_out)``), never ``node``'s own."""
    order = backward_order(d, stats=True)
    return order[: order.index(node)] if node in order else []


def _env(num) -> dict[str, float]:
    """A formula's variables at one point: every value and every gradient (as ``dL_dKEY``)."""
    return {**num.value, **dict(zip(gradient_names(num.grad), num.grad.values()))}


def _points(d: Derivation, n: int, cache: dict) -> list[Numbers]:
    """RANDOM_POINTS perturbations of instance n's parameters and inputs, evaluated; the same for every
    formula of the instance (kept in ``cache``), so that a file of thousands of formulas costs a few."""
    key = ("points", n)
    if key not in cache:
        rng = random.Random(f"{d.spec.name}:instance{n + 1}")
        inst = d.spec.data[n]
        points = []
        for _k in range(RANDOM_POINTS):
            params = {k: x * (1 + 0.3 * rng.uniform(-1, 1)) + 0.1 * rng.uniform(-1, 1) for k, x in d.params.items()}
            if d.coupled:  # instance n's inputs moved within its batch, evaluated as one batch
                moved = Instance(x=tuple(x + 0.2 * rng.uniform(-1, 1) for x in inst.x), t=inst.t)
                points.append(d.evaluate_data(params, d.spec.data[:n] + (moved,) + d.spec.data[n + 1:])[n])
                continue
            leaves = leaf_values(d.graph, params, inst)
            for k in d.graph.input_keys:
                leaves[k] += 0.2 * rng.uniform(-1, 1)
            points.append(evaluate(d.steps, leaves))
        cache[key] = points
    return cache[key]


def _judge_formula(d: Derivation, q: Quantity, v: Verdict, cache: dict) -> Verdict:
    """A formula is right when it gives the quantity at the instance's numbers and at random points."""
    num = d.instances[q.instance]
    try:
        v.given_value = v.formula.evaluate(_env(num))
    except FormulaError as exc:
        v.note = _("the formula %(problem)s") % {"problem": exc}
        return v
    close = lambda a, b: abs(a - b) <= 1e-12 + 1e-9 * abs(b)  # noqa: E731
    if not close(v.given_value, q.value):
        v.status = "wrong"
        v.note = _("the formula gives another number at this instance's values")
        return v
    for other in _points(d, q.instance, cache):
        true = other.value[q.node] if q.kind == "value" else other.grad[q.node]
        try:
            if not close(v.formula.evaluate(_env(other)), true):
                v.status = "wrong"
                v.note = _("the formula gives this instance's number, but not the quantity in general")
                return v
        except FormulaError:
            continue
    v.status = "correct"
    v.note = _("the formula agrees at this instance's values and at %(n)s other points") % {"n": RANDOM_POINTS}
    return v


def latex_names(d: Derivation) -> dict[str, str]:
    """The LaTeX of every node, in every notation, mapped to its plain name (w_{11} → w11)."""
    from derive.render.printer import NOTATIONS, node_names

    out = {}
    for notation in NOTATIONS:
        for symbol, tex in node_names(d.graph, notation).items():
            out.setdefault(tex, d.graph.by_symbol[symbol].key)
    return out


# --------------------------------------------------------------------------- explaining


_MISTAKES: dict[tuple[int, str], tuple[Derivation, list]] = {}


def cached_mistakes(d: Derivation) -> list[tuple[str, str, dict[str, float]]]:
    """:func:`mistakes` of ``d``, kept for the derivations of the last few calls (a class of students
    shares a handful of variants: each is re-derived under the mistakes once, not once per student)."""
    key = (id(d), current())  # the explanations are words in the language of the report
    hit = _MISTAKES.get(key)
    if hit is not None and hit[0] is d:
        return hit[1]
    if len(_MISTAKES) >= 64:
        _MISTAKES.pop(next(iter(_MISTAKES)))
    result = mistakes(d)
    _MISTAKES[key] = (d, result)
    return result


def _explain(d: Derivation, known: dict[str, Quantity], verdicts: list[Verdict], tol: Tolerance) -> None:
    given = {}
    wrong = set()
    for v in verdicts:
        if v.given_value is not None and v.status in ("correct", "wrong"):
            given.setdefault(v.quantity.name, v.given_value)
            if v.status == "wrong":
                wrong.add(v.quantity.name)
    if not wrong:
        return
    alternatives = cached_mistakes(d)  # a dozen re-derivations: only built when something is wrong
    for v in verdicts:
        if v.status != "wrong" or v.given_value is None:
            continue
        q = v.quantity
        upstream = [name for name in inputs_of(d, q) if name in wrong]
        recomputed = recompute(d, q, given)
        if upstream and recomputed is not None and tol.allows(v.given_value, recomputed):
            v.first_wrong = _origins(d, known, upstream, given, wrong, tol)
            names = ", ".join(n.split(".", 1)[1] if n.startswith(q.table + ".") else n for n in upstream)
            v.diagnosis = _("follows correctly from your wrong answer for %(names)s") % {"names": names}
            continue
        matches = [(abs(v.given_value - alt), explanation, values) for label, explanation, values in alternatives
                   if (alt := values.get(q.name)) is not None and not tol.allows(alt, q.value)
                   and tol.allows(v.given_value, alt) and not _contradicted(values, known, given, wrong, tol)]
        if not matches:
            v.diagnosis = _slip(v, tol)
            continue
        # a mistake that would also have changed answers the student got right explains less: the others first
        likelier = [(err, text) for err, text, values in matches if not _contradicted(values, known, given, wrong, tol,
                                                                                      kinds=("value", "grad"))]
        matches = likelier or [(err, text) for err, text, _values in matches]
        # the closest mistake; every other one that explains the number as well is named too
        best = min(m[0] for m in matches)
        tied = [text for err, text in matches if err <= best + 1e-9 * abs(v.given_value) + 1e-300]
        v.diagnosis = "; or ".join(dict.fromkeys(tied))


def _contradicted(values: dict[str, float], known: dict[str, Quantity], given: dict[str, float], wrong: set,
                  tol: Tolerance, kinds: tuple[str, ...] = ("value",)) -> bool:
    """Whether the student's own right values of the forward pass and the loss (the errors y − t
    among them) rule the mistake out: it would have changed them, and they are right.

    So "the error written t − y" is named only when the student's errors are flipped too (or not
    given); a gradient alone with the wrong sign is "the sign is flipped" in that number. With ``kinds``
    = ("value", "grad") the student's right gradients count too: among the mistakes that give a wrong
    number, those that leave the student's right answers right are named first (a kernel weight's
    gradient taken at one position where a missing path higher up would give the same number).
    """
    for name, value in given.items():
        q = known[name]
        if q.kind not in kinds or name in wrong:
            continue
        alt = values.get(name)
        if alt is not None and not tol.allows(value, alt) and not tol.allows(alt, q.value):
            return True
    return False


def _origins(d, known, names, given, wrong, tol, seen=None) -> list[str]:
    """Follow wrong answers upstream while each follows from the ones before it."""
    seen = set() if seen is None else seen
    out = []
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        q = known[name]
        upstream = [n for n in inputs_of(d, q) if n in wrong]
        again = recompute(d, q, given)
        if upstream and again is not None and tol.allows(given[name], again):
            out += [o for o in _origins(d, known, upstream, given, wrong, tol, seen) if o not in out]
        elif name not in out:
            out.append(name)
    return out


def _slip(v: Verdict, tol: Tolerance) -> str:
    return slip_of(v, tol)[1]


def slip_of(v: Verdict, tol: Tolerance) -> tuple[str, str]:
    """(kind, words) of a slip in one number: kind is ``cut`` (digits cut off), ``sign``, ``twice``, ``half``,
    ``close`` or ``none``; the words are in the report's language."""
    g, true = v.given_value, v.expected
    decimals = len(v.given.split(".")[1]) if re.fullmatch(r"-?\d+\.\d+", v.given) else None
    if decimals is not None and decimals <= 17 and abs(true) < 1e280 and math.trunc(true * 10**decimals) / 10**decimals == g:
        rounded = f"{round(true, decimals):.{decimals}f}"
        return "cut", _("digits cut off instead of rounded: %(true)s rounds to %(rounded)s") % {
            "true": f"{true:.10g}", "rounded": rounded}
    if true != 0 and tol.allows(-g, true):
        return "sign", _("the sign is flipped")
    if true != 0 and tol.allows(g, 2 * true):
        return "twice", _("twice the right value: a factor 2 gained or lost")
    if true != 0 and tol.allows(g, 0.5 * true):
        return "half", _("half the right value: a factor 2 gained or lost")
    if true != 0 and tol.allows(g, true, None) is False and abs(g - true) <= 0.05 * abs(true):
        return "close", _("close, but beyond rounding: check the last steps' arithmetic")
    return "none", _("no classic mistake matches: compare with the worked example (derive render)")


# --------------------------------------------------------------------------- dependencies


def _table_of(d: Derivation, table: str, key: str) -> str:
    """The table a quantity of an instance's step is named in: the instance's, or ``batch`` for a batch statistic."""
    return "batch" if d.batch is not None and d.graph[key].role in ("mean", "var") else table


def _batch_name(d: Derivation, key: str) -> str:
    """The answers-file name of the gradient of a node of the batch-wide graph (``instance2.dL/dbn1_hat``)."""
    node = d.batch.graph[key]
    return f"instance{node.instance}.dL/d{node.base}" if node.instance is not None else f"batch.dL/d{key}"


def inputs_of(d: Derivation, q: Quantity) -> list[str]:
    """The names of the quantities this one is computed from, in one step."""
    graph, table = d.graph, q.table
    if q.kind == "value":
        return [f"{table}.{p}" for p in graph[q.node].parents if graph[p].expr is not None]
    if q.kind == "grad":
        out = []
        for t in d.steps.steps[q.node].terms:
            if t.child != graph.loss_key:
                out.append(f"{_table_of(d, table, t.child)}.dL/d{t.child}")
            out += [f"{table}.{graph.by_symbol[s].key}" for s in t.local.free_symbols
                    if graph.by_symbol[s].expr is not None]
        return out
    if q.kind == "batch_grad":  # a batch statistic's gradient: the sum over every instance's normalized values
        return [_batch_name(d, t.child) for t in d.batch.steps.steps[q.node].terms]
    if q.kind == "batch_value":
        return [_batch_name(d, p).replace("dL/d", "") for p in d.batch.graph[q.node].parents]
    if q.kind == "total_grad":
        return [f"instance{n + 1}.dL/d{q.node}" for n in range(len(d.instances))]
    if q.kind == "total_loss":
        return [f"instance{n + 1}.L" for n in range(len(d.instances))]
    if q.kind == "update":
        return [f"total.dL/d{q.node}" if len(d.instances) > 1 else f"instance1.dL/d{q.node}"]
    if q.kind == "first_update":  # the first batch's gradients, instance by instance
        return [f"instance{n + 1}.dL/d{q.node}" for n in d.after_step.first_batch]
    if q.kind in ("update_loss", "after_update"):  # the network again, at the updated parameters
        return [f"update.{p.key}" for p in d.graph.parameters]
    return []


def recompute(d: Derivation, q: Quantity, given: dict[str, float]) -> float | None:
    """The quantity recomputed from the student's values of its inputs (true values where none given)."""
    graph = d.graph
    if q.kind in ("value", "grad"):
        num = d.instances[q.instance]
        table = q.table

        def value_of(key):
            return given.get(f"{table}.{key}", num.value[key])

        if q.kind == "value":
            node = graph[q.node]
            env = {graph[p].symbol: sp.Float(value_of(p)) for p in node.parents}
            return float(node.expr.xreplace(env))
        total = 0.0
        for t in d.steps.steps[q.node].terms:
            upstream = 1.0 if t.child == graph.loss_key else given.get(f"{_table_of(d, table, t.child)}.dL/d{t.child}",
                                                                       num.grad[t.child])
            env = {s: sp.Float(value_of(graph.by_symbol[s].key)) for s in t.local.free_symbols}
            total += upstream * float(t.local.xreplace(env))
        return total
    if q.kind == "batch_value":
        b = d.batch
        node = b.graph[q.node]
        env = {b.graph[p].symbol: sp.Float(given.get(_batch_name(d, p).replace("dL/d", ""), b.numbers.value[p]))
               for p in node.parents}
        return float(node.expr.xreplace(env))
    if q.kind == "batch_grad":
        b = d.batch
        return sum(given.get(_batch_name(d, t.child), b.numbers.grad[t.child]) * b.numbers.local[(t.child, q.node)]
                   for t in b.steps.steps[q.node].terms)
    if q.kind in ("total_grad", "total_loss"):
        key = "L" if q.kind == "total_loss" else f"dL/d{q.node}"
        parts = [given.get(f"instance{n + 1}.{key}", num.loss if q.kind == "total_loss" else num.grad[q.node])
                 for n, num in enumerate(d.instances)]
        extra = d.regularization_term if q.kind == "total_loss" else d.reg_grad[q.node]
        return d.scale * sum(parts) + extra
    training = d.spec.training
    if q.kind == "first_update" and d.batch is None:
        nums = [d.instances[n] for n in d.after_step.first_batch]
        scale = 1.0 if d.spec.reduction == "sum" else 1.0 / len(nums)
        g = scale * sum(given.get(f"instance{n + 1}.dL/d{q.node}", d.instances[n].grad[q.node])
                        for n in d.after_step.first_batch) + d.after_step.first_reg_grad[q.node]
        return training.optimizer.step(d.params[q.node], g, training.first_rate)
    if q.kind in ("update_loss", "after_update") and d.after_step is not None:
        params = {p.key: given.get(f"update.{p.key}", d.after_step.params[p.key]) for p in d.graph.parameters}
        nums = d.evaluate_rows(range(len(d.spec.data)), params)
        if q.kind == "after_update":
            return nums[q.instance].loss if q.key == "L" else nums[q.instance].value[q.node]
        return d._reduce([n.loss for n in nums]) + d.penalty(params)
    if q.kind == "update" and training.one_update(len(d.spec.data)):
        name = inputs_of(d, q)[0]
        return training.optimizer.step(d.params[q.node], given.get(name, d.grad[q.node]), training.first_rate)
    return None
