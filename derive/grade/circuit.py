"""`derive check` for circuits: answers files by node name, verdicts and diagnoses.

An answers file of a circuit is one flat table: a node's value by its name (``q = 3``), a gradient
of the output by ``df/dq``, ``df_dq`` or ``dq`` (all the same quantity, written ``df/dq`` in the
report), an optional ``[tolerance]`` table and, in a worksheet's files, ``[worksheet] variant`` (the
variant's code, which a class check reads). An answer is a number or a formula of the circuit's
names (``z``, ``x + y``), read by the safe formula parser. A wrong answer is explained, in order, by
the student's own earlier wrong answers (it follows from them), a classic mistake of the registry
(:mod:`derive.grade.mistakes`, the circuit ones: a branch not added, a wrong gate's local gradient, the
upstream gradient not multiplied in), or a slip in that one number (sign, factor 2, digits cut off).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from derive.errors import SpecError
from derive.i18n import _
from derive.files import read_bounded
from derive.grade.answers import MAX_ANSWERS_BYTES, TOLERANCE_KEYS, Quantity
from derive.grade.formula import FormulaError, parse_formula
from derive.grade.judge import Report, Tolerance, Verdict, _slip
from derive.spec.parse import read_toml


def grad_name(d, key: str) -> str:
    """The answers-file name of the gradient of the output by ``key``: ``df/dq``."""
    return f"d{d.spec.output}/d{key}"


def circuit_catalogue(d) -> dict[str, Quantity]:
    """Every quantity a student can be asked: each gate's value in forward order, then every gradient in the
    order the backward pass reaches it."""
    out: dict[str, Quantity] = {}
    for n in d.spec.nodes:
        out[n.name] = Quantity("", n.name, "value", n.name, None, d.value[n.name])
    for key in d.steps.steps:
        if key != d.spec.output:
            name = grad_name(d, key)
            out[name] = Quantity("", name, "grad", key, None, d.grad[key])
    return out


def canonical(d, key: str) -> str | None:
    """The catalogue name a written key means: ``q``; ``df/dq``, ``df_dq``, ``dq``, ``∂f/∂q`` → ``df/dq``."""
    out = d.spec.output
    names = set(d.spec.names)
    key = key.strip().replace("∂", "d")
    if key in names:
        return key
    m = re.fullmatch(rf"d{re.escape(out)}\s*[/_]\s*d([A-Za-z0-9]+)", key) or re.fullmatch(r"d([A-Za-z0-9]+)", key)
    if m and m.group(1) in names:
        return grad_name(d, m.group(1))
    return None


@dataclass
class CircuitAnswers:
    source: str
    given: dict[str, list[object]]
    tolerance: dict
    rounding: dict | None = None
    variant: str | None = None
    """``[worksheet] variant``: the code of the worksheet variant the file answers (``7-03``), for a class check."""


def answers_file(d, *, filled: bool, only: set[str] | None = None, values: dict[str, float] | None = None,
                 heading: list[str] | None = None) -> str:
    """The TOML answers file of a circuit: blank (every value "") or filled with the key."""
    lines = [f"# {line}" for line in heading or [
        f"Answers for the circuit {d.spec.name}: fill in each value (a number, or a formula",
        f"of the circuit's names). Check with: derive check {d.spec.name} THIS_FILE",
        "The leaves: " + ", ".join(f"{k} = {v:g}" for k, v in d.spec.inputs)]]
    lines.append("")
    for name, q in circuit_catalogue(d).items():
        if only is not None and name not in only:
            continue
        value = (values or {}).get(name, q.value)
        shown = repr(float(value)) if filled else '""'
        key = name if "/" not in name else f'"{name}"'
        lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


def read_circuit_answers(path: str | Path, d) -> CircuitAnswers:
    source = str(path)
    raw = read_bounded(Path(path), MAX_ANSWERS_BYTES)
    if raw is None:
        raise SpecError(source, "", f"the file is larger than {MAX_ANSWERS_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(source, "", "not a UTF-8 text file") from None
    return parse_circuit_answers(read_toml(text, source), d, source)


def parse_circuit_answers(doc: dict, d, source: str = "<answers>") -> CircuitAnswers:
    known = circuit_catalogue(d)
    given: dict[str, list[object]] = {}
    tolerance: dict = {}
    variant = None
    for key, value in doc.items():
        shown = "".join(ch if ch.isprintable() else "?" for ch in str(key))[:40]
        if key == "worksheet":
            if not isinstance(value, dict):
                raise SpecError(source, "worksheet", "expected a table (variant)")
            for k, v in value.items():
                if k != "variant":
                    raise SpecError(source, f"worksheet.{shown_key(k)}", "unknown setting, expected variant")
                if isinstance(v, bool) or not isinstance(v, (str, int)) or len(str(v)) > 40 or \
                        not all(c.isalnum() or c in "-_." for c in str(v)):
                    raise SpecError(source, "worksheet.variant", "expected a variant code like \"7-03\"")
                variant = str(v)
            continue
        if key == "tolerance":
            if not isinstance(value, dict):
                raise SpecError(source, "tolerance", "expected a table (rtol, atol, min_digits)")
            for k, v in value.items():
                if k not in TOLERANCE_KEYS:
                    raise SpecError(source, f"tolerance.{k}", f"unknown key; expected one of {', '.join(TOLERANCE_KEYS)}")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise SpecError(source, f"tolerance.{k}", "expected a finite number ≥ 0")
                tolerance[k] = v
            continue
        name = canonical(d, key)
        if name is None or name not in known:
            if name is not None and name in d.spec.leaves:
                raise SpecError(source, shown, f"'{key}' is a leaf: its value is given, not asked")
            hint = f"; the names are the nodes ({', '.join(n.name for n in d.spec.nodes)}) and the gradients " \
                   f"{grad_name(d, d.spec.names[0])}, …"
            raise SpecError(source, shown, f"unknown quantity{hint}")
        if isinstance(value, dict):
            raise SpecError(source, shown, "expected a number or a formula, got a table")
        values = value if isinstance(value, list) else [value]
        if len(values) > 20:
            raise SpecError(source, shown, "more than 20 tries")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise SpecError(source, shown, f"expected a number or a formula, got {type(v).__name__}")
        if name in given:
            raise SpecError(source, shown, f"given twice (as {name} and another spelling)")
        given[name] = [v for v in values if not (isinstance(v, str) and not v.strip())]
    given = {k: v for k, v in given.items() if v}
    return CircuitAnswers(source=source, given=given, tolerance=tolerance, variant=variant)


def shown_key(key: object) -> str:
    """A key of an untrusted file as an error message may show it: printable, at most 40 characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(key))[:40]


def check_circuit(d, answers: CircuitAnswers, tolerance: Tolerance | None = None) -> Report:
    tol = tolerance or Tolerance.of(answers.tolerance)
    known = circuit_catalogue(d)
    verdicts = []
    for name, values in answers.given.items():
        for k, raw in enumerate(values):
            label = name if len(values) == 1 else f"{name}[{k + 1}]"
            verdicts.append(_judge(d, known[name], label, raw, tol))
    _explain(d, known, verdicts, tol)
    return Report(derivation=d, source=answers.source, tolerance=tol, verdicts=verdicts)


def _judge(d, q: Quantity, label: str, raw: object, tol: Tolerance) -> Verdict:
    text = raw.strip() if isinstance(raw, str) else repr(raw)
    v = Verdict(name=label, quantity=q, given=text, status="cannot judge")
    try:
        v.given_value = float(raw) if not isinstance(raw, str) else float(text)
    except OverflowError:
        v.note = "the number is too large for a float (beyond 1.8e308)"
        return v
    except ValueError:
        try:
            v.formula = parse_formula(text, {k: None for k in d.spec.names})
            v.given_value = v.formula.evaluate(d.value)
        except FormulaError as exc:
            v.note = f"the formula {exc}"
            return v
    if not math.isfinite(v.given_value):
        v.note = "not a finite number"
        return v
    v.status = "correct" if tol.allows(v.given_value, q.value, None if v.formula else text) else "wrong"
    return v


def _explain(d, known: dict[str, Quantity], verdicts: list[Verdict], tol: Tolerance) -> None:
    from derive.grade.mistakes import mistakes

    given = {v.quantity.name[1:]: v.given_value for v in verdicts if v.given_value is not None}
    wrong = {v.quantity.name[1:] for v in verdicts if v.status == "wrong"}
    models = None
    for v in verdicts:
        if v.status != "wrong":
            continue
        name = v.quantity.name[1:]
        upstream = [u for u in inputs_of(d, name) if u in wrong]
        if upstream:
            again = recompute(d, name, given)
            if again is not None and tol.allows(v.given_value, again):
                v.diagnosis = _("follows correctly from your wrong answer for %(names)s") % {"names": ", ".join(upstream)}
                v.first_wrong = _origins(d, upstream, given, wrong, tol)
                continue
        if models is None:
            models = mistakes(d)
        hits = [why for _, why, values in models if name in values and math.isfinite(values[name])
                and values[name] != v.quantity.value and tol.allows(v.given_value, values[name])]
        if hits:
            v.diagnosis = "; or ".join(dict.fromkeys(hits))
            continue
        v.diagnosis = _slip(v, tol)


def inputs_of(d, name: str) -> list[str]:
    """The catalogue names a quantity is computed from in one step (values of gates, gradients above)."""
    graph = d.graph
    if "/" not in name:
        return [p for p in graph[name].parents if graph[p].expr is not None]
    key = name.split("/d", 1)[1]
    out = []
    for t in d.steps.steps[key].terms:
        if t.child != d.spec.output:
            out.append(grad_name(d, t.child))
        out += [graph.by_symbol[s].key for s in t.local.free_symbols if graph.by_symbol[s].expr is not None]
    return out


def recompute(d, name: str, given: dict[str, float]) -> float | None:
    """The quantity from the student's values of its inputs (the true ones where none was given)."""
    import sympy as sp

    graph = d.graph

    def value_of(k):
        return given.get(k, d.value[k])

    try:
        if "/" not in name:
            node = graph[name]
            return float(node.expr.xreplace({graph[p].symbol: sp.Float(value_of(p)) for p in node.parents}))
        key = name.split("/d", 1)[1]
        total = 0.0
        for t in d.steps.steps[key].terms:
            up = 1.0 if t.child == d.spec.output else given.get(grad_name(d, t.child), d.grad[t.child])
            env = {s: sp.Float(value_of(graph.by_symbol[s].key)) for s in t.local.free_symbols}
            total += up * float(t.local.xreplace(env))
        return total
    except (TypeError, ValueError):
        return None


def _origins(d, names: list[str], given, wrong, tol, seen=None) -> list[str]:
    """Where the error started: the wrong answers upstream that follow from no earlier wrong answer."""
    seen = set() if seen is None else seen
    out = []
    for n in names:
        if n in seen:
            continue
        seen.add(n)
        up = [u for u in inputs_of(d, n) if u in wrong]
        again = recompute(d, n, given) if up else None
        if up and again is not None and n in given and tol.allows(given[n], again):
            out += _origins(d, up, given, wrong, tol, seen)
        else:
            out.append(n)
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- `derive audit` of a circuit


class CircuitVocabulary:
    """The names a write-up of a circuit may use, for `derive audit`: a name as the page writes it (``w_{0}``,
    ``w0``, ``\\mathit{dot}``), a gradient of the output (``\\frac{df}{dq}``, ``df/dq``, ``df_dq``,
    ``\\frac{\\partial f}{\\partial q}``, which may also be the gate's local gradient) and a gate's local
    gradient ``\\frac{\\partial q}{\\partial x}``. Known numbers: each value, gradient and local gradient, and
    with training the trained leaves and outputs."""

    def __init__(self, d):
        from derive.grade.audit.names import Known

        self.d = d
        self.matrices: dict = {}
        self.aliases: dict[str, set[str]] = {}
        self.known: list = []
        self.by_node: dict[str, list] = {}
        from derive.grade.audit.names import squash
        from derive.render.circuit import latex_name

        for k in d.spec.names:
            for spelling in (k, latex_name(k)):
                self.aliases.setdefault(squash(spelling), set()).add(k)
        catalogue = circuit_catalogue(d)
        for k, v in d.spec.inputs:
            self._record(Known(k, k, "value", v))
        for name, q in catalogue.items():
            self._record(Known(name, q.node, q.kind, q.value, q))
        for (child, parent), v in d.numbers.local.items():
            self._record(Known(f"∂{child}/∂{parent}", f"{child}/{parent}", "local", v))
        if d.training is not None:
            for e, out in enumerate(d.training.outputs[1:], start=1):
                self._record(Known(f"step{e}.{d.spec.output}", d.spec.output, "update", out))
                for k, v in d.training.params[e].items():
                    self._record(Known(f"step{e}.{k}", k, "update", v))
            self._record(Known("training.learning_rate", "learning_rate", "value", d.spec.training.learning_rate))

    def _record(self, k) -> None:
        self.known.append(k)
        self.by_node.setdefault(k.node, []).append(k)

    def resolve(self, text: str):
        from derive.grade.audit.names import Ref, _derivative, squash

        t = text.strip().strip("`$ ").strip()
        if not t or len(t) > 120:
            return None
        partial = "partial" in t or "∂" in t
        grad = _derivative(t)
        if grad is None:
            m = re.fullmatch(r"d([A-Za-z]+[0-9]*)_d([A-Za-z]+[0-9]*)", t)
            grad = (m.group(1), m.group(2)) if m else None
        if grad is not None:
            top, bottom = (self.aliases.get(squash(x)) for x in grad)
            if not top or not bottom or len(top) != 1:
                return None
            (c,) = top
            if c == self.d.spec.output:
                kind = "grad-or-local" if partial else "grad"
                return Ref(tuple(sorted(bottom)), kind)
            if partial:
                return Ref(tuple(f"{c}/{b}" for b in sorted(bottom)), "local")
            return None
        key = squash(t)
        if key in self.aliases and not re.search(r"[A-Za-z]\s*\(", t):
            return Ref(tuple(sorted(self.aliases[key])))
        return None

    def candidates(self, ref, loose: bool = False) -> list:
        out = []
        for node in ref.nodes:
            for k in self.by_node.get(node, []):
                if loose or k.kind == ref.kind or (ref.kind == "value" and k.kind == "update") \
                        or (ref.kind == "grad-or-local" and k.kind == "grad"):
                    out.append(k)
            if ref.kind == "grad-or-local":
                out += [k for k in self.by_node.get(f"{self.d.spec.output}/{node}", [])]
        return out


def audit_inputs_of(d, q) -> list[str]:
    return inputs_of(d, q.key)


def audit_recompute(d, q, given) -> float | None:
    return recompute(d, q.key, given)
