"""The mistake registry: the classic slips `derive check` recognises, one class each.

A :class:`Mistake` re-derives the example as a student who made that slip would have, and
returns the numbers of every quantity of the answers catalogue under it; `derive check` names
the mistake whose numbers match a wrong answer. A mistake asks the activation, loss and
optimizer classes what it needs (whether an activation has a derivative factor, whether a
loss is squared, how the optimizer steps); it never compares their names.

Adding a mistake is one class and one :func:`register` line (see docs/extending.md).
"""

from __future__ import annotations

import math
from typing import ClassVar, Iterator

import numpy as np

from derive.core.activations import activation_of
from derive.core.derivation import Derivation
from derive.core.numbers import Numbers, backward, round_to
from derive.i18n import _

#: (label, explanation, per-instance numbers, options of :func:`quantity_values`) of one model of a mistake.
Model = tuple[str, str, list[Numbers], dict]


def quantity_values(d: Derivation, nums: list[Numbers], *, scale: float | None = None, sign: float = -1.0,
                    rate: float | None = None, update: bool = True) -> dict[str, float]:
    """The catalogue's numbers for another set of per-instance numbers (totals and update recomputed).

    ``sign`` = +1 steps along the gradient instead of against it (the ascent mistake).
    """
    graph = d.graph
    values: dict[str, float] = {}
    for n, num in enumerate(nums):
        table = f"instance{n + 1}"
        for node in graph.computed:
            values[f"{table}.{node.key}"] = num.value[node.key]
        for key, g in num.grad.items():
            if key != graph.loss_key:
                values[f"{table}.dL/d{key}"] = g
    scale = d.scale if scale is None else scale
    total = {p.key: scale * sum(num.grad[p.key] for num in nums) + d.reg_grad[p.key] for p in graph.parameters}
    if len(nums) > 1:
        values["total.L"] = scale * sum(num.loss for num in nums) + d.regularization_term
        values.update({f"total.dL/d{k}": g for k, g in total.items()})
    training = d.spec.training
    if update and training is not None and training.one_update(len(d.spec.data)):
        rate = training.first_rate if rate is None else rate
        values.update({f"update.{k}": training.optimizer.step(d.params[k], -sign * g, rate) for k, g in total.items()})
    return values


def with_grads(num: Numbers, grad: dict) -> Numbers:
    """The same numbers with other gradients."""
    return Numbers(value=num.value, local=num.local, grad=grad)


class Mistake:
    """A classic slip: :meth:`models` yields the ways it can be made in one derivation (none when it cannot)."""

    name: ClassVar[str]
    kind: ClassVar[str] = "network"
    """What it is a mistake in: ``network`` (models give per-instance Numbers) or ``circuit`` (models give the
    circuit's answers-file numbers directly: derive.grade.circuit)."""

    def models(self, d: Derivation) -> Iterator[Model]:
        raise NotImplementedError


#: With a layer that couples the instances (batch normalization), the models that re-run one instance's backward
#: pass with a local derivative changed (missing-path, no-derivative, transposed-backward, updated-weights) are
#: left out: an instance's steps alone do not carry the batch statistics' gradients, which sum over the batch.
COUPLED = "models re-running one instance's backward pass are left out"


class Reduction(Mistake):
    """The instances summed where the loss averages them, or the other way round."""

    name = "reduction"

    def models(self, d):
        nums = list(d.instances)
        if len(nums) > 1:
            reduction = d.spec.reduction
            other = 1.0 / len(nums) if reduction == "sum" else 1.0
            text = (_("the instances averaged where the loss sums them (reduction = %(reduction)s)") if other < 1 else
                    _("the instances summed where the loss averages them (reduction = %(reduction)s)"))
            yield ("reduction", text % {"reduction": f'"{reduction}"'}, nums, {"scale": other})


class MissingPath(Mistake):
    """Only one path counted where a unit feeds several others."""

    name = "missing-path"

    def models(self, d):
        graph, steps = d.graph, d.steps
        if d.coupled:  # re-running one instance's backward pass alone misses the batch's (see COUPLED)
            return
        if not any(len(s.terms) > 1 and graph[k].role in ("out", "input") for k, s in steps.steps.items()):
            return

        def one_path(num):
            grad = {}
            for key, step in steps.steps.items():
                terms = step.terms
                if len(terms) > 1 and graph[key].role in ("out", "input"):
                    same = [t for t in terms if graph[t.child].index[:1] == graph[key].index[:1]]
                    terms = same[:1] or terms[:1]
                grad[key] = 1.0 if not terms else sum(grad[t.child] * num.local[(t.child, key)] for t in terms)
            return with_grads(num, grad)

        yield ("missing-path", _("a missing path: a unit that feeds several others gets its gradient as the sum over "
                                 "all of them, and only one path was counted"), [one_path(n) for n in d.instances], {})


class NoDerivative(Mistake):
    """The activation's derivative f'(z) left out, layer by layer (for activations that have one)."""

    name = "no-derivative"

    def models(self, d):
        graph, steps = d.graph, d.steps
        if d.coupled:  # see COUPLED
            return
        for l, layer in enumerate(d.spec.layers):
            if not activation_of(layer).has_derivative_factor:
                continue
            units = graph.layer_units[l]

            def no_derivative(num, units=units):
                local = dict(num.local)
                for j, (z, a) in enumerate(units):
                    for i, (z2, _a) in enumerate(units):
                        if (a, z2) in local:
                            local[(a, z2)] = 1.0 if i == j else 0.0
                return with_grads(num, backward(steps, local, 1.0))

            yield (f"no-derivative-{layer.name}", _("the activation's derivative left out in layer %(name)s: "
                                                    "∂L/∂z needs the factor f'(z) of %(activation)s")
                   % {"name": layer.name, "activation": layer.activation}, [no_derivative(n) for n in d.instances], {})


class Signs(Mistake):
    """The error written t − y (every gradient flips); gradient ascent in the update."""

    name = "signs"

    def models(self, d):
        nums = list(d.instances)
        errors = [node.key for node in d.graph.computed if node.role == "error"]
        # the student's errors are t − y: their values flip with every gradient
        flipped = [Numbers(value={**n.value, **{e: -n.value[e] for e in errors}}, local=n.local,
                           grad={k: -g for k, g in n.grad.items()}) for n in nums]
        yield ("sign-error", _("a sign error: the error written t − y instead of y − t, which flips every gradient"),
               flipped, {"sign": 1.0})
        yield ("ascent", _("the update went uphill: θ + η ∂L/∂θ instead of θ − η ∂L/∂θ"), nums, {"sign": 1.0})


class FactorTwo(Mistake):
    """The factor 2 (or ½, or 1/K) of a squared loss lost or doubled."""

    name = "factor-two"

    def models(self, d):
        if not d.graph.loss.squared:
            return
        nums = list(d.instances)
        yield ("factor-half", _("the factor 2 of the squared error lost (∂(e²)/∂e = 2e)"),
               [with_grads(n, {k: 0.5 * g for k, g in n.grad.items()}) for n in nums], {})
        yield ("factor-two", _("a factor 2 too many: the ½ of the loss (or the 1/K of the mean) forgotten"),
               [with_grads(n, {k: 2.0 * g for k, g in n.grad.items()}) for n in nums], {})


class Transposed(Mistake):
    """Square weight matrices read transposed, in the backward pass or in the forward pass."""

    name = "transposed"

    def models(self, d):
        graph, steps, spec = d.graph, d.steps, d.spec
        square = [l for l, layer in enumerate(spec.layers) if len(layer.weights) == layer.size]
        if not square:
            return

        def transposed_backward(num):
            local = dict(num.local)
            for l in square:
                keys = graph.layer_weights[l]
                prev = graph.input_keys if l == 0 else [a for _, a in graph.layer_units[l - 1]]
                for j, (z, _) in enumerate(graph.layer_units[l]):
                    for i, a in enumerate(prev):
                        if (z, a) in local:
                            local[(z, a)] = d.params[keys[j][i]]
            return with_grads(num, backward(steps, local, 1.0))

        if not d.coupled:  # see COUPLED
            yield ("transposed-backward", _("the weight matrix read transposed in the backward pass (w_ji used for w_ij)"),
                   [transposed_backward(n) for n in d.instances], {})
        swapped = dict(d.params)
        for l in square:
            keys = graph.layer_weights[l]
            for i, row in enumerate(keys):
                for j, key in enumerate(row):
                    swapped[key] = d.params[keys[j][i]]
        yield ("transposed-forward", _("the weights read transposed (w_ji used for w_ij)"),
               list(d.evaluate_data(swapped)), {})


class UpdatedWeights(Mistake):
    """The updated weights used in the backward pass."""

    name = "updated-weights"

    def models(self, d):
        graph = d.graph
        if d.after_step is None or not d.spec.training.one_update(len(d.spec.data)) or d.coupled:  # see COUPLED
            return

        def updated_backward(num):
            local = dict(num.local)
            for (child, node) in local:
                if graph[child].role == "in" and graph[node].role in ("out", "input"):
                    # ∂z/∂a of a weighted sum is the weight that multiplies a there (any layer type)
                    weight = graph.by_symbol.get(d.steps.local[(child, node)])
                    if weight is not None and weight.role == "weight":
                        local[(child, node)] = d.after_step.params[weight.key]
            return with_grads(num, backward(d.steps, local, 1.0))

        yield ("updated-weights", _("the updated weights used in the backward pass, where the original ones belong"),
               [updated_backward(n) for n in d.instances], {})


class Rounded(Mistake):
    """Intermediate values rounded and carried forward; float32 arithmetic."""

    name = "rounded"

    def models(self, d):
        for digits in (2, 3, 4):
            yield (f"rounded-{digits}", _("intermediate values rounded to %(digits)s significant digits and carried "
                                          "forward") % {"digits": digits},
                   list(d.evaluate_data(d.params, rounding=round_to(digits))), {})
        yield ("float32", _("float32 arithmetic (PyTorch's default dtype) instead of float64"),
               list(d.evaluate_data(d.params, rounding=lambda x: float(np.float32(x)))), {})


class LearningRate(Mistake):
    """Another learning rate in the update: rates of two significant digits near the given one."""

    name = "learning-rate"

    def models(self, d):
        spec = d.spec
        if d.after_step is None or not spec.training.one_update(len(spec.data)):
            return
        for rate in nearby_rates(spec.training.first_rate):
            yield (f"rate-{rate:g}", _("the update used learning rate %(rate)s instead of %(given)s")
                   % {"rate": f"{rate:g}", "given": f"{spec.training.first_rate:g}"}, list(d.instances), {"rate": rate})


def nearby_rates(rate: float) -> list[float]:
    """Learning rates a student or author might have used instead: two significant digits, 0.1× to 10×."""
    exponent = math.floor(math.log10(rate))
    rates = sorted({round(m * 10.0 ** e, 12) for e in (exponent - 1, exponent, exponent + 1)
                    for m in [k / 10 for k in range(10, 100)]})
    return [r for r in rates if r != rate and rate / 10 <= r <= rate * 10]


# --------------------------------------------------------------------------- the registry


#: Name → the mistake, in the order `derive check` tries them.
MISTAKES: dict[str, Mistake] = {}


def register(cls: type[Mistake]) -> type[Mistake]:
    """Add a mistake class (tried after those registered before it)."""
    MISTAKES[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    MISTAKES.pop(name, None)


# --------------------------------------------------------------------------- circuits


class _CircuitMistake(Mistake):
    """A slip in a circuit's backward pass: the gradients redone with other local gradients or other sums."""

    kind = "circuit"

    @staticmethod
    def redo(d, local: dict | None = None, terms=None) -> dict[str, float]:
        """The answers-file numbers with other local gradients, or with ``terms(name, children)`` choosing the
        gates whose gradients reach a name (values unchanged: the forward pass is not the slip)."""
        from derive.grade.circuit import grad_name

        local = d.numbers.local if local is None else local
        out_key = d.spec.output
        grad: dict[str, float] = {}
        values = {k: d.value[k] for k in d.graph.nodes if d.graph[k].expr is not None}
        for key, step in d.steps.steps.items():
            children = [t.child for t in step.terms]
            if terms is not None and children:
                children = terms(key, children)
            grad[key] = 1.0 if key == out_key else sum(grad[c] * local[(c, key)] for c in children)
        values.update({grad_name(d, k): g for k, g in grad.items() if k != out_key})
        return values


class BranchNotAdded(_CircuitMistake):
    """A wire that branches into several gates: the gradient of one branch taken, the others not added."""

    name = "branch-not-added"

    def models(self, d):
        for key, kids in d.graph.children.items():
            if len(kids) < 2:
                continue
            for keep in kids:
                others = ", ".join(k for k in kids if k != keep)
                yield (f"branch-not-added-{key}-{keep}",
                       _("the wire %(name)s branches into %(gates)s: the gradients of its branches add, and only "
                         "the one through %(kept)s was counted (not through %(others)s)")
                       % {"name": key, "gates": ", ".join(kids), "kept": keep, "others": others},
                       self.redo(d, terms=lambda k, cs, key=key, keep=keep: [keep] if k == key else cs), {})


class WrongGate(_CircuitMistake):
    """A gate's local gradient taken from another gate: 1 (an add gate's) for a product, the input's own value
    instead of the other input for a product, the other input for a sum, the sign of a subtraction dropped."""

    name = "wrong-gate"

    def models(self, d):
        import ast

        for node in d.spec.nodes:
            tree = node.formula.tree
            if not (isinstance(tree, ast.BinOp) and isinstance(tree.left, ast.Name) and isinstance(tree.right, ast.Name)
                    and tree.left.id != tree.right.id):
                continue
            a, b = tree.left.id, tree.right.id
            c = node.name
            for mine, other in ((a, b), (b, a)):
                if (c, mine) not in d.numbers.local:
                    continue
                alternatives = []
                if isinstance(tree.op, ast.Mult):
                    names = {"c": c, "n": mine, "gate": f"{c} = {a}·{b}", "other": other}
                    alternatives = [(d.value[mine], _("∂%(c)s/∂%(n)s of the multiply gate %(gate)s is the other "
                                                      "input %(other)s, not %(n)s itself") % names),
                                    (1.0, _("∂%(c)s/∂%(n)s taken as 1, an add gate's local gradient, but %(gate)s "
                                            "multiplies: its local gradient is the other input %(other)s") % names)]
                elif isinstance(tree.op, (ast.Add, ast.Sub)):
                    sign = -1.0 if isinstance(tree.op, ast.Sub) and mine == b else 1.0
                    names = {"c": c, "n": mine, "gate": f"{c} = {node.text}", "other": other, "sign": f"{sign:+g}"}
                    alternatives = [(sign * d.value[other], _("∂%(c)s/∂%(n)s taken as the other input %(other)s, a "
                                                              "multiply gate's local gradient, but %(gate)s adds: its "
                                                              "local gradient is %(sign)s") % names)]
                    if sign < 0:
                        alternatives.append((1.0, _("the sign of the subtraction dropped: ∂%(c)s/∂%(n)s of %(gate)s "
                                                    "is -1") % names))
                for value, why in alternatives:
                    local = dict(d.numbers.local)
                    local[(c, mine)] = value
                    yield f"wrong-gate-{c}-{mine}", why, self.redo(d, local=local), {}


class UpstreamNotMultiplied(_CircuitMistake):
    """The local gradient alone taken as the gradient: the gradient arriving from the gate above not multiplied in."""

    name = "upstream-not-multiplied"

    def models(self, d):
        out = d.spec.output
        values = {k: d.value[k] for k in d.graph.nodes if d.graph[k].expr is not None}
        from derive.grade.circuit import grad_name

        for key, step in d.steps.steps.items():
            if key != out:
                values[grad_name(d, key)] = sum(d.numbers.local[(t.child, key)] for t in step.terms)
        yield ("upstream-not-multiplied", _("the local gradient alone: the chain rule multiplies it by the gradient "
                                            "arriving from the gate above (d%(out)s/dc · ∂c/∂n)") % {"out": out},
               values, {})


for _cls in (Reduction, MissingPath, NoDerivative, Signs, FactorTwo, Transposed, UpdatedWeights, Rounded,
             LearningRate, BranchNotAdded, WrongGate, UpstreamNotMultiplied):
    register(_cls)


def mistakes(d: Derivation) -> list[tuple[str, str, dict[str, float]]]:
    """Every classic mistake as (label, explanation, the catalogue's numbers under that mistake)."""
    kind = getattr(d, "kind", "network")
    if kind == "circuit":
        return [(label, explanation, values) for mistake in MISTAKES.values() if mistake.kind == kind
                for label, explanation, values, _ in mistake.models(d)]
    return [(label, explanation, quantity_values(d, nums, **options))
            for mistake in MISTAKES.values() if mistake.kind == kind
            for label, explanation, nums, options in mistake.models(d)]
