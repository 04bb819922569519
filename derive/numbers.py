"""Stage 4: numbers. Every node's value and gradient, evaluated from its local expression.

Each local expression gets the values of its own symbols substituted (as SymPy ``Float`` of
53 bits, the precision of a float64) and is evaluated; the stored values are plain floats.
Display rounding lives in :mod:`derive.latex` and never changes what is stored here.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.chain import Steps
from derive.graph import Graph
from derive.spec import Instance


@dataclass(frozen=True)
class Numbers:
    """One instance evaluated: values, local derivatives and gradients of the instance loss."""

    value: dict[str, float]
    """Every node's value, leaves included."""
    local: dict[tuple[str, str], float]
    """∂child/∂node for every edge of the chain-rule steps."""
    grad: dict[str, float]
    """dL/d(node) for every node with a step (L being this instance's loss)."""

    @property
    def loss(self) -> float:
        return self.value["L"]


def initial_parameters(graph: Graph) -> dict[str, float]:
    """The spec's weights and biases (fixed biases included), keyed by node."""
    params: dict[str, float] = {}
    for layer, keys, bias_keys in zip(graph.spec.layers, graph.layer_weights, graph.layer_bias):
        for row_keys, row in zip(keys, layer.weights):
            params.update(zip(row_keys, row))
        if bias_keys is not None:
            params.update(zip(bias_keys, layer.bias))
    return params


def leaf_values(graph: Graph, params: dict[str, float], instance: Instance) -> dict[str, float]:
    """Values for every leaf: the parameters, the instance's inputs and targets."""
    leaves = dict(params)
    leaves.update(zip(graph.input_keys, instance.x))
    leaves.update(zip(graph.target_keys, instance.t))
    return leaves


def evaluate(steps: Steps, leaves: dict[str, float]) -> Numbers:
    """Forward through every local expression, then backward through every chain-rule step."""
    graph = steps.graph
    env = {graph[k].symbol: sp.Float(v) for k, v in leaves.items()}
    value = dict(leaves)
    for node in graph.computed:
        result = node.expr.xreplace(env)
        env[node.symbol] = result
        value[node.key] = float(result)
    local = {edge: float(expr.xreplace(env)) for edge, expr in steps.local.items()}
    grad: dict[str, float] = {}
    for key, step in steps.steps.items():
        grad[key] = 1.0 if not step.terms else sum(grad[t.child] * local[(t.child, key)] for t in step.terms)
    return Numbers(value=value, local=local, grad=grad)
