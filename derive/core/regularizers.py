"""Regularizers: a penalty on the parameters, added once to the total loss after the reduction.

Each one class, registered in :data:`REGULARIZERS` under the ``kind`` a spec names in
``[network] regularization = { kind = "l2", ... }``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar


@dataclass(frozen=True)
class Regularizer:
    kind: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def options(cls) -> dict[str, Any]:
        return {f.name: f.default for f in fields(cls)}

    @classmethod
    def from_options(cls, options: dict) -> "Regularizer":
        return cls(**options)

    def check(self, fail: Callable[[str, str], Exception]) -> None:
        pass

    def covers(self, kind: str) -> bool:
        """Whether parameters of this kind (``weight`` or ``bias``) are penalized."""
        raise NotImplementedError

    def penalty(self, values, number=float) -> float:
        """The penalty of the penalized parameters' values (any iterable of numbers);
        ``number`` turns the options into numbers (floats, or exact rationals)."""
        raise NotImplementedError

    def gradient(self, theta, number=float):
        """∂penalty/∂θ of one penalized parameter (a number or an array)."""
        raise NotImplementedError

    def formula(self) -> str:
        """LaTeX for the penalty R, summed over the set Θ of penalized parameters."""
        raise NotImplementedError

    def grad_formula(self) -> str:
        """LaTeX for ∂R/∂θ."""
        raise NotImplementedError

    def parts(self, values: list) -> tuple:
        """The penalty with its numbers substituted: LaTeX text alternating with numbers (the page formats them)."""
        raise NotImplementedError

    def code_penalty(self, arrays: str) -> str:
        """A Python expression for the penalty of the arrays in the list named ``arrays`` (notebook)."""
        raise NotImplementedError

    def code_gradient(self, theta: str) -> str:
        """A Python expression for ∂R/∂θ of the array ``theta`` (notebook)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class L2(Regularizer):
    """λ·Σθ² (½·λ·Σθ² with ``half``) over the weights, and the trained biases with ``biases``."""

    kind: ClassVar[str] = "l2"
    required: ClassVar[tuple[str, ...]] = ("lambda",)
    lam: float = 0.0
    half: bool = False
    biases: bool = False

    @classmethod
    def options(cls) -> dict[str, Any]:
        return {"lambda": 0.0, "half": False, "biases": False}

    @classmethod
    def from_options(cls, options: dict) -> "L2":
        return cls(lam=options["lambda"], half=options["half"], biases=options["biases"])

    def check(self, fail):
        if self.lam < 0:
            raise fail("lambda", f"expected a number ≥ 0, got {self.lam:g}")

    def covers(self, kind):
        return kind == "weight" or (kind == "bias" and self.biases)

    @property
    def coefficient(self) -> float:
        """c in R = c·Σθ²: λ/2 with half, else λ."""
        return self.lam / 2 if self.half else self.lam

    def penalty(self, values, number=float):
        c = number(self.lam) / 2 if self.half else number(self.lam)
        return c * sum(v * v for v in values)

    def gradient(self, theta, number=float):
        return (number(self.lam) if self.half else 2 * number(self.lam)) * theta

    def formula(self):
        return (r"\frac{\lambda}{2} \sum_{\theta \in \Theta} \theta^2" if self.half
                else r"\lambda \sum_{\theta \in \Theta} \theta^2")

    def grad_formula(self):
        return r"\lambda \, \theta" if self.half else r"2 \lambda \, \theta"

    def parts(self, values):
        squares = []
        for i, v in enumerate(values):
            squares += [" + " if i else "", v, "^2"]
        return ((r"\frac{", self.lam, "}{2}") if self.half else ("", self.lam)) + (r" \left(",) + tuple(squares) + (
            r"\right)",)

    def code_penalty(self, arrays):
        return f"{self.coefficient!r} * sum((A ** 2).sum() for A in {arrays})"

    def code_gradient(self, theta):
        return f"{(self.lam if self.half else 2 * self.lam)!r} * {theta}"

    def settings(self):
        return {"kind": self.kind, "lambda": self.lam, "half": self.half, "biases": self.biases}


REGULARIZERS: dict[str, type[Regularizer]] = {cls.kind: cls for cls in (L2,)}
