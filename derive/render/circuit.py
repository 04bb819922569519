"""Rendering a circuit: what its templates see (:class:`CircuitPage`) and its picture (:func:`circuit_scene`).

Nothing here differentiates: the local gradients, values and gradients come from the checked
:class:`~derive.core.circuit.CircuitDerivation`; this module only writes them as LaTeX and draws them.
The total gradient of the output by a name is written $\\frac{df}{dq}$, a gate's local gradient
$\\frac{\\partial f}{\\partial q}$ (the derivative of its own formula, the other inputs held fixed).
"""

from __future__ import annotations

import ast
import re
from functools import cached_property

import sympy as sp
from sympy.printing.str import StrPrinter

from derive.errors import UsageError
from derive.i18n import _
from derive.render.pictures import FILL, GRADIENT, INK, Line, Rect, Scene, Text, _overlap, plain
from derive.render.printer import DEFAULT_DIGITS, DeriveLatexPrinter, as_factor, format_number, result, terms, tex


def latex_name(key: str) -> str:
    """``x`` → x, ``w0`` → w_{0}, ``dot`` → \\mathit{dot}, ``x12`` → x_{12}."""
    m = re.fullmatch(r"([A-Za-z]+)(\d*)", key)
    base, digits = m.group(1), m.group(2)
    base = base if len(base) == 1 else rf"\mathit{{{base}}}"
    return f"{base}_{{{digits}}}" if digits else base


class CircuitPage:
    """What the circuit templates see: names, numbers and chains as LaTeX in one precision."""

    def __init__(self, d, *, digits: int = DEFAULT_DIGITS, figures: dict[str, tuple[str, str]] | None = None):
        self.d = d
        self.spec = d.spec
        self.graph = d.graph
        self.steps = d.steps
        self.digits = digits
        self.figures = figures or {}
        self.names = {n.symbol: latex_name(k) for k, n in self.graph.nodes.items()}
        self.out = self.spec.output

    # -- names and numbers

    def name(self, key: str) -> str:
        return self.names[self.graph[key].symbol]

    def num(self, x: float) -> str:
        return format_number(x, self.digits)

    def factor(self, x: float) -> str:
        return as_factor(self.num(x))

    def result(self, x: float) -> str:
        return result(x, None, self.digits)

    def grad_name(self, key: str) -> str:
        """The gradient of the output by ``key``: \\frac{df}{dq}."""
        return rf"\frac{{d{self.name(self.out)}}}{{d{self.name(key)}}}"

    def local_name(self, child: str, parent: str) -> str:
        return rf"\frac{{\partial {self.name(child)}}}{{\partial {self.name(parent)}}}"

    def expr(self, e: sp.Expr) -> str:
        """A formula in the circuit's names, products with a visible dot (q \\cdot z)."""
        return DeriveLatexPrinter({"names": self.names, "values": None, "digits": self.digits,
                                   "mul_symbol": "dot"}).doprint(e)

    def at(self, e: sp.Expr) -> str:
        values = {self.graph[k].symbol: v for k, v in self.d.value.items()}
        return tex(e, self.names, values, self.digits)

    # -- structure

    @property
    def leaves(self) -> list[str]:
        return [k for k, _ in self.spec.inputs]

    @property
    def node_keys(self) -> list[str]:
        return [n.name for n in self.spec.nodes]

    def parents(self, key: str) -> tuple[str, ...]:
        return self.graph[key].parents

    def children(self, key: str) -> tuple[str, ...]:
        return self.graph.children[key]

    @cached_property
    def backward_order(self) -> list[str]:
        """Every name but the output, in the order the backward pass reaches them (reverse of definition)."""
        return [k for k in self.steps.steps if k != self.out]

    @cached_property
    def branches(self) -> list[str]:
        """The names whose wire branches (used by more than one gate): their gradients add."""
        return [k for k in self.spec.names if len(self.children(k)) > 1]

    # -- chains

    def definition(self, key: str) -> str:
        return self.expr(self.graph[key].expr)

    def forward_chain(self, key: str) -> str:
        """q = x + y = -2 + 5 = 3: definition, numbers substituted, value."""
        e = self.graph[key].expr
        members = [self.name(key), self.expr(e)]
        numbers = self.at(e)
        value = self.d.value[key]
        if numbers.replace(" ", "") == self.num(value).replace(" ", ""):  # n = -s = -1: the numbers are the value
            return " = ".join(members + [numbers])
        if numbers != members[-1]:
            members.append(numbers)
        return " = ".join(members) + " " + self.result(value)

    def local_chain(self, child: str, parent: str) -> str:
        """∂f/∂q = z = -4: the gate's local gradient, its formula, its numbers and value."""
        e = self.steps.local[(child, parent)]
        value = self.d.numbers.local[(child, parent)]
        members = [self.local_name(child, parent), self.expr(e)]
        if not e.free_symbols:  # a number already: ∂q/∂x = 1
            return " = ".join(members)
        numbers = self.at(e)
        if not e.is_Symbol and numbers != self.num(value):
            members.append(numbers)
        return " = ".join(members) + " " + self.result(value)

    def local_factor(self, child: str, parent: str, numbers: bool) -> str:
        """A local gradient inside a product: its formula or its value; sums and negatives in parentheses."""
        if numbers:
            return self.factor(self.d.numbers.local[(child, parent)])
        e = self.steps.local[(child, parent)]
        text = self.expr(e)
        if e.is_Add or e.could_extract_minus_sign() or text.startswith("-"):
            return rf"\left({text}\right)"
        return text

    def chain_rule(self, key: str) -> str:
        """df/dn = Σ df/dc · ∂c/∂n = (the local formulas) = the numbers (= the products) = value."""
        children = self.children(key)
        g = self.d.grad
        if children == (self.out,):  # fed straight into the output: the gradient is the gate's local gradient
            return rf"{self.grad_name(key)} = {self.local_chain(self.out, key)}"
        symbolic = " + ".join(rf"{self.grad_name(c)} \, {self.local_name(c, key)}" for c in children)
        formulas = " + ".join(rf"{self.grad_name(c)} \cdot {self.local_factor(c, key, False)}" for c in children)
        numbers = " + ".join(rf"{(self.num if i == 0 else self.factor)(g[c])} \cdot {self.local_factor(c, key, True)}"
                             for i, c in enumerate(children))
        members = [self.grad_name(key), symbolic]
        if formulas != symbolic:
            members.append(formulas)
        members.append(numbers)
        if len(children) > 1:
            products = [g[c] * self.d.numbers.local[(c, key)] for c in children]
            members.append(self.terms(products))
        return " = ".join(members) + " " + self.result(g[key])

    def terms(self, xs) -> str:
        return terms(xs, self.num)

    def figure(self, role: str) -> str:
        if role not in self.figures:
            return ""
        file, caption = self.figures[role]
        return f"![{caption}]({file})"

    # -- training

    def update_rows(self, key: str) -> list[str]:
        """The first step of a trained leaf: the optimizer's lines with its gradient and numbers."""
        run = self.d.training
        name = self.name(key)
        letters = self.lettering
        rows = []
        for line in run.first_lines[key]:
            formula = letters.tex(line.formula).replace("@", name)
            formula = formula.replace(f"{letters.renamed.get('g', 'g')}_{{{name}}}", self.grad_name(key))
            numbers = "" if len(line.parts) == 2 and line.parts[0] == "" else f" = {self.parts(line.parts)}"
            arrow = r"&\leftarrow" if line.assign else "&="
            rows.append(f"{letters.tex(line.target).replace('@', name)} {arrow} {formula}{numbers} "
                        f"{self.result(line.value)}")
        return rows

    @property
    def lettering(self):
        """The letters the steps write the optimizer's state in: a usual letter that names a leaf or a node
        (Adam's m and v beside leaves m and v) is renamed by the optimizer (:meth:`Optimizer.lettering`)."""
        taken = {m.group(1) for n in self.names.values() if (m := re.match(r"(\\?[A-Za-z]+)", n))}
        return self.spec.training.optimizer.lettering(taken)

    def letters_note(self) -> str:
        """The sentence naming the letters the steps write instead of the usual ones ("" when none); the gradient
        is written df/dx, so a renamed g is not shown."""
        return self.lettering.note(set(self.spec.training.optimizer.letters) - {"g"})

    def parts(self, parts) -> str:
        out = []
        for i, p in enumerate(parts):
            if isinstance(p, str):
                out.append(p)
                continue
            before = parts[i - 1] if i else ""
            after = parts[i + 1] if i + 1 < len(parts) else ""
            bare = (before == "" or before.endswith("{")) and not (isinstance(after, str) and after.startswith("^"))
            out.append(self.num(p) if bare else self.factor(p))
        return "".join(out)

    def training_rows(self) -> list[int]:
        n = self.spec.training.epochs
        picks = {0, 1, 2, n}
        for k in range(1, 11):
            picks.add(round(n * k / 10))
        return sorted(p for p in picks if 0 <= p <= n)


# --------------------------------------------------------------------------- the picture

_OPS = {ast.Add: "+", ast.Sub: "−", ast.Mult: "×", ast.Div: "÷", ast.Pow: "^"}
_FUNC_LABELS = {"sigma": "σ", "sigmoid": "σ", "relu": "ReLU", "abs": "|·|", "sqrt": "√"}


def gate_label(node) -> tuple[str, bool]:
    """The label drawn in a gate and whether it is short (a circle): ``+`` and ``×`` for a sum or product of
    two names, ``exp`` or ``σ`` for a function of one name, else the formula itself (a rounded box)."""
    tree = node.formula.tree
    if (isinstance(tree, ast.BinOp) and isinstance(tree.left, ast.Name) and isinstance(tree.right, ast.Name)
            and isinstance(tree.op, (ast.Add, ast.Mult))):  # symmetric: the order of its inputs does not matter
        return _OPS[type(tree.op)], True
    if isinstance(tree, ast.Call) and all(isinstance(a, ast.Name) for a in tree.args):
        f = tree.func.id
        return _FUNC_LABELS.get(f, f), len(_FUNC_LABELS.get(f, f)) <= 4
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub) and isinstance(tree.operand, ast.Name):
        return "×(−1)", False
    return formula_text(node.text), False


def formula_text(text: str) -> str:
    """A node's formula as the picture writes it: ``1 / p``, ``m + 1``, ``−s``, ``a·b``."""
    text = re.sub(r"\s+", " ", text.strip()).replace("**", "^").replace("*", "·").replace("-", "−")
    return text.replace("sigma", "σ")


def circuit_scene(d, *, digits: int = 4, reveal: bool = True) -> Scene:
    """The circuit as courses draw it: leaves on the left, each gate a circle (or a box) with its operation,
    each wire labelled with its value above it and the gradient d output / d name below it (red).

    ``reveal=False`` (a worksheet) leaves out every number but the leaves' values.
    """
    spec, graph = d.spec, d.graph
    names = {k: plain(latex_name(k)) for k in graph.nodes}
    value, grad = d.value, d.grad
    depth: dict[str, int] = {}
    for k, _v in spec.inputs:
        depth[k] = 0
    for n in spec.nodes:
        depth[n.name] = 1 + max(depth[p] for p in graph[n.name].parents)
    columns = max(depth.values()) + 1
    labels = {n.name: gate_label(n) for n in spec.nodes}

    def wire_texts(k: str) -> tuple[Text, Text | None]:
        v = Text(0, 0, f"{names[k]} = {plain(format_number(value[k], digits))}" if reveal or k in dict(spec.inputs)
                 else names[k], 10)
        g = Text(0, 0, plain(format_number(grad[k], digits)), 10, color=GRADIENT) if reveal else None
        return v, g

    texts = {k: wire_texts(k) for k in graph.nodes}
    shape_w = {}
    for k, (label, short) in labels.items():
        width = Text(0, 0, label, 11).width
        shape_w[k] = 28.0 if short and width <= 22 else width + 16
    stub = {k: max(t.width for t in texts[k] if t is not None) + 14 for k in graph.nodes}
    col_shape = [max([shape_w.get(k, 0.0) for k in graph.nodes if depth[k] == c], default=0.0) for c in range(columns)]
    col_stub = [max(stub[k] for k in graph.nodes if depth[k] == c) for c in range(columns)]
    gap = 34.0
    x0 = [12.0]
    for c in range(1, columns):
        x0.append(x0[-1] + col_shape[c - 1] + col_stub[c - 1] + gap)
    width = x0[-1] + col_shape[-1] + col_stub[-1] + 12
    row = 50.0
    top = 34.0
    ys: dict[str, float] = {}
    for i, (k, _v) in enumerate(spec.inputs):
        ys[k] = top + i * row
    for c in range(1, columns):
        col = [n.name for n in spec.nodes if depth[n.name] == c]
        wanted = sorted(col, key=lambda k: sum(ys[p] for p in graph[k].parents) / len(graph[k].parents))
        last = -1e9
        for k in wanted:
            y = sum(ys[p] for p in graph[k].parents) / len(graph[k].parents)
            y = max(y, last + row)
            ys[k] = y
            last = y
    height = max(ys.values()) + 46
    scene = Scene(width, height)
    lines, shapes, words = [], [], []
    ends: dict[str, tuple[float, float]] = {}
    starts: dict[str, tuple[float, float]] = {}
    for k in graph.nodes:
        c = depth[k]
        y = ys[k]
        left = x0[c] + (col_shape[c] - shape_w.get(k, 0.0)) / 2 if k in labels else x0[c] + col_shape[c]
        if k in labels:
            w = shape_w[k]
            label, short = labels[k]
            h = 28.0
            shapes.append(Rect(left, y - h / 2, w, h, fill=FILL, stroke=INK, width=0.9, radius=h / 2 if short else 6))
            shapes.append(Text(left + w / 2, y, label, 11, bold=short))
            starts[k] = (left, y)
            out_x = left + w
        else:
            out_x = x0[c] + col_shape[c]
        end_x = x0[c] + col_shape[c] + col_stub[c]
        lines.append(Line([(out_x, y), (end_x, y)], color=INK, width=1.0, arrow=k == spec.output))
        ends[k] = (end_x, y)
        v, g = texts[k]
        mid = (out_x + end_x) / 2 if k in labels else x0[c] + col_shape[c] + col_stub[c] / 2
        v.x, v.y = mid, y - 9
        shapes.append(v)
        if g is not None:
            g.x, g.y = mid, y + 9
            shapes.append(g)
        if reveal or k in dict(spec.inputs):
            words.append(v.text + (" (" + _("gradient %(g)s") % {"g": g.text} + ")" if g is not None else ""))
    for n in spec.nodes:
        for p in graph[n.name].parents:
            (ax, ay), (bx, by) = ends[p], starts[n.name]
            lines.append(Line([(ax, ay), (ax + 10, ay), (bx - 10, by), (bx - 1, by)], color=INK, width=1.0,
                              arrow=True))
    # a white ground under each wire's labels: a wire that crosses on its way to a later gate passes beneath them
    halos = [Rect(x0_ - 1.5, y0_ - 0.5, x1_ - x0_ + 3, y1_ - y0_ + 1, fill="#ffffff")
             for t in shapes if isinstance(t, Text) and t.size == 10
             for x0_, y0_, x1_, y1_ in [t.extent()]]
    scene.items = lines + halos + shapes
    gates = "; ".join(f"{names[n.name]} = {formula_text(n.text)}" for n in spec.nodes)
    wires = ", ".join(words)
    scene.description = ((_("The circuit %(name)s: %(gates)s. Each wire carries its value above it and the gradient of "
                            "the output below it (red): %(wires)s.") if reveal else
                          _("The circuit %(name)s: %(gates)s. The values of its leaves: %(wires)s."))
                         % {"name": spec.name, "gates": gates, "wires": wires})
    return scene


def overlapping(scene: Scene) -> list[tuple[str, str]]:
    """Pairs of texts, or of a text and a gate it does not belong to, whose extents overlap (none should)."""
    texts = [t for t in scene.items if isinstance(t, Text)]
    out = []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if _overlap(a.extent(), b.extent()):
                out.append((a.text, b.text))
    for r in [i for i in scene.items if isinstance(i, Rect) and i.stroke != "none"]:  # the gates (not label grounds)
        for t in texts:
            inside = r.x <= t.x <= r.x + r.w and r.y <= t.y <= r.y + r.h
            if not inside and _overlap(r.extent(), t.extent()):
                out.append((t.text, "gate"))
    return out


def draw_circuit(d, fmt: str, *, digits: int = 4, reveal: bool = True) -> bytes:
    from derive.render.pictures import pdf, svg

    scene = circuit_scene(d, digits=digits, reveal=reveal)
    title = _("The circuit %(name)s") % {"name": d.spec.name}
    return svg(scene, title) if fmt == "svg" else pdf(scene, title)


def check_digits(digits: int) -> None:
    if not 2 <= digits <= 15:
        raise UsageError("--digits: expected 2 to 15")


def circuit_pictures(d, kind: str, *, digits: int = 4) -> tuple[dict[str, bytes], dict[str, tuple[str, str]]]:
    """The circuit's picture as a file (svg or pdf) and the page's figure entry."""
    file = f"{d.spec.name}-circuit.{kind}"
    caption = _("The circuit: each gate with its operation, each wire with its value above it and the gradient "
                "d%(out)s/d(wire) below it (red)") % {"out": d.spec.output}
    return {file: draw_circuit(d, kind, digits=digits)}, {"circuit": (file, caption)}


# --------------------------------------------------------------------------- the notebook


class _Python(StrPrinter):
    """A local gradient as Python for the notebook: the gates' helpers by the notebook's names."""

    NAMES = {"sigma": "sigma", "sigmoid": "sigma", "step": "above0_", "nonpositive": "atmost0_", "sign": "sign_",
             "absolute": "abs", "maximum": "max", "minimum": "min", "relu": "relu", "exp": "np.exp",
             "log": "np.log", "tanh": "np.tanh", "sqrt": "np.sqrt"}

    def _print_Function(self, expr):
        name = self.NAMES.get(type(expr).__name__, type(expr).__name__)
        return f"{name}({', '.join(self._print(a) for a in expr.args)})"

    _print_exp = _print_Function

    def _print_Exp1(self, expr):
        return "np.e"

    def _print_Pi(self, expr):
        return "np.pi"

    def _print_Pow(self, expr, rational=False):
        if expr.exp == sp.S.Half:
            return f"np.sqrt({self._print(expr.base)})"
        if expr.exp == -sp.S.Half:
            return f"1 / np.sqrt({self._print(expr.base)})"
        return super()._print_Pow(expr, rational)


def python(e: sp.Expr) -> str:
    return _Python({"order": "none"}).doprint(e)


def python_formula(text: str) -> str:
    """A node's formula (as the spec writes it) as Python: ^ is a power."""
    return re.sub(r"\s+", " ", text.strip()).replace("^", "**")


def circuit_code_cells(env, d) -> list[tuple[str, str]]:
    """(section heading, code) of the circuit notebook's code cells."""
    import json

    from derive.render.notebook import MARKER

    local = {edge: python(e) for edge, e in d.steps.local.items()}
    text = env.get_template("circuit_notebook.py.j2").render(
        spec=d.spec, d=d, values=d.to_values(), local=local, formula=python_formula,
        backward=[k for k in d.steps.steps if k != d.spec.output], children=d.graph.children,
        py=lambda v: json.dumps(v, allow_nan=False))
    parts = MARKER.split(text)
    return [(parts[i].strip(), parts[i + 1].strip("\n") + "\n") for i in range(1, len(parts) - 1, 2)]
