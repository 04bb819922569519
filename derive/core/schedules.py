"""Learning-rate schedules: each one class, registered in :data:`SCHEDULES` under its ``kind``.

A schedule gives the factor of the learning rate for the k-th update (k = 0, 1, …): it is
stepped once per update (per mini-batch), as a ``torch.optim.lr_scheduler`` stepped after every
``optimizer.step()``. Options and defaults are PyTorch's (LinearLR, StepLR, ExponentialLR);
``total`` is LinearLR's ``total_iters``. PyTorch has no inverse-time decay: ``inverse_time`` takes
Keras's ``InverseTimeDecay`` options (it is ``LambdaLR`` with λ(k) = 1/(1 + r·k/s)).

Adding a schedule: subclass :class:`Schedule`, write ``factor`` and ``formula``, add one line to
``SCHEDULES``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar


@dataclass(frozen=True)
class Schedule:
    """η_k = η · factor(k) for the k-th update (0-based)."""

    kind: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()
    """Options without a default in PyTorch."""

    @classmethod
    def options(cls) -> dict[str, Any]:
        return {f.name: f.default for f in fields(cls)}

    def check(self, fail: Callable[[str, str], Exception]) -> None:
        """Refuse what PyTorch refuses (``fail(key, message)`` makes the error)."""

    def factor(self, k: int) -> float:
        raise NotImplementedError

    def rate(self, lr: float, k: int) -> float:
        """The learning rate of update k (0-based)."""
        return lr * self.factor(k)

    def formula(self) -> str:
        """LaTeX for η_k, the learning rate of update k = 0, 1, …; empty when constant."""
        raise NotImplementedError

    def code(self, k: str) -> str:
        """A Python expression for factor(k), for the notebook (written apart from :meth:`factor`)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True)
class Constant(Schedule):
    """No schedule: the same learning rate for every update."""

    kind: ClassVar[str] = "constant"

    def factor(self, k):
        return 1.0

    def formula(self):
        return ""

    def code(self, k):
        return "1.0"


@dataclass(frozen=True)
class Linear(Schedule):
    """torch.optim.lr_scheduler.LinearLR: the factor goes linearly from start_factor to end_factor in ``total`` updates."""

    kind: ClassVar[str] = "linear"
    start_factor: float = 1.0 / 3.0
    end_factor: float = 1.0
    total: int = 5

    def check(self, fail):
        if not 0.0 < self.start_factor <= 1.0:
            raise fail("start_factor", f"expected a number above 0 and at most 1, got {self.start_factor:g}")
        if not 0.0 <= self.end_factor <= 1.0:
            raise fail("end_factor", f"expected a number from 0 to 1, got {self.end_factor:g}")

    def factor(self, k):
        return self.start_factor + (self.end_factor - self.start_factor) * min(k, self.total) / self.total

    def formula(self):
        return (r"\eta_k = \eta \left(f_0 + (f_1 - f_0) \, \frac{\min(k, K)}{K}\right), \quad "
                rf"f_0 = {self.start_factor:g},\ f_1 = {self.end_factor:g},\ K = {self.total}")

    def code(self, k):
        return (f"{self.start_factor!r} + ({self.end_factor!r} - {self.start_factor!r}) * min({k}, {self.total}) "
                f"/ {self.total}")


@dataclass(frozen=True)
class Step(Schedule):
    """torch.optim.lr_scheduler.StepLR: the rate is multiplied by gamma every step_size updates."""

    kind: ClassVar[str] = "step"
    required: ClassVar[tuple[str, ...]] = ("step_size",)
    step_size: int = 1
    gamma: float = 0.1

    def check(self, fail):
        if self.gamma <= 0:
            raise fail("gamma", f"expected a positive number, got {self.gamma:g}")

    def factor(self, k):
        return self.gamma ** (k // self.step_size)

    def formula(self):
        return rf"\eta_k = \eta \, \gamma^{{\lfloor k / s \rfloor}}, \quad \gamma = {self.gamma:g},\ s = {self.step_size}"

    def code(self, k):
        return f"{self.gamma!r} ** ({k} // {self.step_size})"


@dataclass(frozen=True)
class Exponential(Schedule):
    """torch.optim.lr_scheduler.ExponentialLR: the rate is multiplied by gamma after every update."""

    kind: ClassVar[str] = "exponential"
    required: ClassVar[tuple[str, ...]] = ("gamma",)
    gamma: float = 1.0

    def check(self, fail):
        if self.gamma <= 0:
            raise fail("gamma", f"expected a positive number, got {self.gamma:g}")

    def factor(self, k):
        return self.gamma ** k

    def formula(self):
        return rf"\eta_k = \eta \, \gamma^k, \quad \gamma = {self.gamma:g}"

    def code(self, k):
        return f"{self.gamma!r} ** {k}"


@dataclass(frozen=True)
class InverseTime(Schedule):
    """Inverse-time decay, η_k = η / (1 + r·k/s): Keras's InverseTimeDecay (without staircase).

    Géron's η0/(epoch + d) is η = η0/d with r = 1, s = d; Pegasos's 1/(λt), t = k + 1, is η = 1/λ with
    r = s = 1.
    """

    kind: ClassVar[str] = "inverse_time"
    required: ClassVar[tuple[str, ...]] = ("decay_rate", "decay_steps")
    decay_rate: float = 1.0
    decay_steps: int = 1

    def check(self, fail):
        if self.decay_rate < 0:
            raise fail("decay_rate", f"expected a number ≥ 0, got {self.decay_rate:g}")

    def factor(self, k):
        return 1.0 / (1.0 + self.decay_rate * k / self.decay_steps)

    def formula(self):
        return (r"\eta_k = \eta \,/\, (1 + r \, k / s), \quad "
                rf"r = {self.decay_rate:g},\ s = {self.decay_steps}")

    def code(self, k):
        return f"1.0 / (1.0 + {self.decay_rate!r} * {k} / {self.decay_steps})"


#: kind → schedule class; a spec's ``schedule = { kind = "..." }`` is looked up here.
SCHEDULES: dict[str, type[Schedule]] = {cls.kind: cls for cls in (Constant, Linear, Step, Exponential, InverseTime)}


def register(cls: type[Schedule]) -> type[Schedule]:
    SCHEDULES[cls.kind] = cls
    return cls
