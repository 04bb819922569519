"""Answers files: the names of every quantity a derivation has, blank and filled files, reading them.

A quantity is named ``TABLE.KEY``: ``instance1.h1_out`` (a value), ``instance1.dL/dw11`` (a
gradient of that instance's loss), ``total.dL/dw11`` (of the total loss, when there are
several instances), ``update.w11`` (after the first epoch). The same plain names appear in the
rendered examples, the worksheets and the check reports.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from derive.core.derivation import Derivation
from derive.core.numbers import flat
from derive.errors import SpecError
from derive.files import read_bounded
from derive.spec.parse import read_toml

MAX_ANSWERS_BYTES = 1_000_000
MAX_LIST = 20
TOLERANCE_KEYS = ("rtol", "atol", "min_digits")
ROUNDING_KEYS = ("decimals", "carry")


@dataclass(frozen=True)
class Quantity:
    """One number of a derivation that a student can be asked for."""

    table: str
    """``instance1``, …, ``batch`` (a batch normalization's statistics), ``total``, ``update``, ``update.instance1``, …,
    ``trained.instance1``, …"""
    key: str
    """Within the table: ``h1_out``, ``dL/dw11``, ``L``, ``w11``."""
    kind: str
    """``value``, ``grad``, ``batch_value``, ``batch_grad`` (a batch normalization's mean or variance and its
    gradient), ``total_loss``, ``total_grad``, ``update``, ``update_loss``, ``after_update`` (an output or loss
    of an instance after the first epoch) or ``trained`` (an output after training)."""
    node: str
    """The graph node it is about."""
    instance: int | None
    """0-based instance for ``value`` and ``grad``."""
    value: float
    exact: sp.Expr | None = None

    @property
    def name(self) -> str:
        return f"{self.table}.{self.key}"


def grad_key(node: str) -> str:
    return f"dL/d{node}"


def backward_order(d: Derivation, stats: bool = False) -> list[str]:
    """The nodes with a gradient, in the order a worked example derives them: errors, then layer by
    layer from the output (activations, sums; a batch normalization's x̂, and with ``stats`` its
    variance and mean, whose gradients the ``[batch]`` table holds), then the parameters from the
    output layer, then the inputs."""
    graph, steps = d.graph, d.steps.steps
    order = [n.key for n in graph.computed if n.role == "error"]
    for l, units in reversed(list(enumerate(graph.layer_units))):
        order += [a for _, a in units] + [z for z, _ in units]
        given = {k for pair in units for k in pair}  # a recurrent layer's earlier states, back through time
        earlier = [n for n in graph.computed if n.layer == l and n.role in ("out", "in") and n.key not in given]
        order += [n.key for n in sorted(earlier, key=lambda n: (-n.index[0], n.role != "out", n.index[1:]))]
        order += [n.key for n in graph.nodes.values() if n.role == "hat" and n.layer == l]  # a batch normalization's x̂
        if stats:
            order += [n.key for r in ("var", "mean") for n in graph.nodes.values() if n.role == r and n.layer == l]
    for l in reversed(range(len(graph.layer_units))):
        order += flat(graph.layer_weights[l]) + list(graph.layer_bias[l] or ())
    order += list(graph.input_keys)
    return [k for k in order if k in steps]


def catalogue(d: Derivation) -> dict[str, Quantity]:
    """Every quantity of the derivation, in the order a worked example meets them."""
    graph = d.graph
    out: dict[str, Quantity] = {}

    def add(q: Quantity) -> None:
        out[q.name] = q

    for n, num in enumerate(d.instances):
        table = f"instance{n + 1}"
        for node in graph.computed:
            add(Quantity(table, node.key, "value", node.key, n, num.value[node.key],
                         None if num.exact is None else num.exact[node.key]))
        for key in backward_order(d):
            if key != graph.loss_key:
                add(Quantity(table, grad_key(key), "grad", key, n, num.grad[key],
                             None if num.exact_grad is None else num.exact_grad[key]))
    if d.batch is not None:  # a batch normalization's statistics over the batch, and their gradients (summed loss)
        stats = [n.key for n in graph.nodes.values() if n.role in ("mean", "var")]
        for key in stats:
            add(Quantity("batch", key, "batch_value", key, None, d.batch.numbers.value[key]))
        for key in reversed(stats):
            add(Quantity("batch", grad_key(key), "batch_grad", key, None, d.batch.numbers.grad[key]))
    if len(d.instances) > 1:
        add(Quantity("total", "L", "total_loss", graph.loss_key, None, d.loss))
        for p in graph.parameters:
            add(Quantity("total", grad_key(p.key), "total_grad", p.key, None, d.grad[p.key],
                         None if d.exact_grad is None else d.exact_grad[p.key]))
    if d.after_step is not None and len(d.after_step.rates) > 1:  # several updates an epoch: the first one, θ⁽¹⁾
        for p in graph.parameters:
            add(Quantity("step1", p.key, "first_update", p.key, None, d.after_step.first_params[p.key]))
    if d.after_step is not None:
        exact = d.after_step.exact_params
        for p in graph.parameters:
            add(Quantity("update", p.key, "update", p.key, None, d.after_step.params[p.key],
                         None if exact is None else exact[p.key]))
        add(Quantity("update", "L", "update_loss", graph.loss_key, None, d.after_step.loss))
        outputs = [a for _, a in graph.layer_units[-1]]
        for n, num in enumerate(d.after_step.instances):
            for a in outputs:
                add(Quantity(f"update.instance{n + 1}", a, "after_update", a, n, num.value[a]))
            add(Quantity(f"update.instance{n + 1}", "L", "after_update", graph.loss_key, n, num.loss))
        for n, row in enumerate(d.training.outputs):
            for a, y in zip(outputs, row):
                add(Quantity(f"trained.instance{n + 1}", a, "trained", a, n, float(y)))
    return out


# --------------------------------------------------------------------------- writing


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else f'"{key}"'


def answers_file(d: Derivation, *, filled: bool, digits: int | None = None,
                 only: set[str] | None = None, values: dict[str, float] | None = None,
                 settings: dict[str, dict] | None = None, heading: list[str] | None = None) -> str:
    """The TOML answers file of ``d``: blank (every value "") or filled with the key.

    ``digits`` rounds the key's numbers to that many significant digits; ``only`` keeps those
    quantity names; ``values`` replaces the key's numbers (a worksheet's rounding policy);
    ``settings`` adds tables such as ``[tolerance]`` and ``[rounding]``; ``heading`` replaces the
    comment lines at the top.
    """
    quantities = [q for q in catalogue(d).values() if only is None or q.name in only]
    from derive.i18n import _

    command = {"command": f"derive check {d.spec.name}"}
    lines = [
        "# " + (_("Answers for `%(command)s`.") if filled is False else _("The key for `%(command)s`.")) % command,
        *("# " + line for line in _(
            'Each value is a number ("0.7319", -5.3e-8) or, per instance, a formula in the names below\n'
            '("2*(y1_out - t1)", "sigma(h1_in)", "exp(-x)", ^ or **). Values left "" are skipped.\n'
            "Names: hN_in / hN_out are a unit's sum and activation, eN the error, L the loss,\n"
            "dL/dX the derivative of the loss by X; [total] is the whole data set's loss; [update] the\n"
            "parameters after the first gradient-descent epoch.").split("\n")),
    ]
    if heading is not None:
        lines = [f"# {line}" if line else "#" for line in heading]
    for table_name, table_values in (settings or {}).items():
        lines += ["", f"[{table_name}]"]
        lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else json.dumps(v) if isinstance(v, str) else repr(v)}"
                  for k, v in table_values.items()]
    table = None
    for q in quantities:
        if q.table != table:
            table = q.table
            lines += ["", f"[{table}]"]
        if filled:
            value = values[q.name] if values is not None else q.value
            value = value if digits is None else float(f"{value:.{digits}g}")
            lines.append(f"{_toml_key(q.key)} = {value!r}")
        else:
            lines.append(f'{_toml_key(q.key)} = ""')
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Answers:
    """What a student gave: raw values by quantity name, and any tolerance settings of the file."""

    given: dict[str, list[object]]
    """Quantity name → what was given for it: numbers, or strings holding a number or a formula
    ("" dropped); several when the file gives a list (a quantity printed more than once)."""
    tolerance: dict[str, float]
    source: str
    rounding: dict[str, object] | None = None
    """The ``[rounding]`` table of a worksheet's answers file: ``decimals`` and ``carry``."""
    variant: str | None = None
    """``[worksheet] variant``: the code of the worksheet variant the file answers (``7-03``: seed 7, variant 3)."""


def read_answers(path: str | Path, d: Derivation) -> Answers:
    """Read an untrusted answers file; every problem is one SpecError naming the field."""
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise SpecError(source, "", "no such answers file")
    try:
        raw = read_bounded(p, MAX_ANSWERS_BYTES)
    except OSError as exc:
        raise SpecError(source, "", f"cannot read the file ({exc.strerror})") from None
    if raw is None:
        raise SpecError(source, "", f"the answers file is larger than {MAX_ANSWERS_BYTES} bytes (the limit)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(source, "", "not a UTF-8 text file") from None
    return parse_answers(read_toml(text, source), d, source)


def parse_answers(doc: dict, d: Derivation, source: str = "<answers>") -> Answers:
    known = catalogue(d)
    tables = sorted({q.table for q in known.values()})
    single = len(d.instances) == 1
    given: dict[str, object] = {}
    tolerance: dict[str, float] = {}
    rounding: dict[str, object] | None = None
    variant: str | None = None

    def fail(field: str, message: str) -> SpecError:
        return SpecError(source, field, message)

    spelled: dict[str, str] = {}  # quantity name → the field that gave it (TOML refuses the same key twice)

    def take(table: str, key: str, value: object, field: str) -> None:
        key = "dL/d" + key[4:] if key.startswith("dL_d") else key
        name = f"{table}.{key}"
        if name in spelled:
            raise fail(field, f"gives the same quantity as '{spelled[name]}' (two spellings of {name}); keep one")
        spelled[name] = field
        if name not in known:
            names = [q.key for q in known.values() if q.table == table]
            close = difflib.get_close_matches(key, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise fail(field, f"unknown quantity '{key}' in [{table}]{hint}")
        values = value if isinstance(value, list) else [value]
        if len(values) > MAX_LIST:
            raise fail(field, f"at most {MAX_LIST} values for one quantity")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise fail(field, "expected a number or a string (a number or a formula), or a list of them")
        kept = [v for v in values if v != ""]
        if kept:
            given[name] = kept

    def walk(prefix: str, table: dict) -> None:
        for key, v in table.items():
            if isinstance(v, dict):
                name = f"{prefix}.{key}"
                if name not in tables:
                    raise fail(name, f"unknown table; expected one of {', '.join(tables)}")
                walk(name, v)
            else:
                take(prefix, key, v, f"{prefix}.{key}")

    for top, value in doc.items():
        if top == "tolerance":
            if not isinstance(value, dict):
                raise fail("tolerance", "expected a table")
            for k, v in value.items():
                if k not in TOLERANCE_KEYS:
                    raise fail(f"tolerance.{k}", f"unknown setting, expected one of {', '.join(TOLERANCE_KEYS)}")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1e300 or v != v:
                    raise fail(f"tolerance.{k}", "expected a non-negative number, at most 1e300")
                tolerance[k] = float(v)
        elif top == "rounding":
            if not isinstance(value, dict):
                raise fail("rounding", "expected a table")
            rounding = {}
            for k, v in value.items():
                if k not in ROUNDING_KEYS:
                    raise fail(f"rounding.{k}", f"unknown setting, expected one of {', '.join(ROUNDING_KEYS)}")
                if k == "carry" and not isinstance(v, bool):
                    raise fail("rounding.carry", "expected true or false")
                if k == "decimals" and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 8):
                    raise fail("rounding.decimals", "expected a whole number from 0 to 8")
                rounding[k] = v
        elif top == "worksheet":
            if not isinstance(value, dict):
                raise fail("worksheet", "expected a table")
            for k, v in value.items():
                if k != "variant":
                    raise fail(f"worksheet.{k}", "unknown setting, expected variant")
                if isinstance(v, bool) or not isinstance(v, (str, int)) or len(str(v)) > 40 or \
                        not all(c.isalnum() or c in "-_." for c in str(v)):
                    raise fail("worksheet.variant", "expected a variant code like \"7-03\"")
                variant = str(v)
        elif isinstance(value, dict):
            roots = sorted({t.split(".")[0] for t in tables})
            if top not in roots:
                close = difflib.get_close_matches(top, roots, n=1)
                hint = f"; did you mean [{close[0]}]?" if close else f"; expected one of {', '.join(roots)}"
                raise fail(top, f"unknown table{hint}")
            walk(top, value)
        elif single:
            take("instance1", top, value, top)
        else:
            raise fail(top, f"give it inside a table ([instance1], …): the data has {len(d.instances)} instances")
    return Answers(given=given, tolerance=tolerance, source=source, rounding=rounding, variant=variant)
