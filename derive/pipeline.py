"""The one module that runs the stages: spec → graph → steps → numbers → checks.

Rendering, grading and worksheets take the checked :class:`~derive.core.derivation.Derivation`
this returns; no stage reaches back into an earlier one.
"""

from __future__ import annotations

import math

import numpy as np

from derive.core.chain import derive_steps
from derive.core.derivation import Derivation, batch_steps, evaluate_batch
from derive.core.graph import build_graph, couples
from derive.core.numbers import evaluate, initial_parameters, leaf_values
from derive.errors import CheckFailed, SpecError
from derive.spec.parse import Spec
from derive.verify.checks import run_checks


def derive(spec: Spec, *, verify: bool = True, symbolic: bool = True) -> Derivation:
    """Build, differentiate and evaluate ``spec``; with ``verify``, check it (raise CheckFailed on any disagreement).

    ``symbolic=False`` leaves out sympy.diff of the composed loss (worksheets derive hundreds of variants;
    NumPy, finite differences and the update still check each one).
    """
    if getattr(spec, "kind", None) == "circuit":
        return derive_circuit(spec, verify=verify, symbolic=symbolic)
    graph = build_graph(spec)
    params = initial_parameters(graph)
    if couples(spec):  # a layer couples the instances: one batch-wide graph over the data, viewed per instance
        steps = batch_steps(spec, graph)
        batch = evaluate_batch(spec, steps, params, range(len(spec.data)))
        d = Derivation(spec=spec, graph=graph, steps=steps, params=params, instances=batch.views, batch=batch)
    else:
        steps = derive_steps(graph)
        exact = spec.arithmetic == "exact"
        instances = tuple(evaluate(steps, leaf_values(graph, params, inst), exact=exact) for inst in spec.data)
        d = Derivation(spec=spec, graph=graph, steps=steps, params=params, instances=instances)
    finite(d)
    return check(d, symbolic=symbolic) if verify else d


def finite(d: Derivation) -> None:
    """Refuse a derivation with a number beyond a float64 (overflow) or undefined (NaN), naming the first.

    Such a number cannot be checked, shown or written as JSON: weights or a learning rate near 1e154–1e308,
    or an output unit saturated so far that ∂L/∂y exceeds 1.8e308 (its loss and ∂L/∂z would still be finite).
    """
    def refuse(field: str, x: float, why: str) -> None:
        what = "beyond the range of a float (|x| > 1.8e308: overflow)" if math.isinf(x) else "not a number (NaN)"
        raise SpecError(d.spec.source, field, f"is {what}; {why}")

    large = "the spec's weights, inputs or targets are too large for a worked example"
    for n, num in enumerate(d.instances):
        for key in d.graph.nodes:
            if not math.isfinite(num.value[key]):
                refuse(f"instance{n + 1}.{key}", num.value[key], large)
        for key, g in num.grad.items():
            if not math.isfinite(g):
                z = max((abs(num.value[z]) for z, _ in d.graph.layer_units[-1]), default=0.0)
                why = (f"an output unit is saturated (|z| = {z:.4g}): the loss is finite, but its derivative "
                       "by the output is not a float; use smaller weights or inputs") if z > 30 else large
                refuse(f"instance{n + 1}.dL/d{key}", g, why)
    if d.spec.training is None:
        return
    rate = "the learning rate is too large"
    with np.errstate(all="ignore"):
        for key, v in d.after_step.params.items():
            if not math.isfinite(v):
                refuse(f"update.{key}", v, rate)
        if not math.isfinite(d.after_step.loss):
            refuse("update.L", d.after_step.loss, rate)
        for epoch, loss in enumerate(d.training.losses):
            if not math.isfinite(loss):
                refuse("training.learning_rate", loss, f"the total loss after {epoch} epochs is not a finite "
                                                       "number: the training diverges; use a smaller learning rate")


def check(d: Derivation, *, symbolic: bool = True) -> Derivation:
    """Run every independent check on ``d``; a disagreement is an error (exit 3), not a footnote."""
    with np.errstate(all="ignore"):  # a NaN in a check fails it below; NumPy need not also warn
        d.checks = run_checks(d, symbolic=symbolic)
    failed = [c for c in d.checks.values() if c.passed is False]
    if failed:
        c = failed[0]
        raise CheckFailed(f"check '{c.name}' failed for {d.spec.source} (max abs Δ = {c.max_abs_error:.3g}, "
                          f"tolerance {c.tolerance}): a bug in derive; please report it")
    return d


def derive_circuit(spec, *, verify: bool = True, symbolic: bool = True):
    """A circuit's stages: spec → graph → steps → numbers (and training) → checks."""
    from derive.core.circuit import CircuitDerivation, build_circuit, circuit_steps, evaluate_circuit, train_circuit
    from derive.verify.circuit import run_circuit_checks

    graph = build_circuit(spec)
    steps = circuit_steps(graph)
    numbers = evaluate_circuit(steps, spec, spec.leaves)
    for key, g in numbers.grad.items():
        if not math.isfinite(g):
            raise SpecError(spec.source, f"circuit.{key}", f"d{spec.output}/d{key} is not a finite number "
                                                           f"({g}); the circuit's values are too large")
    training = train_circuit(steps, spec, numbers) if spec.training is not None else None
    d = CircuitDerivation(spec=spec, graph=graph, steps=steps, numbers=numbers, training=training)
    if not verify:
        return d
    with np.errstate(all="ignore"):
        d.checks = run_circuit_checks(d, symbolic=symbolic)
    failed = [c for c in d.checks.values() if c.passed is False]
    if failed:
        c = failed[0]
        raise CheckFailed(f"check '{c.name}' failed for {spec.source} (max abs Δ = {c.max_abs_error:.3g}, "
                          f"tolerance {c.tolerance}): a bug in derive; please report it")
    return d
