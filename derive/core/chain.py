"""Stage 3: the chain rule, node by node, as data.

For every node n: dL/dn = Σ over the children c of n of dL/dc · ∂c/∂n, where each local
derivative ∂c/∂n comes from c's own expression (an activation supplies its usual form,
σ(z)(1 − σ(z)); everything else is ``sympy.diff`` of a local expression with a handful of
symbols). Paths from a node to the loss are counted for every node and listed where few.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.core.graph import Graph, Node

#: List every path from a node to the loss only while there are at most this many.
MAX_LISTED_PATHS = 8


@dataclass(frozen=True)
class Term:
    """One summand of a chain-rule step: dL/d(child) · ∂child/∂node."""

    child: str
    local: sp.Expr
    """∂child/∂node, an expression over the graph's symbols."""


@dataclass(frozen=True)
class Step:
    """dL/d(node) as the sum of its terms (no terms: the node is the loss, dL/dL = 1)."""

    node: str
    terms: tuple[Term, ...]


@dataclass(frozen=True, eq=False)
class Steps:
    """Every chain-rule step of a graph, in backward order (the loss first)."""

    graph: Graph
    steps: dict[str, Step]
    """Keyed by node, in backward order; targets and fixed constants have none."""

    @cached_property
    def local(self) -> dict[tuple[str, str], sp.Expr]:
        """∂child/∂node for every edge (child, node) on the way to the loss."""
        return {(t.child, s.node): t.local for s in self.steps.values() for t in s.terms}

    @cached_property
    def path_counts(self) -> dict[str, int]:
        """How many distinct paths lead from each node to the loss."""
        counts: dict[str, int] = {}
        for key, step in self.steps.items():
            counts[key] = (1 if key == self.graph.loss_key else 0) if not step.terms else sum(
                counts[t.child] for t in step.terms)
        return counts

    def paths(self, key: str) -> list[tuple[str, ...]] | None:
        """Every path node → … → L, or None when there are more than MAX_LISTED_PATHS."""
        if self.path_counts[key] > MAX_LISTED_PATHS:
            return None
        step = self.steps[key]
        if not step.terms:
            return [(key,)] if key == self.graph.loss_key else []
        return [(key, *rest) for t in step.terms for rest in self.paths(t.child)]


def local_derivative(child: Node, parent: Node) -> sp.Expr:
    """∂child/∂parent, supplied by the child's operation from its own local expression."""
    return child.op.partial(child.expr, parent.symbol)


def derive_steps(graph: Graph) -> Steps:
    """The chain-rule step of every node that has a gradient (all but targets and fixed constants).

    In a batch-wide graph the root is ``L`` (the summed loss); a per-instance node's step sums over its
    children, which for the input of a batch normalization are its own normalized value and the batch's
    mean and variance: the three terms of its backward pass."""
    children = graph.children
    steps: dict[str, Step] = {}
    for node in reversed(graph.nodes.values()):
        if node.role in ("target", "constant", "mask") or (node.role == "bias" and not node.trainable):
            continue
        # A node whose children all lead nowhere (an entry of a feature map that pooling with a stride
        # leaves out) has a step without terms: dL/dn = 0 (only the loss's own step, dL/dL = 1, is also empty).
        live = [c for c in children[node.key] if c in steps]
        steps[node.key] = Step(node=node.key, terms=tuple(Term(child=c, local=local_derivative(graph[c], node))
                                                          for c in live))
    return Steps(graph=graph, steps=steps)


def instance_steps(batch: Steps, graph: Graph) -> Steps:
    """One instance's chain-rule steps, read off the steps of a batch-wide graph: instance 1's nodes and the
    shared ones, under the plain keys and symbols of the instance graph ``graph`` (every instance's steps
    have this form; only their numbers differ, see :func:`derive.core.numbers.instance_view`).

    The instance's loss ``L`` is the root of these steps. A shared node's terms are those through one
    instance: for a parameter, that instance's share of its gradient; the batch statistics' own steps
    (sums over every instance) belong to the batch and are shown from the batch-wide graph.
    """
    bg = batch.graph
    plain = {node.symbol: graph[node.base].symbol for node in bg.nodes.values() if node.instance is not None}
    steps: dict[str, Step] = {}
    for key, step in batch.steps.items():
        node = bg[key]
        if node.role == "total" or node.instance not in (None, 1):
            continue
        with sp.evaluate(False):  # keep each local derivative in the form its operation wrote it
            terms = [Term(child=bg[t.child].base, local=t.local.xreplace(plain)) for t in step.terms
                     if bg[t.child].instance in (None, 1) and bg[t.child].role != "total"]
        # the instance's own children first, then the shared ones latest first: x̂ directly, the variance, the mean
        own = [t for t in terms if bg.nodes.get(t.child) is None]
        steps[node.base] = Step(node=node.base, terms=tuple(own + [t for t in reversed(terms) if t not in own]))
    return Steps(graph=graph, steps=steps)
