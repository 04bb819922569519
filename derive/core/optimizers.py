"""The optimizer registry: the one place where a parameter update θ ← θ − η·g is written.

Every consumer (the derivation's first update, the NumPy reference's training, the rounding
policy of worksheets, `derive check`'s mistakes and recomputations, the page, the worksheet and
the notebook) asks an :class:`Optimizer` for the update, its LaTeX and its Python source.

Plain gradient descent (:class:`SGD`) is the only one so far; optimizers with state (momentum,
Adam, …) add a class here and one :func:`register` line.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar


def _same(x):
    return x


class Optimizer:
    """How one parameter moves given its gradient; works on floats, SymPy numbers and NumPy arrays alike."""

    name: ClassVar[str]

    def step(self, theta: Any, grad: Any, rate: Any, *, rounding: Callable = _same) -> Any:
        """θ after one update with gradient ``grad`` and learning rate ``rate``.

        ``rounding`` is applied to every intermediate result (a worksheet's carried rounding).
        """
        raise NotImplementedError

    def update(self, params: dict, grads: dict, rate: Any, *, rounding: Callable = _same) -> dict:
        """``params`` with every key of ``grads`` stepped; the other entries unchanged."""
        out = dict(params)
        for key, g in grads.items():
            out[key] = self.step(params[key], g, rate, rounding=rounding)
        return out

    def rule(self, theta: str = r"\theta", grad: str = r"\partial L / \partial \theta") -> str:
        r"""The update rule in LaTeX: ``\theta \leftarrow \theta - \eta \, \partial L / \partial \theta``."""
        return rf"{theta} \leftarrow {self.symbolic_tex(theta, grad)}"

    def substituted_tex(self, theta: str, grad: str, rate: str) -> str:
        """The right-hand side with numbers (as LaTeX factors) substituted: ``0.5 - 0.1 \\cdot 0.2``."""
        raise NotImplementedError

    def symbolic_tex(self, theta: str, grad: str) -> str:
        """The right-hand side with the parameter's name and gradient (LaTeX)."""
        raise NotImplementedError

    def code(self, P: str, G: str, key: str, rate: str) -> str:
        """A Python statement updating ``P[key]`` in place from the gradient ``G[key]``."""
        raise NotImplementedError


class SGD(Optimizer):
    r"""Gradient descent: $\theta \leftarrow \theta - \eta \, \partial L / \partial \theta$."""

    name = "sgd"

    def step(self, theta, grad, rate, *, rounding=_same):
        return rounding(theta - rounding(rate * grad))

    def symbolic_tex(self, theta, grad):
        return rf"{theta} - \eta \, {grad}"

    def substituted_tex(self, theta, grad, rate):
        return rf"{theta} - {rate} \cdot {grad}"

    def code(self, P, G, key, rate):
        return f"{P}[{key}] = {P}[{key}] - {rate} * {G}[{key}]"


#: Name → the optimizer.
OPTIMIZERS: dict[str, Optimizer] = {}


def register(cls: type[Optimizer]) -> type[Optimizer]:
    """Add an optimizer class to the registry under its ``name`` (usable as a decorator)."""
    OPTIMIZERS[cls.name] = cls()
    return cls


register(SGD)


def optimizer_of(training) -> Optimizer:
    """The optimizer of a spec's ``[training]`` table (plain gradient descent unless it names another)."""
    return OPTIMIZERS[getattr(training, "optimizer", None) or "sgd"]
