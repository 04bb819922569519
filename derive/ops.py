"""Activations and losses: each one entry that knows its expression and its local derivative.

Adding an activation touches this module only (and the independent NumPy reference,
on purpose written separately in :mod:`derive.reference`). The graph builder and the
chain-rule walker never ask which operation they hold.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import sympy as sp


# --------------------------------------------------------------------------- SymPy functions


def _bare(printer, arg) -> str:
    """An argument as derive's printer writes it inside a function (no extra parentheses)."""
    return printer.bare(arg) if hasattr(printer, "bare") else printer._print(arg)


class _Named(sp.Function):
    """A one-argument function printed as ``tex_name(arg)``, evaluated when its argument is a number."""

    nargs = 1
    tex_name: str

    @classmethod
    def eval(cls, z):
        return cls.at(z) if z.is_Number else None

    @classmethod
    def at(cls, z):
        raise NotImplementedError

    def _latex(self, printer, exp=None):
        tex = rf"{self.tex_name}\left({_bare(printer, self.args[0])}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"


class sigmoid(_Named):
    r"""The logistic function $\sigma(z) = 1 / (1 + e^{-z})$, printed as $\sigma$."""

    tex_name = r"\sigma"

    @classmethod
    def at(cls, z):
        return 1 / (1 + sp.exp(-z))

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0]) * (1 - sigmoid(self.args[0]))

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))


class relu(_Named):
    r"""$\mathrm{ReLU}(z) = \max(0, z)$; its derivative at 0 is taken to be 0."""

    tex_name = r"\operatorname{ReLU}"

    @classmethod
    def at(cls, z):
        return z if z > 0 else sp.S.Zero

    def fdiff(self, argindex=1):
        return step(self.args[0])

    def _eval_rewrite_as_Piecewise(self, z, **kwargs):
        return sp.Piecewise((z, z > 0), (0, True))


class step(sp.Function):
    r"""The step $[z > 0]$: 1 for positive z, else 0 (the convention relu'(0) = 0)."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return sp.S.One if z > 0 else sp.S.Zero
        return None

    def _latex(self, printer, exp=None):
        return rf"\left[{_bare(printer, self.args[0])} > 0\right]"


# --------------------------------------------------------------------------- activations


class Activation:
    """An activation applied to a layer's pre-activations ``zs``; elementwise unless it says not."""

    name: ClassVar[str]
    convention: ClassVar[str] = ""
    """A sentence the rendered example states where this activation is used (e.g. relu'(0))."""

    def expr(self, z: sp.Expr) -> sp.Expr:
        """a = f(z)."""
        raise NotImplementedError

    def derivative(self, z: sp.Expr, a: sp.Expr) -> sp.Expr:
        """f'(z), written with the output a = f(z) where that is the usual form."""
        raise NotImplementedError

    def definition(self, z: sp.Expr) -> sp.Expr:
        """f(z) spelled out for the reader (σ(z) as 1/(1 + e^{-z}))."""
        return self.expr(z)

    # The vector interface used by the graph; softmax overrides it.
    def parents(self, j: int, size: int) -> Sequence[int]:
        """Which pre-activations output unit j depends on."""
        return (j,)

    def unit_expr(self, j: int, zs: Sequence[sp.Expr]) -> sp.Expr:
        return self.expr(zs[j])

    def partial(self, j: int, i: int, zs: Sequence[sp.Expr], a_j: sp.Expr) -> sp.Expr:
        """∂a_j/∂z_i."""
        return self.derivative(zs[j], a_j) if i == j else sp.S.Zero


class Identity(Activation):
    r"""$f(z) = z$, $f'(z) = 1$."""

    name = "identity"

    def expr(self, z):
        return z

    def derivative(self, z, a):
        return sp.S.One


class Sigmoid(Activation):
    r"""$\sigma(z) = 1/(1 + e^{-z})$, $\sigma'(z) = \sigma(z)(1 - \sigma(z))$."""

    name = "sigmoid"

    def expr(self, z):
        return sigmoid(z)

    def derivative(self, z, a):
        return sp.Mul(a, sp.Add(1, -a, evaluate=False), evaluate=False)

    def definition(self, z):
        return 1 / (1 + sp.exp(-z))


class Tanh(Activation):
    r"""$\tanh(z)$, $\tanh'(z) = 1 - \tanh^2(z)$."""

    name = "tanh"

    def expr(self, z):
        return sp.tanh(z)

    def derivative(self, z, a):
        return sp.Add(1, -a**2, evaluate=False)


class ReLU(Activation):
    r"""$\max(0, z)$, derivative $[z > 0]$ (0 at z = 0 by convention)."""

    name = "relu"
    convention = r"We take $\operatorname{ReLU}'(0) = 0$ (the convention of PyTorch and NumPy code)."

    def expr(self, z):
        return relu(z)

    def derivative(self, z, a):
        return step(z)

    def definition(self, z):
        return sp.Max(0, z)


ACTIVATIONS: dict[str, Activation] = {op.name: op for op in (Identity(), Sigmoid(), Tanh(), ReLU())}


# --------------------------------------------------------------------------- losses


class Loss:
    """A per-instance loss over output units y_k and targets t_k.

    Squared losses go through error nodes ``e_k = y_k - t_k`` (as the 001 seed writes them);
    the others are written on y and t directly.
    """

    name: ClassVar[str]
    uses_errors: ClassVar[bool] = False
    needs_targets: ClassVar[bool] = True

    def expr(self, ys: Sequence[sp.Expr], ts: Sequence[sp.Expr]) -> sp.Expr:
        """L as a function of the outputs and targets (or of the errors when ``uses_errors``)."""
        raise NotImplementedError


def _sum(terms):
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


class SSE(Loss):
    r"""$L = \sum_k e_k^2$."""

    name = "sse"
    uses_errors = True

    def expr(self, es, ts=()):
        return _sum([e**2 for e in es])


class HalfSSE(Loss):
    r"""$L = \sum_k \tfrac12 e_k^2$."""

    name = "half_sse"
    uses_errors = True

    def expr(self, es, ts=()):
        return sp.Mul(sp.Rational(1, 2), _sum([e**2 for e in es]), evaluate=False)


class MSE(Loss):
    r"""$L = \frac1K \sum_k e_k^2$."""

    name = "mse"
    uses_errors = True

    def expr(self, es, ts=()):
        return sp.Mul(sp.Rational(1, len(es)), _sum([e**2 for e in es]), evaluate=False)


class BCE(Loss):
    r"""$L = -\sum_k [t_k \log y_k + (1 - t_k)\log(1 - y_k)]$."""

    name = "bce"

    def expr(self, ys, ts):
        return -_sum([t * sp.log(y) + (1 - t) * sp.log(1 - y) for y, t in zip(ys, ts)])


class CrossEntropy(Loss):
    r"""$L = -\sum_k t_k \log y_k$."""

    name = "cross_entropy"

    def expr(self, ys, ts):
        return -_sum([t * sp.log(y) for y, t in zip(ys, ts)])


class Output(Loss):
    r"""$L = y_1$: the network is a circuit and its single output is differentiated."""

    name = "output"
    needs_targets = False

    def expr(self, ys, ts=()):
        return ys[0]


LOSSES: dict[str, Loss] = {op.name: op for op in (SSE(), HalfSSE(), MSE(), BCE(), CrossEntropy(), Output())}
