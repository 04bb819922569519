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

import numpy as np
import sympy as sp

from derive.grade.answers import Answers, Quantity, backward_order, catalogue
from derive.core.derivation import Derivation
from derive.grade.formula import Formula, FormulaError, parse_formula
from derive.core.numbers import Numbers, backward, evaluate, evaluate_rounded, leaf_values, round_to

RANDOM_POINTS = 3


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
    whole, frac, exponent = m.group(1) or "", m.group(2) or "", int(m.group(3) or 0)
    significant = (whole + frac).lstrip("0")
    if len(significant) < min_digits:
        return None
    return 10.0 ** (exponent - len(frac))


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
        return {"name": self.name, "status": self.status, "given": self.given, "given_value": self.given_value,
                "expected": self.expected, "tolerance": tol.bound(self.expected), "note": self.note or None,
                "diagnosis": self.diagnosis or None, "first_wrong_step": self.first_wrong or None}


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
                "tolerance": {"rtol": t.rtol, "atol": t.atol, "min_digits": t.min_digits},
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
    for name, values in answers.given.items():
        for k, raw in enumerate(values):
            label = name if len(values) == 1 else f"{name}[{k + 1}]"
            verdicts.append(_judge(d, known[name], label, raw, tol, policy.get(name)))
    _explain(d, known, verdicts, tol)
    return Report(derivation=d, source=answers.source, tolerance=tol, verdicts=verdicts)


def _judge(d: Derivation, q: Quantity, label: str, raw: object, tol: Tolerance,
           rounded: float | None = None) -> Verdict:
    """The verdict on one given value; ``rounded`` is the quantity under the sheet's rounding policy."""
    text = raw.strip() if isinstance(raw, str) else repr(raw)
    v = Verdict(name=label, quantity=q, given=text, status="cannot judge")
    if not isinstance(raw, str):
        v.given_value = float(raw)
    else:
        try:
            v.given_value = float(text)
        except ValueError:
            names = d.graph.nodes if q.kind in ("value", "grad") else {}
            try:
                v.formula = parse_formula(text, names, latex_names(d) if names else {})
            except FormulaError as exc:
                v.note = f"the formula {exc}"
                return v
            if v.formula.is_number:
                try:
                    v.given_value = v.formula.evaluate({})
                except FormulaError as exc:
                    v.note = f"the formula {exc}"
                    return v
                text = None
    if v.formula is not None and not v.formula.is_number:
        return _judge_formula(d, q, v)
    if not math.isfinite(v.given_value):
        v.note = f"{text} is not a finite number"
        return v
    right = tol.allows(v.given_value, q.value, text)
    if not right and rounded is not None and abs(v.given_value - rounded) <= tol.bound(rounded):
        right = True
        v.note = f"right under the sheet's rounding policy ({rounded:.10g}; the exact value is {q.value:.10g})"
    v.status = "correct" if right else "wrong"
    return v


def _judge_formula(d: Derivation, q: Quantity, v: Verdict) -> Verdict:
    """A formula is right when it gives the quantity at the instance's numbers and at random points."""
    num = d.instances[q.instance]
    try:
        v.given_value = v.formula.evaluate(num.value)
    except FormulaError as exc:
        v.note = f"the formula {exc}"
        return v
    close = lambda a, b: abs(a - b) <= 1e-12 + 1e-9 * abs(b)  # noqa: E731
    if not close(v.given_value, q.value):
        v.status = "wrong"
        v.note = "the formula gives another number at this instance's values"
        return v
    rng = random.Random(f"{d.spec.name}:{v.name}")
    inst = d.spec.data[q.instance]
    for _ in range(RANDOM_POINTS):
        params = {k: x * (1 + 0.3 * rng.uniform(-1, 1)) + 0.1 * rng.uniform(-1, 1) for k, x in d.params.items()}
        leaves = leaf_values(d.graph, params, inst)
        for key in d.graph.input_keys:
            leaves[key] += 0.2 * rng.uniform(-1, 1)
        other = evaluate(d.steps, leaves)
        true = other.value[q.node] if q.kind == "value" else other.grad[q.node]
        try:
            if not close(v.formula.evaluate(other.value), true):
                v.status = "wrong"
                v.note = "the formula gives this instance's number, but not the quantity in general"
                return v
        except FormulaError:
            continue
    v.status = "correct"
    v.note = f"the formula agrees at this instance's values and at {RANDOM_POINTS} other points"
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
    alternatives = mistakes(d)  # a dozen re-derivations: only built when something is wrong
    for v in verdicts:
        if v.status != "wrong" or v.given_value is None:
            continue
        q = v.quantity
        upstream = [name for name in inputs_of(d, q) if name in wrong]
        recomputed = recompute(d, q, given)
        if upstream and recomputed is not None and tol.allows(v.given_value, recomputed):
            v.first_wrong = _origins(d, known, upstream, given, wrong, tol)
            names = ", ".join(n.split(".", 1)[1] if n.startswith(q.table + ".") else n for n in upstream)
            v.diagnosis = f"follows correctly from your wrong answer for {names}"
            continue
        matches = [(abs(v.given_value - alt), explanation) for label, explanation, values in alternatives
                   if (alt := values.get(q.name)) is not None and not tol.allows(alt, q.value)
                   and tol.allows(v.given_value, alt)]
        if not matches:
            v.diagnosis = _slip(v, tol)
            continue
        # the closest mistake; every other one that explains the number as well is named too
        best = min(m[0] for m in matches)
        tied = [text for err, text in matches if err <= best + 1e-9 * abs(v.given_value) + 1e-300]
        v.diagnosis = "; or ".join(dict.fromkeys(tied))


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
    g, true = v.given_value, v.expected
    decimals = len(v.given.split(".")[1]) if re.fullmatch(r"-?\d+\.\d+", v.given) else None
    if decimals is not None and math.trunc(true * 10**decimals) / 10**decimals == g:
        rounded = f"{round(true, decimals):.{decimals}f}"
        return f"digits cut off instead of rounded: {true:.10g} rounds to {rounded}"
    if true != 0 and tol.allows(-g, true):
        return "the sign is flipped"
    for factor, words in ((2, "twice"), (0.5, "half")):
        if true != 0 and tol.allows(g, factor * true):
            return f"{words} the right value: a factor 2 gained or lost"
    if true != 0 and tol.allows(g, true, None) is False and abs(g - true) <= 0.05 * abs(true):
        return "close, but beyond rounding: check the last steps' arithmetic"
    return "no classic mistake matches: compare with the worked example (derive render)"


# --------------------------------------------------------------------------- the mistakes


def quantity_values(d: Derivation, nums: list[Numbers], *, scale: float | None = None, sign: float = -1.0,
                    rate: float | None = None, update: bool = True) -> dict[str, float]:
    """The catalogue's numbers for another set of per-instance numbers (totals and update recomputed)."""
    graph = d.graph
    values: dict[str, float] = {}
    for n, num in enumerate(nums):
        table = f"instance{n + 1}"
        for node in graph.computed:
            values[f"{table}.{node.key}"] = num.value[node.key]
        for key, g in num.grad.items():
            if key != graph.loss_key:
                values[f"{table}.dL/d{key}"] = g
    scale = d.scale if scale is None else scale
    total = {p.key: scale * sum(num.grad[p.key] for num in nums) for p in graph.parameters}
    if len(nums) > 1:
        values["total.L"] = scale * sum(num.loss for num in nums)
        values.update({f"total.dL/d{k}": g for k, g in total.items()})
    training = d.spec.training
    if update and training is not None and training.mode == "batch":
        rate = training.learning_rate if rate is None else rate
        values.update({f"update.{k}": d.params[k] + sign * rate * g for k, g in total.items()})
    return values


def _with_grads(num: Numbers, grad: dict) -> Numbers:
    return Numbers(value=num.value, local=num.local, grad=grad)


def mistakes(d: Derivation) -> list[tuple[str, str, dict[str, float]]]:
    """Every classic mistake as (label, explanation, the catalogue's numbers under that mistake)."""
    graph, steps, spec = d.graph, d.steps, d.spec
    nums = list(d.instances)
    out = []

    def add(label, explanation, alt_nums, **kw):
        out.append((label, explanation, quantity_values(d, alt_nums, **kw)))

    # 0. sum versus mean over the instances
    if len(nums) > 1:
        other = 1.0 / len(nums) if spec.reduction == "sum" else 1.0
        add("reduction", f"the instances {'averaged' if other < 1 else 'summed'} where the loss "
            f"{'sums' if other < 1 else 'averages'} them (reduction = \"{spec.reduction}\")", nums, scale=other)

    # 1. a missing path: only the unit of the same index (else the first) counted in each sum
    def one_path(num):
        grad = {}
        for key, step in steps.steps.items():
            terms = step.terms
            if len(terms) > 1 and graph[key].role in ("out", "input"):
                same = [t for t in terms if graph[t.child].index[:1] == graph[key].index[:1]]
                terms = same[:1] or terms[:1]
            grad[key] = 1.0 if not terms else sum(grad[t.child] * num.local[(t.child, key)] for t in terms)
        return _with_grads(num, grad)

    if any(len(s.terms) > 1 and graph[k].role in ("out", "input") for k, s in steps.steps.items()):
        add("missing-path", "a missing path: a unit that feeds several others gets its gradient as the sum over "
            "all of them, and only one path was counted", [one_path(n) for n in nums])

    # 2. a missing activation derivative, layer by layer
    for l, layer in enumerate(spec.layers):
        if layer.activation == "identity":
            continue
        units = graph.layer_units[l]

        def no_derivative(num, units=units):
            local = dict(num.local)
            for j, (z, a) in enumerate(units):
                for i, (z2, _) in enumerate(units):
                    if (a, z2) in local:
                        local[(a, z2)] = 1.0 if i == j else 0.0
            return _with_grads(num, backward(steps, local, 1.0))

        add(f"no-derivative-{layer.name}", f"the activation's derivative left out in layer {layer.name}: "
            f"∂L/∂z needs the factor f'(z) of {layer.activation}", [no_derivative(n) for n in nums])

    # 3. signs: the error written t − y (every gradient flips); gradient ascent in the update
    add("sign-error", "a sign error: the error written t − y instead of y − t, which flips every gradient",
        [_with_grads(n, {k: -g for k, g in n.grad.items()}) for n in nums], sign=1.0)
    add("ascent", "the update went uphill: θ + η ∂L/∂θ instead of θ − η ∂L/∂θ", nums, sign=1.0)

    # 4. the factor 2 (or ½) of a squared loss
    if spec.loss in ("sse", "half_sse", "mse"):
        add("factor-half", "the factor 2 of the squared error lost (∂(e²)/∂e = 2e)",
            [_with_grads(n, {k: 0.5 * g for k, g in n.grad.items()}) for n in nums])
        add("factor-two", "a factor 2 too many: the ½ of the loss (or the 1/K of the mean) forgotten",
            [_with_grads(n, {k: 2.0 * g for k, g in n.grad.items()}) for n in nums])

    # 5. transposed weights (square layers): in the backward pass, and in the forward pass
    square = [l for l, layer in enumerate(spec.layers) if len(layer.weights) == layer.size]
    if square:
        def transposed_backward(num):
            local = dict(num.local)
            for l in square:
                keys = graph.layer_weights[l]
                prev = graph.input_keys if l == 0 else [a for _, a in graph.layer_units[l - 1]]
                for j, (z, _) in enumerate(graph.layer_units[l]):
                    for i, a in enumerate(prev):
                        if (z, a) in local:
                            local[(z, a)] = d.params[keys[j][i]]
            return _with_grads(num, backward(steps, local, 1.0))

        add("transposed-backward", "the weight matrix read transposed in the backward pass (w_ji used for w_ij)",
            [transposed_backward(n) for n in nums])
        swapped = dict(d.params)
        for l in square:
            keys = graph.layer_weights[l]
            for i, row in enumerate(keys):
                for j, key in enumerate(row):
                    swapped[key] = d.params[keys[j][i]]
        add("transposed-forward", "the weights read transposed (w_ji used for w_ij)",
            [evaluate(steps, leaf_values(graph, swapped, inst)) for inst in spec.data])

    # 6. updated weights used in the backward pass
    if d.after_step is not None and spec.training.mode == "batch":
        def updated_backward(num):
            local = dict(num.local)
            for (child, node) in local:
                if graph[child].role == "in" and graph[node].role in ("out", "input"):
                    l = graph[child].layer
                    i, j = graph[node].index[0], graph[child].index[0]
                    local[(child, node)] = d.after_step.params[graph.layer_weights[l][i][j]]
            return _with_grads(num, backward(steps, local, 1.0))

        add("updated-weights", "the updated weights used in the backward pass, where the original ones belong",
            [updated_backward(n) for n in nums])

    # 8. rounded intermediates carried forward; float32 arithmetic
    for digits in (2, 3, 4):
        add(f"rounded-{digits}", f"intermediate values rounded to {digits} significant digits and carried forward",
            [evaluate_rounded(steps, leaf_values(graph, d.params, inst), round_to(digits)) for inst in spec.data])
    add("float32", "float32 arithmetic (PyTorch's default dtype) instead of float64",
        [evaluate_rounded(steps, leaf_values(graph, d.params, inst), lambda x: float(np.float32(x)))
         for inst in spec.data])

    # 9. another learning rate, for the update: rates of two significant digits near the given one
    if d.after_step is not None and spec.training.mode == "batch":
        for rate in _nearby_rates(spec.training.learning_rate):
            add(f"rate-{rate:g}", f"the update used learning rate {rate:g} instead of "
                f"{spec.training.learning_rate:g}", nums, rate=rate)
    return out


def _nearby_rates(rate: float) -> list[float]:
    """Learning rates a student or author might have used instead: two significant digits, 0.1× to 10×."""
    exponent = math.floor(math.log10(rate))
    rates = sorted({round(m * 10.0 ** e, 12) for e in (exponent - 1, exponent, exponent + 1)
                    for m in [k / 10 for k in range(10, 100)]})
    return [r for r in rates if r != rate and rate / 10 <= r <= rate * 10]


# --------------------------------------------------------------------------- dependencies


def inputs_of(d: Derivation, q: Quantity) -> list[str]:
    """The names of the quantities this one is computed from, in one step."""
    graph, table = d.graph, q.table
    if q.kind == "value":
        return [f"{table}.{p}" for p in graph[q.node].parents if graph[p].expr is not None]
    if q.kind == "grad":
        out = []
        for t in d.steps.steps[q.node].terms:
            if t.child != graph.loss_key:
                out.append(f"{table}.dL/d{t.child}")
            out += [f"{table}.{graph.by_symbol[s].key}" for s in t.local.free_symbols
                    if graph.by_symbol[s].expr is not None]
        return out
    if q.kind == "total_grad":
        return [f"instance{n + 1}.dL/d{q.node}" for n in range(len(d.instances))]
    if q.kind == "total_loss":
        return [f"instance{n + 1}.L" for n in range(len(d.instances))]
    if q.kind == "update":
        return [f"total.dL/d{q.node}" if len(d.instances) > 1 else f"instance1.dL/d{q.node}"]
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
            upstream = 1.0 if t.child == graph.loss_key else given.get(f"{table}.dL/d{t.child}", num.grad[t.child])
            env = {s: sp.Float(value_of(graph.by_symbol[s].key)) for s in t.local.free_symbols}
            total += upstream * float(t.local.xreplace(env))
        return total
    if q.kind in ("total_grad", "total_loss"):
        key = "L" if q.kind == "total_loss" else f"dL/d{q.node}"
        parts = [given.get(f"instance{n + 1}.{key}", num.loss if q.kind == "total_loss" else num.grad[q.node])
                 for n, num in enumerate(d.instances)]
        return d.scale * sum(parts)
    if q.kind == "update" and d.spec.training.mode == "batch":
        name = inputs_of(d, q)[0]
        return d.params[q.node] - d.spec.training.learning_rate * given.get(name, d.grad[q.node])
    return None
