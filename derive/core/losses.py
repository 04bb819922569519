"""The loss registry: one class per loss, holding everything the program asks of it.

A class states its SymPy expression and its partial derivatives (for the graph and the chain
rule), its prose (for the page and the worksheet), a NumPy loss and gradient written
independently of the SymPy side (for the reference check), the same as Python source (for the
notebook), and its validation of targets. No other module compares loss names: they look the
class up in :data:`LOSSES` and ask it.

Adding a loss is one class and one :func:`register` call (see docs/extending.md).
"""

from __future__ import annotations

import math
from typing import ClassVar, Sequence

import numpy as np
import sympy as sp

from derive.i18n import N_, _

_TINY = np.finfo(float).tiny


def _sum(terms):
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


def _log(y):
    return np.log(np.maximum(y, _TINY))


def _times(t, x):
    """t · x, and 0 where t = 0 (so that a target of 0 times log 0 = −∞ adds nothing, as in the formula's limit)."""
    with np.errstate(invalid="ignore"):
        return np.where(t != 0, t * x, 0.0)


class Loss:
    """A per-instance loss over output units y_k and targets t_k.

    Squared losses go through error nodes ``e_k = y_k - t_k`` (as the 001 seed writes them);
    the others are written on y and t directly.
    """

    name: ClassVar[str]
    """The spec's name (``loss = "sse"``)."""
    title: ClassVar[str] = "the loss"
    """The loss in words, for prose ("binary cross-entropy"), with its article where it takes one."""
    uses_errors: ClassVar[bool] = False
    """True: the graph has error nodes e_k = y_k − t_k and :meth:`expr` is written on them."""
    needs_targets: ClassVar[bool] = True
    squared: ClassVar[bool] = False
    """True for the squared-error family: `derive check` then looks for a lost factor 2 (or ½)."""
    target_bounds: ClassVar[tuple[float, float] | None] = None
    """Targets must lie in [low, high] (bce: [0, 1])."""
    output_bounds: ClassVar[tuple[float, float] | None] = None
    """The outputs must lie within these bounds (bce, cross-entropy: their logarithms need (0, 1)):
    an output activation that can leave them is refused (see :meth:`check_activation`)."""
    class_index: ClassVar[bool] = False
    """True: a target may be given as a class index (1-based), stored one-hot; targets sum to 1."""
    sheet_text: ClassVar[str] = ""
    """The loss in a worksheet's sentence "The loss is …" (Markdown with LaTeX)."""

    def expr(self, ys: Sequence[sp.Expr], ts: Sequence[sp.Expr]) -> sp.Expr:
        """L as a function of the outputs and targets (or of the errors when ``uses_errors``)."""
        raise NotImplementedError

    def partial(self, k: int, ys: Sequence[sp.Expr], ts: Sequence[sp.Expr]) -> sp.Expr:
        """∂L/∂y_k (or ∂L/∂e_k), in its textbook form."""
        raise NotImplementedError

    def simplifies(self, activation) -> bool:
        """Whether this loss after ``activation`` on the output simplifies to dL/dz_k = a_k − t_k."""
        return False

    # -- the page

    def sentence(self, error: str, outputs: int) -> str:
        """The worked example's sentence before $L = …$ (Markdown). ``error`` is the LaTeX of
        "e_1 = y_1 - t_1" when the loss uses errors, else ""; ``outputs`` is the number of output units."""
        raise NotImplementedError

    # -- NumPy: the independent reference (rows are instances)

    def forward(self, Y: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The per-instance losses of outputs Y and targets T."""
        raise NotImplementedError

    def backward(self, Y: np.ndarray, T: np.ndarray) -> np.ndarray:
        """dL_n/dY of each instance's own loss."""
        raise NotImplementedError

    def forward_logs(self, Y: np.ndarray, logY: np.ndarray, log1mY: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The per-instance losses given also log Y and log(1 − Y) from the output activation's stable
        forms (a saturated sigmoid has Y = 1.0 but log(1 − Y) = −z). Losses without logarithms ignore them."""
        return self.forward(Y, T)

    def backward_logs(self, Y: np.ndarray, logY: np.ndarray, log1mY: np.ndarray, T: np.ndarray) -> np.ndarray:
        """dL_n/dY given the same logarithms (1/Y as e^{−log Y}: 1/(1 − σ(40)) is e^{40}, not 1/0)."""
        return self.backward(Y, T)

    # -- Python source for the notebook (Y and T are arrays, one row per instance)

    def code_forward(self) -> str:
        """An expression of Y and T: the per-instance losses."""
        raise NotImplementedError

    def code_backward(self) -> str:
        """An expression of Y and T: dL_n/dY (a trailing comment is welcome)."""
        raise NotImplementedError

    # -- validation and worksheets

    def near_kink(self, y, t, h: float) -> bool:
        """Whether the loss of one instance (outputs y, targets t) is within h of a kink (none by default)."""
        return False

    def check_outputs(self, size: int) -> str | None:
        """Why an output layer of ``size`` units does not suit this loss (None when it does)."""
        return None

    def check_activation(self, activation) -> str | None:
        """Why this loss cannot follow ``activation`` on the output layer (None when it can)."""
        if self.output_bounds is None:
            return None
        (low, high), (a_low, a_high) = self.output_bounds, activation.output_range
        if a_low < low or a_high > high:
            return (f"{self.name} takes the logarithm of outputs in ({low:g}, {high:g}), and the output activation "
                    f"{activation.name} can leave that interval; use one that stays in it "
                    f"({', '.join(_within(low, high))})")
        return None

    def check_targets(self, t: Sequence[float]) -> str | None:
        """Why the targets of one instance are invalid for this loss (None when they are fine)."""
        if self.target_bounds is not None:
            low, high = self.target_bounds
            if any(not low <= v <= high for v in t):
                return f"{self.name} targets must lie in [{low:g}, {high:g}], got {list(t)}"
        if self.class_index and not math.isclose(sum(t), 1.0, abs_tol=1e-9):
            return f"{self.name} targets must sum to 1 (or give a class index), got {list(t)}"
        return None

    def worksheet_targets(self, activation) -> tuple[float, float, int] | None:
        """(low, high, decimals) worksheet targets for outputs of ``activation``; None: one-hot classes."""
        if self.class_index:
            return None
        if self.target_bounds is not None:
            return (self.target_bounds[0], self.target_bounds[1], 0)
        return activation.target_range


def _within(low: float, high: float) -> list[str]:
    from derive.core.activations import ACTIVATIONS

    return [name for name, act in ACTIVATIONS.items() if low <= act.output_range[0] and act.output_range[1] <= high]


class SSE(Loss):
    r"""$L = \sum_k e_k^2$."""

    name = "sse"
    title = N_("the sum of squared errors")
    uses_errors = True
    squared = True
    sheet_text = N_(r"the sum of its squared errors, $L = \sum_k (y_k - t_k)^2$")

    def expr(self, es, ts=()):
        return _sum([e**2 for e in es])

    def partial(self, k, es, ts=()):
        return sp.Mul(2, es[k], evaluate=False)

    def sentence(self, error, outputs):
        if outputs == 1:
            return _("The loss of one instance is the squared error of its output unit, with the error "
                     "%(error)s:") % {"error": f"${error}$"}
        return _("The loss of one instance is the sum of the squared errors of the output units, with the error\n"
                 "of each output, %(error)s and so on:") % {"error": f"${error}$"}

    def forward(self, Y, T):
        return ((Y - T) ** 2).sum(axis=1)

    def backward(self, Y, T):
        return 2.0 * (Y - T)

    def code_forward(self):
        return "((Y - T) ** 2).sum(axis=1)"

    def code_backward(self):
        return "2 * (Y - T)"


class HalfSSE(Loss):
    r"""$L = \sum_k \tfrac12 e_k^2$."""

    name = "half_sse"
    title = N_("half the sum of squared errors")
    uses_errors = True
    squared = True
    sheet_text = N_(r"half the sum of its squared errors, $L = \frac{1}{2} \sum_k (y_k - t_k)^2$")

    def expr(self, es, ts=()):
        return sp.Mul(sp.Rational(1, 2), _sum([e**2 for e in es]), evaluate=False)

    def partial(self, k, es, ts=()):
        return es[k]

    def sentence(self, error, outputs):
        if outputs == 1:
            return _("The loss of one instance is half the squared error of its output unit, with the error "
                     "%(error)s (the ½ cancels the 2 of the derivative):") % {"error": f"${error}$"}
        return _("The loss of one instance is half the sum of the squared errors of the output units, with the error\n"
                 "of each output, %(error)s and so on (the ½ cancels the 2 of the derivative):") % {"error": f"${error}$"}

    def forward(self, Y, T):
        return 0.5 * ((Y - T) ** 2).sum(axis=1)

    def backward(self, Y, T):
        return Y - T

    def code_forward(self):
        return "0.5 * ((Y - T) ** 2).sum(axis=1)"

    def code_backward(self):
        return "Y - T"


class MSE(Loss):
    r"""$L = \frac1K \sum_k e_k^2$."""

    name = "mse"
    title = N_("the mean squared error")
    uses_errors = True
    squared = True
    sheet_text = N_(r"the mean of its squared errors over the $K$ outputs, $L = \frac{1}{K} \sum_k (y_k - t_k)^2$")

    def expr(self, es, ts=()):
        if len(es) == 1:  # the mean of one squared error is that error squared (not "1 e_1^2")
            return es[0] ** 2
        return sp.Mul(sp.Rational(1, len(es)), _sum([e**2 for e in es]), evaluate=False)

    def partial(self, k, es, ts=()):
        if len(es) == 1:
            return sp.Mul(2, es[k], evaluate=False)
        return sp.Mul(2, es[k], sp.Pow(sp.Integer(len(es)), -1, evaluate=False), evaluate=False)

    def sentence(self, error, outputs):
        if outputs == 1:
            return _("The loss of one instance is the squared error of its output unit (the mean of one "
                     "squared error), with the error %(error)s:") % {"error": f"${error}$"}
        return _("The loss of one instance is the mean of the squared errors of its %(outputs)s output units, with\n"
                 "the error of each output, %(error)s and so on:") % {"outputs": outputs, "error": f"${error}$"}

    def forward(self, Y, T):
        return ((Y - T) ** 2).mean(axis=1)

    def backward(self, Y, T):
        return 2.0 * (Y - T) / Y.shape[1]

    def code_forward(self):
        return "((Y - T) ** 2).mean(axis=1)"

    def code_backward(self):
        return "2 * (Y - T) / Y.shape[1]"


class BCE(Loss):
    r"""$L = -\sum_k [t_k \log y_k + (1 - t_k)\log(1 - y_k)]$."""

    name = "bce"
    title = N_("binary cross-entropy")
    output_bounds = (0.0, 1.0)
    target_bounds = (0.0, 1.0)
    sheet_text = N_(r"the binary cross-entropy, $L = -\sum_k \left[t_k \ln y_k + (1 - t_k) \ln (1 - y_k)\right]$")

    def expr(self, ys, ts):
        return -_sum([t * sp.log(y) + (1 - t) * sp.log(1 - y) for y, t in zip(ys, ts)])

    def partial(self, k, ys, ts):
        y, t = ys[k], ts[k]
        return sp.Add(-t / y, (1 - t) / (1 - y), evaluate=False)

    def simplifies(self, activation):
        from derive.core.activations import Sigmoid

        return isinstance(activation, Sigmoid)

    def sentence(self, error, outputs):
        return _("The loss of one instance is the binary cross-entropy of each output unit against its target:")

    def forward(self, Y, T):
        return -(T * _log(Y) + (1 - T) * _log(1 - Y)).sum(axis=1)

    def backward(self, Y, T):
        return -(T / np.maximum(Y, _TINY)) + (1 - T) / np.maximum(1 - Y, _TINY)

    def forward_logs(self, Y, logY, log1mY, T):  # PyTorch's binary_cross_entropy_with_logits for a sigmoid
        return -(_times(T, logY) + _times(1 - T, log1mY)).sum(axis=1)

    def backward_logs(self, Y, logY, log1mY, T):
        with np.errstate(over="ignore"):
            return -_times(T, np.exp(-logY)) + _times(1 - T, np.exp(-log1mY))

    def code_forward(self):
        return "-(T * np.log(Y) + (1 - T) * np.log(1 - Y)).sum(axis=1)"

    def code_backward(self):
        return "-T / Y + (1 - T) / (1 - Y)"


class CrossEntropy(Loss):
    r"""$L = -\sum_k t_k \log y_k$ (targets summing to 1)."""

    name = "cross_entropy"
    title = N_("cross-entropy")
    output_bounds = (0.0, 1.0)
    target_bounds = (0.0, 1.0)
    class_index = True
    sheet_text = N_(r"the cross-entropy, $L = -\sum_k t_k \ln y_k$")

    def expr(self, ys, ts):
        return -_sum([t * sp.log(y) for y, t in zip(ys, ts)])

    def partial(self, k, ys, ts):
        return -ts[k] / ys[k]

    def simplifies(self, activation):
        from derive.core.activations import Softmax

        return isinstance(activation, Softmax)

    def sentence(self, error, outputs):
        return _("The loss of one instance is the cross-entropy of the outputs against the target distribution:")

    def forward(self, Y, T):
        return -(T * _log(Y)).sum(axis=1)

    def backward(self, Y, T):
        return -T / np.maximum(Y, _TINY)

    def forward_logs(self, Y, logY, log1mY, T):  # log_softmax for a softmax output, as PyTorch's cross_entropy
        return -_times(T, logY).sum(axis=1)

    def backward_logs(self, Y, logY, log1mY, T):
        with np.errstate(over="ignore"):
            return -_times(T, np.exp(-logY))

    def code_forward(self):
        return "-(T * np.log(Y)).sum(axis=1)"

    def code_backward(self):
        return "-T / Y"


class Output(Loss):
    r"""$L = y_1$: the network is a circuit and its single output is differentiated."""

    name = "output"
    title = N_("the output")
    needs_targets = False
    sheet_text = N_(r"the network's output itself, $L = y_1$")

    def expr(self, ys, ts=()):
        return ys[0]

    def partial(self, k, ys, ts=()):
        return sp.S.One

    def sentence(self, error, outputs):
        return _("The network is a circuit: the loss is its single output.")

    def check_outputs(self, size):
        return None if size == 1 else f"'output' needs an output layer of size 1, got {size}"

    def worksheet_targets(self, activation):
        return None

    def forward(self, Y, T):
        return Y[:, 0].copy()

    def backward(self, Y, T):
        g = np.zeros_like(Y)
        g[:, 0] = 1.0
        return g

    def code_forward(self):
        return "Y[:, 0].copy()"

    def code_backward(self):
        return "np.eye(Y.shape[1])[[0] * len(Y)]  # L = y_1"


class Hinge(Loss):
    r"""Multi-class hinge (SVM) loss: $L = \sum_{j \ne c} \max(0, y_j - y_c + 1)$ for the class c of the instance.

    Written on one-hot targets so that one expression serves every instance: with
    $\hat y = \sum_i t_i y_i$ (the output of the target class), $L = \sum_j (1 - t_j) \operatorname{ReLU}(y_j - \hat y + 1)$.
    At a margin of exactly 0 the derivative is 0, as PyTorch's ``multi_margin_loss`` takes it.
    """

    name = "hinge"
    title = N_("the multi-class hinge loss")
    class_index = True
    target_bounds = (0.0, 1.0)
    sheet_text = N_(r"the multi-class hinge loss, $L = \sum_{j \ne c} \max(0, y_j - y_c + 1)$ for the instance's "
                  r"class $c$")

    @staticmethod
    def _target_output(ys, ts):
        return _sum([t * y for y, t in zip(ys, ts)])

    def expr(self, ys, ts):
        from derive.core.activations import relu

        yc = self._target_output(ys, ts)
        return _sum([(1 - t) * relu(y - yc + 1) for y, t in zip(ys, ts)])

    def partial(self, k, ys, ts):
        from derive.core.activations import step

        yc = self._target_output(ys, ts)
        active = [(1 - t) * step(y - yc + 1) for y, t in zip(ys, ts)]
        return sp.Add(active[k], -ts[k] * _sum(active), evaluate=False)

    def sentence(self, error, outputs):
        return _("The loss of one instance is the multi-class hinge (SVM) loss: every other class $j$ whose output "
                "comes within a margin of 1 of the output $y_c$ of the instance's class $c$ adds "
                "$y_j - y_c + 1$. Written with the one-hot targets, $\\hat y = \\sum_i t_i y_i$ is $y_c$ "
                "and the factor $1 - t_j$ leaves out $j = c$. Where a margin $y_j - y_c + 1$ is exactly 0 "
                "the loss has a kink; its derivative there is taken to be 0, as PyTorch's "
                "`multi_margin_loss` does:")

    def check_targets(self, t):
        if sorted(t) != [0.0] * (len(t) - 1) + [1.0]:
            return f"hinge targets must be one-hot (or a class index), got {list(t)}"
        return None

    def check_outputs(self, size):
        return None if size >= 2 else f"'hinge' needs an output layer of at least 2 units (one per class), got {size}"

    def near_kink(self, y, t, h: float) -> bool:
        """Whether a margin of one instance (outputs y, one-hot targets t) is within h of 0."""
        yc = float(np.dot(y, t))
        return any(abs(yj - yc + 1) < h for yj, tj in zip(y, t) if tj == 0)

    def forward(self, Y, T):
        M = Y - (T * Y).sum(axis=1, keepdims=True) + 1.0
        return ((1.0 - T) * np.maximum(M, 0.0)).sum(axis=1)

    def backward(self, Y, T):
        M = Y - (T * Y).sum(axis=1, keepdims=True) + 1.0
        S = (1.0 - T) * (M > 0)
        return S - T * S.sum(axis=1, keepdims=True)

    def code_forward(self):
        return "((1 - T) * np.maximum(Y - (T * Y).sum(axis=1, keepdims=True) + 1, 0)).sum(axis=1)"

    def code_backward(self):
        return ("(lambda S: S - T * S.sum(axis=1, keepdims=True))"
                "((1 - T) * (Y - (T * Y).sum(axis=1, keepdims=True) + 1 > 0))  # margins > 0 count")


class nonnegative(sp.Function):
    r"""$[z \ge 0]$: 1 for z ≥ 0, else 0 (PyTorch's ``clamp(min=0)`` passes the gradient at 0)."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number:
            return sp.S.One if bool(z >= 0) else sp.S.Zero
        return None

    def _latex(self, printer, exp=None):
        inner = printer.bare(self.args[0]) if hasattr(printer, "bare") else printer._print(self.args[0])
        return rf"\left[{inner} \ge 0\right]"


class BinaryHinge(Loss):
    r"""Binary hinge loss, one output and targets ±1: $L = \max(0, 1 - t y)$."""

    name = "binary_hinge"
    title = N_("the binary hinge loss")
    sheet_text = N_(r"the binary hinge loss, $L = \max(0, 1 - t \, y)$ with $t = \pm 1$")

    def expr(self, ys, ts):
        from derive.core.activations import relu

        return relu(1 - ts[0] * ys[0])

    def partial(self, k, ys, ts):
        return -ts[0] * nonnegative(1 - ts[0] * ys[0]) if k == 0 else sp.S.Zero

    def sentence(self, error, outputs):
        return _("The loss of one instance is the binary hinge loss of its one output against its target "
                "$t = \\pm 1$: zero once $t \\, y \\ge 1$, else $1 - t \\, y$. At $t \\, y = 1$ exactly the loss has "
                "a kink; its derivative there is taken to be $-t$, as PyTorch's `torch.clamp(1 - t * y, min=0)` "
                "gives it:")

    def check_outputs(self, size):
        return None if size == 1 else f"'binary_hinge' needs an output layer of 1 unit, got {size}"

    def check_targets(self, t):
        if any(v not in (-1.0, 1.0) for v in t):
            return f"binary_hinge targets must be -1 or 1, got {list(t)}"
        return None

    def worksheet_targets(self, activation):
        return (-1.0, 1.0, 0, True)

    def near_kink(self, y, t, h: float) -> bool:
        return abs(1 - t[0] * y[0]) < h

    def forward(self, Y, T):
        return np.maximum(1.0 - T[:, 0] * Y[:, 0], 0.0)

    def backward(self, Y, T):
        g = np.zeros_like(Y)
        g[:, 0] = -T[:, 0] * (1.0 - T[:, 0] * Y[:, 0] >= 0)
        return g

    def code_forward(self):
        return "np.maximum(1 - T[:, 0] * Y[:, 0], 0)"

    def code_backward(self):
        return "np.hstack([-T[:, :1] * (1 - T[:, :1] * Y[:, :1] >= 0), np.zeros_like(Y[:, 1:])])  # at 1 - t y = 0: -t"


# --------------------------------------------------------------------------- the registry


#: Name → the loss.
LOSSES: dict[str, Loss] = {}


def register(cls: type[Loss]) -> type[Loss]:
    """Add a loss class to the registry under its ``name`` (usable as a decorator)."""
    if not isinstance(getattr(cls, "name", None), str) or not cls.name.isidentifier():
        raise ValueError(f"a loss needs a name of letters, digits and _, got {getattr(cls, 'name', None)!r}")
    LOSSES[cls.name] = cls()
    return cls


def unregister(name: str) -> None:
    """Remove a loss (tests that register one clean up with this)."""
    LOSSES.pop(name, None)


for _cls in (SSE, HalfSSE, MSE, BCE, CrossEntropy, Output, Hinge, BinaryHinge):
    register(_cls)
