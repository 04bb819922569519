"""The derivation record: a spec's graph, steps and numbers, and the `derive values` JSON.

It is assembled, checked and rendered by :mod:`derive.pipeline`; it neither checks nor renders itself.

A network whose layers never couple instances is evaluated instance by instance on its instance graph,
and the gradient of the total loss is the sum (``reduction = "sum"``) or mean of the instances'
gradients, plus the regularization term's once. A network with a coupling layer (``batchnorm``) is
evaluated on a batch-wide graph (:class:`Batch`): the whole data for the derivation, each mini-batch
(with its own statistics) for the updates. Its root is the summed loss of the batch, so the same rule
holds: the gradient of the total loss is the sum (or mean) of the instances' shares, plus the
regularization term's once. ``instances`` then holds each instance's view of the batch
(:func:`derive.core.numbers.instance_view`), and ``batch`` the batch-wide graph, steps and numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import sympy as sp

from derive.verify import reference
from derive.core.chain import Steps, derive_steps, instance_steps
from derive.core.graph import Graph, build_batch_graph
from derive.core.layers import layer_type
from derive.core.numbers import (Numbers, backward, batch_leaf_values, evaluate, instance_view, leaf_values,
                                 to_exact)
from derive.spec.parse import Spec


@dataclass(frozen=True, eq=False)
class Batch:
    """A batch-wide graph evaluated: its steps, its numbers, and each instance's view in the instance graph's keys."""

    graph: Graph
    steps: Steps
    numbers: Numbers
    views: tuple[Numbers, ...]
    rows: range
    """The instances (0-based) of the data the batch holds, in order."""


@functools.lru_cache(maxsize=8)
def _batch_form(spec: Spec, size: int) -> tuple[Graph, Steps]:
    graph = build_batch_graph(spec, size)
    return graph, derive_steps(graph)


def evaluate_batch(spec: Spec, view_steps: Steps, params: dict[str, float], rows: range) -> Batch:
    """The batch of the data's instances ``rows`` at ``params``: one evaluation of its batch-wide graph."""
    graph, steps = _batch_form(spec, len(rows))
    num = evaluate(steps, batch_leaf_values(graph, params, [spec.data[i] for i in rows]))
    views = tuple(instance_view(steps, num, view_steps, n) for n in range(1, len(rows) + 1))
    return Batch(graph=graph, steps=steps, numbers=num, views=views, rows=rows)


def batch_steps(spec: Spec, graph: Graph) -> Steps:
    """One instance's chain-rule steps of a coupled network (read off a batch-wide graph of 2 instances)."""
    return instance_steps(_batch_form(spec, max(2, len(spec.data)))[1], graph)


@dataclass(frozen=True)
class Update:
    """The first epoch of training (one update per batch) and its effect."""

    params: dict[str, float]
    """Every parameter after the epoch (fixed biases unchanged)."""
    exact_params: dict | None
    """In exact arithmetic, with one update an epoch and an optimizer without square roots, the new
    parameters as exact numbers."""
    instances: tuple[Numbers, ...]
    """Each instance evaluated again with the new parameters."""
    loss: float
    """The total loss after the epoch (regularization included)."""
    first_batch: range = range(0)
    """The instances (0-based) whose gradient makes the first update."""
    first_grad: dict[str, float] = field(default_factory=dict)
    """The gradient of the first update: the first batch's reduced loss plus the regularization term."""
    first_data_grad: dict[str, float] = field(default_factory=dict)
    """``first_grad`` without the regularization term: the gradient of the first batch's reduced loss."""
    first_reg_grad: dict[str, float] = field(default_factory=dict)
    """The regularization term's part of ``first_grad`` (0 for parameters it does not cover)."""
    first_params: dict[str, float] = field(default_factory=dict)
    """Every parameter after the first update."""
    lines: dict[str, tuple] = field(default_factory=dict)
    """Parameter → the optimizer's :class:`~derive.core.optimizers.Line` s of its first update."""
    rates: tuple[float, ...] = ()
    """The learning rate of each update of the epoch (the schedule's)."""
    first_instances: tuple[Numbers, ...] = ()
    """The instances of the first batch evaluated at the initial parameters (with a coupling layer: with that
    batch's own statistics)."""
    state: dict[str, dict] = field(default_factory=dict)
    """Parameter → the optimizer's buffers after the epoch, by PyTorch's names."""
    first_cancelled: dict[str, float] = field(default_factory=dict)
    """The parameters whose gradient in the first update is 0 because its terms cancel (:meth:`Derivation.cancelled`),
    with the float64 sum of the terms, round-off, that 0 replaces."""
    trail: tuple[tuple[dict, dict, dict], ...] = ()
    """Per update of the epoch: the parameters and the optimizer's state before it, and its slack, parameter → how far
    the round-off of its gradient can move it (``theta``) and each buffer (:meth:`Derivation._slack`). The update
    check redoes each update from the same start with NumPy and allows the slack on top of its tolerance."""

    @property
    def updates(self) -> int:
        return len(self.rates)


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
    batch: Batch | None = None
    """With a layer that couples instances: the whole data's batch-wide graph evaluated (``instances`` are its
    views); else None."""

    @property
    def coupled(self) -> bool:
        """Whether a layer couples the instances (the numbers come from a batch-wide graph)."""
        return self.batch is not None

    def evaluate_data(self, params: dict[str, float], data=None, rounding=None) -> tuple[Numbers, ...]:
        """Every instance of ``data`` (the spec's by default) evaluated at ``params``, in floats or with every
        intermediate rounded by ``rounding`` (:func:`derive.core.numbers.evaluate_rounded`): one by one, or as one
        batch when a layer couples them (then each instance's view)."""
        from derive.core.numbers import evaluate_rounded

        data = self.spec.data if data is None else data
        if self.batch is None:
            if rounding is None:
                return tuple(evaluate(self.steps, leaf_values(self.graph, params, inst)) for inst in data)
            return tuple(evaluate_rounded(self.steps, leaf_values(self.graph, params, inst), rounding) for inst in data)
        graph, steps = _batch_form(self.spec, len(data))
        leaves = batch_leaf_values(graph, params, data)
        num = evaluate(steps, leaves) if rounding is None else evaluate_rounded(steps, leaves, rounding)
        return tuple(instance_view(steps, num, self.steps, n) for n in range(1, len(data) + 1))

    def evaluate_rows(self, rows, params: dict[str, float]) -> tuple[Numbers, ...]:
        """The data's instances ``rows`` evaluated at ``params``: one by one, or as one batch when a layer couples them."""
        if self.batch is None:
            return tuple(evaluate(self.steps, leaf_values(self.graph, params, self.spec.data[i])) for i in rows)
        return evaluate_batch(self.spec, self.steps, params, range(rows.start, rows.stop)).views

    @cached_property
    def regularized(self) -> tuple[str, ...]:
        """The trained parameters the regularization term covers (none without one)."""
        reg = self.spec.regularization
        if reg is None:
            return ()
        return tuple(p.key for p in self.graph.parameters if reg.covers(p.role))

    def penalty(self, params: dict, number=float):
        """The regularization term at ``params`` (0 without one)."""
        reg = self.spec.regularization
        return 0.0 if reg is None else reg.penalty([number(params[k]) for k in self.regularized], number)

    @cached_property
    def regularization_term(self) -> float:
        """The regularization term R at the initial parameters (0 without one)."""
        return self.penalty(self.params)

    @cached_property
    def reg_grad(self) -> dict[str, float]:
        """∂R/∂θ at the initial parameters for every trainable parameter (0 where R does not reach)."""
        grad = {p.key: 0.0 for p in self.graph.parameters}
        grad.update({k: self.spec.regularization.gradient(self.params[k]) for k in self.regularized})
        return grad

    @cached_property
    def data_loss(self) -> float:
        """The reduced loss of the data, without the regularization term."""
        return self._reduce([num.loss for num in self.instances])

    @cached_property
    def loss(self) -> float:
        """The total loss: reduction applied, plus the regularization term once."""
        return self.data_loss + self.regularization_term

    @cached_property
    def grad(self) -> dict[str, float]:
        """The gradient of the total loss with respect to every trainable parameter."""
        return self.batch_gradient(self.instances, self.params, rows=range(len(self.spec.data)))

    def batch_gradient(self, nums, params: dict[str, float], penalty: bool = True,
                       rows: range | None = None, cancelled: dict | None = None) -> dict[str, float]:
        """The gradient of the reduced loss of the instances ``nums`` plus (``penalty``) the regularization term's.
        Given the data's ``rows`` the instances are, a gradient whose terms cancel is 0 (:meth:`cancelled`); the
        dict ``cancelled`` then receives those parameters with their float64 sums."""
        scale = 1.0 if self.spec.reduction == "sum" else 1.0 / len(nums)
        grad = {p.key: sum([num.grad[p.key] for num in nums]) * scale for p in self.graph.parameters}
        if rows is not None:
            zero = self.cancelled(rows, params, nums, grad)
            if cancelled is not None:
                cancelled.update({k: grad[k] for k in zero})
            grad.update(dict.fromkeys(zero, 0.0))
        reg = self.spec.regularization
        for key in self.regularized if penalty else ():
            grad[key] += reg.gradient(params[key])
        return grad

    #: Bits the terms of a gradient are summed in again when they nearly cancel (float64 has 53).
    WIDE = 113
    #: A gradient this much smaller than the sum of its terms' magnitudes is summed again in WIDE bits.
    SUSPECT = 2.0 ** -20

    def cancelled(self, rows: range, params: dict[str, float], nums, grad: dict[str, float]) -> tuple[str, ...]:
        """The parameters whose gradient over the instances ``rows`` (the float64 ``grad``, from ``nums``) is 0 because
        its terms cancel: those whose float64 sum is 0 already, and those whose float64 sum is round-off: summed
        again in WIDE bits, it is no farther from 0 than from the float64 sum, so 0 is at least as accurate (∂L/∂b of a bias before a batch normalization, the weight of an input
        that is the same in every instance of the batch: 0 in exact arithmetic, ~1e-17 in float64, which an
        optimizer dividing by √v would turn into a whole step). Only the gradients much smaller than their terms
        (SUSPECT) are summed again. ``exact`` arithmetic has no round-off."""
        if self.exact:
            return ()
        size = {p.key: sum(abs(num.grad[p.key]) for num in nums) for p in self.graph.parameters}
        exactly = tuple(k for k, g in grad.items() if g == 0 and size[k] > 0)  # the float64 sum is 0 already
        suspects = [k for k, g in grad.items() if g != 0 and abs(g) <= self.SUSPECT * size[k]]
        if not suspects:
            return exactly
        memo = self.__dict__.setdefault("_cancelled", {})  # the first update's gradient is asked for twice
        key = (rows.start, rows.stop, tuple(params.values()), tuple(grad[k] for k in suspects))
        if key not in memo:
            memo[key] = self._cancelled_wide(rows, params, grad, suspects)
        zero = set(exactly) | set(memo[key])
        return tuple(k for k in grad if k in zero)  # in the parameters' order

    def _cancelled_wide(self, rows: range, params: dict[str, float], grad: dict[str, float], suspects: list[str]):
        """The ``suspects`` whose float64 gradient ``grad`` is round-off: summed again in WIDE bits, no farther from 0
        than from the float64 sum."""
        from derive.core.numbers import _evaluate_float

        data = [self.spec.data[i] for i in rows]
        scale = 1.0 if self.spec.reduction == "sum" else 1.0 / len(data)
        if self.batch is None:
            # each instance's gradient kept in WIDE bits (a float64 of each would carry its round-off into the sum)
            wide = [_evaluate_float(self.steps, leaf_values(self.graph, params, inst), self.WIDE, raw=True)
                    for inst in data]
            exact = {k: scale * float(sum(num.grad[k] for num in wide)) for k in suspects}
        else:  # the batch-wide graph's root is the summed loss: its parameters' gradients are the sums
            graph, steps = _batch_form(self.spec, len(data))
            num = _evaluate_float(steps, batch_leaf_values(graph, params, data), self.WIDE)
            exact = {k: scale * num.grad[k] for k in suspects}
        return [k for k in suspects if abs(exact[k]) <= abs(grad[k] - exact[k])]

    @property
    def exact(self) -> bool:
        return self.spec.arithmetic == "exact"

    @cached_property
    def exact_grad(self) -> dict | None:
        """In exact arithmetic, the total gradient as exact numbers."""
        if not self.exact:
            return None
        scale = sp.Integer(1) if self.spec.reduction == "sum" else sp.Rational(1, len(self.instances))
        grad = {p.key: scale * sp.Add(*[num.exact_grad[p.key] for num in self.instances])
                for p in self.graph.parameters}
        for key in self.regularized:
            grad[key] += self.spec.regularization.gradient(to_exact(self.params[key]), to_exact)
        return grad

    @property
    def scale(self) -> float:
        """1 for a summed loss, 1/N for a mean."""
        return 1.0 if self.spec.reduction == "sum" else 1.0 / len(self.instances)

    def _reduce(self, values: list[float]) -> float:
        return sum(values) * self.scale

    @cached_property
    def after_step(self) -> Update | None:
        """The first epoch: one update per batch (the whole data, mini-batches, or each instance), in data order."""
        training = self.spec.training
        if training is None:
            return None
        optimizer, schedule = training.optimizer, training.schedule
        trained = [p.key for p in self.graph.parameters]
        params = dict(self.params)
        state = {key: optimizer.init_state(0.0) for key in trained}
        batches = training.batches(len(self.spec.data))
        rates, lines, first_grad, first_params, first_reg, first_data, exact_params = [], {}, {}, {}, {}, {}, None
        first_instances: tuple = ()
        first_cancelled: dict[str, float] = {}
        trail: list[tuple[dict, dict, dict]] = []  # per update: the parameters and the state before it, its slack
        for k, rows in enumerate(batches):
            batch = self.batch
            if k == 0 and (self.batch is None or len(rows) == len(self.spec.data)):
                nums = [self.instances[i] for i in rows]
            elif self.batch is not None:
                batch = evaluate_batch(self.spec, self.steps, params, range(rows.start, rows.stop))
                nums = list(batch.views)
            else:
                nums = list(self.evaluate_rows(rows, params))
            grad = self.grad if len(rows) == len(self.spec.data) else self.batch_gradient(nums, params, rows=rows)
            rate = schedule.rate(training.learning_rate, k)
            rates.append(rate)
            bound = self.roundoff(nums, batch)
            new, slack = dict(params), {}
            trail.append((params, dict(state), slack))
            for key in trained:
                step = optimizer.advance(params[key], grad[key], state[key], rate)
                new[key] = float(step.theta)
                slack[key] = self._slack(params[key], grad[key], bound[key], state[key], rate, step)
                state[key] = {name: v if v is None or name == "step" else float(v) for name, v in step.state.items()}
                if k == 0:
                    lines[key] = step.lines
            if k == 0:
                first_grad, first_params, first_instances = grad, new, tuple(nums)
                first_reg = self.reg_grad
                first_data = self.batch_gradient(nums, params, penalty=False, rows=rows, cancelled=first_cancelled)
                if self.exact and len(batches) == 1 and optimizer.rational:
                    exact_params = self._exact_update(rate)
            params = new
        after = self.evaluate_rows(range(len(self.spec.data)), params)
        return Update(params=params, exact_params=exact_params, instances=after, trail=tuple(trail),
                      first_cancelled=first_cancelled,
                      loss=self._reduce([n.loss for n in after]) + self.penalty(params),
                      first_batch=batches[0], first_grad=first_grad, first_reg_grad=first_reg, first_data_grad=first_data,
                      first_params=first_params, lines=lines,
                      rates=tuple(rates), state=state, first_instances=first_instances)

    #: Units of round-off (2⁻⁵³) per unit of |terms| a float64 gradient may be off by (its running error bound, with room
    #: for the terms' own rounding: the chain of products and sums is a few dozen operations deep in these networks).
    ROUNDOFF = 64 * 2.0 ** -53

    def roundoff(self, nums, batch: Batch | None) -> dict[str, float]:
        """Parameter → a bound of the float64 round-off of its gradient over the instances ``nums``: ROUNDOFF times
        the backward pass in absolute values (every path's |product| summed, the terms the gradient adds up, which may
        cancel), through the batch-wide graph of ``batch`` when a layer couples the instances."""
        scale = 1.0 if self.spec.reduction == "sum" else 1.0 / len(nums)
        keys = [p.key for p in self.graph.parameters]
        if batch is None:
            sizes = [backward(self.steps, {e: abs(v) for e, v in num.local.items()}, 1.0) for num in nums]
            return {k: self.ROUNDOFF * scale * sum(size[k] for size in sizes) for k in keys}
        size = backward(batch.steps, {e: abs(v) for e, v in batch.numbers.local.items()}, 1.0)
        return {k: self.ROUNDOFF * scale * size[k] for k in keys}

    def _slack(self, theta: float, g: float, bound: float, state: dict, rate: float, step) -> dict[str, float]:
        """How far the round-off ``bound`` of the gradient ``g`` can move one update of a parameter (``theta``) and each
        optimizer buffer: the update redone with the gradient moved up and down by it. An optimizer that divides by
        √v (Adam, RMSprop, Adagrad) turns a gradient of the size of its round-off into a step of any size up to η:
        the condition of that division, which the update check allows for."""
        optimizer = self.spec.training.optimizer
        out = {"theta": 0.0}
        for moved in (g + bound, g - bound):
            other = optimizer.advance(theta, moved, state, rate)
            out["theta"] = max(out["theta"], abs(float(other.theta) - float(step.theta)))
            for name, v in other.state.items():
                if v is not None and name != "step" and step.state.get(name) is not None:
                    out[name] = max(out.get(name, 0.0), abs(float(v) - float(step.state[name])))
        return out

    def _exact_update(self, rate: float) -> dict | None:
        """The single update of an epoch in exact numbers, when every result stays rational."""
        optimizer = self.spec.training.optimizer
        exact = {k: to_exact(v) for k, v in self.params.items()}
        for key, g in self.exact_grad.items():
            theta = optimizer.advance(exact[key], g, optimizer.init_state(sp.S.Zero), to_exact(rate)).theta
            if not isinstance(theta, sp.Rational):
                return None
            exact[key] = theta
        return exact

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
        """{layer: {in, out}}: lists of the layer's shape (nested for feature maps)."""
        out = {layer.name: {"in": shaped([num.value[z] for z, _ in units], layer.out_shape),
                            "out": shaped([num.value[a] for _, a in units], layer.out_shape)}
               for layer, units in zip(self.spec.layers, self.graph.layer_units)}
        for l, keys in self.layer_roles("hat").items():  # a batch normalization's normalized values x̂
            out[self.spec.layers[l].name]["hat"] = [num.value[k] for k in keys]
        return out

    def layer_roles(self, role: str) -> dict[int, list[str]]:
        """Layer index → the instance graph's keys of ``role`` in that layer (``mean``, ``var``, ``hat``), where any."""
        found: dict[int, list[str]] = {}
        for node in self.graph.nodes.values():
            if node.role == role:
                found.setdefault(node.layer, []).append(node.key)
        return found

    def batch_values(self, num: Numbers) -> dict:
        """{layer: {mean: [...], var: [...], grad: {mean: [...], var: [...]}}} of every layer with batch statistics."""
        means, variances = self.layer_roles("mean"), self.layer_roles("var")
        return {self.spec.layers[l].name: {"mean": [num.value[k] for k in means[l]],
                                           "var": [num.value[k] for k in variances[l]],
                                           "grad": {"mean": [num.grad[k] for k in means[l]],
                                                    "var": [num.grad[k] for k in variances[l]]}}
                for l in means}

    def param_tree(self, values: dict[str, float], *, gradient: bool) -> dict:
        """{layer: {weights: [[...]], bias: [...] | None}}; for gradients, fixed biases are None."""
        tree = {}
        for layer, wkeys, bkeys in zip(self.spec.layers, self.graph.layer_weights, self.graph.layer_bias):
            bias = None
            if bkeys is not None and (layer.train_bias or not gradient):
                bias = [values[k] for k in bkeys]
            tree[layer.name] = layer_type(layer).param_json(nested(wkeys, values.__getitem__), bias)
        return tree

    def state_tree(self, state: dict[str, dict]) -> dict:
        """{layer: {weights: {buffer: [[...]]}, bias: {buffer: [...]} | None}}: the optimizer's state by PyTorch's names."""
        names = self.spec.training.optimizer.state_names
        tree = {}
        for layer, wkeys, bkeys in zip(self.spec.layers, self.graph.layer_weights, self.graph.layer_bias):
            weights = {n: nested(wkeys, lambda k: state[k][n]) for n in names}
            bias = None
            if bkeys is not None and layer.train_bias:
                bias = {n: [state[k][n] for k in bkeys] for n in names}
            tree[layer.name] = layer_type(layer).param_json(weights, bias)
        return tree

    def to_values(self) -> dict:
        """Every number, as the JSON of `derive values` (docs/json.md)."""
        spec, graph = self.spec, self.graph
        instances = []
        for inst, num in zip(spec.data, self.instances):
            grad = self.param_tree(num.grad, gradient=True)
            for layer, units in zip(spec.layers, graph.layer_units):
                grad[layer.name]["in"] = shaped([num.grad[z] for z, _ in units], layer.out_shape)
                grad[layer.name]["out"] = shaped([num.grad[a] for _, a in units], layer.out_shape)
            grad["inputs"] = shaped([num.grad[k] for k in graph.input_keys], spec.input_shape)
            nodes = {k: {"value": num.value[k], "grad": num.grad.get(k)} for k in graph.nodes}
            if num.exact is not None:
                for k, entry in nodes.items():
                    entry["exact"] = {"value": sp.sstr(num.exact[k], order="none"),
                                      "grad": sp.sstr(num.exact_grad[k], order="none") if k in num.exact_grad else None}
            instances.append({"x": shaped(list(inst.x), spec.input_shape), "t": list(inst.t), "loss": num.loss,
                              "layers": self.layer_values(num), "grad": grad, "nodes": nodes})
        out = {"name": spec.name, "arithmetic": spec.arithmetic, "loss": self.loss, "reduction": spec.reduction,
               "instances": instances,
               "grad": self.param_tree(self.grad, gradient=True)}
        if self.batch is not None:  # a coupling layer: its statistics over the whole data, and their gradients
            out["batch"] = self.batch_values(self.batch.numbers)
        if self.after_step is not None:
            out["after_step"] = {"layers": self.param_tree(self.after_step.params, gradient=False),
                                 "loss": self.after_step.loss,
                                 "outputs": [[n.value[a] for _, a in graph.layer_units[-1]]
                                             for n in self.after_step.instances],
                                 "instance_losses": [n.loss for n in self.after_step.instances]}
            out["after_step"]["state"] = self.state_tree(self.after_step.state)
            out["after_step"]["learning_rates"] = list(self.after_step.rates)
            run = self.training
            final = {}
            for l, layer in enumerate(spec.layers):
                final[layer.name] = layer_type(layer).param_json(
                    run.params.W[l].tolist(), None if run.params.b[l] is None else run.params.b[l].tolist())
            tr = spec.training
            out["training"] = {"epochs": tr.epochs, "mode": tr.mode,
                               "learning_rate": tr.learning_rate, "loss": run.losses,
                               "layers": final, "outputs": run.outputs.tolist(),
                               "optimizer": {"name": tr.optimizer.name, **tr.optimizer.settings()},
                               "schedule": tr.schedule.settings(),
                               "batch_size": len(tr.batches(len(spec.data))[0]),
                               "updates_per_epoch": len(tr.batches(len(spec.data)))}
        if spec.regularization is not None:
            out["regularization"] = {**spec.regularization.settings(), "penalty": self.penalty(self.params),
                                     "data_loss": self.data_loss}
        out["checks"] = {name: c.to_json() for name, c in self.checks.items()}
        return out


def shaped(values: list, shape) -> list:
    """A flat list (row-major) as nested lists of ``shape``; a vector (or no shape) stays flat."""
    if not shape or len(shape) == 1:
        return values
    return np.reshape(np.array(values, dtype=float), shape).tolist()


def nested(keys, value) -> list:
    """Nested key tuples (a weight matrix, a convolution's kernels) as nested lists of ``value(key)``."""
    return [nested(k, value) if isinstance(k, tuple) else value(k) for k in keys]
