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
        return cls.at(z) if z.is_number else None

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

    def _eval_rewrite_as_Abs(self, z, **kwargs):
        return (z + sp.Abs(z)) / 2


class _Indicator(sp.Function):
    """An Iverson bracket [z ⋚ 0]: 1 where it holds, else 0; printed as the bracket."""

    nargs = 1
    relation: str

    @classmethod
    def holds(cls, z) -> bool:
        raise NotImplementedError

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return sp.S.One if cls.holds(z) else sp.S.Zero
        return None

    def _latex(self, printer, exp=None):
        return rf"\left[{_bare(printer, self.args[0])} {self.relation} 0\right]"


class step(_Indicator):
    r"""$[z > 0]$: 1 for positive z, else 0 (the convention relu'(0) = 0)."""

    relation = ">"

    @classmethod
    def holds(cls, z):
        return bool(z > 0)


class nonpositive(_Indicator):
    r"""$[z \le 0]$: the other side of :class:`step`."""

    relation = r"\le"

    @classmethod
    def holds(cls, z):
        return bool(z <= 0)


class leaky_relu(sp.Function):
    r"""$\mathrm{LeakyReLU}_\alpha(z)$: z for z > 0, else αz."""

    nargs = 2

    @classmethod
    def eval(cls, z, slope):
        if z.is_number and slope.is_number:
            return z if z > 0 else slope * z
        return None

    def _eval_rewrite_as_Piecewise(self, z, slope, **kwargs):
        return sp.Piecewise((z, z > 0), (slope * z, True))

    def _eval_rewrite_as_Abs(self, z, slope, **kwargs):
        return ((1 + slope) * z + (1 - slope) * sp.Abs(z)) / 2

    def _latex(self, printer, exp=None):
        z, slope = self.args
        tex = rf"\operatorname{{LeakyReLU}}_{{{printer._print(slope)}}}\left({_bare(printer, z)}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"


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


# --------------------------------------------------------------------------- activations


class Activation:
    """An activation applied to a layer's pre-activations ``zs``; elementwise unless it says not."""

    name: ClassVar[str]
    convention: ClassVar[str] = ""
    """A sentence the rendered example states where this activation is used (e.g. relu'(0))."""
    elementwise: ClassVar[bool] = True

    def configured(self, layer) -> "Activation":
        """The activation with the layer's options (the slope of leaky_relu); most have none."""
        return self

    def expr(self, z: sp.Expr) -> sp.Expr:
        """a = f(z)."""
        raise NotImplementedError

    def derivative(self, z: sp.Expr, a: sp.Expr) -> sp.Expr:
        """f'(z), written with the output a = f(z) where that is the usual form."""
        raise NotImplementedError

    def definition(self, z: sp.Expr) -> sp.Expr:
        """f(z) spelled out for the reader (σ(z) as 1/(1 + e^{-z}))."""
        return self.expr(z)

    def formulas(self) -> list[tuple[sp.Expr, sp.Expr]]:
        """(left, right) pairs that define the activation and its derivative for the reader."""
        z = sp.Symbol("z", real=True)
        return [(sp.Symbol("f(z)"), self.definition(z)), (sp.Symbol("f'(z)"), self.derivative(z, self.expr(z)))]

    # The vector interface used by the graph; softmax overrides it.
    def parents(self, j: int, size: int) -> Sequence[int]:
        """Which pre-activations output unit j depends on."""
        return (j,)

    def unit_expr(self, j: int, zs: Sequence[sp.Expr]) -> sp.Expr:
        return self.expr(zs[j])

    def partial(self, j: int, i: int, zs: Sequence[sp.Expr], outs: Sequence[sp.Expr]) -> sp.Expr:
        """∂a_j/∂z_i, written with the layer's pre-activations zs and outputs outs."""
        return self.derivative(zs[j], outs[j]) if i == j else sp.S.Zero


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


class LeakyReLU(Activation):
    r"""$z$ for $z > 0$, else $\alpha z$; derivative $[z > 0] + \alpha [z \le 0]$ (α at z = 0 by convention)."""

    name = "leaky_relu"
    convention = (r"We take $\operatorname{LeakyReLU}'_\alpha(0) = \alpha$: the slope of the left side "
                  r"(the convention of PyTorch).")

    def __init__(self, slope: float = 0.01):
        self.slope = sp.Float(slope)

    def configured(self, layer):
        return LeakyReLU(layer.slope)

    def expr(self, z):
        return leaky_relu(z, self.slope)

    def derivative(self, z, a):
        return sp.Add(step(z), sp.Mul(self.slope, nonpositive(z), evaluate=False), evaluate=False)

    def definition(self, z):
        return sp.Piecewise((z, z > 0), (self.slope * z, True))


class Softmax(Activation):
    r"""$a_j = e^{z_j} / \sum_k e^{z_k}$, coupling the units: $\partial a_j / \partial z_i = a_j(\delta_{ij} - a_i)$."""

    name = "softmax"
    elementwise = False

    def parents(self, j, size):
        return range(size)

    def unit_expr(self, j, zs):
        return sp.exp(zs[j]) / sp.Add(*[sp.exp(z) for z in zs], evaluate=False)

    def partial(self, j, i, zs, outs):
        if i == j:
            return sp.Mul(outs[j], sp.Add(1, -outs[j], evaluate=False), evaluate=False)
        return sp.Mul(-1, outs[j], outs[i], evaluate=False)

    def formulas(self):
        i, j, k, K = sp.symbols("i j k K", integer=True)
        a, z = sp.IndexedBase("a"), sp.IndexedBase("z")
        jacobian = sp.Mul(a[j], sp.Add(sp.KroneckerDelta(i, j), -a[i], evaluate=False), evaluate=False)
        return [(a[j], sp.exp(z[j]) / sp.Sum(sp.exp(z[k]), (k, 1, K))), (sp.Derivative(a[j], z[i]), jacobian)]

    def expr(self, z):
        raise TypeError("softmax is not elementwise")

    def derivative(self, z, a):
        raise TypeError("softmax is not elementwise")


ACTIVATIONS: dict[str, Activation] = {
    op.name: op for op in (Identity(), Sigmoid(), Tanh(), ReLU(), LeakyReLU(), Softmax())}


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

    def partial(self, k: int, ys: Sequence[sp.Expr], ts: Sequence[sp.Expr]) -> sp.Expr:
        """∂L/∂y_k (or ∂L/∂e_k), in its textbook form."""
        raise NotImplementedError

    #: Output activations with which this loss simplifies to dL/dz_k = a_k − t_k.
    simplifies_with: ClassVar[tuple[str, ...]] = ()


def _sum(terms):
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


class SSE(Loss):
    r"""$L = \sum_k e_k^2$."""

    name = "sse"
    uses_errors = True

    def expr(self, es, ts=()):
        return _sum([e**2 for e in es])

    def partial(self, k, es, ts=()):
        return sp.Mul(2, es[k], evaluate=False)


class HalfSSE(Loss):
    r"""$L = \sum_k \tfrac12 e_k^2$."""

    name = "half_sse"
    uses_errors = True

    def expr(self, es, ts=()):
        return sp.Mul(sp.Rational(1, 2), _sum([e**2 for e in es]), evaluate=False)

    def partial(self, k, es, ts=()):
        return es[k]


class MSE(Loss):
    r"""$L = \frac1K \sum_k e_k^2$."""

    name = "mse"
    uses_errors = True

    def expr(self, es, ts=()):
        return sp.Mul(sp.Rational(1, len(es)), _sum([e**2 for e in es]), evaluate=False)

    def partial(self, k, es, ts=()):
        return sp.Mul(2, es[k], sp.Pow(sp.Integer(len(es)), -1, evaluate=False), evaluate=False)


class BCE(Loss):
    r"""$L = -\sum_k [t_k \log y_k + (1 - t_k)\log(1 - y_k)]$."""

    name = "bce"
    simplifies_with = ("sigmoid",)

    def expr(self, ys, ts):
        return -_sum([t * sp.log(y) + (1 - t) * sp.log(1 - y) for y, t in zip(ys, ts)])

    def partial(self, k, ys, ts):
        y, t = ys[k], ts[k]
        return sp.Add(-t / y, (1 - t) / (1 - y), evaluate=False)


class CrossEntropy(Loss):
    r"""$L = -\sum_k t_k \log y_k$ (targets summing to 1)."""

    name = "cross_entropy"
    simplifies_with = ("softmax",)

    def expr(self, ys, ts):
        return -_sum([t * sp.log(y) for y, t in zip(ys, ts)])

    def partial(self, k, ys, ts):
        return -ts[k] / ys[k]


class Output(Loss):
    r"""$L = y_1$: the network is a circuit and its single output is differentiated."""

    name = "output"
    needs_targets = False

    def expr(self, ys, ts=()):
        return ys[0]

    def partial(self, k, ys, ts=()):
        return sp.S.One


LOSSES: dict[str, Loss] = {op.name: op for op in (SSE(), HalfSSE(), MSE(), BCE(), CrossEntropy(), Output())}
