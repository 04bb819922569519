"""Stage 1 for circuits: a ``[circuit]`` spec (any expression graph over named leaves) into frozen records.

```toml
name = "add-times"
[circuit]
inputs = { x = -2, y = 5, z = -4 }      # the leaves and their values
nodes  = ["q = x + y", "f = q * z"]     # each line defines one new name from earlier ones
output = "f"                            # the scalar whose gradient is wanted
parameters = ["x"]                      # optional: the leaves [training] takes gradient steps on
```

Each node's formula is read by the safe formula parser of answers files (:mod:`derive.grade.formula`:
Python's ``ast`` and a whitelist, never ``eval`` and never ``sympify``). Every problem is a
:class:`~derive.errors.SpecError` naming the field (``circuit.nodes[1]``) in one line: an unknown
name, a name used before it is defined (a forward reference or a cycle), a name defined twice or
taken by a function or constant, a bad output, a value that does not exist (log of a non-positive
number, a division by zero).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from derive.grade.formula import CONSTANTS, Formula, FormulaError, functions, parse_formula
from derive.spec.parse import NAME_RE, Range, Training, Worksheet, _join, _kind, _printable, formula_words

#: A circuit's names: letters, then digits (``x``, ``w0``, ``dot``, ``x12``): one name on the page (w_{0}).
CIRCUIT_NAME_RE = re.compile(r"[A-Za-z]{1,12}[0-9]{0,3}")
#: Refuse rather than hang: the largest circuit derive takes (leaves and nodes, each).
MAX_LEAVES = 32
MAX_NODES = 48


@dataclass(frozen=True)
class CircuitNode:
    """One line of ``nodes``: ``name = formula``."""

    name: str
    text: str
    """The formula as the spec writes it (right of the ``=``)."""
    formula: Formula


@dataclass(frozen=True)
class CircuitSpec:
    """A whole circuit worked example: leaves and their values, the nodes, the output, training."""

    name: str
    title: str
    description: str
    inputs: tuple[tuple[str, float], ...]
    """The leaves and their values, in the spec's order."""
    nodes: tuple[CircuitNode, ...]
    output: str
    parameters: tuple[str, ...]
    """The leaves [training] updates (none without training)."""
    training: Training | None
    source: str
    worksheet: Worksheet | None = None
    arithmetic: str = "float"

    kind = "circuit"

    @property
    def leaves(self) -> dict[str, float]:
        return dict(self.inputs)

    @property
    def names(self) -> tuple[str, ...]:
        """Every name, leaves first, then the nodes in the order they are defined."""
        return tuple(k for k, _ in self.inputs) + tuple(n.name for n in self.nodes)

    @property
    def shown_source(self) -> str:
        """The file's name, or a preset's in the page's language (as a network spec's)."""
        if self.source.startswith("preset "):
            from derive.i18n import _

            return _("preset %(name)s") % {"name": self.source[len("preset "):]}
        return Path(self.source).name

    def with_inputs(self, values: dict[str, float]) -> "CircuitSpec":
        """The same circuit with other leaf values (a worksheet's variant)."""
        from dataclasses import replace

        return replace(self, inputs=tuple((k, float(values.get(k, v))) for k, v in self.inputs))


def is_circuit(spec: Any) -> bool:
    """Whether a spec or a derivation's spec is a circuit (the one test every consumer asks)."""
    return getattr(getattr(spec, "spec", spec), "kind", None) == "circuit"


#: Names the notebook's code gives its own helpers (a circuit's names are its variables there).
NOTEBOOK_WORDS = ("np", "check", "step", "rate", "RATE", "forward", "backward", "gradient", "history", "state",
                  "leaves")


def reserved_words() -> tuple[str, ...]:
    """Names a circuit may not give a leaf or node: the formula's functions and constants, the notebook's helpers."""
    return tuple(dict.fromkeys(formula_words() + tuple(functions()) + tuple(CONSTANTS) + NOTEBOOK_WORDS))


def read_circuit(reader, doc: dict, default_name: str | None) -> CircuitSpec:
    """The circuit spec of a parsed TOML document (``reader`` is derive.spec.parse's field-naming reader)."""
    reader.known_keys(doc, "", ("name", "title", "description", "circuit", "training", "worksheet"))
    if "name" in doc:
        name = reader.string(doc["name"], "name")
    elif default_name is not None and NAME_RE.fullmatch(default_name):
        name = default_name
    else:
        raise reader.fail("name", "missing (required: lowercase letters, digits and '-')")
    if not NAME_RE.fullmatch(name) or len(name) > 64:
        raise reader.fail("name", f"expected lowercase letters, digits and '-' (at most 64), got '{_printable(name)}'")
    title = reader.prose(doc.get("title", f"A worked example of backpropagation through a circuit: {name}"), "title",
                         one_line=True)
    description = reader.prose(doc.get("description", ""), "description", one_line=False)
    table = reader.table(doc["circuit"], "circuit")
    reader.known_keys(table, "circuit", ("inputs", "nodes", "output", "parameters"))
    inputs = _leaves(reader, reader.require(table, "inputs", "circuit"))
    nodes = _nodes(reader, reader.require(table, "nodes", "circuit"), [k for k, _ in inputs])
    names = [k for k, _ in inputs] + [n.name for n in nodes]
    output = reader.string(reader.require(table, "output", "circuit"), "circuit.output")
    if output not in names:
        close = difflib.get_close_matches(output, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; expected one of {', '.join(n.name for n in nodes)}"
        raise reader.fail("circuit.output", f"'{_printable(output)}' is not a node of the circuit{hint}")
    if output not in [n.name for n in nodes]:
        raise reader.fail("circuit.output", f"'{output}' is a leaf (an input); the output must be a node computed "
                                            "from the leaves")
    _all_used(reader, inputs, nodes, output)
    parameters = _parameters(reader, table.get("parameters", []), [k for k, _ in inputs])
    training = None
    if "training" in doc:
        table_t = reader.table(doc["training"], "training")
        for key in ("mode", "batch_size"):
            if key in table_t:
                raise reader.fail(_join("training", key), "does not apply to a circuit (it has no data to batch: "
                                                          "each step follows the gradient of the output)")
        training = reader.training(table_t, 1)
        if not parameters:
            raise reader.fail("circuit.parameters", "missing: [training] needs the leaves it updates "
                                                    "(parameters = [\"w0\", ...])")
    elif "parameters" in table and parameters:
        pass  # the parameters are named (the page says so); without [training] nothing is updated
    worksheet = _worksheet(reader, doc["worksheet"]) if "worksheet" in doc else None
    return CircuitSpec(name=name, title=title, description=description, inputs=inputs, nodes=nodes, output=output,
                       parameters=parameters, training=training, source=reader.source, worksheet=worksheet)


def _name(reader, name: Any, field: str, taken: list[str], what: str) -> str:
    if not isinstance(name, str) or not CIRCUIT_NAME_RE.fullmatch(name):
        shown = _printable(str(name))[:40]
        raise reader.fail(field, f"'{shown}' is not a name derive can use for {what} (letters, then at most three "
                                 "digits: x, w0, dot)")
    if name in reserved_words():
        kind = ("a constant in formulas" if name in CONSTANTS else "a helper of the notebook's code"
                if name in NOTEBOOK_WORDS else "a function in formulas")
        raise reader.fail(field, f"'{name}' is the name of {kind}; choose another name")
    if name in taken:
        raise reader.fail(field, f"'{name}' is defined twice")
    for other in taken:
        if name == f"d{other}" or other == f"d{name}":
            raise reader.fail(field, f"'{name}' would read as the gradient of '{other if name == 'd' + other else name}'"
                                     " in answers files (dq is df/dq); choose another name")
    return name


def _leaves(reader, value: Any) -> tuple[tuple[str, float], ...]:
    field = "circuit.inputs"
    if not isinstance(value, dict) or not value:
        raise reader.fail(field, f"expected a table of leaves and their values ({{ x = -2, y = 5 }}), got {_kind(value)}")
    if len(value) > MAX_LEAVES:
        raise reader.fail(field, f"{len(value)} leaves is more than {MAX_LEAVES}, the limit of a circuit")
    out: list[tuple[str, float]] = []
    for key, v in value.items():
        f = _join(field, key)
        _name(reader, key, f, [k for k, _ in out], "a leaf")
        out.append((key, reader.number(v, f)))
    return tuple(out)


def _nodes(reader, value: Any, leaves: list[str]) -> tuple[CircuitNode, ...]:
    field = "circuit.nodes"
    if not isinstance(value, list) or not value:
        raise reader.fail(field, f"expected a list of formulas (\"q = x + y\"), got {_kind(value)}")
    if len(value) > MAX_NODES:
        raise reader.fail(field, f"{len(value)} nodes is more than {MAX_NODES}, the limit of a circuit")
    defined = [_line(reader, line, f"{field}[{i}]")[0] for i, line in enumerate(value)]
    known = list(leaves)
    out: list[CircuitNode] = []
    for i, line in enumerate(value):
        f = f"{field}[{i}]"
        name, text = _line(reader, line, f)
        _name(reader, name, f, known, "a node")
        try:
            formula = parse_formula(text, {k: None for k in known})
        except FormulaError as exc:
            raise reader.fail(f, _unknown(name, text, str(exc), defined, i)) from None
        if "\\" in text or "{" in text:
            raise reader.fail(f, "write the formula in plain math (q * z, exp(x), sigma(s)), not LaTeX")
        if formula.is_number:
            raise reader.fail(f, f"'{name}' is a number, not computed from earlier names; make it a leaf in "
                                 "circuit.inputs")
        out.append(CircuitNode(name=name, text=text.strip(), formula=formula))
        known.append(name)
    return tuple(out)


def _line(reader, line: Any, field: str) -> tuple[str, str]:
    if not isinstance(line, str):
        raise reader.fail(field, f"expected a string \"name = formula\", got {_kind(line)}")
    if len(line) > 1000:
        raise reader.fail(field, "is longer than 1000 characters")
    name, eq, text = line.partition("=")
    if not eq or not text.strip():
        raise reader.fail(field, f"expected \"name = formula\" (q = x + y), got '{_printable(line)[:60]}'")
    return name.strip(), text


def _unknown(name: str, text: str, message: str, defined: list[str], i: int) -> str:
    """The parser's message, sharpened: a name used in its own definition, or before the line that defines it."""
    m = re.search(r"unknown name '([^']+)'", message)
    if m:
        used = m.group(1)
        if used == name:
            return f"'{name} = {text.strip()}' uses '{name}' in its own definition (a cycle)"
        if used in defined[i + 1:]:
            j = defined.index(used, i + 1)
            later = f"circuit.nodes[{j}]"
            return (f"'{name}' uses '{used}' before it is defined (in {later}): each node may use only the leaves "
                    "and the nodes above it, so the circuit has no cycles; move the line down")
    return f"the formula {message}"


def _all_used(reader, inputs, nodes, output: str) -> None:
    """Every leaf and node must lie on a way to the output (else its gradient is no derivative of the output)."""
    used = {output}
    for node in reversed(nodes):
        if node.name in used:
            used |= set(node.formula.names)
    for i, node in enumerate(nodes):
        if node.name not in used:
            raise reader.fail(f"circuit.nodes[{i}]", f"'{node.name}' does not lead to the output '{output}'; "
                                                     "remove it or use it")
    for key, _ in inputs:
        if key not in used:
            raise reader.fail(_join("circuit.inputs", key), f"the leaf '{key}' does not lead to the output '{output}'; "
                                                            "remove it or use it")


def _parameters(reader, value: Any, leaves: list[str]) -> tuple[str, ...]:
    field = "circuit.parameters"
    if not isinstance(value, list):
        raise reader.fail(field, f"expected a list of leaf names, got {_kind(value)}")
    out: list[str] = []
    for i, p in enumerate(value):
        f = f"{field}[{i}]"
        p = reader.string(p, f)
        if p not in leaves:
            close = difflib.get_close_matches(p, leaves, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise reader.fail(f, f"'{_printable(p)}' is not a leaf of circuit.inputs (only leaves are trained){hint}")
        if p in out:
            raise reader.fail(f, f"'{p}' is listed twice")
        out.append(p)
    return tuple(out)


def _worksheet(reader, value: Any) -> Worksheet:
    """A circuit's [worksheet]: the range its leaves are drawn from, the decimals of the answers, the blanks, the
    partial credits of the learning-platform exports (as a network's)."""
    field = "worksheet"
    table = reader.table(value, field)
    reader.known_keys(table, field, ("inputs", "decimals", "blanks", "partial"))
    ranges: dict[str, Range] = {}
    if "inputs" in table:
        ranges["inputs"] = reader.range(table["inputs"], "worksheet.inputs")
    return Worksheet(**ranges, decimals=reader.integer(table.get("decimals", 4), "worksheet.decimals", 0, 8),
                     blanks=(reader.integer(table["blanks"], "worksheet.blanks", 1, 10000)
                             if "blanks" in table else None),
                     partial=reader.partial(table.get("partial", {}), "worksheet.partial"))
