"""LaTeX for formulas and numbers: one printer (notation is a setting) and one number policy.

Everything emitted here is plain LaTeX math that KaTeX and MathJax both render.
"""

from __future__ import annotations

import math
import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from derive.core.graph import Graph, Node
from derive.core.layers import layer_type

NOTATIONS = ("inout", "netout", "layer")
DEFAULT_DIGITS = 4


# --------------------------------------------------------------------------- numbers


def format_number(x: float, digits: int = DEFAULT_DIGITS) -> str:
    """The one display policy for numbers (stored values are never changed).

    - integers (|x| < 10⁶) exactly: ``16``, ``-2``;
    - otherwise ``digits`` significant digits, trailing zeros dropped: ``0.7319``, ``0.25``;
    - a number that would round to an integer without being one keeps decimals until two
      significant digits of its distance from that integer show: ``0.99999989``;
    - below 10⁻³ or from 10⁵ up, scientific as ``-5.344 \\times 10^{-8}``.
    """
    if not math.isfinite(x):
        return r"\infty" if x > 0 else (r"-\infty" if x < 0 else r"\mathrm{NaN}")
    if x == 0:
        return "0"
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    exponent = int(exponent)
    if -3 <= exponent < 5:
        decimals = max(digits - 1 - exponent, 0)
        nearest = round(x)
        if exponent < digits - 1 and float(f"{x:.{decimals}f}") == nearest:
            gap = abs(x - nearest)
            decimals = min(max(decimals, -math.floor(math.log10(gap)) + 1), 17)
        return _strip(f"{x:.{decimals}f}")
    return rf"{_strip(mantissa)} \times 10^{{{exponent}}}"


def is_exact(x: float, digits: int = DEFAULT_DIGITS) -> bool:
    """Whether :func:`format_number` shows x without rounding."""
    text = format_number(x, digits)
    match = re.fullmatch(r"(-?[\d.]+)(?: \\times 10\^\{(-?\d+)\})?", text)
    if not match:
        return False
    shown = float(match.group(1)) * (10.0 ** int(match.group(2)) if match.group(2) else 1.0)
    return shown == x


#: An exact value is written out (beside its decimal) while its LaTeX is at most this long.
EXACT_MAX_CHARS = 40


def exact_tex(exact) -> str | None:
    """The LaTeX of an exact value worth showing (a rational, σ(1) = 1/(1 + e^{-1})), else None."""
    if exact is None:
        return None
    # A tree of more nodes than characters allowed never prints short: skip printing it (printing the
    # closed forms of a deeper network orders thousands of terms numerically and took minutes).
    if any(k > EXACT_MAX_CHARS for k, _ in enumerate(sp.preorder_traversal(exact))):
        return None
    text = sp.latex(exact)
    return text if len(text) <= EXACT_MAX_CHARS else None


def result(x: float, exact=None, digits: int = DEFAULT_DIGITS) -> str:
    """``= 16``, ``\\approx 0.7319``, ``= \\frac{1}{2}`` or ``= \\frac{1}{1 + e^{-1}} \\approx 0.7311``: a value after a formula."""
    text = exact_tex(exact)
    if text is None:
        return ("= " if is_exact(x, digits) else r"\approx ") + format_number(x, digits)
    if exact.is_Rational and is_exact(x, digits):
        return f"= {text}"
    return rf"= {text} \approx {format_number(x, digits)}"


def substituted(x: float, exact=None, digits: int = DEFAULT_DIGITS) -> str:
    """A value written into a formula: exact when it is a rational, else its decimal."""
    if exact is not None and exact.is_Rational:
        return sp.latex(exact)
    return format_number(x, digits)


def as_factor(text: str) -> str:
    """A number written into a product: negatives and powers of ten in parentheses."""
    return rf"\left({text}\right)" if text.startswith("-") or r"\times" in text else text


def _strip(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


# --------------------------------------------------------------------------- names


def _unit(name: str, j: int) -> tuple[str, str]:
    """(base, subscript) of unit j of a layer: h → (h, 1); h2 → (h, 2,1)."""
    m = re.fullmatch(r"([a-z]+?)(\d+)", name)
    if m:
        return m.group(1), f"{m.group(2)},{j + 1}"
    return name, str(j + 1)


def _sub(*indices: int) -> str:
    """Subscript of indices: 11 while all are single digits, else 10,3."""
    texts = [str(i + 1) for i in indices]
    return "".join(texts) if all(len(t) == 1 for t in texts) else ",".join(texts)


def _input_name(name: str) -> str:
    m = re.fullmatch(r"x(\d+(?:_\d+)+)", name)
    if m:  # an entry of a tensor input: x1_2_3 is channel 1, row 2, column 3
        return f"x_{{{m.group(1).replace('_', ',')}}}"
    m = re.fullmatch(r"([A-Za-z]+)(\d*)", name)
    base, digits = m.group(1), m.group(2)
    base = base if len(base) == 1 else rf"\mathit{{{base}}}"
    return f"{base}_{{{digits}}}" if digits else base


def node_names(graph: Graph, notation: str = "inout") -> dict[sp.Symbol, str]:
    """The LaTeX name of every node's symbol in a notation style."""
    if notation not in NOTATIONS:
        raise ValueError(f"unknown notation {notation!r}")
    layers = graph.spec.layers
    names: dict[sp.Symbol, str] = {}
    for node in graph.nodes.values():
        names[node.symbol] = _name(node, layers, notation)
    return names


def _name(node: Node, layers, notation: str) -> str:
    name = _plain_name(node, layers, notation)
    return name if node.instance is None else instance_name(name, node.instance)


def instance_name(name: str, n: int) -> str:
    r"""A quantity of instance n in a batch-wide graph: its name with ``(n)`` in its superscript
    (``h_{1}^{\mathrm{in}\,(2)}``, ``x_{1}^{(2)}``, ``z^{[1](2)}_{1}``)."""
    depth, last = 0, None
    for i, ch in enumerate(name):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "^" and depth == 0 and name[i + 1: i + 2] == "{":
            last = i
    if last is None:
        return f"{name}^{{({n})}}"
    depth = 0
    for j in range(last + 1, len(name)):
        depth += {"{": 1, "}": -1}.get(name[j], 0)
        if depth == 0:
            inner = name[last + 2: j]
            sep = r"\," if inner[-1:].isalpha() or inner.endswith("}") else ""
            return f"{name[:last]}^{{{inner}{sep}({n})}}{name[j + 1:]}"
    return f"{name}^{{({n})}}"


def _plain_name(node: Node, layers, notation: str) -> str:
    role = node.role
    if role == "total":
        return "L"
    if role == "input":
        return _input_name(node.base)
    if role == "target":
        return f"t_{{{node.index[0] + 1}}}"
    if role == "error":
        return f"e_{{{node.index[0] + 1}}}"
    if role == "loss":
        return "L"
    layer = layers[node.layer]
    return layer_type(layer).tex_name(layer, node, notation)


# --------------------------------------------------------------------------- the printer


class DeriveLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer with node names, kept term order and optional number substitution.

    Settings (beyond SymPy's): ``names`` maps symbols to LaTeX; ``values`` maps symbols to
    numbers shown in their place (negative ones in parentheses); ``digits`` is the display
    precision of those numbers.
    """

    _default_settings = {**LatexPrinter._default_settings, "names": {}, "values": None, "exact": None,
                         "digits": DEFAULT_DIGITS, "order": "none"}

    _bare = False

    def _print(self, expr, **kwargs):
        # "bare" (no parentheses around a substituted negative number) applies to a symbol printed
        # directly where it was asked for (a function's argument), never deeper inside an expression.
        if self._bare and not isinstance(expr, sp.Symbol):
            self._bare = False
            try:
                return super()._print(expr, **kwargs)
            finally:
                self._bare = True
        return super()._print(expr, **kwargs)

    def bare(self, expr) -> str:
        """Print without parenthesizing a substituted number (a function's argument)."""
        self._bare, previous = True, self._bare
        try:
            return self._print(expr)
        finally:
            self._bare = previous

    def _print_Function(self, expr, exp=None):
        if all(a.is_Symbol for a in expr.args):
            self._bare, previous = True, self._bare
            try:
                return super()._print_Function(expr, exp)
            finally:
                self._bare = previous
        return super()._print_Function(expr, exp)

    def _print_ExpBase(self, expr, exp=None):
        if self._settings["values"] is None:
            return super()._print_ExpBase(expr, exp)
        tex = rf"e^{{{self.bare(expr.args[0])}}}"
        return tex if exp is None else rf"\left({tex}\right)^{{{exp}}}"

    def _value_text(self, expr) -> str | None:
        """The number a substituted symbol shows, or None when ``expr`` is not one."""
        values = self._settings["values"]
        if values is None or not isinstance(expr, sp.Symbol) or expr not in values:
            return None
        exact = (self._settings["exact"] or {}).get(expr)
        return substituted(values[expr], exact, self._settings["digits"])

    def _print_Symbol(self, expr, style="plain"):
        text = self._value_text(expr)
        if text is not None:
            return text if self._bare else as_factor(text)
        name = self._settings["names"].get(expr)
        return name if name is not None else super()._print_Symbol(expr, style=style)

    def _print_Pow(self, expr):
        if self._settings["values"] is None:
            return super()._print_Pow(expr)
        base, exp = expr.base, expr.exp
        if exp.is_Number and exp.is_negative:
            return self._print_Mul(expr)  # a quotient
        text = self._value_text(base)
        if text is not None:
            # a substituted base: parenthesized unless a plain non-negative decimal (-0.5, 1/2, 10^-8)
            if not re.fullmatch(r"\d+(?:\.\d+)?", text):
                text = rf"\left({text}\right)"
            return rf"{text}^{{{self.bare(exp)}}}"
        return super()._print_Pow(expr)

    def _print_Mul(self, expr):
        # With numbers substituted: keep the factors in the order they were built (w11·x1, not x1·w11),
        # write a visible multiplication sign, a leading -1 as a minus, and every negative power
        # (and rational coefficient) as the denominator of one fraction.
        if self._settings["values"] is None:
            return super()._print_Mul(expr)
        factors = list(expr.args) if expr.is_Mul else [expr]
        sign = ""
        if factors and factors[0].is_Number and factors[0].is_negative:
            sign = "- "
            factors = ([] if factors[0] == -1 else [-factors[0]]) + factors[1:]
        numer, denom = [], []
        for f in factors:
            if f.is_Pow and f.exp.is_Number and f.exp.is_negative:
                denom.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
            elif f.is_Rational and not f.is_Integer:
                if f.p != 1:
                    numer.append(sp.Integer(f.p))
                denom.append(sp.Integer(f.q))
            else:
                numer.append(f)
        if not denom:
            return sign + (self._print_factors(numer) if numer else "1")
        top = self._print_factors(numer, alone=True) if numer else "1"
        return sign + rf"\frac{{{top}}}{{{self._print_factors(denom, alone=True)}}}"

    def _print_Indexed(self, expr):
        return f"{self._print(expr.base.label)}_{{{', '.join(self._print(i) for i in expr.indices)}}}"

    def _print_Derivative(self, expr):
        if len(expr.variable_count) == 1 and expr.variable_count[0][1] == 1:
            return rf"\frac{{\partial {self._print(expr.expr)}}}{{\partial {self._print(expr.variables[0])}}}"
        return super()._print_Derivative(expr)

    def _print_factors(self, factors, alone: bool = False) -> str:
        """A product, factors joined by a dot; sums and negative factors in parentheses.

        ``alone``: the product stands alone (a numerator or denominator), so a single factor needs none.
        """
        if alone and len(factors) == 1:
            return self.bare(factors[0])
        parts = []
        for f in factors:
            text = self._print(f)
            if f.is_Add or (text.startswith("-") and not text.startswith(r"\left(")):
                text = rf"\left({text}\right)"
            parts.append(text)
        return r" \cdot ".join(parts)


def tex(expr: sp.Expr, names: dict[sp.Symbol, str], values: dict | None = None, digits: int = DEFAULT_DIGITS,
        exact: dict | None = None) -> str:
    """LaTeX of a SymPy expression in the given names, with ``values`` (and ``exact`` ones) substituted."""
    return DeriveLatexPrinter({"names": names, "values": values, "digits": digits, "exact": exact}).doprint(expr)


def terms(xs, num) -> str:
    """Numbers added up, each written by ``num``: ``0.5 + 0.25 - 0.125`` (a negative one after the first as
    a subtraction)."""
    out = ""
    for i, x in enumerate(xs):
        if i == 0:
            out = num(x)
        elif x < 0:
            out += f" - {num(-x)}"
        else:
            out += f" + {num(x)}"
    return out
