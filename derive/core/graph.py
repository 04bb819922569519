r"""Stage 2: the network as a graph of scalar nodes, each defined locally in terms of its parents.

A node's ``expr`` mentions only its parents' symbols (``h1_in = w11*x1 + w21*x2``,
``h1_out = sigma(h1_in)``), so differentiating it costs what its fan-in costs: the whole
derivation is linear in the number of edges, never the swell of the composed loss.

Two shapes of graph:

- the *instance graph* (:func:`build_graph`): one instance, its loss ``L`` the root. A network whose
  layers never couple instances is derived on it alone, instance by instance, as always: the
  gradient of the total loss is the sum (or mean) of the instances' gradients.
- the *batch-wide graph* (:func:`build_batch_graph`), built when a layer couples the instances of a
  batch (``batchnorm``: its mean and variance depend on every instance). It holds every instance's
  nodes, keyed ``KEY[n]`` with n = 1 … N (``h1_in[2]``, ``x1[3]``, ``L[1]``, each with
  ``Node.instance = n``; a page names them with a superscript, $h_1^{\mathrm{in}\,(2)}$), the
  nodes the instances share under their plain keys (the parameters; the batch statistics
  ``bn1_mean``, ``bn1_var``; the constant ``eps_bn``), and the root ``L = Σ_n L[n]``, the *summed*
  loss of the batch. Its gradients are taken through the whole batch. A ``mean`` reduction scales
  them by 1/N afterwards and the regularization term is added once to the total, exactly as in the
  per-instance design (:class:`derive.core.derivation.Derivation`), so the pages read the same
  way: each instance's quantities, with ``L`` the summed loss.

The instance graph of a coupled network (the batch statistics as leaves) names the quantities of
one instance for pages, JSON and answers files; their numbers come from the batch-wide graph
(:func:`derive.core.numbers.instance_view`).
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

#: Node roles, in the order a forward pass meets them (``constant``, ``mean``, ``var`` and ``hat``: a
#: batch normalization's ε, batch mean, batch variance and normalized value; ``total``: the root of a
#: batch-wide graph, the summed loss of the batch).
ROLES = ("input", "target", "weight", "bias", "constant", "mean", "var", "hat", "in", "out", "error", "loss",
         "total")
#: Roles of the nodes the instances of a batch share (one node in a batch-wide graph, not one per instance).
SHARED_ROLES = ("weight", "bias", "constant", "mean", "var")


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
    instance: int | None = None
    """In a batch-wide graph, the instance (1-based) a per-instance node belongs to; None for a shared node
    and in an instance graph."""

    @property
    def base(self) -> str:
        """The key without its instance: ``h1_in`` for ``h1_in[2]``."""
        return self.key if self.instance is None else self.key[: self.key.rindex("[")]

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
    instances: int = 0
    """0 for an instance graph; N for a batch-wide graph over N instances (whose ``layer_units``,
    ``input_keys`` and ``target_keys`` are instance 1's; :meth:`at` gives instance n's)."""

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

    def at(self, key: str, n: int) -> str:
        """In a batch-wide graph, instance n's (1-based) key of a per-instance quantity (``h1_in`` → ``h1_in[2]``);
        a shared quantity's key unchanged."""
        return key if key in self.nodes and self.nodes[key].instance is None else f"{key}[{n}]"


def couples(spec: Spec) -> bool:
    """Whether a layer of ``spec`` couples the instances of a batch (then it is derived on a batch-wide graph)."""
    return any(layer_type(layer).couples for layer in spec.layers)


def _adder(spec: Spec, nodes: dict[str, Node]):
    def add(key: str, role: str, **kw) -> Node:
        if key in nodes:
            raise SpecError(spec.source, "network", f"two quantities would both be named '{key}'; rename an input, "
                            "a layer or a weight_symbol")
        node = Node(key=key, role=role, symbol=sp.Symbol(key, real=True), **kw)
        nodes[key] = node
        return node
    return add


def _instance_adder(add, nodes: dict[str, Node], n: int):
    """``add`` for instance n of a batch-wide graph: keys get ``[n]``; a shared node is added once and reused."""
    def add_n(key: str, role: str, **kw) -> Node:
        if role in SHARED_ROLES:
            return nodes[key] if key in nodes else add(key, role, **kw)
        return add(f"{key}[{n}]", role, instance=n, **kw)
    add_n.key = lambda key: f"{key}[{n}]"
    return add_n


def _loss_nodes(loss: Loss, ys, targets, add, key: str = "L") -> Node:
    if loss.uses_errors:
        errors = [add(f"e{k + 1}", "error", expr=sp.Add(y.symbol, -t.symbol, evaluate=False),
                      parents=(y.key, t.key), index=(k,), op=Difference()) for k, (y, t) in enumerate(zip(ys, targets))]
        es = [e.symbol for e in errors]
        return add(key, "loss", expr=loss.expr(es), parents=tuple(e.key for e in errors), op=LossOf(loss, es, ()))
    parents = tuple(k for y, t in zip(ys, targets or [None] * len(ys)) for k in (y.key, t.key if t else None) if k)
    y_syms, t_syms = [y.symbol for y in ys], [t.symbol for t in targets]
    return add(key, "loss", expr=loss.expr(y_syms, t_syms), parents=parents, op=LossOf(loss, y_syms, t_syms))


def build_graph(spec: Spec) -> Graph:
    """The scalar computation graph of one instance of ``spec``: inputs → layers → loss."""
    nodes: dict[str, Node] = {}
    add = _adder(spec, nodes)

    inputs = [add(name, "input", index=(i,)) for i, name in enumerate(spec.inputs)]
    loss = LOSSES[spec.loss]
    targets = [add(f"t{k + 1}", "target", index=(k,)) for k in range(spec.outputs)] if loss.needs_targets else []

    previous = inputs
    layer_units, layer_weights, layer_bias = [], [], []
    outputs: list[list] = []
    for l, layer in enumerate(spec.layers):
        kind = layer_type(layer)
        built = (kind.build(layer, l, previous, add, earlier=outputs) if kind.needs_earlier
                 else kind.build(layer, l, previous, add))
        outputs.append(built.outputs)
        layer_units.append(built.units)
        layer_weights.append(built.weights)
        layer_bias.append(built.bias)
        previous = built.outputs

    _loss_nodes(loss, previous, targets, add)
    return Graph(spec=spec, nodes=nodes, loss=loss, layer_units=tuple(layer_units),
                 layer_weights=tuple(layer_weights), layer_bias=tuple(layer_bias),
                 input_keys=tuple(n.key for n in inputs), target_keys=tuple(n.key for n in targets))


def build_batch_graph(spec: Spec, instances: int) -> Graph:
    """The batch-wide graph of ``instances`` instances of ``spec`` (keys ``KEY[n]``, shared parameters and batch
    statistics, the root ``L`` the sum of the instance losses ``L[n]``)."""
    nodes: dict[str, Node] = {}
    add = _adder(spec, nodes)
    adders = [_instance_adder(add, nodes, n + 1) for n in range(instances)]
    loss = LOSSES[spec.loss]
    inputs = [[adders[n](name, "input", index=(i,)) for i, name in enumerate(spec.inputs)] for n in range(instances)]
    targets = [[adders[n](f"t{k + 1}", "target", index=(k,)) for k in range(spec.outputs)] if loss.needs_targets
               else [] for n in range(instances)]
    previous = inputs
    layer_units, layer_weights, layer_bias = [], [], []
    outputs: list[list[list]] = []
    for l, layer in enumerate(spec.layers):
        kind = layer_type(layer)
        if kind.couples:
            built = kind.build_batch(layer, l, previous, adders)
        elif kind.needs_earlier:
            built = [kind.build(layer, l, previous[n], adders[n], earlier=[outs[n] for outs in outputs])
                     for n in range(instances)]
        else:
            built = [kind.build(layer, l, previous[n], adders[n]) for n in range(instances)]
        outputs.append([b.outputs for b in built])
        layer_units.append(built[0].units)
        layer_weights.append(built[0].weights)
        layer_bias.append(built[0].bias)
        previous = [b.outputs for b in built]
    losses = [_loss_nodes(loss, previous[n], targets[n], adders[n]) for n in range(instances)]
    add("L", "total", expr=sp.Add(*[x.symbol for x in losses], evaluate=False) if instances > 1 else losses[0].symbol,
        parents=tuple(x.key for x in losses), op=Local())
    return Graph(spec=spec, nodes=nodes, loss=loss, layer_units=tuple(layer_units),
                 layer_weights=tuple(layer_weights), layer_bias=tuple(layer_bias),
                 input_keys=tuple(n.key for n in inputs[0]), target_keys=tuple(n.key for n in targets[0]),
                 instances=instances)


def weight_key(letter: str, i: int, j: int) -> str:
    """``w21`` for the weight from unit 2 to unit 1; ``w10_3`` once an index has two digits."""
    if i < 9 and j < 9:
        return f"{letter}{i + 1}{j + 1}"
    return f"{letter}{i + 1}_{j + 1}"
