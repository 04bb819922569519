"""The derivation record: a spec's graph, steps and numbers, and the `derive values` JSON.

It is assembled, checked and rendered by :mod:`derive.pipeline`; it neither checks nor renders itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from derive.verify import reference
from derive.core.chain import Steps
from derive.core.graph import Graph
from derive.core.numbers import Numbers, evaluate, leaf_values, to_exact
from derive.core.optimizers import optimizer_of
from derive.spec.parse import Spec


@dataclass(frozen=True)
class Update:
    """The first epoch of gradient descent and its effect."""

    params: dict[str, float]
    """Every parameter after the epoch (fixed biases unchanged)."""
    exact_params: dict | None
    """In exact arithmetic and batch mode, the new parameters as exact numbers."""
    instances: tuple[Numbers, ...]
    """Each instance evaluated again with the new parameters."""
    loss: float


@dataclass(eq=False)
class Derivation:
    """A worked example: every value, step and gradient of a spec, checked."""

    spec: Spec
    graph: Graph
    steps: Steps
    params: dict[str, float]
    """The initial parameters."""
    instances: tuple[Numbers, ...]
    """Each instance evaluated with the initial parameters."""
    checks: dict = field(default_factory=dict)
    """Name → :class:`derive.verify.checks.Check`, filled in by :func:`derive.pipeline.check`."""

    @cached_property
    def loss(self) -> float:
        """The total loss, reduction applied."""
        return self._reduce([num.loss for num in self.instances])

    @cached_property
    def grad(self) -> dict[str, float]:
        """The gradient of the total loss with respect to every trainable parameter."""
        return {p.key: self._reduce([num.grad[p.key] for num in self.instances]) for p in self.graph.parameters}

    @property
    def exact(self) -> bool:
        return self.spec.arithmetic == "exact"

    @cached_property
    def exact_grad(self) -> dict | None:
        """In exact arithmetic, the total gradient as exact numbers."""
        if not self.exact:
            return None
        scale = sp.Integer(1) if self.spec.reduction == "sum" else sp.Rational(1, len(self.instances))
        return {p.key: scale * sp.Add(*[num.exact_grad[p.key] for num in self.instances])
                for p in self.graph.parameters}

    @property
    def scale(self) -> float:
        """1 for a summed loss, 1/N for a mean."""
        return 1.0 if self.spec.reduction == "sum" else 1.0 / len(self.instances)

    def _reduce(self, values: list[float]) -> float:
        return sum(values) * self.scale

    @cached_property
    def after_step(self) -> Update | None:
        """Batch: one update from the total gradient; online: one per instance, in data order."""
        training = self.spec.training
        if training is None:
            return None
        rate, opt = training.learning_rate, optimizer_of(training)
        params = dict(self.params)
        exact_params = None
        if training.mode == "batch":
            params = opt.update(params, self.grad, rate)
            if self.exact:
                exact_params = opt.update({k: to_exact(v) for k, v in self.params.items()}, self.exact_grad,
                                          to_exact(rate))
        else:
            for inst in self.spec.data:
                num = evaluate(self.steps, leaf_values(self.graph, params, inst))
                params = opt.update(params, {p.key: num.grad[p.key] for p in self.graph.parameters}, rate)
        after = tuple(evaluate(self.steps, leaf_values(self.graph, params, inst)) for inst in self.spec.data)
        return Update(params=params, exact_params=exact_params, instances=after,
                      loss=self._reduce([n.loss for n in after]))

    @cached_property
    def training(self) -> reference.TrainingRun | None:
        """``epochs`` epochs, run with the NumPy reference (no symbols needed)."""
        return reference.train(self.spec) if self.spec.training is not None else None

    # ------------------------------------------------------------------ Jupyter

    def _repr_markdown_(self) -> str:
        """In a notebook, a derivation displays itself as its worked example."""
        from derive.render.page import render

        return render(self, fragment=True)

    def _repr_latex_(self) -> str:
        from derive.render.page import render

        return render(self, fmt="tex", fragment=True)

    # ------------------------------------------------------------------ JSON

    def layer_values(self, num: Numbers) -> dict:
        return {layer.name: {"in": [num.value[z] for z, _ in units], "out": [num.value[a] for _, a in units]}
                for layer, units in zip(self.spec.layers, self.graph.layer_units)}

    def param_tree(self, values: dict[str, float], *, gradient: bool) -> dict:
        """{layer: {weights: [[...]], bias: [...] | None}}; for gradients, fixed biases are None."""
        tree = {}
        for layer, wkeys, bkeys in zip(self.spec.layers, self.graph.layer_weights, self.graph.layer_bias):
            bias = None
            if bkeys is not None and (layer.train_bias or not gradient):
                bias = [values[k] for k in bkeys]
            tree[layer.name] = {"weights": [[values[k] for k in row] for row in wkeys], "bias": bias}
        return tree

    def to_values(self) -> dict:
        """Every number, as the JSON of `derive values` (docs/json.md)."""
        spec, graph = self.spec, self.graph
        instances = []
        for inst, num in zip(spec.data, self.instances):
            grad = self.param_tree(num.grad, gradient=True)
            for layer, units in zip(spec.layers, graph.layer_units):
                grad[layer.name]["in"] = [num.grad[z] for z, _ in units]
                grad[layer.name]["out"] = [num.grad[a] for _, a in units]
            grad["inputs"] = [num.grad[k] for k in graph.input_keys]
            nodes = {k: {"value": num.value[k], "grad": num.grad.get(k)} for k in graph.nodes}
            if num.exact is not None:
                for k, entry in nodes.items():
                    entry["exact"] = {"value": sp.sstr(num.exact[k]),
                                      "grad": sp.sstr(num.exact_grad[k]) if k in num.exact_grad else None}
            instances.append({"x": list(inst.x), "t": list(inst.t), "loss": num.loss,
                              "layers": self.layer_values(num), "grad": grad, "nodes": nodes})
        out = {"name": spec.name, "arithmetic": spec.arithmetic, "loss": self.loss, "reduction": spec.reduction,
               "instances": instances,
               "grad": self.param_tree(self.grad, gradient=True)}
        if self.after_step is not None:
            out["after_step"] = {"layers": self.param_tree(self.after_step.params, gradient=False),
                                 "loss": self.after_step.loss,
                                 "outputs": [[n.value[a] for _, a in graph.layer_units[-1]]
                                             for n in self.after_step.instances],
                                 "instance_losses": [n.loss for n in self.after_step.instances]}
            run = self.training
            final = {}
            for l, layer in enumerate(spec.layers):
                final[layer.name] = {"weights": run.params.W[l].tolist(),
                                     "bias": None if run.params.b[l] is None else run.params.b[l].tolist()}
            out["training"] = {"epochs": spec.training.epochs, "mode": spec.training.mode,
                               "learning_rate": spec.training.learning_rate, "loss": run.losses,
                               "layers": final, "outputs": run.outputs.tolist()}
        out["checks"] = {name: c.to_json() for name, c in self.checks.items()}
        return out

