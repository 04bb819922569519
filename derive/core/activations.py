"""The activation registry: one class per activation, holding everything the program asks of it.

A class states its SymPy expression and local derivative (for the graph and the chain rule),
its prose and formulas (for the page), a NumPy forward and backward written independently of
the SymPy side (for the reference check and the worksheet draws), the same as Python source
(for the notebook), its kinks and whether it saturates (for the worksheet draws), the values a
worksheet may hand out for it, and its options (leaky_relu's slope). No other module compares
activation names: they look the class up in :data:`ACTIVATIONS` and ask it.

Adding an activation is one class and one :func:`register` call (see docs/extending.md).
"""

from __future__ import annotations

import math
from typing import Callable, ClassVar, Sequence

import numpy as np
import sympy as sp

from derive.i18n import N_

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


# --------------------------------------------------------------------------- the base class


def _np_sigmoid(z):
    """σ(z) without overflow for z = ±1000."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _math_sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class Activation:
    """An activation applied to a layer's pre-activations ``zs``; elementwise unless it says not.

    Subclasses set :attr:`name` and :attr:`title`, and implement :meth:`expr` and :meth:`derivative`
    (SymPy), :meth:`forward` and :meth:`backward` (NumPy, written independently) and
    :meth:`code_forward` and :meth:`code_backward` (the notebook's Python source).
    """

    name: ClassVar[str]
    """The spec's name (``activation = "sigmoid"``)."""
    title: ClassVar[str] = ""
    """A few words for prose ("the logistic sigmoid")."""
    convention: ClassVar[str] = ""
    """A sentence the rendered example states where a unit sits on a kink (e.g. relu'(0) = 0)."""
    elementwise: ClassVar[bool] = True
    shifts: ClassVar[bool] = False
    """True when f(z + c) = f(z) + c: a bias before a batch normalization then has no effect (the identity)."""
    options: ClassVar[dict[str, float]] = {}
    """Spec options of a layer with this activation and their defaults (leaky_relu: ``slope``)."""
    kinks: ClassVar[tuple[float, ...]] = ()
    """The z where the derivative is a one-sided convention (0 for relu)."""
    saturates: ClassVar[bool] = False
    """True when f'(z) can round to 0 for large |z| (sigmoid, tanh): worksheets redraw such units."""
    has_derivative_factor: ClassVar[bool] = True
    """False when f'(z) = 1 (identity): no "derivative left out" mistake to look for."""
    target_range: ClassVar[tuple[float, float, int] | None] = (-3, 3, 0)
    """Worksheet targets (low, high, decimals) that suit this activation on the output layer."""
    output_range: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    """Bounds of its outputs (sigmoid: 0 and 1): a loss that needs outputs within (0, 1) asks this."""
    formula_functions: ClassVar[dict[str, tuple[Callable, Callable]]] = {}
    """Function names a student may write in an answers file: name → (float function, SymPy builder)."""
    latex_words: ClassVar[dict[str, str]] = {}
    """LaTeX a student may paste (as the page prints it) → the plain function name."""

    def configured(self, layer) -> "Activation":
        """The activation with the layer's options (the slope of leaky_relu); most have none."""
        return self

    # -- SymPy: the graph and the page

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

    # -- NumPy: the independent reference (rows are instances, columns units)

    def forward(self, z: np.ndarray, layer) -> np.ndarray:
        """a = f(z), elementwise over an (instances × units) array."""
        raise NotImplementedError

    def log_forward(self, z: np.ndarray, layer) -> np.ndarray:
        """log f(z), for losses that take logarithms of outputs in (0, 1). Activations that saturate
        override it with a stable form (log σ(z) = −log(1 + e^{−z}), log softmax = z − logsumexp z)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(self.forward(z, layer))

    def log1m_forward(self, z: np.ndarray, layer) -> np.ndarray:
        """log(1 − f(z)), stably where the activation knows how (log(1 − σ(z)) = −log(1 + e^{z}))."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(-self.forward(z, layer))

    def backward(self, z: np.ndarray, a: np.ndarray, g: np.ndarray, layer) -> np.ndarray:
        """dL/dz from dL/da = g: g · f'(z) for an elementwise activation."""
        return g * self.slope_at(z, a, layer)

    def backward_stable(self, z: np.ndarray, a: np.ndarray, g: np.ndarray, layer) -> np.ndarray:
        """:meth:`backward` for an output layer under a loss that takes logarithms, where dL/da may be
        e^{40} and f'(z) e^{−40}: an activation that saturates computes f'(z) from z, not from a rounded a."""
        return self.backward(z, a, g, layer)

    def slope_at(self, z: np.ndarray, a: np.ndarray, layer) -> np.ndarray:
        """f'(z) in NumPy (elementwise activations)."""
        raise NotImplementedError

    # -- Python source for the notebook (Z, A, dA are names of NumPy arrays there)

    def code_forward(self, Z: str, layer) -> str:
        """An expression computing A from Z."""
        raise NotImplementedError

    def code_backward(self, Z: str, A: str, dA: str, layer) -> str:
        """An expression computing dL/dZ from Z, A and dL/dA (a trailing comment is welcome)."""
        raise NotImplementedError

    # -- worksheets

    def given(self, what: str, shown: float, at: float) -> tuple[str, float] | None:
        """A value a worksheet hands out for a unit with sum z (shown rounded, evaluated at ``at``):
        (its LaTeX, its value), or None when ``what`` is not one this activation offers."""
        return None

    #: The names of :meth:`given` values this activation offers (``worksheet.given`` in a spec).
    givens: ClassVar[tuple[str, ...]] = ()

    def on_kink(self, z: np.ndarray) -> bool:
        """Whether some z sits exactly on a kink."""
        return bool(self.kinks) and bool(np.any(np.isin(z, self.kinks)))

    def near_kink(self, z: float, h: float) -> bool:
        """Whether z is within h of a kink (where finite differences straddle it)."""
        return any(abs(z - k) < h for k in self.kinks)

    def is_saturated(self, z: np.ndarray, a: np.ndarray, rounding, layer) -> bool:
        """Whether some unit's f'(z) rounds to 0 at the sheet's precision (for activations that saturate)."""
        if not self.saturates:
            return False
        return any(rounding(float(v)) == 0 for v in np.ravel(self.slope_at(z, a, layer)))


# --------------------------------------------------------------------------- the built-ins


class Identity(Activation):
    r"""$f(z) = z$, $f'(z) = 1$."""

    name = "identity"
    shifts = True
    title = N_("the identity")
    has_derivative_factor = False

    def expr(self, z):
        return z

    def derivative(self, z, a):
        return sp.S.One

    def forward(self, z, layer):
        return z

    def slope_at(self, z, a, layer):
        return np.ones_like(z)

    def code_forward(self, Z, layer):
        return Z

    def code_backward(self, Z, A, dA, layer):
        return f"{dA}  # identity: f'(z) = 1"


class Sigmoid(Activation):
    r"""$\sigma(z) = 1/(1 + e^{-z})$, $\sigma'(z) = \sigma(z)(1 - \sigma(z))$."""

    name = "sigmoid"
    title = N_("the logistic sigmoid")
    saturates = True
    output_range = (0.0, 1.0)
    target_range = (0, 1, 0)
    formula_functions = {"sigma": (_math_sigmoid, lambda z: 1 / (1 + sp.exp(-z))),
                         "sigmoid": (_math_sigmoid, lambda z: 1 / (1 + sp.exp(-z)))}
    latex_words = {r"\sigma": "sigma"}
    givens = ("sigmoid", "exp")

    def expr(self, z):
        return sigmoid(z)

    def derivative(self, z, a):
        return sp.Mul(a, sp.Add(1, -a, evaluate=False), evaluate=False)

    def definition(self, z):
        return 1 / (1 + sp.exp(-z))

    def forward(self, z, layer):
        return _np_sigmoid(z)

    def log_forward(self, z, layer):
        return -np.logaddexp(0.0, -z)  # as PyTorch's binary_cross_entropy_with_logits: finite for any z

    def log1m_forward(self, z, layer):
        return -np.logaddexp(0.0, z)

    def slope_at(self, z, a, layer):
        return a * (1.0 - a)

    def backward_stable(self, z, a, g, layer):
        # σ(z)σ(−z), not a(1 − a): where σ(z) rounds to 1 (z > 37), 1 − a has lost every digit
        return g * (_np_sigmoid(z) * _np_sigmoid(-z))

    def code_forward(self, Z, layer):
        return f"1 / (1 + np.exp(-{Z}))"

    def code_backward(self, Z, A, dA, layer):
        return f"{dA} * {A} * (1 - {A})  # sigmoid: f'(z) = a (1 - a)"

    def given(self, what, shown, at):
        if what == "sigmoid":
            return rf"\sigma({shown:g})", 1 / (1 + math.exp(-at))
        if what == "exp":
            return f"e^{{{-shown + 0.0:g}}}", math.exp(-at)
        return None


class Tanh(Activation):
    r"""$\tanh(z)$, $\tanh'(z) = 1 - \tanh^2(z)$."""

    name = "tanh"
    title = N_("the hyperbolic tangent")
    saturates = True
    output_range = (-1.0, 1.0)
    target_range = (-0.9, 0.9, 1)
    formula_functions = {"tanh": (math.tanh, sp.tanh)}
    latex_words = {r"\tanh": "tanh"}

    def expr(self, z):
        return sp.tanh(z)

    def derivative(self, z, a):
        return sp.Add(1, -a**2, evaluate=False)

    def forward(self, z, layer):
        return np.tanh(z)

    def slope_at(self, z, a, layer):
        return 1.0 - a * a

    def code_forward(self, Z, layer):
        return f"np.tanh({Z})"

    def code_backward(self, Z, A, dA, layer):
        return f"{dA} * (1 - {A} ** 2)  # tanh: f'(z) = 1 - a^2"


class ReLU(Activation):
    r"""$\max(0, z)$, derivative $[z > 0]$ (0 at z = 0 by convention)."""

    name = "relu"
    title = N_("the rectified linear unit")
    convention = N_(r"We take $\operatorname{ReLU}'(0) = 0$ (the convention of PyTorch and NumPy code).")
    kinks = (0.0,)
    output_range = (0.0, math.inf)
    target_range = (0, 3, 0)
    formula_functions = {"relu": (lambda z: max(z, 0.0), lambda z: sp.Max(z, 0))}
    latex_words = {r"\operatorname{ReLU}": "relu"}

    def expr(self, z):
        return relu(z)

    def derivative(self, z, a):
        return step(z)

    def definition(self, z):
        return sp.Max(0, z)

    def forward(self, z, layer):
        return np.maximum(z, 0.0)

    def slope_at(self, z, a, layer):
        return (z > 0).astype(float)

    def code_forward(self, Z, layer):
        return f"np.maximum({Z}, 0.0)"

    def code_backward(self, Z, A, dA, layer):
        return f"{dA} * ({Z} > 0)  # relu: f'(z) = 1 if z > 0 else 0"


class LeakyReLU(Activation):
    r"""$z$ for $z > 0$, else $\alpha z$; derivative $[z > 0] + \alpha [z \le 0]$ (α at z = 0 by convention)."""

    name = "leaky_relu"
    title = N_("the leaky rectified linear unit")
    convention = N_(r"We take $\operatorname{LeakyReLU}'_\alpha(0) = \alpha$: the slope of the left side "
                  r"(the convention of PyTorch).")
    options = {"slope": 0.01}
    kinks = (0.0,)

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

    def forward(self, z, layer):
        return np.where(z > 0, z, layer.slope * z)

    def slope_at(self, z, a, layer):
        return np.where(z > 0, 1.0, layer.slope)

    def code_forward(self, Z, layer):
        return f"np.where({Z} > 0, {Z}, {layer.slope!r} * {Z})"

    def code_backward(self, Z, A, dA, layer):
        return f"{dA} * np.where({Z} > 0, 1.0, {layer.slope!r})  # leaky relu: f'(z) = 1 if z > 0 else the slope"


class Softmax(Activation):
    r"""$a_j = e^{z_j} / \sum_k e^{z_k}$, coupling the units: $\partial a_j / \partial z_i = a_j(\delta_{ij} - a_i)$."""

    name = "softmax"
    title = N_("the softmax")
    elementwise = False
    output_range = (0.0, 1.0)
    target_range = None  # a class, drawn one-hot

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

    def forward(self, z, layer):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def log_forward(self, z, layer):
        m = z.max(axis=1, keepdims=True)
        return z - (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))  # log_softmax, as PyTorch

    def backward(self, z, a, g, layer):
        # dL/dz_j = a_j (g_j − Σ_i g_i a_i)
        return a * (g - (g * a).sum(axis=1, keepdims=True))

    def code_forward(self, Z, layer):
        return (f"np.exp({Z} - {Z}.max(axis=1, keepdims=True)) / "
                f"np.exp({Z} - {Z}.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)")

    def code_backward(self, Z, A, dA, layer):
        return f"{A} * ({dA} - ({dA} * {A}).sum(axis=1, keepdims=True))  # softmax Jacobian, applied"


# --------------------------------------------------------------------------- the registry


#: Name → the activation (unconfigured; :meth:`Activation.configured` applies a layer's options).
ACTIVATIONS: dict[str, Activation] = {}


def register(cls: type[Activation]) -> type[Activation]:
    """Add an activation class to the registry under its ``name`` (usable as a decorator).

    Registering a name twice replaces the earlier class (a test or plugin may override a built-in).
    """
    if not isinstance(getattr(cls, "name", None), str) or not cls.name.isidentifier():
        raise ValueError(f"an activation needs a name of letters, digits and _, got {getattr(cls, 'name', None)!r}")
    ACTIVATIONS[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    """Remove an activation (tests that register one clean up with this)."""
    ACTIVATIONS.pop(name, None)


def activation_of(layer) -> Activation:
    """The activation of a spec layer, with the layer's options applied."""
    return ACTIVATIONS[layer.activation].configured(layer)


for _cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax):
    register(_cls)


def all_givens() -> tuple[str, ...]:
    """Every value some registered activation can hand out on a worksheet."""
    return tuple(dict.fromkeys(g for act in ACTIVATIONS.values() for g in act.givens))
