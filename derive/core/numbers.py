"""Stage 4: numbers. Every node's value and gradient, evaluated from its local expression.

Each local expression gets the values of its own symbols substituted (as SymPy ``Float`` of
53 bits, the precision of a float64) and is evaluated; the stored values are plain floats.
Display rounding lives in :mod:`derive.render.printer` and never changes what is stored here.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.core.chain import Steps
from derive.core.graph import Graph
from derive.spec.parse import Instance


@dataclass(frozen=True)
class Numbers:
    """One instance evaluated: values, local derivatives and gradients of the instance loss."""

    value: dict[str, float]
    """Every node's value, leaves included."""
    local: dict[tuple[str, str], float]
    """∂child/∂node for every edge of the chain-rule steps."""
    grad: dict[str, float]
    """dL/d(node) for every node with a step (L being this instance's loss)."""
    exact: dict[str, sp.Expr] | None = None
    """In exact arithmetic: every node's exact value (rationals, e^{-1}, ...); else None."""
    exact_grad: dict[str, sp.Expr] | None = None
    exact_local: dict[tuple[str, str], sp.Expr] | None = None

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


def to_exact(x: float) -> sp.Rational:
    """The rational a spec's number stands for: its shortest decimal, so 0.1 is 1/10."""
    return sp.Rational(repr(float(x)))


def evaluate(steps: Steps, leaves: dict[str, float], *, exact: bool = False) -> Numbers:
    """Forward through every local expression, then backward through every chain-rule step.

    Float arithmetic substitutes 53-bit ``Float`` values (the precision of a float64); exact
    arithmetic substitutes rationals and keeps closed forms, then also reports their floats.
    """
    graph = steps.graph
    if exact:  # the floats come from the float evaluation (evalf of every nested closed form took minutes)
        floats = evaluate(steps, leaves)
    number = to_exact if exact else sp.Float
    env = {graph[k].symbol: number(v) for k, v in leaves.items()}
    for node in graph.computed:
        env[node.symbol] = node.expr.xreplace(env)
    local = {edge: expr.xreplace(env) for edge, expr in steps.local.items()}
    if not exact:
        value = dict(leaves)
        value.update({n.key: float(env[n.symbol]) for n in graph.computed})
        local_values = {e: float(v) for e, v in local.items()}
        return Numbers(value=value, local=local_values, grad=backward(steps, local_values, 1.0))
    exact_grad = backward(steps, local, sp.S.One)
    return Numbers(value=floats.value, local=floats.local, grad=floats.grad,
                   exact={n.key: env[n.symbol] for n in graph.nodes.values()}, exact_grad=exact_grad,
                   exact_local=local)


def evaluate_rounded(steps: Steps, leaves: dict[str, float], rounding) -> Numbers:
    """As :func:`evaluate`, but every intermediate is rounded by ``rounding`` and carried forward.

    Models a calculation by hand that rounds each value (to 4 significant digits, say) or
    arithmetic in a lower precision (float32).
    """
    graph = steps.graph
    env = {graph[k].symbol: sp.Float(rounding(v)) for k, v in leaves.items()}
    value = {k: rounding(v) for k, v in leaves.items()}
    for node in graph.computed:
        value[node.key] = rounding(float(node.expr.xreplace(env)))
        env[node.symbol] = sp.Float(value[node.key])
    local = {edge: rounding(float(expr.xreplace(env))) for edge, expr in steps.local.items()}
    grad: dict[str, float] = {}
    for key, step in steps.steps.items():
        grad[key] = 1.0 if not step.terms else rounding(
            sum(rounding(grad[t.child] * local[(t.child, key)]) for t in step.terms))
    return Numbers(value=value, local=local, grad=grad)


def round_to(digits: int):
    """Rounding to ``digits`` significant digits."""
    return lambda x: float(f"{x:.{digits}g}")


def backward(steps: Steps, local: dict, one):
    """dL/d(node) = Σ dL/d(child) · ∂child/∂node, in backward order (floats or exact numbers alike)."""
    grad = {}
    for key, step in steps.steps.items():
        grad[key] = one if not step.terms else sum((grad[t.child] * local[(t.child, key)] for t in step.terms[1:]),
                                                   grad[step.terms[0].child] * local[(step.terms[0].child, key)])
    return grad
