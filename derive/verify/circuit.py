"""Stage 5 for circuits: independent checks of every value and gradient.

- ``sympy_diff``: d output / d name for every leaf and node against ``sympy.diff`` of the composed
  expression (every node above it substituted, the name itself left free), built with the formula
  parser's own SymPy functions (σ as 1/(1 + e^{−z}), ReLU as Max(z, 0), SymPy's Max, Min, Abs), not
  the gates the chain rule used;
- ``finite_differences``: the same gradients against central differences of the formulas evaluated
  in floats, each name nudged up and down and everything after it recomputed.

Neither uses the chain-rule steps being checked.
"""

from __future__ import annotations

import math

import sympy as sp

from derive.core.activations import nonpositive, step
from derive.core.circuit import CircuitDerivation, sign
from derive.grade.formula import FormulaError
from derive.i18n import N_
from derive.verify.checks import Check

SYMPY_MAX_NODES = 32
#: sympy.diff of the composed expression is skipped (saying so) beyond this many parts: a node that uses the one before
#: it twice doubles the composed expression, and 30 such nodes would hold a billion.
SYMPY_MAX_PARTS = 4000


def composed_size(spec) -> int:
    """How many parts the output's expression has once every node is written out in terms of the leaves."""
    import ast

    size = {k: 1 for k, _v in spec.inputs}
    for n in spec.nodes:
        total = 0
        for part in ast.walk(n.formula.tree):
            total += size.get(part.id, 1) if isinstance(part, ast.Name) else 1
        size[n.name] = min(total, 10**12)
    return size[spec.output]
FD_RTOL, FD_ATOL = 1e-5, 1e-7
SYMPY_RTOL, SYMPY_ATOL = 1e-9, 1e-12


def on_kink(d: CircuitDerivation) -> list[str]:
    """The edges whose local gradient sits exactly on a kink (ReLU at 0, max of equal values, |0|): there the
    gradient is a convention (one-sided), which neither check can confirm."""
    env = {d.graph[k].symbol: sp.Float(v) for k, v in d.value.items()}
    out = []
    for (child, parent), expr in d.steps.local.items():
        for f in expr.atoms(step, nonpositive, sign):
            if f.args[0].xreplace(env) == 0:
                out.append(f"{child}/{parent}")
    return out


SYMPY_WHAT = N_("d output / d name for every name against sympy.diff of the composed expression")
FD_WHAT = N_("d output / d name for every name against central finite differences")


def run_circuit_checks(d: CircuitDerivation, *, symbolic: bool = True) -> dict[str, Check]:
    kinks = on_kink(d)
    kink = (N_("skipped: the circuit sits on a kink (%(edges)s), where the gradient is a convention"),
            {"edges": ", ".join(kinks)})
    sympy_tol, fd_tol = f"rtol {SYMPY_RTOL:g}, atol {SYMPY_ATOL:g}", f"rtol {FD_RTOL:g}, atol {FD_ATOL:g}"
    checks = {}
    if kinks:
        checks["sympy_diff"] = Check("sympy_diff", SYMPY_WHAT, None, sympy_tol, None, note_message=kink)
    elif not symbolic:
        checks["sympy_diff"] = Check("sympy_diff", SYMPY_WHAT, None, sympy_tol, None,
                                     note_message=(N_("skipped: not asked for (a worksheet's variants)"), {}))
    elif composed_size(d.spec) > SYMPY_MAX_PARTS:
        checks["sympy_diff"] = Check("sympy_diff", SYMPY_WHAT, None, sympy_tol, None, note_message=(
            N_("skipped: the composed expression would have more than %(most)s parts"), {"most": SYMPY_MAX_PARTS}))
    elif len(d.spec.nodes) > SYMPY_MAX_NODES:
        checks["sympy_diff"] = Check("sympy_diff", SYMPY_WHAT, None, sympy_tol, None,
                                     note_message=(N_("skipped: more than %(most)s nodes"), {"most": SYMPY_MAX_NODES}))
    else:
        checks["sympy_diff"] = _compare("sympy_diff", SYMPY_WHAT, sympy_gradients(d), d.grad, SYMPY_RTOL, SYMPY_ATOL)
    if kinks:
        checks["finite_differences"] = Check("finite_differences", FD_WHAT, None, fd_tol, None, note_message=kink)
    else:
        checks["finite_differences"] = _compare("finite_differences", FD_WHAT, fd_gradients(d), d.grad, FD_RTOL,
                                                FD_ATOL)
    return checks


def _compare(name: str, description: str, got: dict[str, float], want: dict[str, float], rtol: float,
             atol: float) -> Check:
    if not got:
        return Check(name, description, None, f"rtol {rtol:g}, atol {atol:g}", None, note_message=(
            N_("skipped: no step of the differences settled (the output bends too fast)"), {}))
    worst, ok = 0.0, True
    for k, g in got.items():
        err = abs(g - want[k]) if math.isfinite(g) else math.inf
        worst = max(worst, err)
        ok = ok and err <= atol + rtol * abs(want[k])
    return Check(name, description, worst, f"rtol {rtol:g}, atol {atol:g}", ok,
                 note_message=(N_("%(num)s gradients compared"), {"num": len(got)}) if len(got) == len(want) else
                 (N_("%(num)s of %(all)s gradients compared (the others' differences did not settle)"),
                  {"num": len(got), "all": len(want)}))


def sympy_gradients(d: CircuitDerivation) -> dict[str, float]:
    """d output / d name by sympy.diff of the output composed down to the leaves and that one name."""
    spec = d.spec
    leaves = [k for k, _ in spec.inputs]
    symbols = {k: sp.Symbol(k, real=True) for k in spec.names}
    values = {symbols[k]: sp.Float(v, 30) for k, v in d.value.items()}
    out = {}
    for target in spec.names:
        env: dict[str, sp.Expr] = {k: symbols[k] for k in leaves}
        for n in spec.nodes:
            if n.name == target:
                env[n.name] = symbols[n.name]
                continue
            env[n.name] = n.formula.to_sympy(env)  # the formula parser's own SymPy functions
        composed = env[spec.output]
        derivative = sp.diff(composed, symbols[target])
        at = derivative.xreplace(values)
        try:
            out[target] = float(sp.N(at, 20))
        except (TypeError, ValueError):
            out[target] = math.nan
    return out


def fd_gradients(d: CircuitDerivation) -> dict[str, float]:
    """Central differences of the output, each name nudged by h = 1e-6·max(1, |value|) and by h/4; a name whose two
    differences disagree (the output bends too fast there for any step to settle, or overflows) is left out."""
    spec = d.spec
    out = {}
    for target in spec.names:
        v = d.value[target]
        estimates = []
        for h in (1e-6 * max(1.0, abs(v)), 0.25e-6 * max(1.0, abs(v))):
            try:
                estimates.append((_output(spec, d.value, target, v + h) - _output(spec, d.value, target, v - h)) / (2 * h))
            except (FormulaError, OverflowError, ZeroDivisionError, ValueError):
                estimates.append(math.nan)
        a, b = estimates
        if math.isfinite(a) and math.isfinite(b) and abs(a - b) <= FD_ATOL + FD_RTOL * abs(b):
            out[target] = b
    return out


def _output(spec, value: dict[str, float], target: str, x: float) -> float:
    """The output with ``target`` set to ``x`` and every node after it recomputed (the formulas in floats)."""
    env = {k: value[k] for k, _ in spec.inputs}
    if target in env:
        env[target] = x
    for n in spec.nodes:
        env[n.name] = x if n.name == target else n.formula.evaluate(env)
    return env[spec.output]
