r"""Read displayed math, as derive prints it and as people write it, into an expression tree.

One LALR grammar (:data:`GRAMMAR`, for lark) reads one *member* of a chain (``a`` in
``a = b \approx c``): numbers (``0.2267``, ``-5.344 \times 10^{-8}``), ``+ - \cdot \times / \frac``,
implicit products (``2 e_{1}``), parentheses of every kind (``\left(…\right)``, ``(…)``, ``[…]``,
``{…}``), powers, ``e^{…}``, ``\exp``, ``\sigma``, ``\tanh``, ``\log``, ``\ln``, ``\sqrt``,
``\operatorname{ReLU}``, ``\operatorname{LeakyReLU}_{α}``, ``\max``/``\min``, Iverson brackets
``\left[z > 0\right]``, names with sub- and superscripts in derive's three notations
(``h_{1}^{\mathrm{in}}``, ``\mathrm{net}_{h_{1}}``, ``a^{[1]}_{1}``, ``W^{[1]}_{11}``) and in common
others (``net_{h1}``, ``out_{o1}``, ``\delta_{o1}``, ``w_5``, ``E_{total}``) and partial derivatives
(``\frac{\partial E_{total}}{\partial w_5}``, ``\partial L / \partial w``).

Nothing here evaluates document text as code: the tree is built by the grammar and evaluated by
:func:`evaluate` / :func:`interval`, which know a fixed set of operations.

The API (all a caller needs):

- :func:`parse_math` ``(tex) -> Node``: one member; raises :class:`MathSyntaxError`.
- :func:`canonical_name` ``(tex) -> str``: the canonical string of a LaTeX name, the same string
  :class:`Name` nodes carry (``h_{1}^{\mathrm{in}}`` → ``h_{1}^{in}``, ``net_{h1}`` → ``net_{h1}``,
  ``\frac{\partial L}{\partial w_{11}}`` → ``∂L/∂w_{11}``), so a caller can map names to quantities.
- :func:`evaluate` ``(node, values) -> float``: every number at its printed value, names from
  ``values`` (canonical name → number); raises :class:`Unevaluable`.
- :func:`interval` ``(node, values, digits) -> (lo, hi)``: the same with the rounding each printed
  number claims (half a unit in its last digit) carried through by interval arithmetic.
- :func:`names` ``(node) -> set[str]``: the names a member mentions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import lark

from derive.errors import DeriveError

#: Longest member (characters) and deepest nesting (groups inside groups) the reader accepts.
MAX_LENGTH = 4000
MAX_DEPTH = 40


class MathSyntaxError(DeriveError):
    """LaTeX the reader cannot read (or too long, or too deeply nested): a one-line message."""


class Unevaluable(ValueError):
    """A member that has no number: an unknown name, a tuple, a log of a negative number, …"""


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Node:
    """Base of the expression tree."""


@dataclass(frozen=True)
class Num(Node):
    """A number as printed: ``value``, and ``half`` = half a unit in its last printed digit (0 for an integer)."""

    value: float
    half: float
    text: str


@dataclass(frozen=True)
class Name(Node):
    """A named quantity, by its canonical string (:func:`canonical_name`)."""

    name: str


@dataclass(frozen=True)
class Op(Node):
    """``add``, ``sub``, ``mul``, ``div``, ``neg``, ``pow`` over ``args``."""

    op: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Call(Node):
    """A function: ``exp``, ``log``, ``tanh``, ``sigma``, ``relu``, ``leaky_relu`` (``param`` = slope),
    ``max``, ``min``, ``sqrt``, ``abs``, or an Iverson bracket ``[>]``, ``[<]``, ``[\\le]``, ``[\\ge]``, ``[=]``."""

    func: str
    args: tuple[Node, ...]
    param: Node | None = None


@dataclass(frozen=True)
class Tuple(Node):
    """``(a, b, …)``: only a function's arguments."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Partial(Node):
    """``\\partial x``: half of a derivative's name, until a ``/`` or ``\\frac`` pairs it."""

    name: str


# --------------------------------------------------------------------------- the grammar


def _balanced(depth: int) -> str:
    """A regex for text with balanced braces nested at most ``depth`` deep (no backtracking blow-up:
    the alternatives start with different characters)."""
    inner = r"[^{}]"
    for _ in range(depth):
        inner = r"(?:[^{}]|\{" + inner + r"*\})"
    return inner + "*"


_BAL = _balanced(8)
_SCRIPT_ARG = r"(?:\{" + _BAL + r"\}|[A-Za-z0-9]|\\[A-Za-z]+|'|\*)"
_FUNCS = "log|ln|exp|tanh|sigma|max|min|sqrt|sinh|cosh|sin|cos"
_NAMED_FUNCS = "ReLU|relu|LeakyReLU|leakyrelu|lrelu|softmax|sigmoid|tanh|exp|log|ln|max|min|sgn|sign|step"
_GREEK = ("alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|mu|nu|xi|rho|"
          "varrho|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Pi|Sigma|Upsilon|Phi|Psi|Omega|"
          "ell|nabla")

GRAMMAR = r"""
?start: sum

?sum: sum PLUS product      -> add
    | sum MINUS product     -> sub
    | product

?product: product MULOP signed  -> mul
        | product DIV signed    -> div
        | signed

?signed: MINUS signed       -> neg
       | PLUS signed        -> pos
       | implicit

?implicit: implicit postfix -> mul
         | postfix

?postfix: primary SCRIPT+   -> scripted
        | primary

?primary: NUMBER            -> number
        | SCI               -> sci
        | NEGNUM            -> negnum
        | NAME              -> name
        | GREEK             -> greek
        | STYLED            -> styled
        | CONST             -> const
        | PARTIAL postfix   -> partial
        | FRAC "{" sum "}" "{" sum "}"  -> frac
        | FRAC_DIGITS       -> frac_digits
        | FUNC SCRIPT* postfix          -> call
        | LPAR sum ("," sum)* RPAR      -> paren
        | LSET sum ("," sum)* RSET      -> paren
        | LBRACK sum RBRACK             -> bracket
        | LBRACK sum REL sum RBRACK     -> iverson
        | LVERT sum RVERT               -> abs
        | "{" sum "}"

PLUS: "+"
MINUS: "-" | "−"
MULOP: /\\cdot(?![A-Za-z])|\\times(?![A-Za-z])|\\ast(?![A-Za-z])|\*|·|×/
DIV: "/" | /\\div(?![A-Za-z])/
NUMBER: /\d+(?:\.\d*)?|\.\d+/
NEGNUM.3: /(?:\\left\s*\(|\()\s*[-−]\s*(?:\d+(?:\.\d*)?|\.\d+)\s*(?:\\right\s*\)|\))/
SCI.3: /(?:\d+(?:\.\d*)?|\.\d+)\s*(?:\\times|\\cdot|×|·)\s*10\s*\^\s*(?:\{\s*[-−+]?\s*\d+\s*\}|\d)/
NAME: /[A-Za-z]+/
GREEK.2: /\\(?:GREEK)(?![A-Za-z])/
STYLED.2: /\\(?:mathrm|mathit|mathbf|mathsf|boldsymbol|text|textrm|textit|mathcal)\s*\{[A-Za-z0-9 ]*\}/
CONST.2: /\\pi(?![A-Za-z])/
PARTIAL.2: /\\partial(?![A-Za-z])|∂/
FRAC.2: /\\[dt]?frac(?![A-Za-z])/
FRAC_DIGITS.3: /\\[dt]?frac\s*\d\s*\d/
FUNC.3: /\\(?:FUNCS)(?![A-Za-z])|\\(?:operatorname|mathrm|text|textrm|mathit)\s*\{\s*(?:NAMED)\s*\}/
SCRIPT: /[_^]\s*SCRIPTARG|'+/
LPAR.2: /\\left\s*\(|\\[bB]igg?l?\s*\(|\(/
RPAR.2: /\\right\s*\)|\\[bB]igg?r?\s*\)|\)/
LBRACK.2: /\\left\s*\[|\\[bB]igg?l?\s*\[|\[/
RBRACK.2: /\\right\s*\]|\\[bB]igg?r?\s*\]|\]/
LSET.2: /\\left\s*\\\{|\\\{/
RSET.2: /\\right\s*\\\}|\\\}/
LVERT.2: /\\left\s*(?:\||\\lvert|\\vert)|\\lvert(?![A-Za-z])/
RVERT.2: /\\right\s*(?:\||\\rvert|\\vert)|\\rvert(?![A-Za-z])/
REL.2: />|<|=|≤|≥|\\(?:le|leq|ge|geq|lt|gt|ne|neq)(?![A-Za-z])/

SPACE: /\s+|\\[,;:! ]|\\q?quad(?![A-Za-z])|~|\\displaystyle(?![A-Za-z])|\\left\s*\.|\\right\s*\.|\\limits(?![A-Za-z])/
%ignore SPACE
""".replace("GREEK)", _GREEK + ")").replace("FUNCS", _FUNCS).replace("NAMED", _NAMED_FUNCS).replace(
    "SCRIPTARG", _SCRIPT_ARG)

_PARSERS: list[lark.Lark] = []


def _parser() -> lark.Lark:
    """The LALR parser of :data:`GRAMMAR`, built on first use (about 40 ms), or read back (about 3 ms)
    from derive's per-user cache (:mod:`derive.cache`), where lark keeps its tables under the grammar's hash."""
    if not _PARSERS:
        from derive.cache import user_cache_dir

        where = user_cache_dir("lark")
        cache = str(where / f"mathreader-{lark.__version__}.pickle") if where else False
        # the tree is built while parsing (no parse tree, no second pass)
        _PARSERS.append(lark.Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False,
                                  transformer=_Build(), cache=cache))
    return _PARSERS[0]


# --------------------------------------------------------------------------- names


_STYLE = re.compile(r"\\(?:mathrm|mathit|mathbf|mathsf|boldsymbol|text|textrm|textit|mathcal|operatorname)\s*\{([^{}]*)\}")


def _clean_script(text: str) -> str:
    """A sub- or superscript's text in canonical form: no spacing or font commands, no outer braces,
    every nested script braced (``{h1}`` → ``h1``, ``{h_1}`` → ``h_{1}``, ``\\mathrm{in}`` → ``in``)."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = _STYLE.sub(r"\1", text)
    text = re.sub(r"\\[,;:! ]|\s+", "", text)
    text = re.sub(r"([_^])([A-Za-z0-9])", r"\1{\2}", text)
    return text


def _is_decoration(sup: str) -> bool:
    """Whether a superscript on a name is part of the name (``in``, ``[1]``, ``(n)``, ``\\top``, ``*``)
    rather than a power (``2``, ``{-1}``, ``{n+1}``)."""
    raw = sup.strip()
    if raw.startswith("{") and raw.endswith("}"):
        raw = raw[1:-1].strip()
    if _STYLE.match(raw) or raw[:1] in "[(*'" or raw in (r"\top", r"\prime", r"\ast", r"\star", r"\dagger"):
        return True
    return bool(re.fullmatch(r"[A-Za-z]+", raw)) and raw != "e"


def _join_name(base: str, subs: list[str], sups: list[str]) -> str:
    name = base
    if subs:
        name += "_{" + ",".join(subs) + "}"
    if sups:
        name += "^{" + ",".join(sups) + "}"
    return name


# --------------------------------------------------------------------------- tree building


def _half_unit(digits: str) -> float:
    """Half a unit in the last digit of a decimal literal's digits (0 for an integer)."""
    if "." not in digits:
        return 0.0
    decimals = len(digits.split(".", 1)[1])
    return 0.5 * 10.0 ** -decimals


class _Build(lark.Transformer):
    """Parse tree → :class:`Node`. Scripts are read here: on a name they extend it, on a value they are powers."""


    # numbers and names
    def number(self, items):
        text = str(items[0])
        return Num(float(text), _half_unit(text), text)

    def sci(self, items):
        text = str(items[0])
        m = re.match(r"(\d+(?:\.\d*)?|\.\d+)\s*(?:\\times|\\cdot|×|·)\s*10\s*\^\s*\{?\s*([-−+]?)\s*(\d+)", text)
        mantissa, sign, power = m.group(1), m.group(2), int(m.group(3))
        exponent = -power if sign in ("-", "−") else power
        return Num(float(f"{mantissa}e{exponent}"), _half_unit(mantissa) * 10.0 ** exponent, text)

    def negnum(self, items):
        # \left(-0.7\right), one token: the commonest factor of a substituted product
        text = re.search(r"\d+(?:\.\d*)?|\.\d+", str(items[0])).group(0)
        return Op("neg", (Num(float(text), _half_unit(text), text),))

    def name(self, items):
        return Name(str(items[0]))

    def greek(self, items):
        return Name(str(items[0]).strip())

    def styled(self, items):
        return Name(_STYLE.sub(r"\1", str(items[0])).strip())

    def const(self, items):
        return Num(math.pi, 0.0, r"\pi")

    def partial(self, items):
        inner = items[1]
        if not isinstance(inner, Name):
            raise MathSyntaxError(r"\partial of something that is not a name")
        return Partial(inner.name)

    # scripts
    def scripted(self, items):
        base, scripts = items[0], [str(s) for s in items[1:]]
        node = base
        if isinstance(base, Name) and base.name == "e" and scripts and scripts[0][0] == "^":
            node = Call("exp", (self._script_expr(scripts[0]),))
            scripts = scripts[1:]
        elif isinstance(base, Name):
            subs, sups = [], []
            while scripts:
                kind, arg = scripts[0][0], scripts[0][1:]
                if kind == "'":
                    sups.append("'" * len(scripts[0]))
                elif kind == "_":
                    subs.append(_clean_script(arg))
                elif _is_decoration(arg):
                    sups.append(_clean_script(arg))
                else:
                    break
                scripts = scripts[1:]
            node = Name(_join_name(base.name, subs, sups))
        for s in scripts:
            if s[0] in "_'":
                raise MathSyntaxError(f"a subscript on something that is not a name: {s}")
            node = Op("pow", (node, self._script_expr(s)))
        return node

    def _script_expr(self, script: str) -> Node:
        arg = script[1:].strip()
        if arg.startswith("{") and arg.endswith("}"):
            arg = arg[1:-1]
        return _parse(arg, _DEPTH[0] + 1)

    # arithmetic
    def add(self, items):
        return Op("add", (items[0], items[2]))

    def sub(self, items):
        return Op("sub", (items[0], items[2]))

    def mul(self, items):
        return Op("mul", (items[0], items[-1]))

    def div(self, items):
        return _quotient(items[0], items[2])

    def neg(self, items):
        return Op("neg", (items[1],))

    def pos(self, items):
        return items[1]

    def frac(self, items):
        return _quotient(items[1], items[2])

    def frac_digits(self, items):
        a, b = re.findall(r"\d", str(items[0]))
        return Op("div", (Num(float(a), 0.0, a), Num(float(b), 0.0, b)))

    # functions and groups
    def call(self, items):
        func = _function_name(str(items[0]))
        scripts = [str(s) for s in items[1:-1]]
        arg = items[-1]
        args = arg.items if isinstance(arg, Tuple) else (arg,)
        param, power = None, None
        for s in scripts:
            if s[0] == "_":
                param = self._script_expr(s)
            else:
                power = self._script_expr(s)
        node = Call(func, tuple(args), param)
        return Op("pow", (node, power)) if power is not None else node

    def paren(self, items):
        inner = [i for i in items[1:-1] if isinstance(i, Node)]
        return inner[0] if len(inner) == 1 else Tuple(tuple(inner))

    def bracket(self, items):
        return items[1]

    def iverson(self, items):
        rel = str(items[2]).strip()
        rel = {"≤": r"\le", "≥": r"\ge", r"\leq": r"\le", r"\geq": r"\ge", r"\lt": "<", r"\gt": ">",
               r"\neq": r"\ne"}.get(rel, rel)
        return Call(f"[{rel}]", (items[1], items[3]))

    def abs(self, items):
        return Call("abs", (items[1],))


def _function_name(token: str) -> str:
    m = re.search(r"\{\s*([A-Za-z]+)\s*\}", token)
    word = m.group(1) if m else token.lstrip("\\")
    word = word.lower()
    return {"lrelu": "leaky_relu", "leakyrelu": "leaky_relu", "ln": "log", "sigmoid": "sigma",
            "sign": "sgn"}.get(word, word)


def _quotient(a: Node, b: Node) -> Node:
    if isinstance(a, Partial) and isinstance(b, Partial):
        return Name(f"∂{a.name}/∂{b.name}")
    return Op("div", (a, b))


def _depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth -= 1
    return deepest


_DEPTH = [0]
"""How deep the reading of scripts inside scripts is (each e^{…} reads its exponent with the parser)."""


def _parse(tex: str, depth: int = 0) -> Node:
    if depth > MAX_DEPTH:
        raise MathSyntaxError(f"nested more than {MAX_DEPTH} deep")
    outer, _DEPTH[0] = _DEPTH[0], depth
    try:
        return _parser().parse(tex)
    except lark.exceptions.UnexpectedCharacters as exc:
        raise MathSyntaxError(f"cannot read {tex[exc.pos_in_stream:exc.pos_in_stream + 20]!r} "
                              f"(column {exc.column})") from None
    except lark.exceptions.UnexpectedEOF:
        raise MathSyntaxError(f"incomplete formula: {_short(tex)!r}") from None
    except lark.exceptions.UnexpectedToken as exc:
        raise MathSyntaxError(f"unexpected {str(exc.token)!r} (column {exc.column}) in {_short(tex)!r}") from None
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, MathSyntaxError):
            raise exc.orig_exc from None
        raise MathSyntaxError(f"cannot read {_short(tex)!r}: {exc.orig_exc}") from None
    finally:
        _DEPTH[0] = outer


def _short(tex: str) -> str:
    return tex if len(tex) <= 60 else tex[:57] + "…"


@lru_cache(maxsize=20000)
def parse_math(tex: str) -> Node:
    r"""One member of a chain (no ``=``) as an expression tree; :class:`MathSyntaxError` if unreadable.

    ``parse_math(r"\frac{1}{2} \cdot e^{-0.5}")`` → ``Op('mul', (Op('div', …), Call('exp', …)))``.
    Input longer than :data:`MAX_LENGTH` characters or nested deeper than :data:`MAX_DEPTH` is refused
    with a one-line error (never a RecursionError or a hang).
    """
    if not isinstance(tex, str):
        raise MathSyntaxError("not text")
    if len(tex) > MAX_LENGTH:
        raise MathSyntaxError(f"formula longer than {MAX_LENGTH} characters")
    if sum(map(tex.count, "{([")) > MAX_DEPTH and _depth(tex) > MAX_DEPTH:
        raise MathSyntaxError(f"formula nested more than {MAX_DEPTH} deep")
    if not tex.strip():
        raise MathSyntaxError("empty formula")
    lone = _LONE_NUMBER.fullmatch(tex)
    if lone:  # the commonest member, a result (≈ 0.2539): the NUMBER of the grammar, without the parser
        text = lone.group(2)
        node = Num(float(text), _half_unit(text), text)
        return Op("neg", (node,)) if lone.group(1) else node
    return _parse(tex)


_LONE_NUMBER = re.compile(r"\s*([-−]\s*)?(\d+(?:\.\d*)?|\.\d+)\s*")


def canonical_name(tex: str) -> str:
    r"""The canonical string of a LaTeX name, as :class:`Name` nodes carry it.

    ``h_{1}^{\mathrm{in}}`` → ``h_{1}^{in}``; ``\mathrm{net}_{h_{1}}`` → ``net_{h_{1}}``;
    ``a^{[1]}_{1}`` → ``a_{1}^{[1]}``; ``w_5`` → ``w_{5}``; ``\delta_{o1}`` → ``\delta_{o1}``;
    ``\frac{\partial E_{total}}{\partial w_5}`` → ``∂E_{total}/∂w_{5}``. Raises
    :class:`MathSyntaxError` when ``tex`` is not a single name.
    """
    node = parse_math(tex)
    if not isinstance(node, Name):
        raise MathSyntaxError(f"not a name: {_short(tex)!r}")
    return node.name


def names(node: Node) -> set[str]:
    """The canonical names a tree mentions."""
    if isinstance(node, Name):
        return {node.name}
    out: set[str] = set()
    for child in _children(node):
        out |= names(child)
    return out


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Op):
        return node.args
    if isinstance(node, Call):
        return node.args + ((node.param,) if node.param is not None else ())
    if isinstance(node, Tuple):
        return node.items
    return ()


def literals(node: Node) -> list[Num]:
    """The printed numbers of a tree, left to right."""
    if isinstance(node, Num):
        return [node]
    return [n for child in _children(node) for n in literals(child)]


# --------------------------------------------------------------------------- evaluation


def evaluate(node: Node, values: Mapping[str, float] | None = None) -> float:
    """The value of a tree with every number at its printed value and names from ``values``.

    Raises :class:`Unevaluable` for an unknown name, a tuple or a value outside a function's domain.
    """
    lo, hi = interval(node, values, exact=True)
    return lo


def interval(node: Node, values: Mapping[str, float] | None = None, digits: int | None = None, *,
             exact: bool = False) -> tuple[float, float]:
    """The range of values a tree can have given the rounding of its printed numbers.

    Each number claims half a unit in its last digit (``0.2267`` is 0.22665 … 0.22675; an integer is
    exact). ``digits``: the numbers were printed to that many significant digits with trailing zeros
    dropped (derive's own pages), so each may be off by half a unit in its ``digits``-th digit.
    ``exact``: take every number as exact (:func:`evaluate`). Names are exact, from ``values``.
    """
    return _Interval(values or {}, digits, exact).of(node)


def _widen(x: Num, digits: int | None) -> float:
    """Half the width of the range a printed number stands for.

    Without ``digits``: half a unit in its last digit (``0.5`` is 0.45 … 0.55; an integer is exact).
    With ``digits`` (a page that prints every number to that many significant digits and drops
    trailing zeros): ``0.5`` stands for 0.49995 … 0.50005, an integer with fewer than ``digits``
    digits is exact and one with more may be rounded at its units.
    """
    if digits is None or x.value == 0:
        return x.half
    at_digits = 0.5 * 10.0 ** (math.floor(math.log10(abs(x.value))) - digits + 1)
    if "\\" in x.text or "×" in x.text or "·" in x.text:  # 5.3 \times 10^{-8}: zeros may have been dropped
        return max(at_digits, x.half) if x.half == 0 else min(at_digits, x.half)
    if x.half == 0:  # an integer
        return 0.5 if abs(x.value) >= 10 ** (digits - 1) else 0.0
    return min(at_digits, x.half)


def _mono(f, lo, hi):
    return f(lo), f(hi)


def _sigma(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


#: The relative error allowed for each float addition (a few units in the last place of the terms,
#: which also covers the products and quotients they were computed from).
_FLOAT_SLACK = 16 * 2.0 ** -52


class _Interval:
    def __init__(self, values, digits, exact):
        self.values, self.digits, self.exact = values, digits, exact

    def of(self, node: Node) -> tuple[float, float]:
        try:
            lo, hi = self._of(node)
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            if isinstance(exc, Unevaluable):
                raise
            raise Unevaluable(str(exc)) from None
        if math.isnan(lo) or math.isnan(hi):
            raise Unevaluable("not a number")
        return lo, hi

    def _of(self, node: Node) -> tuple[float, float]:
        if isinstance(node, Num):
            half = 0.0 if self.exact else _widen(node, self.digits)
            return node.value - half, node.value + half
        if isinstance(node, Name):
            if node.name not in self.values:
                raise Unevaluable(f"no value for {node.name}")
            v = float(self.values[node.name])
            return v, v
        if isinstance(node, Op):
            return getattr(self, "_" + node.op)(*[self._of(a) for a in node.args])
        if isinstance(node, Call):
            return self._call(node)
        raise Unevaluable(f"{type(node).__name__} has no single value")

    @staticmethod
    def _add(a, b):
        # Rounded outward by the floats' own error: (-9/10)(1/10) + (1/10)(9/10) is 6.9e-18 in floats and
        # exactly 0 on the page; the slack is relative to the terms, not to their (cancelled) sum.
        slack = _FLOAT_SLACK * (max(abs(a[0]), abs(a[1])) + max(abs(b[0]), abs(b[1])))
        return a[0] + b[0] - slack, a[1] + b[1] + slack

    @classmethod
    def _sub(cls, a, b):
        return cls._add(a, (-b[1], -b[0]))

    @staticmethod
    def _neg(a):
        return -a[1], -a[0]

    @staticmethod
    def _mul(a, b):
        ps = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
        ps = [0.0 if math.isnan(p) else p for p in ps]
        return min(ps), max(ps)

    def _div(self, a, b):
        if b[0] <= 0 <= b[1]:
            raise Unevaluable("division by a number that may be 0")
        return self._mul(a, (1 / b[1], 1 / b[0]))

    def _pow(self, a, b):
        if b[0] == b[1] and b[0] == int(b[0]) and abs(b[0]) <= 1000:
            n = int(b[0])
            if n == 0:
                return 1.0, 1.0
            if n < 0:
                return self._div((1.0, 1.0), self._pow(a, (-n, -n)))
            cands = [a[0] ** n, a[1] ** n]
            if n % 2 == 0 and a[0] < 0 < a[1]:
                cands.append(0.0)
            return min(cands), max(cands)
        if a[0] <= 0:
            raise Unevaluable("a power of a number that may be negative")
        cands = [x ** y for x in a for y in b]
        return min(cands), max(cands)

    def _call(self, node: Call) -> tuple[float, float]:
        f = node.func
        args = [self._of(a) for a in node.args]
        if f.startswith("["):
            (a, b) = args
            rel = f[1:-1]
            d = (a[0] - b[1], a[1] - b[0])  # the range of a - b

            def holds(x):
                return {">": x > 0, "<": x < 0, r"\le": x <= 0, r"\ge": x >= 0, "=": x == 0, r"\ne": x != 0}[rel]
            if d[0] == d[1]:
                v = float(holds(d[0]))
                return v, v
            if rel in ("=", r"\ne"):
                return 0.0, 1.0
            ends = {holds(d[0]), holds(d[1])}
            return (1.0, 1.0) if ends == {True} else ((0.0, 0.0) if ends == {False} else (0.0, 1.0))
        if f in ("max", "min"):
            if not args:
                raise Unevaluable("max of nothing")
            pick = max if f == "max" else min
            return pick(a[0] for a in args), pick(a[1] for a in args)
        if len(args) != 1:
            raise Unevaluable(f"{f} takes one argument")
        (a,) = args
        if f == "exp":
            return _mono(math.exp, *a)
        if f == "log":
            if a[0] <= 0:
                raise Unevaluable("log of a number that may not be positive")
            return _mono(math.log, *a)
        if f == "tanh":
            return _mono(math.tanh, *a)
        if f == "sigma":
            return _mono(_sigma, *a)
        if f == "relu":
            return _mono(lambda z: max(z, 0.0), *a)
        if f == "leaky_relu":
            if node.param is None:
                raise Unevaluable("LeakyReLU without its slope")
            s = self._of(node.param)
            cands = [z if z > 0 else k * z for z in a for k in s]
            if a[0] < 0 < a[1]:
                cands.append(0.0)
            return min(cands), max(cands)
        if f == "sqrt":
            if a[0] < 0:
                raise Unevaluable("square root of a number that may be negative")
            return _mono(math.sqrt, *a)
        if f == "abs":
            cands = [abs(a[0]), abs(a[1])] + ([0.0] if a[0] < 0 < a[1] else [])
            return min(cands), max(cands)
        if f in ("sinh",):
            return _mono(math.sinh, *a)
        if f in ("sgn", "step") and (a[0] > 0 or a[1] < 0):  # a range on one side of 0: one value
            v = (1.0 if a[0] > 0 else (-1.0 if f == "sgn" else 0.0))
            return v, v
        if f in ("sin", "cos", "cosh", "sgn", "step", "softmax"):
            if a[0] == a[1]:
                v = {"sin": math.sin, "cos": math.cos, "cosh": math.cosh,
                     "sgn": lambda z: float((z > 0) - (z < 0)), "step": lambda z: float(z > 0)}.get(f)
                if v is not None:
                    return v(a[0]), v(a[0])
            raise Unevaluable(f"{f} over a range")
        raise Unevaluable(f"unknown function {f}")
