"""Stage 4: numbers. Every node's value and gradient, evaluated from its local expression.

An instance graph is evaluated once per instance (:func:`leaf_values`, :func:`evaluate`); a batch-wide
graph once per batch (:func:`batch_leaf_values`), and each instance then gets a *view* of it
(:func:`instance_view`) in the keys of the instance graph: its own quantities' values and gradients
(of the batch's summed loss, through the whole batch), the batch statistics' values and gradients, and
for each parameter the instance's share of its gradient (the shares add up to the gradient).

Each local expression gets the values of its own symbols substituted (as SymPy ``Float`` of
53 bits, the precision of a float64) and is evaluated; the stored values are plain floats.
Display rounding lives in :mod:`derive.render.printer` and never changes what is stored here.
"""

from __future__ import annotations

import math
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
    precision: int = 53
    """Bits of the working precision: 53, or more where a saturated output unit needs them (see :func:`evaluate`)."""

    @property
    def loss(self) -> float:
        return self.value["L"]

    def through(self, node: str, children) -> float:
        """The part of dL/d ``node`` that reaches it through ``children`` (some of the quantities it feeds):
        the sum of dL/dc · ∂c/∂node over them. A residual block's page splits a gradient into its paths so."""
        return math.fsum(self.grad[c] * self.local[(c, node)] for c in children)


def initial_parameters(graph: Graph) -> dict[str, float]:
    """The spec's weights and biases (fixed biases included) and constants (a batch normalization's ε), keyed by node."""
    params: dict[str, float] = {}
    for layer, keys, bias_keys in zip(graph.spec.layers, graph.layer_weights, graph.layer_bias):
        params.update(zip(flat(keys), flat(layer.weights)))
        if bias_keys is not None:
            params.update(zip(bias_keys, layer.bias))
    from derive.core.layers import layer_type

    params.update({n.key: layer_type(graph.spec.layers[n.layer]).constant(graph.spec.layers[n.layer], n)
                   for n in graph.nodes.values() if n.role == "constant"})
    return params


def flat(nested) -> list:
    """Nested tuples (a weight matrix, a convolution's kernels, their keys) as one list, row-major."""
    return [x for v in nested for x in flat(v)] if isinstance(nested, (tuple, list)) else [nested]


def leaf_values(graph: Graph, params: dict[str, float], instance: Instance) -> dict[str, float]:
    """Values for every leaf: the parameters, the instance's inputs and targets."""
    leaves = dict(params)
    leaves.update(zip(graph.input_keys, instance.x))
    leaves.update(zip(graph.target_keys, instance.t))
    leaves.update(getattr(instance, "extra", ()))  # a dropout layer's mask of this instance
    return leaves


def batch_leaf_values(graph: Graph, params: dict[str, float], instances) -> dict[str, float]:
    """Values for every leaf of a batch-wide graph: the parameters (and constants), every instance's inputs and
    targets (instance n under ``KEY[n]``)."""
    leaves = {k: v for k, v in params.items() if k in graph.nodes}
    for n, instance in enumerate(instances, start=1):
        leaves.update({graph.at(k, n): v for k, v in zip(graph_base(graph.input_keys), instance.x)})
        leaves.update({graph.at(k, n): v for k, v in zip(graph_base(graph.target_keys), instance.t)})
    return leaves


def graph_base(keys) -> list[str]:
    """Keys without their instance (``x1[1]`` → ``x1``)."""
    return [k[: k.rindex("[")] if k.endswith("]") else k for k in keys]


def instance_view(batch_steps: Steps, num: Numbers, view_steps: Steps, n: int) -> Numbers:
    """Instance n (1-based) of a batch-wide evaluation ``num``, in the keys of the instance graph of ``view_steps``.

    Values: the instance's own, and the shared ones (parameters, batch statistics). Gradients (of the batch's
    summed loss): the instance's own quantities' and the batch statistics' in full; a parameter's is the
    instance's share, the sum over its terms through this instance's nodes. The instance's loss ``L`` has
    gradient 1 (the summed loss grows one for one with it).
    """
    bg = batch_steps.graph
    per_instance = {node.base for node in bg.nodes.values() if node.instance is not None}

    def batch_key(key: str) -> str:
        return f"{key}[{n}]" if key in per_instance else key

    value = {}
    for node in bg.nodes.values():
        if node.instance == n:
            value[node.base] = num.value[node.key]
        elif node.instance is None and node.role != "total":
            value[node.key] = num.value[node.key]
    grad = {}
    for key in view_steps.steps:
        node = bg[batch_key(key)]
        if node.trainable:
            grad[key] = sum(num.grad[t.child] * num.local[(t.child, node.key)]
                            for t in batch_steps.steps[node.key].terms if bg[t.child].instance == n) + 0.0
        elif node.role == "loss":
            grad[key] = 1.0
        else:
            grad[key] = num.grad[node.key]
    local = {(c, p): num.local[(batch_key(c), batch_key(p))] for c, p in view_steps.local}
    return Numbers(value=value, local=local, grad=grad, precision=num.precision)


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
    else:
        floats = _evaluate_float(steps, leaves, 53)
        bits = _precision_needed(graph, floats)
        return floats if bits == 53 else _evaluate_float(steps, leaves, bits)
    env = {graph[k].symbol: to_exact(v) for k, v in leaves.items()}
    for node in graph.computed:
        env[node.symbol] = node.expr.xreplace(env)
    local = {edge: expr.xreplace(env) for edge, expr in steps.local.items()}
    exact_grad = backward(steps, local, sp.S.One)

    def rounded(exact_values: dict, float_values: dict) -> dict:
        """A rational's float is its exact value rounded (0 is 0, not 1e-18 of float noise); a closed form's
        comes from the float pass (evaluating σ(σ(…)) to 30 digits took minutes)."""
        return {k: float(exact_values[k]) if k in exact_values and exact_values[k].is_Rational else v
                for k, v in float_values.items()}

    value = rounded({n.key: env[n.symbol] for n in graph.nodes.values()}, floats.value)
    return Numbers(value=value, local=rounded(local, floats.local), grad=rounded(exact_grad, floats.grad),
                   exact={n.key: env[n.symbol] for n in graph.nodes.values()}, exact_grad=exact_grad,
                   exact_local=local)


#: An output y (of a loss that takes logarithms) within this of 0 or 1 is saturated: more bits are carried.
SATURATED = 1e-6
#: The most bits a saturated output unit gets (|z| up to about 2700); beyond, a value may stay infinite.
MAX_PRECISION = 4096


def _evaluate_float(steps: Steps, leaves: dict[str, float], bits: int, raw: bool = False) -> Numbers:
    """Every value, local derivative and gradient in ``bits``-bit floats, stored as float64 (NaN where
    undefined, ±inf where beyond a float64: the pipeline refuses those, naming the quantity)."""
    graph = steps.graph
    env = {graph[k].symbol: sp.Float(v, precision=bits) if bits != 53 else sp.Float(v) for k, v in leaves.items()}
    for node in graph.computed:
        env[node.symbol] = node.expr.xreplace(env)
    local = {edge: expr.xreplace(env) for edge, expr in steps.local.items()}
    value = dict(leaves)
    value.update({n.key: _float(env[n.symbol]) for n in graph.computed})
    if bits == 53:
        local_values = {e: _float(v) for e, v in local.items()}
        return Numbers(value=value, local=local_values, grad=backward(steps, local_values, 1.0))
    grad = backward(steps, local, sp.Float(1, precision=bits))  # in the working precision, rounded at the end
    return Numbers(value=value, local={e: _float(v) for e, v in local.items()},
                   grad=grad if raw else {k: _float(g) for k, g in grad.items()}, precision=bits)


def _float(x) -> float:
    """A SymPy number as a float64: ±inf beyond its range, NaN where undefined (log 0, 0/0, complex)."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _precision_needed(graph: Graph, floats: Numbers) -> int:
    """53 bits, or enough for a loss whose logarithms need outputs inside (0, 1) when a unit saturates.

    With σ(40) rounded to 1 in 53 bits, log(1 − y) is log 0, and dL/dy·σ'(z) is ∞·0, though the loss
    (40) and dL/dz (1 − t) are ordinary numbers (PyTorch gets them from the logits). Carrying
    |z|·log2(e) + 64 bits keeps 1 − y = σ(−z) exact to 19 digits, so every number of the page is
    right to the last digit of its float64, as the stable forms of the NumPy reference give them.
    """
    bad = any(math.isnan(v) for v in floats.value.values()) or any(math.isnan(v) for v in floats.grad.values())
    if graph.loss.output_bounds is None and not bad:
        return 53
    last = len(graph.spec.layers) - 1  # every instance's outputs (a batch-wide graph has several)
    outputs = [floats.value[n.key] for n in graph.computed if n.role == "out" and n.layer == last]
    if not bad and all(SATURATED < y < 1 - SATURATED for y in outputs):
        return 53  # 1 − y keeps at least 10 of its digits in 53 bits: enough for checks at 1e-9
    zs = [abs(floats.value[n.key]) for n in graph.computed if n.role == "in" and math.isfinite(floats.value[n.key])]
    bits = 64 + 53 + math.ceil(max(zs, default=0.0) * math.log2(math.e))
    return min(max(bits, 128), MAX_PRECISION)


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
        grad[key] = (1.0 if key == graph.loss_key else 0.0) if not step.terms else rounding(  # 0: a dead end
            sum(rounding(grad[t.child] * local[(t.child, key)]) for t in step.terms))
    return Numbers(value=value, local=local, grad=grad)


def round_to(digits: int):
    """Rounding to ``digits`` significant digits."""
    return lambda x: float(f"{x:.{digits}g}")


def backward(steps: Steps, local: dict, one):
    """dL/d(node) = Σ dL/d(child) · ∂child/∂node, in backward order (floats or exact numbers alike)."""
    grad = {}
    loss_key = next(iter(steps.steps), None)  # backward order: the loss first (a later step without terms is a dead end)
    for key, step in steps.steps.items():
        grad[key] = (one if key == loss_key else one * 0) if not step.terms else sum((grad[t.child] * local[(t.child, key)] for t in step.terms[1:]),
                                                   grad[step.terms[0].child] * local[(step.terms[0].child, key)])
    return grad
