"""The hostile corpus: specs, answers files, options and templates that once crashed `derive`
(exit 3), exhausted memory or hung, and their expected exit status.

Most cases are generated: a small valid spec (:data:`BASE`) with one field replaced by a
hostile value, an answers file with one hostile answer, one hostile option. Each case names
the files it writes, the command line (``{spec}``, ``{answers}``, ``{dir}``, ``{templates}``
stand for them) and what must come out: the exit status and, for status 2, a piece of the
one-line message (the field it names).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field


class Raw(str):
    """A TOML value written as is (a 400-digit integer, nan, an array nested 1000 deep)."""


DELETE = object()


@dataclass(frozen=True)
class Sparse:
    """A file of ``size`` bytes that takes no room on disk (a 5 GB spec costs nothing to make)."""

    size: int
    head: bytes = b"name = \"big\"\n"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    files: dict = field(default_factory=dict)
    """File name → text, bytes or :class:`Sparse`; ``templates/NAME`` lands in the templates folder."""
    status: int = 2
    expect: str = ""
    """For status 2: a piece of the one-line message (the field it names, the limit)."""
    json: bool = False
    """The standard output must be strict JSON (no NaN, no Infinity)."""


BASE = {
    "name": "hostile",
    "network": {
        "inputs": 2,
        "loss": "sse",
        "layers": [
            {"name": "h", "size": 2, "activation": "sigmoid", "weights": [[0.1, 0.2], [0.3, 0.4]]},
            {"name": "y", "size": 1, "activation": "sigmoid", "weights": [[0.5], [0.6]]},
        ],
    },
    "data": [{"x": [1, 2], "t": [0.5]}],
    "training": {"learning_rate": 0.5, "epochs": 2},
}


def _value(v) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # JSON's escapes are TOML's
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def toml(doc: dict) -> str:
    """The spec dict as TOML: scalars first, then [network] with [[network.layers]], [[data]], tables."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, (dict, list))]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if isinstance(v, list) and k != "data"]
    network = doc.get("network")
    if isinstance(network, dict):
        lines.append("[network]")
        lines += [f"{_key(k)} = {_value(v)}" for k, v in network.items() if k != "layers"]
        layers = network.get("layers")
        if isinstance(layers, list) and all(isinstance(x, dict) for x in layers):
            for layer in layers:
                lines.append("[[network.layers]]")
                lines += [f"{_key(k)} = {_value(v)}" for k, v in layer.items()]
        elif "layers" in network:
            lines.append(f"layers = {_value(layers)}")
    elif "network" in doc:
        lines.insert(0, f"network = {_value(network)}")
    data = doc.get("data")
    if isinstance(data, list) and all(isinstance(x, dict) for x in data):
        for inst in data:
            lines.append("[[data]]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in inst.items()]
    elif "data" in doc:
        lines.insert(0, f"data = {_value(data)}")
    for k, v in doc.items():
        if isinstance(v, dict) and k != "network":
            lines.append(f"[{k}]")
            lines += [f"{_key(kk)} = {_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def spec_with(changes: dict | None = None, base: dict = BASE) -> str:
    """BASE with dotted paths replaced ("network.layers.0.size": 64) or removed (DELETE)."""
    doc = copy.deepcopy(base)
    for path, value in (changes or {}).items():
        parts = path.split(".")
        node = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = int(parts[-1]) if isinstance(node, list) else parts[-1]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return toml(doc)


def layers(sizes, activation="sigmoid", out="sigmoid", weight=0.1) -> list[dict]:
    """Dense layers of the given sizes (sizes[0] is the number of inputs), every weight ``weight``."""
    return [{"size": b, "activation": out if k == len(sizes) - 2 else activation,
             "weights": [[weight] * b for _ in range(a)]} for k, (a, b) in enumerate(zip(sizes, sizes[1:]))]


def network(sizes, *, loss="sse", activation="sigmoid", out="sigmoid", n=1, target=0.5, **top) -> str:
    """A whole spec of the given shape (no layer names: the defaults), n instances."""
    doc = {"name": "net", **top, "network": {"inputs": sizes[0], "loss": loss, "layers": layers(sizes, activation, out)},
           "data": [{"x": [0.5] * sizes[0], **({"t": target if isinstance(target, int) else [target] * sizes[-1]}
                                               if loss != "output" else {})} for _ in range(n)],
           "training": {"learning_rate": 0.1, "epochs": 1}}
    return toml(doc)


def nested(depth: int, inner: str = "1") -> Raw:
    return Raw("[" * depth + inner + "]" * depth)


BIG_INT = Raw("1" + "0" * 400)
HUGE_INT = Raw("1" * 5000)
LONG_DECIMAL = Raw("0." + "1" * 5000)

# --------------------------------------------------------------------------- specs: one field replaced


#: (id, {path: value}, expected piece of the message)
SPEC_FIELDS = [
    # names: a final newline, other control characters, the formula words
    ("name-newline", {"name": "abc\n"}, "name: expected lowercase"),
    ("name-newline-only", {"name": "\n"}, "name: expected lowercase"),
    ("name-tab", {"name": "a\tb"}, "name: expected lowercase"),
    ("name-slash", {"name": "../etc/passwd"}, "name: expected lowercase"),
    ("name-long", {"name": "a" * 65}, "name: expected lowercase"),
    ("name-number", {"name": 7}, "name: expected a string"),
    ("name-empty", {"name": ""}, "name: expected lowercase"),
    ("name-nul", {"name": "a\x00b"}, "name: expected lowercase"),
    ("input-newline", {"network.inputs": ["x1\n", "x2"]}, "network.inputs[0]"),
    ("input-newline-2", {"network.inputs": ["x1", "b\n"]}, "network.inputs[1]"),
    ("input-e", {"network.inputs": ["e", "x2"]}, "network.inputs[0]: 'e'"),
    ("input-pi", {"network.inputs": ["x1", "pi"]}, "network.inputs[1]: 'pi'"),
    ("input-exp", {"network.inputs": ["exp", "x2"]}, "network.inputs[0]: 'exp'"),
    ("input-sigma", {"network.inputs": ["sigma", "x2"]}, "network.inputs[0]: 'sigma'"),
    ("input-log", {"network.inputs": ["log", "x2"]}, "network.inputs[0]: 'log'"),
    ("input-relu", {"network.inputs": ["relu", "x2"]}, "network.inputs[0]: 'relu'"),
    ("input-long", {"network.inputs": ["x" * 17, "x2"]}, "network.inputs[0]"),
    ("input-unicode", {"network.inputs": ["xé", "x2"]}, "network.inputs[0]"),
    ("input-L", {"network.inputs": ["L", "x2"]}, "'L'"),
    ("input-t1", {"network.inputs": ["t1", "x2"]}, "'t1'"),
    ("input-h1", {"network.inputs": ["x1", "w11"]}, "'w11'"),
    ("input-duplicate", {"network.inputs": ["a", "a"]}, "network.inputs: input names must be distinct"),
    ("input-empty-list", {"network.inputs": []}, "network.inputs"),
    ("layer-name-newline", {"network.layers.0.name": "h\n"}, "network.layers[0].name"),
    ("layer-name-e", {"network.layers.0.name": "e"}, "network.layers[0].name"),
    ("layer-name-upper", {"network.layers.0.name": "H"}, "network.layers[0].name"),
    ("weight-symbol-newline", {"network.layers.0.weight_symbol": "w\n"}, "network.layers[0].weight_symbol"),
    ("activation-newline", {"network.layers.0.activation": "sigmoid\n"}, "network.layers[0].activation"),
    ("loss-newline", {"network.loss": "sse\n"}, "network.loss"),
    # numbers: beyond a float, not finite, not numbers
    ("weight-400-digits", {"network.layers.0.weights": [[BIG_INT, 0.2], [0.3, 0.4]]},
     "network.layers[0].weights[0][0]: expected a finite number"),
    ("weight-5000-digits", {"network.layers.0.weights": [[HUGE_INT, 0.2], [0.3, 0.4]]}, "not valid TOML"),
    ("weight-5000-decimals", {"network.layers.0.weights": [[LONG_DECIMAL, 0.2], [0.3, 0.4]]}, None),
    ("weight-1e400", {"network.layers.0.weights": [[Raw("1e400"), 0.2], [0.3, 0.4]]}, "finite"),
    ("weight-nan", {"network.layers.0.weights": [[Raw("nan"), 0.2], [0.3, 0.4]]}, "finite"),
    ("weight-minus-inf", {"network.layers.0.weights": [[Raw("-inf"), 0.2], [0.3, 0.4]]}, "finite"),
    ("weight-nested-1000", {"network.layers.0.weights": nested(1000)}, "nested too deep"),
    ("weight-nested-3", {"network.layers.0.weights": nested(3)}, "network.layers[0].weights"),
    ("x-400-digits", {"data.0.x": [BIG_INT, 1]}, "data[0].x[0]"),
    ("x-nested-1000", {"data.0.x": nested(1000)}, "nested too deep"),
    ("t-nested-1000", {"data.0.t": nested(1000)}, "nested too deep"),
    ("t-inf", {"data.0.t": [Raw("inf")]}, "data[0].t[0]"),
    ("bias-400-digits", {"network.layers.0.bias": BIG_INT}, "network.layers[0].bias"),
    ("bias-nested", {"network.layers.0.bias": nested(600)}, "nested too deep"),
    ("size-400-digits", {"network.layers.0.size": BIG_INT}, "network.layers[0].size"),
    ("size-negative-huge", {"network.layers.0.size": Raw("-" + "9" * 300)}, "network.layers[0].size"),
    ("epochs-400-digits", {"training.epochs": BIG_INT}, "training.epochs"),
    ("epochs-float", {"training.epochs": 1.5}, "training.epochs"),
    ("rate-400-digits", {"training.learning_rate": BIG_INT}, "training.learning_rate"),
    ("rate-inf", {"training.learning_rate": Raw("inf")}, "training.learning_rate"),
    ("rate-zero", {"training.learning_rate": 0}, "training.learning_rate"),
    ("seed-huge", {"network.layers.0.weights": {"random": "normal", "seed": BIG_INT}}, "seed"),
    ("skip-huge", {"network.layers.0.weights": {"random": "normal", "skip": 10**12}}, "skip"),
    ("std-huge", {"network.layers.0.weights": {"random": "normal", "std": BIG_INT}}, "std"),
    ("decimals-huge", {"network.layers.0.weights": {"random": "uniform", "decimals": 10**9}}, "decimals"),
    ("title-nested", {"title": nested(800, '"a"')}, "nested too deep"),
    ("title-number", {"title": 1}, "title"),
    ("description-list", {"description": ["a"]}, "description"),
    ("unknown-key-newline", {"nam\ne": "x"}, "unknown key"),
    ("arithmetic-newline", {"arithmetic": "exact\n"}, "arithmetic"),
    ("reduction-bogus", {"network.reduction": "max"}, "network.reduction"),
    ("mode-bogus", {"training.mode": "online\n"}, "training.mode"),
    # sizes: every limit is checked before the work that grows with it
    ("inputs-2000-names", {"network.inputs": [f"x{i + 1}" for i in range(2000)]}, "network.inputs: at most 32"),
    ("inputs-33", {"network.inputs": 33}, "network.inputs"),
    ("inputs-huge", {"network.inputs": 10**9}, "network.inputs"),
    ("units-64", {"network.layers.0.size": 64,
                  "network.layers.0.weights": {"random": "normal"},
                  "network.layers.1.weights": {"random": "normal"}}, "network.layers[0].size"),
    ("units-33", {"network.layers.1.size": 33, "network.layers.1.weights": {"random": "normal"}},
     "network.layers[1].size"),
    ("layers-17", {"network.layers": layers([2] * 18)}, "network.layers: at most 16"),
    ("layers-1000", {"network.layers": layers([1] * 1001)}, "network.layers: at most 16"),
    ("params-4096", {"network.inputs": 32, "network.layers": layers([32, 32, 32, 32, 32, 1])},
     "more than 1024 parameters"),
    ("instances-257", {"data": [{"x": [1, 2], "t": [0.5]}] * 257}, "data: at most 256"),
    ("instances-20000", {"data": [{"x": [1, 2], "t": [0.5]}] * 20_000}, "data: at most 256"),
    ("epochs-1e6-online-256", {"data": [{"x": [1, 2], "t": [0.5]}] * 256, "training.epochs": 1_000_000,
                               "training.mode": "online"}, "training.epochs: 1000000 epochs × 256 instances"),
    ("epochs-1e6-batch", {"training.epochs": 1_000_000}, "training.epochs"),
    ("epochs-2e6", {"training.epochs": 2_000_000}, "training.epochs"),
    ("epochs-200k", {"training.epochs": 200_000}, "training.epochs"),
    # worksheet ranges: counted before anything is allocated
    ("range-2e10", {"worksheet": {"weights": {"low": -1e6, "high": 1e6, "decimals": 4}}}, "worksheet.weights.decimals"),
    ("range-1e8", {"worksheet": {"inputs": {"low": 0, "high": 1e4, "decimals": 4}}}, "worksheet.inputs.decimals"),
    ("range-beyond-1e6", {"worksheet": {"inputs": {"low": -1e300, "high": 1e300}}}, "worksheet.inputs"),
    ("range-inf", {"worksheet": {"inputs": {"low": 0, "high": Raw("inf")}}}, "worksheet.inputs.high"),
    ("range-decimals-huge", {"worksheet": {"inputs": {"low": 0, "high": 1, "decimals": BIG_INT}}},
     "worksheet.inputs.decimals"),
    ("range-empty", {"worksheet": {"inputs": {"low": 0.1, "high": 0.2, "decimals": 0}}}, "worksheet.inputs"),
    ("range-only-zero", {"worksheet": {"inputs": {"low": 0, "high": 0, "nonzero": True}}}, "worksheet.inputs"),
    ("range-nested", {"worksheet": {"inputs": nested(900)}}, "nested too deep"),
    ("worksheet-decimals-huge", {"worksheet": {"decimals": BIG_INT}}, "worksheet.decimals"),
    ("worksheet-scope-newline", {"worksheet": {"scope": ["forward\n"]}}, "worksheet.scope[0]"),
]

#: Whole specs: (id, TOML text, expected piece of the message or None for success)
EXACT = {"arithmetic": "exact"}
SPEC_TEXTS = [
    ("exact-16-deep", network([2] * 17, **EXACT), "arithmetic: exact arithmetic takes at most"),
    ("exact-64-wide", network([2, 64, 2], **EXACT), "network.layers[0].size"),
    ("exact-32-wide", network([2, 32, 2], **EXACT), None),
    ("exact-softmax-10", network([2, 4, 10], loss="cross_entropy", out="softmax", target=1, **EXACT), None),
    ("exact-256-instances", network([2, 2, 1], n=256, **EXACT), "arithmetic: exact arithmetic"),
    ("exact-5-layers", network([2, 2, 2, 2, 2, 1], **EXACT), "arithmetic: exact arithmetic takes at most"),
    ("exact-4-layers", network([2, 2, 2, 2, 1], **EXACT), None),
    ("exact-2882", network([2, 8, 8, 2], **EXACT), "arithmetic: exact arithmetic"),
    ("exact-small", network([2, 2, 1], **EXACT), None),
    ("render-64-unit-layer", network([2, 64, 2]), "network.layers[0].size"),
    ("render-4096-parameters", network([64, 64]), "network.inputs"),
    ("render-1024-parameters", network([32, 31, 1]), None),
    ("render-32-wide", network([2, 32, 2]), None),
    ("render-16-deep", network([2] * 17), None),
    ("render-256-instances", network([2, 2, 1], n=256), None),
    ("render-1024-parameters-256-instances", network([32, 31, 1], n=256), "data: 256 instances × 1023 parameters"),
    ("render-1024-parameters-4-instances", network([32, 31, 1], n=4), None),
    ("empty-file", "", "network"),
    ("only-comment", "# nothing\n", "network"),
    ("not-toml", "name = \n", "not valid TOML"),
    ("binary", "\x00\x01\x02", "not valid TOML"),
    ("deep-inline-table", "a = " + "{b = " * 500 + "1" + "}" * 500 + "\n", "not valid TOML"),
    ("deep-dotted-key", "a." * 1000 + "b = 1\n", "unknown key"),
    ("array-nested-1000", "x = " + "[" * 1000 + "]" * 1000 + "\n", "nested too deep"),
    ("int-5000-digits", "x = " + "1" * 5000 + "\n", "not valid TOML"),
    ("many-keys", "".join(f"k{i} = {i}\n" for i in range(20000)), "unknown key"),
    ("long-key", "a" * 100_000 + " = 1\n", "unknown key"),
    ("crlf", spec_with().replace("\n", "\r\n"), None),
    ("bom", "\ufeff" + spec_with(), "not valid TOML"),
]

# --------------------------------------------------------------------------- answers files

#: (id, TOML text of the answers file, extra options, expected status, expected piece of the message)
DIGITS_400 = "1" + "0" * 400
ANSWERS = [
    ("nan-string", 'L = "nan"\n', 1, ""),
    ("nan-value", "L = nan\n", 1, ""),
    ("inf-string", 'L = "inf"\n', 1, ""),
    ("inf-value", "L = inf\n", 1, ""),
    ("minus-inf", 'L = "-inf"\n', 1, ""),
    ("1e999999", 'L = "1e999999"\n', 1, ""),
    ("1e999999-value", "L = 1e999999\n", 1, ""),
    ("0e999", 'L = "0e999"\n', 1, ""),
    ("exponent-5000-digits", f'L = "0e{"1" * 5000}"\n', 1, ""),
    ("bare-exp", 'L = "exp"\n', 1, ""),
    ("bare-sigma", 'L = "sigma"\n', 1, ""),
    ("bare-log-in-sum", 'h1_out = "log + 1"\n', 1, ""),
    ("function-of-function", 'h1_out = "exp(exp)"\n', 1, ""),
    ("int-400-digits", f"L = {DIGITS_400}\n", 1, ""),
    ("int-400-digits-string", f'L = "{DIGITS_400}"\n', 1, ""),
    ("int-5000-digits", f"L = {'1' * 5000}\n", 2, "not valid TOML"),
    ("int-5000-digits-string", f'L = "{"1" * 5000}"\n', 1, ""),
    ("decimal-5000-digits", f"L = 0.{'1' * 5000}\n", 1, ""),
    ("decimal-5000-digits-string", f'L = "0.{"1" * 5000}"\n', 1, ""),
    ("array-nested-1000", "L = " + "[" * 1000 + "]" * 1000 + "\n", 2, "nested too deep"),
    ("array-nested-2", "L = [[1]]\n", 2, "L: expected a number"),
    ("list-too-long", "L = [" + ", ".join(["1"] * 21) + "]\n", 2, "L: at most 20"),
    ("two-spellings", '"dL/dw11" = 0.1\ndL_dw11 = 0.2\n', 2, "two spellings"),
    ("two-spellings-tables", 'h1_out = 0.5\n[instance1]\nh1_out = 0.5\n', 2, "two spellings"),
    ("key-newline", '"h1_out\\n" = 0.5\n', 2, "unknown quantity"),
    ("table-newline", '["instance1\\n"]\nL = 1\n', 2, "unknown table"),
    ("unknown-function", 'h1_out = "__import__(\'os\')"\n', 1, ""),
    ("attribute", 'h1_out = "x1.__class__"\n', 1, ""),
    ("lambda", 'h1_out = "(lambda: 1)()"\n', 1, ""),
    ("power-tower", 'h1_out = "9**9**9**9"\n', 1, ""),
    ("power-overflow", 'h1_out = "10.0**400"\n', 1, ""),
    ("divide-zero", 'h1_out = "1/0"\n', 1, ""),
    ("log-negative", 'h1_out = "log(-1)"\n', 1, ""),
    ("sqrt-negative", 'h1_out = "sqrt(-1)"\n', 1, ""),
    ("exp-overflow", 'h1_out = "exp(1e308)"\n', 1, ""),
    ("parens-deep", 'h1_out = "' + "(" * 500 + "1" + ")" * 500 + '"\n', 1, ""),
    ("formula-long", 'h1_out = "' + "+".join(["x1"] * 600) + '"\n', 1, ""),
    ("latex-deep-frac", 'h1_out = "' + "\\\\frac{" * 300 + "1" + "}{2}" * 300 + '"\n', 1, ""),
    ("latex-unbalanced", 'h1_out = "\\\\frac{1}{2"\n', 1, ""),
    ("latex-input", 'h1_out = "\\\\input{/etc/passwd}"\n', 1, ""),
    ("bool", "L = true\n", 2, "L: expected a number"),
    ("date", "L = 1979-05-27\n", 2, "L: expected a number"),
    ("inline-table", "L = {a = 1}\n", 2, "unknown table"),
    ("tolerance-inf", "[tolerance]\nrtol = inf\nL = 1\n", 2, "tolerance.rtol"),
    ("tolerance-400-digits", f"[tolerance]\natol = {DIGITS_400}\n", 2, "tolerance.atol"),
    ("tolerance-nan", "[tolerance]\natol = nan\n", 2, "tolerance.atol"),
    ("tolerance-1e308", "[tolerance]\nrtol = 1e308\n[instance1]\nL = 1\n", 2, "tolerance.rtol"),
    ("tolerance-1e300", "[tolerance]\nrtol = 1e300\n[instance1]\nL = 1\n", 1, ""),  # "1" claims its digit
    ("rounding-huge", f"[rounding]\ndecimals = {DIGITS_400}\n", 2, "rounding.decimals"),
    ("empty", "", 0, ""),
    ("control-characters", "\x00\xff", 2, "not valid TOML"),
    ("not-toml", "L = \n", 2, "not valid TOML"),
]

LATEX = "w_{11} x_{1} + w_{21} x_{2}"


QUANTITIES = ["h1_in", "h2_in", "h1_out", "h2_out", "y1_in", "y1_out", "e1", "L", "dL/de1", "dL/dy1_out",
              "dL/dy1_in", "dL/dh1_out", "dL/dh2_out", "dL/dh1_in", "dL/dh2_in", "dL/dv11", "dL/dv21", "dL/dw11",
              "dL/dw12", "dL/dw21", "dL/dw22", "dL/dx1", "dL/dx2"]


def _many_latex(instances: int) -> str:
    """20 LaTeX formulas for every quantity of every instance (right for h1_in, wrong elsewhere)."""
    formulas = ", ".join([json.dumps(LATEX)] * 20)
    return "".join(f"[instance{n + 1}]\n" + "".join(f'"{q}" = [{formulas}]\n' for q in QUANTITIES)
                   for n in range(instances))


# --------------------------------------------------------------------------- numeric faults


def _numeric(loss, out, weights_out=(0.5, 0.6), t=(0.5,), size=1, **change):
    doc = copy.deepcopy(BASE)
    doc["network"]["loss"] = loss
    doc["network"]["layers"][1].update(activation=out, size=size,
                                       weights=[[weights_out[0]] * size, [weights_out[1]] * size])
    doc["data"][0]["t"] = list(t) if not isinstance(t, int) else t
    for path, value in change.items():
        parts = path.split("__")
        node = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(parts[-1]) if isinstance(node, list) else parts[-1]] = value
    return toml(doc)


NUMERIC = [
    ("bce-identity", _numeric("bce", "identity"), "network.loss"),
    ("bce-relu", _numeric("bce", "relu"), "network.loss"),
    ("bce-leaky-relu", _numeric("bce", "leaky_relu"), "network.loss"),
    ("bce-tanh", _numeric("bce", "tanh"), "network.loss"),
    ("ce-identity", _numeric("cross_entropy", "identity", t=1), "network.loss"),
    ("ce-relu", _numeric("cross_entropy", "relu", t=1), "network.loss"),
    ("bce-identity-output-2", _numeric("bce", "identity", weights_out=(1, 1), network__layers__0__activation="relu",
                                       data__0__x=[2, 2]), "network.loss"),
    ("weight-1e154", _numeric("sse", "sigmoid", network__layers__0__weights=[[1e154, 1e154], [1e154, 1e154]]), None),
    ("weight-1e200-identity", _numeric("sse", "identity", network__layers__0__activation="identity",
                                       network__layers__0__weights=[[1e200, 1e200], [1e200, 1e200]]), "overflow"),
    ("weight-1e308-identity", _numeric("sse", "identity", network__layers__0__activation="identity",
                                       network__layers__0__weights=[[1e308, 1e308], [1e308, 1e308]]), "overflow"),
    ("rate-1e300-saturates", _numeric("sse", "identity", training__learning_rate=1e300), None),
    ("rate-1e308-saturates", _numeric("sse", "sigmoid", training__learning_rate=1.7e308), None),
    ("rate-1e300-diverges", _numeric("sse", "identity", network__layers__0__activation="identity",
                                     training__learning_rate=1e300), "overflow"),
    ("rate-1e154-diverges", _numeric("sse", "identity", network__layers__0__activation="identity",
                                     training__learning_rate=1e154, training__epochs=20), "overflow"),
    ("bce-saturated-40", _numeric("bce", "sigmoid", weights_out=(40, 40), t=(0,),
                                  network__layers__0__weights=[[1, 1], [1, 1]], data__0__x=[50, 50]), None),
    ("bce-saturated-800", _numeric("bce", "sigmoid", weights_out=(400, 400), t=(0,),
                                   network__layers__0__weights=[[1, 1], [1, 1]], data__0__x=[50, 50]),
     "instance1.dL/dy1_out"),
    ("bce-output-exactly-0", _numeric("bce", "sigmoid", weights_out=(-400, -400), t=(1,),
                                      network__layers__0__weights=[[1, 1], [1, 1]], data__0__x=[50, 50]),
     "instance1.dL/dy1_out"),
    ("ce-saturated", _numeric("cross_entropy", "softmax", size=2, weights_out=(20, -20), t=2,
                              network__layers__0__weights=[[1, 1], [1, 1]], data__0__x=[50, 50]), None),
]


# --------------------------------------------------------------------------- all cases


def cases() -> list[Case]:
    out: list[Case] = []
    for id_, changes, expect in SPEC_FIELDS:
        text = spec_with(changes)
        ok = expect is None
        out.append(Case(f"spec-{id_}", ("values", "{spec}"), {"spec.toml": text}, 0 if ok else 2, expect or ""))
    for id_, changes, expect in SPEC_FIELDS[:12]:  # names also through render and worksheet
        text = spec_with(changes)
        out.append(Case(f"render-{id_}", ("render", "{spec}"), {"spec.toml": text}, 2, expect))
        out.append(Case(f"worksheet-{id_}", ("worksheet", "{spec}", "-o", "{dir}/w"), {"spec.toml": text}, 2, expect))
    for id_, text, expect in SPEC_TEXTS:
        out.append(Case(f"text-{id_}", ("values", "{spec}"), {"spec.toml": text}, 0 if expect is None else 2,
                        expect or ""))
        if id_.startswith(("render-", "exact-")):
            out.append(Case(f"render-{id_}", ("render", "{spec}", "--views", "scalar,matrix,tape"),
                            {"spec.toml": text}, 0 if expect is None else 2, expect or ""))
    base = spec_with()
    for id_, text, status, expect in ANSWERS:
        files = {"spec.toml": base, "answers.toml": text}
        out.append(Case(f"answers-{id_}", ("check", "{spec}", "{answers}"), files, status, expect))
        out.append(Case(f"answers-json-{id_}", ("check", "{spec}", "{answers}", "--format", "json"), files, status,
                        expect, json=status != 2))
    two = spec_with({"data": [{"x": [1, 2], "t": [0.5]}] * 2})
    out.append(Case("answers-many-latex", ("check", "{spec}", "{answers}", "--format", "json"),
                    {"spec.toml": spec_with({"data": [{"x": [1, 2], "t": [0.5]}] * 8}),
                     "answers.toml": _many_latex(8)}, 1, json=True))
    out.append(Case("answers-two-spellings-total", ("check", "{spec}", "{answers}"),
                    {"spec.toml": two, "answers.toml": '[total]\n"dL/dw11" = 1\ndL_dw11 = 1\n'}, 2, "two spellings"))
    out.append(Case("answers-5gb", ("check", "{spec}", "{answers}"),
                    {"spec.toml": base, "answers.toml": Sparse(5 * 10**9, b"L = 1\n")}, 2, "larger than 1000000 bytes"))
    out.append(Case("spec-5gb", ("values", "{spec}"), {"spec.toml": Sparse(5 * 10**9)}, 2, "larger than 1000000 bytes"))
    out.append(Case("render-5gb", ("render", "{spec}"), {"spec.toml": Sparse(5 * 10**9)}, 2, "larger than"))
    out.append(Case("answers-not-utf8", ("check", "{spec}", "{answers}"),
                    {"spec.toml": base, "answers.toml": b"\xff\xfeL = 1\n"}, 2, "not a UTF-8 text file"))
    out.append(Case("spec-not-utf8", ("values", "{spec}"), {"spec.toml": b"name = \"\xff\"\n"}, 2,
                    "not a UTF-8 text file"))
    out.append(Case("answers-missing", ("check", "{spec}", "{dir}/nothing.toml"), {"spec.toml": base}, 2,
                    "no such answers file"))
    for id_, text, expect in NUMERIC:
        status = 0 if expect is None else 2
        out.append(Case(f"numeric-{id_}", ("values", "{spec}"), {"spec.toml": text}, status, expect or "",
                        json=status == 0))
    # options
    answers = {"spec.toml": base, "answers.toml": "L = 0.1\n"}
    for id_, argv, status, expect, files in [
        ("rtol-inf", ("check", "{spec}", "{answers}", "--format", "json", "--rtol", "inf"), 2, "--rtol", answers),
        ("atol-1e400", ("check", "{spec}", "{answers}", "--format", "json", "--atol", "1e400"), 2, "--atol", answers),
        ("rtol-nan", ("check", "{spec}", "{answers}", "--rtol", "nan"), 2, "--rtol", answers),
        ("atol-negative", ("check", "{spec}", "{answers}", "--atol", "-1"), 2, "--atol", answers),
        ("rtol-huge", ("check", "{spec}", "{answers}", "--format", "json", "--rtol", "1e308"), 1, "", answers),
        ("min-digits-0", ("check", "{spec}", "{answers}", "--min-digits", "0"), 2, "--min-digits", answers),
        ("digits-1000", ("render", "{spec}", "--digits", "1000"), 2, "--digits", {"spec.toml": base}),
        ("digits-400-digits", ("render", "{spec}", "--digits", DIGITS_400), 2, "--digits", {"spec.toml": base}),
        ("views-bogus", ("render", "{spec}", "--views", "bogus"), 2, "views", {"spec.toml": base}),
        ("views-empty", ("render", "{spec}", "--views", ","), 0, "", {"spec.toml": base}),
        ("format-bogus", ("render", "{spec}", "-f", "docx"), 2, "--format", {"spec.toml": base}),
        ("notation-bogus", ("render", "{spec}", "--notation", "x\n"), 2, "--notation", {"spec.toml": base}),
        ("templates-missing", ("render", "{spec}", "--templates", "{dir}/none"), 2, "--templates",
         {"spec.toml": base}),
        ("variants-0", ("worksheet", "{spec}", "--variants", "0", "-o", "{dir}/w"), 2, "--variants",
         {"spec.toml": base}),
        ("variants-huge", ("worksheet", "{spec}", "--variants", DIGITS_400, "-o", "{dir}/w"), 2, "--variants",
         {"spec.toml": base}),
        ("seed-negative", ("worksheet", "{spec}", "--seed", "-1", "-o", "{dir}/w"), 2, "--seed", {"spec.toml": base}),
        ("seed-huge", ("worksheet", "{spec}", "--seed", DIGITS_400, "-o", "{dir}/w"), 2, "--seed",
         {"spec.toml": base}),
        ("scope-bogus", ("worksheet", "{spec}", "--scope", "everything", "-o", "{dir}/w"), 2, "scope",
         {"spec.toml": base}),
        ("worksheet-format-bogus", ("worksheet", "{spec}", "-f", "md,docx", "-o", "{dir}/w"), 2, "-f",
         {"spec.toml": base}),
        ("decimals-9", ("worksheet", "{spec}", "--decimals", "9", "-o", "{dir}/w"), 2, "--decimals",
         {"spec.toml": base}),
        ("worksheet-range-1e8", ("worksheet", "{spec}", "-o", "{dir}/w"), 2, "worksheet.inputs.decimals",
         {"spec.toml": spec_with({"worksheet": {"inputs": {"low": -1e4, "high": 1e4, "decimals": 4}}})}),
        ("worksheet-range-2e10", ("worksheet", "{spec}", "-o", "{dir}/w"), 2, "worksheet.weights.decimals",
         {"spec.toml": spec_with({"worksheet": {"weights": {"low": -1e6, "high": 1e6, "decimals": 4}}})}),
        ("worksheet-ok", ("worksheet", "{spec}", "--variants", "2", "-o", "{dir}/w"), 0, "", {"spec.toml": base}),
        ("blank-and-key", ("check", "{spec}", "--blank", "--key"), 2, "--blank", {"spec.toml": base}),
        ("no-answers", ("check", "{spec}"), 2, "ANSWERS", {"spec.toml": base}),
        ("unknown-preset-newline", ("values", "two-two-two\n"), 2, "no such file or preset", {}),
        ("unknown-command", ("frobnicate",), 2, "No such command", {}),
        ("unknown-option", ("values", "--frob", "two-two-two"), 2, "--frob", {}),
        ("output-is-a-file", ("render", "{spec}", "-o", "{spec}"), 2, "", {"spec.toml": base}),
    ]:
        out.append(Case(f"option-{id_}", argv, files, status, expect, json="json" in argv and status != 2))
    # user templates
    for id_, text, expect in [
        ("syntax-error", "{% if %}", "template error"),
        ("undefined", "{{ nothing.here }}", "template error"),
        ("zero-division", "{{ 1 / 0 }}", "template error"),
        ("self-include", '{% include "worked_example.md.j2" %}', "template error"),
        ("missing-include", '{% include "nothing.j2" %}', "template error"),
        ("absolute-include", '{% include "/etc/passwd" %}', "template error"),
        ("bad-filter", "{{ 1 | nofilter }}", "template error"),
        ("type-error", "{{ 1 + 'a' }}", "template error"),
        ("bad-call", "{{ page.num('x') }}", "template error"),
        ("binary", "\x00\xff", None),
        # what Jinja's sandbox refuses, named with the template's file and line (exit 2, not a hang or a leak)
        ("huge-range", "{{ range(10**9) | list }}", "worked_example.md.j2:1: not allowed"),
        ("range-over-cap", "{{ range(200000) | list }}", "worked_example.md.j2:1: OverflowError: Range too big"),
        ("dunder", "{{ page.__class__.__init__.__globals__ }}", "worked_example.md.j2:1: not allowed"),
        ("ssti-popen", "{{ cycler.__init__.__globals__.os.popen('id').read() }}", "worked_example.md.j2:1: not allowed"),
        ("lipsum-globals", "{{ lipsum.__globals__ }}", "not allowed in a template"),
        ("attr-filter", "{{ page | attr('__dict__') }}", "not allowed in a template"),
        ("mro", "{{ ''.__class__.__mro__ }}", "not allowed in a template"),
        ("mutate-derivation", "{{ d.checks.clear() }}", "not allowed in a template"),
        ("mutate-params", "{{ d.params.update({'w11': 0}) }}", "access to attribute 'update' of 'dict' object is unsafe"),
        ("string-repeat", "{{ 'x' * 10**10 }}", "'*' would make"),
        ("list-repeat", "{{ [1] * 10**9 }}", "'*' would make"),
        ("power", "{{ 10 ** 100000000 }}", "'**' would make"),
        ("percent-width", "{{ '%1000000000d' % 1 }}", "a field of a million"),
        ("format-width", "{{ '{:>1000000000}'.format(1) }}", "a field of a million"),
        ("format-filter-width", "{{ '%1000000000d' | format(1) }}", "a field of a million"),
        ("center-filter", "{{ 'x' | center(1000000000) }}", "an argument of 1000000000"),
        ("ljust", "{{ 'x'.ljust(1000000000) }}", "an argument of 1000000000"),
        ("undefined-line-2", "ok\n{{ nothing }}", "worked_example.md.j2:2: 'nothing' is undefined"),
        ("syntax-line-3", "a\nb\n{% for %}", "worked_example.md.j2:3"),
    ]:
        out.append(Case(f"template-{id_}", ("render", "{spec}", "--templates", "{templates}"),
                        {"spec.toml": base, "templates/worked_example.md.j2": text}, 2 if expect else 0, expect or ""))
    return out


CASES = cases()
