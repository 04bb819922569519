"""The mistake registry: the classic slips `derive check` recognises, one class each.

A :class:`Mistake` re-derives the example as a student who made that slip would have, and
returns the numbers of every quantity of the answers catalogue under it; `derive check` names
the mistake whose numbers match a wrong answer. A mistake asks the activation, loss, layer and
optimizer classes what it needs (whether an activation has a derivative factor, whether a
loss is squared, which path a student keeps in a layer and which weights they read the wrong way
round, how the optimizer steps); it never compares their names.

Adding a mistake is one class and one :func:`register` line (see docs/extending.md).
"""

from __future__ import annotations

import math
from typing import ClassVar, Iterator

import numpy as np

from derive.core.activations import activation_of
from derive.core.layers import layer_type
from derive.core.derivation import Derivation
from derive.core.numbers import Numbers, backward, instance_view, round_to
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
    if d.batch is not None and nums:  # the batch statistics and their gradients: every instance's view holds them
        for node in graph.nodes.values():
            if node.role in ("mean", "var"):
                values[f"batch.{node.key}"] = nums[0].value[node.key]
                values[f"batch.dL/d{node.key}"] = nums[0].grad[node.key]
    scale = d.scale if scale is None else scale
    total = {p.key: scale * sum(num.grad[p.key] for num in nums) + d.reg_grad[p.key] for p in graph.parameters}
    if len(nums) > 1:
        values["total.L"] = scale * sum(num.loss for num in nums) + d.regularization_term
        values.update({f"total.dL/d{k}": g for k, g in total.items()})
    training = d.spec.training
    if update and training is not None and d.after_step is not None and len(d.after_step.rates) > 1 \
            and d.batch is None and len(nums) == len(d.spec.data):  # θ⁽¹⁾: the first batch's step
        first = d.batch_gradient([nums[n] for n in d.after_step.first_batch], d.params)
        rate1 = training.first_rate if rate is None else rate
        for k in total:
            values[f"step1.{k}"] = training.optimizer.step(d.params[k], -sign * first[k], rate1)
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


def redo(d: Derivation, change) -> list[Numbers]:
    """Every instance's numbers with the backward pass redone after ``change(graph, steps, local)`` edited the local
    derivatives ``local`` (a dict it may change) of a graph: each instance graph in turn, or, with a layer that
    couples the instances (batch normalization), the batch-wide graph once, then each instance's view of it, so the
    batch statistics' gradients, which sum over the batch, carry the slip too."""
    if d.batch is None:
        out = []
        for num in d.instances:
            local = dict(num.local)
            change(d.graph, d.steps, local)
            out.append(with_grads(num, backward(d.steps, local, 1.0)))
        return out
    b = d.batch
    local = dict(b.numbers.local)
    change(b.graph, b.steps, local)
    num = Numbers(value=b.numbers.value, local=local, grad=backward(b.steps, local, 1.0))
    return [instance_view(b.steps, num, d.steps, n) for n in range(1, len(b.rows) + 1)]


def working_graph(d: Derivation) -> tuple:
    """(graph, steps) the backward pass of a mistake is redone on: the instance graph, or the batch-wide one."""
    return (d.graph, d.steps) if d.batch is None else (d.batch.graph, d.batch.steps)


def weight_edges(graph, steps, local):
    """The edges (child, node) whose local derivative is a weight (∂z/∂a of a weighted sum, ∂(γx̂ + β)/∂x̂), with
    that weight's key: the edges a slip with the weights changes in the backward pass."""
    for (child, node) in local:
        if graph[node].role in ("weight", "bias"):
            continue
        weight = graph.by_symbol.get(steps.local[(child, node)])
        if weight is not None and weight.role == "weight":
            yield child, node, weight.key


def downward(sites: dict) -> Iterator[tuple]:
    """For each slip site (layer, …) from the output down: (the site, every site at it or below it). A student who
    makes a slip at one layer most likely makes it again below; a slip made at one layer only is found there, and
    the answers below it then follow from the wrong ones (the judge's first wrong step)."""
    for site in sorted(sites, key=lambda s: -s[0]):
        yield site, [s for s in sites if s[0] < site[0] or s == site]


class MissingPath(Mistake):
    """Only one path counted where a node feeds several others of one layer; the layer type says which path a
    student keeps (dense: the unit of the same index; a convolution: one window, or one position of a shared
    weight; a normalization: the path through x̂ alone, its mean and variance taken for constants)."""

    name = "missing-path"

    @staticmethod
    def sites(d, graph, steps) -> dict[tuple[int, str], dict[str, list]]:
        """(layer, aspect) → {node: the children whose paths the slip drops}."""
        sites: dict[tuple[int, str], dict[str, list]] = {}
        for key, step in steps.steps.items():
            if len(step.terms) < 2:
                continue
            node, terms = graph[key], {t.child for t in step.terms}
            groups: dict[tuple, list[str]] = {}
            for c in graph.children[key]:
                child = graph[c]
                if c in terms and child.layer is not None:  # per layer (and per instance, for a shared parameter)
                    groups.setdefault((child.layer, child.instance if node.instance is None else None), []).append(c)
            everywhere = [c for group in groups.values() for c in group]
            for (m, _n), group in groups.items():
                layer = d.spec.layers[m]
                if layer_type(layer).needs_earlier and len(group) < len(everywhere):
                    group = everywhere  # a residual addition: its skip path against the paths through the branch
                if len(group) < 2 or (node.layer == m and node.role not in ("weight", "bias")):
                    continue  # a layer's own inner nodes (a softmax's sums, a batch mean) are not a path slip
                answer = layer_type(layer).one_path(layer, graph, key, group)
                if answer is not None:
                    aspect, kept = answer
                    sites.setdefault((m, aspect), {})[key] = [c for c in group if c not in kept]
        return sites

    def models(self, d):
        graph, steps = working_graph(d)
        sites = self.sites(d, graph, steps)

        def one_path(graph, steps, local, chosen):
            for site in chosen:
                for node, dropped in sites[site].items():
                    for c in dropped:
                        local[(c, node)] = 0.0

        def below(site) -> int:
            """The layer of the nodes that slip at ``site`` (a parameter's: the one before its layer; inputs: -1):
            the sites into that layer or before it are below it in the backward pass (a residual branch is not)."""
            layers = [-1 if graph[n].layer is None else graph[n].layer - (graph[n].role in ("weight", "bias"))
                      for n in sites[site]]
            return max(layers)

        for (m, aspect), _chosen in downward(sites):
            layer = d.spec.layers[m]
            # the slip here and again below it; a node slips once: the sites that touch this one's nodes are left out
            chosen = [s for s in sites if s == (m, aspect) or (s[0] <= below((m, aspect))
                                                              and not set(sites[s]) & set(sites[(m, aspect)]))]
            yield (f"missing-path-{layer.name}" + ("" if aspect in ("input", "statistics") else f"-{aspect}"),
                   layer_type(layer).one_path_words(layer, aspect),
                   redo(d, lambda g, s, local, chosen=chosen: one_path(g, s, local, chosen)), {})


class NoDerivative(Mistake):
    """The activation's derivative f'(z) left out, layer by layer (for activations that have one)."""

    name = "no-derivative"

    def models(self, d):
        sites = {(l,): l for l, layer in enumerate(d.spec.layers) if activation_of(layer).has_derivative_factor}

        def no_derivative(graph, steps, local, layers):
            for (child, node) in local:
                a, z = graph[child], graph[node]
                if a.role == "out" and z.role == "in" and a.layer == z.layer and a.layer in layers:
                    local[(child, node)] = 1.0 if a.index == z.index else 0.0

        for (l,), chosen in downward(sites):
            layer = d.spec.layers[l]
            layers = {s[0] for s in chosen}
            yield (f"no-derivative-{layer.name}", _("the activation's derivative left out in layer %(name)s: "
                                                    "∂L/∂z needs the factor f'(z) of %(activation)s")
                   % {"name": layer.name, "activation": layer.activation},
                   redo(d, lambda g, s, local, layers=layers: no_derivative(g, s, local, layers)), {})


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
    """Weights read the wrong way round, in the backward pass or in the forward pass; the layer type says how
    (a square weight matrix transposed; a convolution's kernel rotated by 180°, convolution for correlation;
    none for a batch normalization's γ)."""

    name = "transposed"

    def models(self, d):
        spec, graph = d.spec, d.graph
        sites = {}
        for l, layer in enumerate(spec.layers):
            swap = layer_type(layer).swapped(layer, graph.layer_weights[l]) if graph.layer_weights[l] else {}
            if swap:
                sites[(l,)] = swap

        def backward_swapped(graph, steps, local, swap):
            for child, node, w in list(weight_edges(graph, steps, local)):
                if w in swap:
                    local[(child, node)] = d.params[swap[w]]

        for (l,), chosen in downward(sites):
            layer = spec.layers[l]
            swap = {k: v for s in chosen for k, v in sites[s].items()}
            yield (f"transposed-backward-{layer.name}", layer_type(layer).swapped_words(layer, True),
                   redo(d, lambda g, s, local, swap=swap: backward_swapped(g, s, local, swap)), {})
        for (l,) in sorted(sites):  # the forward pass: the slip at layer l and every layer after it
            layer = spec.layers[l]
            swapped = dict(d.params)
            for s in sites:
                if s[0] >= l:
                    swapped.update({k: d.params[v] for k, v in sites[s].items()})
            yield (f"transposed-forward-{layer.name}", layer_type(layer).swapped_words(layer, False),
                   list(d.evaluate_data(swapped)), {})


class UpdatedWeights(Mistake):
    """The updated weights used in the backward pass."""

    name = "updated-weights"

    def models(self, d):
        if d.after_step is None or not d.spec.training.one_update(len(d.spec.data)):
            return
        new = d.after_step.params

        def updated(graph, steps, local):
            # ∂z/∂a of a weighted sum is the weight that multiplies a there (any layer type; γ of a normalization)
            for child, node, w in list(weight_edges(graph, steps, local)):
                local[(child, node)] = new[w]

        yield ("updated-weights", _("the updated weights used in the backward pass, where the original ones belong"),
               redo(d, updated), {})


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
