"""Stages 2-4 for circuits: the expression graph of a ``[circuit]`` spec, its chain-rule steps and numbers.

Each node of the spec is one :class:`~derive.core.graph.Node` whose local expression mentions only
the names it uses (``q = x + y``, ``f = q z``); the chain rule is :func:`derive.core.chain.derive_steps`,
the same as a network's: d output / d node = Σ over the nodes c that use it of d output / dc · ∂c/∂node,
so where a wire branches its gradients add. The gates are SymPy functions whose derivatives are the
ones courses write: σ'(s) = σ(s)(1 − σ(s)), ReLU'(z) = [z > 0], ∂max(a, b)/∂a = [a > b], |x|' = sign(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from derive.core.activations import _bare, _math_sigmoid, relu, sigmoid, step, nonpositive
from derive.core.chain import Steps, derive_steps
from derive.core.graph import Node
from derive.core.numbers import backward
from derive.core.ops import Local
from derive.errors import SpecError
from derive.grade.formula import FUNCTIONS, FUNCTIONS_2, FormulaError


class maximum(sp.Function):
    r"""$\max(a, b)$: its gradient goes to the larger argument (to b on a tie: ∂/∂a = [a − b > 0])."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a.is_number and b.is_number:
            return a if a > b else b
        return None

    def fdiff(self, argindex=1):
        a, b = self.args
        return step(a - b) if argindex == 1 else nonpositive(a - b)

    def _latex(self, printer, exp=None):
        tex = rf"\max\left({_bare(printer, self.args[0])}, {_bare(printer, self.args[1])}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"


class minimum(sp.Function):
    r"""$\min(a, b)$: its gradient goes to the smaller argument (to b on a tie: ∂/∂a = [b − a > 0])."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a.is_number and b.is_number:
            return a if a < b else b
        return None

    def fdiff(self, argindex=1):
        a, b = self.args
        return step(b - a) if argindex == 1 else nonpositive(b - a)

    def _latex(self, printer, exp=None):
        tex = rf"\min\left({_bare(printer, self.args[0])}, {_bare(printer, self.args[1])}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"


class sign(sp.Function):
    r"""$\operatorname{sign}(x)$: the derivative of $|x|$ (0 at 0)."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_number:
            return sp.S.One if x > 0 else (sp.S.NegativeOne if x < 0 else sp.S.Zero)
        return None

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _latex(self, printer, exp=None):
        return rf"\operatorname{{sign}}\left({_bare(printer, self.args[0])}\right)"


class absolute(sp.Function):
    r"""$|x|$, whose derivative is written sign(x)."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        return abs(x) if x.is_number else None

    def fdiff(self, argindex=1):
        return sign(self.args[0])

    def _latex(self, printer, exp=None):
        tex = rf"\left|{_bare(printer, self.args[0])}\right|"
        return tex if exp is None else rf"{tex}^{{{exp}}}"


class sigma(sigmoid):
    r"""The logistic gate σ(s), whose local gradient courses write σ(s)(1 − σ(s))."""

    def fdiff(self, argindex=1):
        return sp.Mul(sigma(self.args[0]), sp.Add(1, -sigma(self.args[0]), evaluate=False), evaluate=False)


#: The gates a node formula may call: name → (float function, SymPy builder of the gate).
GATES = {**FUNCTIONS, **FUNCTIONS_2,
         "sigma": (_math_sigmoid, sigma), "sigmoid": (_math_sigmoid, sigma),
         "tanh": (math.tanh, sp.tanh), "relu": (lambda z: max(z, 0.0), relu),
         "abs": (abs, absolute), "max": (max, maximum), "min": (min, minimum)}


@dataclass(frozen=True, eq=False)
class CircuitGraph:
    """The leaves (role ``input``, or ``parameter`` when trained) and the nodes (role ``node``) in
    definition order; the output is the ``loss_key`` the chain rule differentiates."""

    spec: object
    nodes: dict[str, Node]
    loss_key: str

    def __getitem__(self, key: str) -> Node:
        return self.nodes[key]

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        kids: dict[str, list[str]] = {k: [] for k in self.nodes}
        for node in self.nodes.values():
            for p in node.parents:
                kids[p].append(node.key)
        return {k: tuple(v) for k, v in kids.items()}

    @property
    def computed(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.expr is not None]

    @property
    def leaves(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.expr is None]

    @property
    def parameters(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.trainable]

    @property
    def edges(self) -> int:
        return sum(len(n.parents) for n in self.nodes.values())

    @cached_property
    def by_symbol(self) -> dict[sp.Symbol, Node]:
        return {n.symbol: n for n in self.nodes.values()}


def build_circuit(spec) -> CircuitGraph:
    """The graph of a circuit spec: one node per leaf and per line of ``nodes``."""
    nodes: dict[str, Node] = {}
    symbols: dict[str, sp.Symbol] = {}
    for k, _ in spec.inputs:
        symbols[k] = sp.Symbol(k, real=True)
        trained = k in spec.parameters and spec.training is not None
        nodes[k] = Node(key=k, role="parameter" if trained else "input", symbol=symbols[k], trainable=trained)
    for n in spec.nodes:
        expr = _flat(n.formula.to_sympy(symbols, GATES))
        symbols[n.name] = sp.Symbol(n.name, real=True)
        parents = tuple(dict.fromkeys(_names_in_order(n.formula.tree)))  # as the formula reads, left to right
        nodes[n.name] = Node(key=n.name, role="node", symbol=symbols[n.name], expr=expr, parents=parents, op=Local())
    return CircuitGraph(spec=spec, nodes=nodes, loss_key=spec.output)


def _flat(e: sp.Expr) -> sp.Expr:
    """Sums of sums and products of products as one sum or product, in the formula's order and unevaluated
    (``a + b + c`` is read as (a + b) + c; the page writes it without those parentheses)."""
    if not e.args or e.is_Atom:
        return e
    args = [_flat(a) for a in e.args]
    if e.is_Add or e.is_Mul:
        flat = [x for a in args for x in (a.args if type(a) is type(e) else (a,))]
        return type(e)(*flat, evaluate=False)
    return e.func(*args, evaluate=False) if isinstance(e, sp.Function) or e.is_Pow else e.func(*args)


def _names_in_order(tree) -> list[str]:
    """The names a formula uses, left to right (q before z in ``q * z``)."""
    import ast

    if isinstance(tree, ast.Name):
        return [tree.id]
    if isinstance(tree, ast.Call):
        return [k for a in tree.args for k in _names_in_order(a)]
    return [k for child in ast.iter_child_nodes(tree) for k in _names_in_order(child)]


def circuit_steps(graph: CircuitGraph) -> Steps:
    """The chain-rule step of every leaf and node (every one leads to the output: the spec makes sure)."""
    return derive_steps(graph)


@dataclass(frozen=True)
class CircuitNumbers:
    """A circuit evaluated at its leaves: every value, local gradient and d output / d name."""

    value: dict[str, float]
    local: dict[tuple[str, str], float]
    """∂child/∂parent for every edge."""
    grad: dict[str, float]


def forward(spec, leaves: dict[str, float], *, field: str = "circuit.nodes") -> dict[str, float]:
    """Every value, from the formulas as the spec writes them (floats; no SymPy): a node without a value
    (log of a non-positive number, a division by zero, an overflow) is a SpecError naming its line."""
    value = dict(leaves)
    for i, n in enumerate(spec.nodes):
        try:
            value[n.name] = n.formula.evaluate_strict(value)
        except FormulaError as exc:
            at = ", ".join(f"{k} = {value[k]:.6g}" for k in value if k in n.formula.names)
            raise SpecError(spec.source, f"{field}[{i}]", f"'{n.name} = {n.text}' {exc} at {at}") from None
    return value


def evaluate_circuit(steps: Steps, spec, leaves: dict[str, float]) -> CircuitNumbers:
    """Forward through the formulas, then backward through every chain-rule step (floats)."""
    graph = steps.graph
    value = forward(spec, leaves)
    env = {graph[k].symbol: sp.Float(v) for k, v in value.items()}
    local = {}
    for edge, expr in steps.local.items():
        x = expr.xreplace(env)
        try:
            local[edge] = float(x)
        except (TypeError, ValueError):
            local[edge] = float("nan")
    return CircuitNumbers(value=value, local=local, grad=backward(steps, local, 1.0))


@dataclass(frozen=True)
class CircuitTraining:
    """Gradient steps on the trained leaves: the output before each step and after the last."""

    outputs: list[float]
    params: list[dict[str, float]]
    """The trained leaves before each step and after the last (epochs + 1 entries)."""
    rates: list[float]
    first_lines: dict[str, tuple] = field(default_factory=dict)
    """Leaf → the optimizer's lines of the first step."""
    state: dict[str, dict] = field(default_factory=dict)


def train_circuit(steps: Steps, spec, numbers: CircuitNumbers) -> CircuitTraining:
    """``epochs`` steps of the optimizer on the trained leaves, each following d output / d leaf
    (gradient descent lowers the output)."""
    t = spec.training
    opt, schedule = t.optimizer, t.schedule
    keys = list(spec.parameters)
    leaves = dict(spec.inputs)
    state = {k: opt.init_state(0.0) for k in keys}
    outputs, params, rates, first = [numbers.value[spec.output]], [{k: leaves[k] for k in keys}], [], {}
    num = numbers
    for epoch in range(t.epochs):
        rate = schedule.rate(t.learning_rate, epoch)
        rates.append(rate)
        new = dict(leaves)
        for k in keys:
            s = opt.advance(leaves[k], num.grad[k], state[k], rate)
            new[k] = float(s.theta)
            state[k] = {name: v if v is None or name == "step" else float(v) for name, v in s.state.items()}
            if epoch == 0:
                first[k] = s.lines
        leaves = new
        try:
            num = evaluate_circuit(steps, spec, leaves)
        except SpecError as exc:
            raise SpecError(spec.source, "training.learning_rate",
                            f"after {epoch + 1} step(s) the circuit has no value ({exc.message}); use a smaller "
                            "learning rate") from None
        if not all(math.isfinite(v) for v in list(num.value.values()) + list(num.grad.values())):
            raise SpecError(spec.source, "training.learning_rate",
                            f"after {epoch + 1} step(s) a value is not finite: the training diverges; use a smaller "
                            "learning rate")
        outputs.append(num.value[spec.output])
        params.append({k: leaves[k] for k in keys})
    return CircuitTraining(outputs=outputs, params=params, rates=rates, first_lines=first, state=state)


@dataclass(eq=False)
class CircuitDerivation:
    """A circuit's worked example: graph, steps and numbers (checked by derive.pipeline, rendered by
    derive.render; it does neither itself)."""

    spec: object
    graph: CircuitGraph
    steps: Steps
    numbers: CircuitNumbers
    training: CircuitTraining | None = None
    checks: dict = field(default_factory=dict)

    kind = "circuit"

    @property
    def output(self) -> float:
        return self.numbers.value[self.spec.output]

    @property
    def value(self) -> dict[str, float]:
        return self.numbers.value

    @property
    def grad(self) -> dict[str, float]:
        return self.numbers.grad

    def to_values(self) -> dict:
        """Every number, as the JSON of `derive values` (docs/json.md, "Circuits")."""
        spec, num = self.spec, self.numbers
        out = {"name": spec.name, "kind": "circuit", "output": self.output, "output_name": spec.output,
               "nodes": {k: {"value": num.value[k], "grad": num.grad[k]} for k in self.graph.nodes},
               "local": {f"{child}/{parent}": v for (child, parent), v in num.local.items()}}
        if self.training is not None:
            t, run = spec.training, self.training
            out["training"] = {"epochs": t.epochs, "learning_rate": t.learning_rate,
                               "optimizer": {"name": t.optimizer.name, **t.optimizer.settings()},
                               "schedule": t.schedule.settings(), "parameters": list(spec.parameters),
                               "outputs": run.outputs, "steps": run.params, "learning_rates": run.rates}
        out["checks"] = {name: c.to_json() for name, c in self.checks.items()}
        return out
