"""The one module that runs the stages: spec → graph → steps → numbers → checks.

Rendering, grading and worksheets take the checked :class:`~derive.core.derivation.Derivation`
this returns; no stage reaches back into an earlier one.
"""

from __future__ import annotations

from derive.core.chain import derive_steps
from derive.core.derivation import Derivation
from derive.core.graph import build_graph
from derive.core.numbers import evaluate, initial_parameters, leaf_values
from derive.errors import CheckFailed
from derive.spec.parse import Spec
from derive.verify.checks import run_checks


def derive(spec: Spec, *, verify: bool = True, symbolic: bool = True) -> Derivation:
    """Build, differentiate and evaluate ``spec``; with ``verify``, check it (raise CheckFailed on any disagreement).

    ``symbolic=False`` leaves out sympy.diff of the composed loss (worksheets derive hundreds of variants;
    NumPy, finite differences and the update still check each one).
    """
    graph = build_graph(spec)
    steps = derive_steps(graph)
    params = initial_parameters(graph)
    exact = spec.arithmetic == "exact"
    instances = tuple(evaluate(steps, leaf_values(graph, params, inst), exact=exact) for inst in spec.data)
    d = Derivation(spec=spec, graph=graph, steps=steps, params=params, instances=instances)
    return check(d, symbolic=symbolic) if verify else d


def check(d: Derivation, *, symbolic: bool = True) -> Derivation:
    """Run every independent check on ``d``; a disagreement is an error (exit 3), not a footnote."""
    d.checks = run_checks(d, symbolic=symbolic)
    failed = [c for c in d.checks.values() if c.passed is False]
    if failed:
        c = failed[0]
        raise CheckFailed(f"check '{c.name}' failed for {d.spec.source} (max abs Δ = {c.max_abs_error:.3g}, "
                          f"tolerance {c.tolerance}): a bug in derive; please report it")
    return d
