"""The graph's local operations: how a node's expression is differentiated by one parent.

Activations and losses live in their registries, :mod:`derive.core.activations` and
:mod:`derive.core.losses`; they are re-exported here for code written against the old module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from derive.core.activations import (ACTIVATIONS, Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax,  # noqa: F401
                                     Tanh, leaky_relu, nonpositive, relu, sigmoid, step)
from derive.core.losses import BCE, LOSSES, MSE, SSE, CrossEntropy, HalfSSE, Loss, Output  # noqa: F401

# --------------------------------------------------------------------------- local derivatives


class Local:
    """The local derivative of a node's own expression with respect to one parent: ``sympy.diff``."""

    def partial(self, expr: sp.Expr, parent: sp.Symbol) -> sp.Expr:
        return sp.diff(expr, parent)


class WeightedSum(Local):
    r"""$z = \sum_i w_i a_i + b$: the derivative by one symbol is its co-factor (w for a, a for w, 1 for b)."""

    def partial(self, expr, parent):
        terms = expr.args if expr.is_Add else (expr,)
        found = []
        for term in terms:
            if term == parent:
                found.append(sp.S.One)
            elif term.is_Mul and parent in term.args:
                rest = [f for f in term.args if f != parent]
                found.append(rest[0] if len(rest) == 1 else sp.Mul(*rest, evaluate=False))
        if len(found) != 1:  # the symbol appears more than once or not at all: let SymPy do it
            return super().partial(expr, parent)
        return found[0]


class ActivationUnit(Local):
    """Unit j of a layer's activation: its partials come from the activation (σ(z)(1 − σ(z)), softmax's Jacobian)."""

    def __init__(self, activation: "Activation", j: int, zs, outs):
        self.activation, self.j, self.zs, self.outs = activation, j, tuple(zs), tuple(outs)

    def partial(self, expr, parent):
        return self.activation.partial(self.j, self.zs.index(parent), self.zs, self.outs)


class Difference(Local):
    """e = y − t: ∂e/∂y = 1, ∂e/∂t = −1."""

    def partial(self, expr, parent):
        return sp.S.One if parent == expr.args[0] else sp.S.NegativeOne


class LossOf(Local):
    """The loss node: its partials come from the loss (2e_k for sse, −t_k/y_k for cross-entropy)."""

    def __init__(self, loss: "Loss", args, ts):
        self.loss, self.args, self.ts = loss, tuple(args), tuple(ts)

    def partial(self, expr, parent):
        return self.loss.partial(self.args.index(parent), self.args, self.ts)


class BatchVariance(Local):
    """σ² = (1/N) Σ_n (z_n − μ)²: ∂σ²/∂z_n = 2(z_n − μ)/N, ∂σ²/∂μ = −(2/N)(Σ_n z_n − N·μ) (0 in value, as the
    textbooks write it), in the form a reader expects rather than SymPy's expanded sum."""

    def __init__(self, zs, mu):
        self.zs, self.mu = tuple(zs), mu

    def partial(self, expr, parent):
        N = len(self.zs)
        if parent == self.mu:
            total = sp.Add(*self.zs, sp.Mul(-N, self.mu, evaluate=False), evaluate=False)  # Σ z_n − N·μ
            return sp.Mul(sp.Rational(-2, N), total, evaluate=False)
        if parent in self.zs:
            return sp.Mul(sp.Rational(2, N), sp.Add(parent, sp.Mul(-1, self.mu, evaluate=False), evaluate=False),
                          evaluate=False)
        return super().partial(expr, parent)
