"""Formulas from untrusted answer files, parsed safely and evaluated without ``eval``.

The text is parsed by Python's ``ast`` (it builds a tree and runs nothing), every node of the
tree is checked against a whitelist, and the tree is evaluated by :func:`evaluate` here, in
floats, with the functions of :func:`functions` only. ``sympify``/``parse_expr`` are never
called on user text. A subset of the LaTeX that derive prints is translated first.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping

import sympy as sp

from derive.core.activations import ACTIVATIONS

MAX_LENGTH = 1000
MAX_DEPTH = 40
MAX_NODES = 400


#: Function name → (float implementation, SymPy builder): the mathematical functions (the spec refuses
#: inputs of these names and of the constants: derive.spec.parse.FORMULA_MATH, FORMULA_CONSTANTS). The
#: activations add theirs (``sigma``, ``tanh``, ``relu``, …) from their classes: see :func:`functions`.
FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "exp": (math.exp, sp.exp),
    "log": (math.log, sp.log),
    "ln": (math.log, sp.log),
    "sqrt": (math.sqrt, sp.sqrt),
    "abs": (abs, sp.Abs),
}

#: Functions of two arguments: name → (float implementation, SymPy builder).
FUNCTIONS_2: dict[str, tuple[Callable, Callable]] = {
    "max": (max, sp.Max),
    "min": (min, sp.Min),
}


_FUNCTIONS_CACHE: dict[tuple, dict] = {}


def functions() -> dict[str, tuple[Callable, Callable]]:
    """Every function a formula may call: :data:`FUNCTIONS` and those of the registered activations
    (recomputed only when the registry changes)."""
    key = tuple((name, type(act), tuple(act.formula_functions)) for name, act in ACTIVATIONS.items())
    if key not in _FUNCTIONS_CACHE:
        out = dict(FUNCTIONS)
        out.update(FUNCTIONS_2)
        for act in ACTIVATIONS.values():
            for name, pair in act.formula_functions.items():
                out.setdefault(name, pair)
        _FUNCTIONS_CACHE.clear()
        _FUNCTIONS_CACHE[key] = out
    return _FUNCTIONS_CACHE[key]


CONSTANTS = {"e": (math.e, sp.E), "pi": (math.pi, sp.pi)}

_BINARY = {ast.Add: (lambda a, b: a + b, lambda a, b: a + b), ast.Sub: (lambda a, b: a - b, lambda a, b: a - b),
           ast.Mult: (lambda a, b: a * b, lambda a, b: a * b), ast.Div: (lambda a, b: a / b, lambda a, b: a / b),
           ast.Pow: (lambda a, b: a**b, lambda a, b: a**b)}
_UNARY = {ast.USub: (lambda a: -a, lambda a: -a), ast.UAdd: (lambda a: a, lambda a: a)}


#: ``dL/dKEY`` (or with ∂) written inside a formula, KEY a plain name.
GRADIENT = re.compile(r"(?<![A-Za-z0-9_])(?:d|∂)L\s*/\s*(?:d|∂)([A-Za-z_][A-Za-z0-9_]*)")


def gradient_names(keys) -> list[str]:
    """The variable names of the gradients of these nodes in a formula: ``dL_dh1_out``."""
    return [f"dL_d{k}" for k in keys]


class FormulaError(ValueError):
    """A formula that cannot be judged, with the reason in words."""


@dataclass(frozen=True)
class Formula:
    """A validated formula: its tree and the variable names it uses."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    @property
    def is_number(self) -> bool:
        return not self.names

    def evaluate(self, env: Mapping[str, float]) -> float:
        """The value in floats at the point ``env`` (variable name → value)."""
        try:
            value = _eval(self.tree, env)
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise FormulaError(f"cannot be evaluated at this point ({exc})") from None
        if isinstance(value, complex) or not math.isfinite(value):
            raise FormulaError("has no finite real value at this point")
        return float(value)

    def to_sympy(self, symbols: Mapping[str, sp.Symbol], builders: Mapping | None = None) -> sp.Expr:
        """The SymPy expression of the tree, built node by node with evaluation off (9**9**9 stays unevaluated).

        ``builders`` (function name → (float function, SymPy builder)) replaces :func:`functions` where given
        (a circuit builds its gates as functions of their own, derive.core.circuit)."""
        with sp.evaluate(False):
            return _build(self.tree, symbols, builders)

    def evaluate_strict(self, env: Mapping[str, float]) -> float:
        """The value in floats, or a FormulaError saying which operation has no value: a division by zero,
        a logarithm of a number that is not positive, a square root of a negative number, an overflow."""
        try:
            value = _eval(self.tree, env, strict=True)
        except OverflowError:
            raise FormulaError("overflows (a value beyond 1.8e308)") from None
        if isinstance(value, complex) or not math.isfinite(value):
            raise FormulaError("has no finite real value here")
        return float(value)


def parse_formula(text: str, known: Mapping[str, object] = {}, latex_names: Mapping[str, str] = {}) -> Formula:
    """Parse ``text`` (plain math or derive's LaTeX) into a validated :class:`Formula`.

    ``known`` holds the variable names the formula may use; others are a FormulaError naming
    the closest ones. ``latex_names`` maps the LaTeX of those names (``w_{11}``) to them.
    """
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"is longer than {MAX_LENGTH} characters")
    plain = latex_to_plain(text, latex_names) if "\\" in text or "{" in text else text
    plain = plain.replace("σ", "sigma").replace("−", "-").replace("·", "*").replace("×", "*")
    plain = plain.replace("^", "**")  # a^b is a power (Python would read XOR, with the wrong precedence)
    # a gradient's name, dL/dy1_out or ∂L/∂y1_out, is one variable (dL_dy1_out), not a division
    plain = GRADIENT.sub(lambda m: f"dL_d{m.group(1)}", plain)
    depth = 0
    for ch in plain:
        depth += ch == "("
        depth -= ch == ")"
        if depth > MAX_DEPTH:
            raise FormulaError(f"nests parentheses deeper than {MAX_DEPTH}")
    if depth != 0:
        raise FormulaError(f"has {abs(depth)} {'more' if depth > 0 else 'fewer'} '(' than ')'")
    try:
        tree = ast.parse(plain.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise FormulaError("is not a formula derive can read (numbers, + - * / ^ **, parentheses, "
                           f"{', '.join(functions())})") from None
    names = set()
    count = 0
    called = set()  # the Name nodes that are the function of a call
    funcs = functions()
    for node in ast.walk(tree):  # breadth first: a call comes before its function's name
        count += 1
        if count > MAX_NODES:
            raise FormulaError(f"has more than {MAX_NODES} parts")
        _validate(node, names, known, funcs)
        if isinstance(node, ast.Call):
            called.add(id(node.func))
        elif isinstance(node, ast.Name) and node.id in funcs and id(node) not in called:
            raise FormulaError(f"names the function '{node.id}' without applying it ({node.id}(…))")
    return Formula(text=text, tree=tree, names=frozenset(names))


def _validate(node: ast.AST, names: set, known: Mapping[str, object], funcs: Mapping[str, object]) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(f"contains {node.value!r}, which is not a number")
    elif isinstance(node, ast.Name):
        if node.id in funcs:
            return
        if node.id not in CONSTANTS and node.id not in known:
            close = difflib.get_close_matches(node.id, list(known) + list(CONSTANTS), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise FormulaError(f"uses the unknown name '{node.id}'{hint}")
        if node.id not in CONSTANTS:
            names.add(node.id)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in funcs:
            called = node.func.id if isinstance(node.func, ast.Name) else "that"
            raise FormulaError(f"calls the unknown function '{called}' (known: {', '.join(funcs)})")
        arity = 2 if node.func.id in FUNCTIONS_2 else 1
        if len(node.args) != arity or node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise FormulaError(f"calls {node.func.id} with other than {'two arguments' if arity == 2 else 'one argument'}")
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise FormulaError("uses an operator other than + - * / ^ **")
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise FormulaError("uses an operator other than + - * / ^ **")
    elif not isinstance(node, (ast.Load, ast.operator, ast.unaryop)):
        raise FormulaError(f"contains a {type(node).__name__}, which is not allowed in a formula")


def _eval(node: ast.expr, env: Mapping[str, float], strict: bool = False) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return CONSTANTS[node.id][0] if node.id in CONSTANTS else float(env[node.id])
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, env, strict), _eval(node.right, env, strict)
        if strict:
            _domain(node, a, b)
        return _BINARY[type(node.op)][0](a, b)
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)][0](_eval(node.operand, env, strict))
    if strict:
        args = [_eval(a, env, strict) for a in node.args]
        _domain(node, *args)
        return functions()[node.func.id][0](*args)
    return functions()[node.func.id][0](*[_eval(a, env) for a in node.args])


def _domain(node: ast.expr, *args: float) -> None:
    """Refuse an operation without a real value at these arguments, in words naming it and its numbers."""
    if isinstance(node, ast.BinOp):
        a, b = args
        if isinstance(node.op, ast.Div) and b == 0:
            raise FormulaError(f"divides by zero ({ast.unparse(node.right)} = 0)")
        if isinstance(node.op, ast.Pow):
            if a == 0 and b < 0:
                raise FormulaError(f"divides by zero (0 to the power {b:g})")
            if a < 0 and b != int(b):
                raise FormulaError(f"raises a negative number ({a:g}) to a power that is not whole ({b:g})")
            if abs(b) > 1 and abs(a) > 1 and abs(b) * math.log(abs(a)) > 709:
                raise FormulaError(f"overflows ({a:g} to the power {b:g})")
        return
    name = node.func.id
    if name in ("log", "ln") and args[0] <= 0:
        raise FormulaError(f"takes the log of a number that is not positive ({name}({args[0]:g}))")
    if name == "sqrt" and args[0] < 0:
        raise FormulaError(f"takes the square root of a negative number (sqrt({args[0]:g}))")
    if name == "exp" and args[0] > 709:
        raise FormulaError(f"overflows (exp({args[0]:g}) is beyond 1.8e308)")


def _build(node: ast.expr, symbols: Mapping[str, sp.Symbol], builders: Mapping | None = None) -> sp.Expr:
    if isinstance(node, ast.Constant):
        return sp.Rational(repr(node.value)) if isinstance(node.value, float) else sp.Integer(node.value)
    if isinstance(node, ast.Name):
        return CONSTANTS[node.id][1] if node.id in CONSTANTS else symbols[node.id]
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)][1](_build(node.left, symbols, builders), _build(node.right, symbols, builders))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)][1](_build(node.operand, symbols, builders))
    return (builders or functions())[node.func.id][1](*[_build(a, symbols, builders) for a in node.args])


# --------------------------------------------------------------------------- LaTeX


_LATEX_WORDS = {r"\cdot": "*", r"\times": "*", r"\left": "", r"\right": "", r"\,": "", r"\;": "", r"\!": "",
                r"\exp": "exp", r"\ln": "ln", r"\log": "log", r"\pi": "pi", r"\mathrm{e}": "e"}


def latex_to_plain(text: str, names: Mapping[str, str] = {}) -> str:
    """Translate the LaTeX derive prints (\\frac, \\cdot, \\times 10^{k}, e^{x}, \\sigma) to plain math.

    ``names`` maps LaTeX names of quantities (``h_{1}^{\\mathrm{out}}``) to plain ones (``h1_out``).
    """
    for tex_name in sorted(names, key=len, reverse=True):
        text = text.replace(tex_name, f" {names[tex_name]} ")
    text = re.sub(r"\\frac\s*", r"\\frac", text)
    while r"\frac" in text:
        start = text.index(r"\frac")
        num, after = _braced(text, start + len(r"\frac"))
        den, end = _braced(text, after)
        text = f"{text[:start]}(({num})/({den})){text[end:]}"
    text = re.sub(r"(\d+(?:\.\d*)?)\s*\\times\s*10\s*\^\s*\{\s*([-+]?\d+)\s*\}", r"\1e\2", text)
    text = re.sub(r"\\times\s*10\s*\^\s*\{([^{}]*)\}", r"*10**(\1)", text)
    words = {w: plain for act in ACTIVATIONS.values() for w, plain in act.latex_words.items()}
    for word, plain in sorted(words.items(), key=lambda item: -len(item[0])) + list(_LATEX_WORDS.items()):
        text = text.replace(word, plain)
    text = re.sub(r"(?<![A-Za-z0-9_])e\s*\^\s*\{", "exp{", text)
    text = text.replace("^", "**").replace("{", "(").replace("}", ")")
    # LaTeX multiplies by juxtaposition: "w21 x2", "2 (a + b)", ") (" (but not "sigma (z)")
    text = re.sub(r"([\w.)])\s+(?=[\w(])", lambda m: m.group(1) + ("" if _is_function_end(text, m) else "*"), text)
    if "\\" in text:
        command = re.search(r"\\[A-Za-z]*", text).group(0)
        raise FormulaError(f"uses LaTeX derive cannot read: {command}")
    return text


def _is_function_end(text: str, match: re.Match) -> bool:
    """Whether the word ending at this match is a function name (then no multiplication follows)."""
    word = re.search(r"[A-Za-z_]\w*$", text[: match.start(1) + 1])
    return word is not None and word.group(0) in functions()


def _braced(text: str, i: int) -> tuple[str, int]:
    """The content of the {…} group starting at text[i] (spaces skipped), and the index after it."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != "{":
        raise FormulaError(r"has a \frac without {numerator}{denominator}")
    depth = 0
    for j in range(i, len(text)):
        depth += text[j] == "{"
        depth -= text[j] == "}"
        if depth == 0:
            return text[i + 1 : j], j + 1
    raise FormulaError("has an unbalanced {")
