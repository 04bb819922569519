"""Stage 2: the network as a graph of scalar nodes, each defined locally in terms of its parents.

A node's ``expr`` mentions only its parents' symbols (``h1_in = w11*x1 + w21*x2``,
``h1_out = sigma(h1_in)``), so differentiating it costs what its fan-in costs: the whole
derivation is linear in the number of edges, never the swell of the composed loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from derive.core.layers import layer_type
from derive.core.losses import LOSSES, Loss
from derive.core.ops import Difference, Local, LossOf
from derive.errors import SpecError
from derive.spec.parse import Spec

#: Node roles, in the order a forward pass meets them.
ROLES = ("input", "target", "weight", "bias", "in", "out", "error", "loss")


@dataclass(frozen=True, eq=False)
class Node:
    """One scalar of the computation: a leaf (input, target, parameter) or a local expression."""

    key: str
    """The plain, stable name used in JSON, answers files and reports: ``x1``, ``w21``, ``h1_in``, ``L``."""
    role: str
    """One of :data:`ROLES`."""
    symbol: sp.Symbol
    expr: sp.Expr | None = None
    """The local definition over the parents' symbols; None for a leaf."""
    parents: tuple[str, ...] = ()
    layer: int | None = None
    """0-based layer index for ``weight``, ``bias``, ``in`` and ``out`` nodes."""
    index: tuple[int, ...] = ()
    """0-based: ``(j,)`` for a unit, input, target or error; ``(i, j)`` for a weight."""
    op: Local | None = None
    """Supplies the local derivatives of ``expr`` (None for a leaf)."""
    trainable: bool = False
    """True for the parameters gradient descent updates."""

    def __repr__(self) -> str:
        return f"Node({self.key!r}, {self.role})"


@dataclass(frozen=True, eq=False)
class Graph:
    """All nodes in topological order (leaves first, the loss ``L`` last)."""

    spec: Spec
    nodes: dict[str, Node]
    loss: Loss
    layer_units: tuple[tuple[tuple[str, str], ...], ...]
    """Per layer, per unit: the keys of (pre-activation, activation)."""
    layer_weights: tuple[tuple[tuple[str, ...], ...], ...]
    """Per layer: the weight keys as a (previous size × size) matrix."""
    layer_bias: tuple[tuple[str, ...] | None, ...]
    input_keys: tuple[str, ...]
    target_keys: tuple[str, ...]
    loss_key: str = "L"
    by_symbol: dict[sp.Symbol, Node] = field(default_factory=dict)

    def __post_init__(self):
        self.by_symbol.update({n.symbol: n for n in self.nodes.values()})

    def __getitem__(self, key: str) -> Node:
        return self.nodes[key]

    @cached_property
    def children(self) -> dict[str, tuple[str, ...]]:
        """For every node, the nodes whose local expression uses it, in topological order."""
        kids: dict[str, list[str]] = {k: [] for k in self.nodes}
        for node in self.nodes.values():
            for p in node.parents:
                kids[p].append(node.key)
        return {k: tuple(v) for k, v in kids.items()}

    @property
    def parameters(self) -> list[Node]:
        """The trainable parameters, layer by layer: weights row by row, then biases."""
        return [n for n in self.nodes.values() if n.trainable]

    @property
    def computed(self) -> list[Node]:
        """The nodes with a local expression, in forward order."""
        return [n for n in self.nodes.values() if n.expr is not None]

    @property
    def edges(self) -> int:
        return sum(len(n.parents) for n in self.nodes.values())


def build_graph(spec: Spec) -> Graph:
    """The scalar computation graph of ``spec``: inputs → layers → loss."""
    nodes: dict[str, Node] = {}

    def add(key: str, role: str, **kw) -> Node:
        if key in nodes:
            raise SpecError(spec.source, "network", f"two quantities would both be named '{key}'; rename an input, "
                            "a layer or a weight_symbol")
        node = Node(key=key, role=role, symbol=sp.Symbol(key, real=True), **kw)
        nodes[key] = node
        return node

    inputs = [add(name, "input", index=(i,)) for i, name in enumerate(spec.inputs)]
    loss = LOSSES[spec.loss]
    targets = [add(f"t{k + 1}", "target", index=(k,)) for k in range(spec.outputs)] if loss.needs_targets else []

    previous = inputs
    layer_units, layer_weights, layer_bias = [], [], []
    for l, layer in enumerate(spec.layers):
        built = layer_type(layer).build(layer, l, previous, add)
        layer_units.append(built.units)
        layer_weights.append(built.weights)
        layer_bias.append(built.bias)
        previous = built.outputs

    ys = previous
    if loss.uses_errors:
        errors = [add(f"e{k + 1}", "error", expr=sp.Add(y.symbol, -t.symbol, evaluate=False),
                      parents=(y.key, t.key), index=(k,), op=Difference()) for k, (y, t) in enumerate(zip(ys, targets))]
        es = [e.symbol for e in errors]
        add("L", "loss", expr=loss.expr(es), parents=tuple(e.key for e in errors), op=LossOf(loss, es, ()))
    else:
        parents = tuple(k for y, t in zip(ys, targets or [None] * len(ys)) for k in (y.key, t.key if t else None) if k)
        y_syms, t_syms = [y.symbol for y in ys], [t.symbol for t in targets]
        add("L", "loss", expr=loss.expr(y_syms, t_syms), parents=parents, op=LossOf(loss, y_syms, t_syms))

    return Graph(spec=spec, nodes=nodes, loss=loss, layer_units=tuple(layer_units),
                 layer_weights=tuple(layer_weights), layer_bias=tuple(layer_bias),
                 input_keys=tuple(n.key for n in inputs), target_keys=tuple(n.key for n in targets))


def weight_key(letter: str, i: int, j: int) -> str:
    """``w21`` for the weight from unit 2 to unit 1; ``w10_3`` once an index has two digits."""
    if i < 9 and j < 9:
        return f"{letter}{i + 1}{j + 1}"
    return f"{letter}{i + 1}_{j + 1}"
