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

_TINY = np.finfo(float).tiny


def _sum(terms):
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


def _log(y):
    return np.log(np.maximum(y, _TINY))


class Loss:
    """A per-instance loss over output units y_k and targets t_k.

    Squared losses go through error nodes ``e_k = y_k - t_k`` (as the 001 seed writes them);
    the others are written on y and t directly.
    """

    name: ClassVar[str]
    """The spec's name (``loss = "sse"``)."""
    uses_errors: ClassVar[bool] = False
    """True: the graph has error nodes e_k = y_k − t_k and :meth:`expr` is written on them."""
    needs_targets: ClassVar[bool] = True
    squared: ClassVar[bool] = False
    """True for the squared-error family: `derive check` then looks for a lost factor 2 (or ½)."""
    target_bounds: ClassVar[tuple[float, float] | None] = None
    """Targets must lie in [low, high] (bce: [0, 1])."""
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

    # -- Python source for the notebook (Y and T are arrays, one row per instance)

    def code_forward(self) -> str:
        """An expression of Y and T: the per-instance losses."""
        raise NotImplementedError

    def code_backward(self) -> str:
        """An expression of Y and T: dL_n/dY (a trailing comment is welcome)."""
        raise NotImplementedError

    # -- validation and worksheets

    def check_outputs(self, size: int) -> str | None:
        """Why an output layer of ``size`` units does not suit this loss (None when it does)."""
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


class SSE(Loss):
    r"""$L = \sum_k e_k^2$."""

    name = "sse"
    uses_errors = True
    squared = True
    sheet_text = r"the sum of its squared errors, $L = \sum_k (y_k - t_k)^2$"

    def expr(self, es, ts=()):
        return _sum([e**2 for e in es])

    def partial(self, k, es, ts=()):
        return sp.Mul(2, es[k], evaluate=False)

    def sentence(self, error, outputs):
        return ("The loss of one instance is the sum of the squared errors of the output units, with the error\n"
                f"of each output, ${error}$ and so on:")

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
    uses_errors = True
    squared = True
    sheet_text = r"half the sum of its squared errors, $L = \frac{1}{2} \sum_k (y_k - t_k)^2$"

    def expr(self, es, ts=()):
        return sp.Mul(sp.Rational(1, 2), _sum([e**2 for e in es]), evaluate=False)

    def partial(self, k, es, ts=()):
        return es[k]

    def sentence(self, error, outputs):
        return ("The loss of one instance is half the sum of the squared errors of the output units, with the error\n"
                f"of each output, ${error}$ and so on (the ½ cancels the 2 of the derivative):")

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
    uses_errors = True
    squared = True
    sheet_text = r"the mean of its squared errors over the $K$ outputs, $L = \frac{1}{K} \sum_k (y_k - t_k)^2$"

    def expr(self, es, ts=()):
        return sp.Mul(sp.Rational(1, len(es)), _sum([e**2 for e in es]), evaluate=False)

    def partial(self, k, es, ts=()):
        return sp.Mul(2, es[k], sp.Pow(sp.Integer(len(es)), -1, evaluate=False), evaluate=False)

    def sentence(self, error, outputs):
        return (f"The loss of one instance is the mean of the squared errors of its {outputs} output units, with\n"
                f"the error of each output, ${error}$ and so on:")

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
    target_bounds = (0.0, 1.0)
    sheet_text = r"the binary cross-entropy, $L = -\sum_k \left[t_k \ln y_k + (1 - t_k) \ln (1 - y_k)\right]$"

    def expr(self, ys, ts):
        return -_sum([t * sp.log(y) + (1 - t) * sp.log(1 - y) for y, t in zip(ys, ts)])

    def partial(self, k, ys, ts):
        y, t = ys[k], ts[k]
        return sp.Add(-t / y, (1 - t) / (1 - y), evaluate=False)

    def simplifies(self, activation):
        from derive.core.activations import Sigmoid

        return isinstance(activation, Sigmoid)

    def sentence(self, error, outputs):
        return "The loss of one instance is the binary cross-entropy of each output unit against its target:"

    def forward(self, Y, T):
        return -(T * _log(Y) + (1 - T) * _log(1 - Y)).sum(axis=1)

    def backward(self, Y, T):
        return -(T / np.maximum(Y, _TINY)) + (1 - T) / np.maximum(1 - Y, _TINY)

    def code_forward(self):
        return "-(T * np.log(Y) + (1 - T) * np.log(1 - Y)).sum(axis=1)"

    def code_backward(self):
        return "-T / Y + (1 - T) / (1 - Y)"


class CrossEntropy(Loss):
    r"""$L = -\sum_k t_k \log y_k$ (targets summing to 1)."""

    name = "cross_entropy"
    target_bounds = (0.0, 1.0)
    class_index = True
    sheet_text = r"the cross-entropy, $L = -\sum_k t_k \ln y_k$"

    def expr(self, ys, ts):
        return -_sum([t * sp.log(y) for y, t in zip(ys, ts)])

    def partial(self, k, ys, ts):
        return -ts[k] / ys[k]

    def simplifies(self, activation):
        from derive.core.activations import Softmax

        return isinstance(activation, Softmax)

    def sentence(self, error, outputs):
        return "The loss of one instance is the cross-entropy of the outputs against the target distribution:"

    def forward(self, Y, T):
        return -(T * _log(Y)).sum(axis=1)

    def backward(self, Y, T):
        return -T / np.maximum(Y, _TINY)

    def code_forward(self):
        return "-(T * np.log(Y)).sum(axis=1)"

    def code_backward(self):
        return "-T / Y"


class Output(Loss):
    r"""$L = y_1$: the network is a circuit and its single output is differentiated."""

    name = "output"
    needs_targets = False
    sheet_text = r"the network's output itself, $L = y_1$"

    def expr(self, ys, ts=()):
        return ys[0]

    def partial(self, k, ys, ts=()):
        return sp.S.One

    def sentence(self, error, outputs):
        return "The network is a circuit: the loss is its single output."

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


for _cls in (SSE, HalfSSE, MSE, BCE, CrossEntropy, Output):
    register(_cls)
