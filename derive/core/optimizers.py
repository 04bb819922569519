"""Optimizers: each one class, registered in :data:`OPTIMIZERS` under the name a spec uses.

A class carries everything the rest of the program needs: its options and their defaults
(PyTorch's, so ``torch.optim`` reproduces every run), the names of its state buffers (PyTorch's:
``momentum_buffer``, ``square_avg``, ``sum``, ``exp_avg``, ``exp_avg_sq``, ``step``), its update
rule, and the lines the worked example shows for the first update. The derivation (scalars,
one parameter at a time), the NumPy reference (arrays), the notebook (the rule's own source),
the rounding policy of worksheets and `derive check` all call :meth:`Optimizer.advance` (or
:meth:`~Optimizer.step` / :meth:`~Optimizer.update` for a first step from a fresh state); none of
them asks which optimizer it holds. A spec's optimizer, with its options, is ``spec.training.optimizer``.

Adding an optimizer: subclass :class:`Optimizer`, write ``advance``, add one line to ``OPTIMIZERS``
(or decorate the class with :func:`register`).
"""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar

import numpy as np

from derive.i18n import N_, _, ngettext


#: The page's symbol of each option (PyTorch's option names).
SYMBOLS = {"weight_decay": r"\lambda_{\mathrm{wd}}", "momentum": r"\mu", "alpha": r"\alpha", "eps": r"\epsilon"}

#: Letters a page may write an optimizer's state in when its usual letter names a quantity of the network
#: (a weight symbol, a layer): in this order, the first free one (Goodfellow et al. write Adam's moments s, r).
SPARE_LETTERS = ("r", "u", "q", "p", "s", "m", "n", "c", "d", "k", "a", "f")


def _letter(letter: str) -> re.Pattern:
    """A letter as a token of LaTeX: not part of a command (``\\nu``) or of a longer word."""
    return re.compile(rf"(?<![\\A-Za-z]){re.escape(letter)}(?![A-Za-z])")


@dataclass(frozen=True)
class Lettering:
    """The letters a page writes an optimizer's state in: usual letter → the page's letter (only those renamed)."""

    renamed: dict

    def tex(self, text: str) -> str:
        """LaTeX (a Line's ``target`` or ``formula``, before ``@`` is replaced) with the page's letters."""
        if not self.renamed:
            return text
        for usual, written in self.renamed.items():
            text = _letter(usual).sub(lambda _m, w=written: "\0" + w, text)
        return text.replace("\0", "")

    @staticmethod
    def shows(letter: str, text: str) -> bool:
        """Whether LaTeX ``text`` writes ``letter`` as a letter of its own (not inside a command such as ``\\nu``)."""
        return _letter(letter).search(text) is not None

    def note(self, only=None) -> str:
        """The sentence that says which letters the page writes instead of the usual ones (of those in ``only``,
        when given: the ones the page shows); "" when none."""
        renamed = {u: w for u, w in self.renamed.items() if only is None or u in only}
        if not renamed:
            return ""

        def listed(items):
            items = [f"${x}$" for x in items]
            return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " " + _("and") + " " + items[-1]

        return ngettext(
            "The letter %(usual)s already names another quantity on this page, so the optimizer's is written "
            "%(written)s.",
            "The letters %(usual)s already name other quantities on this page, so the optimizer's are written "
            "%(written)s, in that order.", len(renamed)) % {"usual": listed(renamed), "written": listed(renamed.values())}

    def prose(self, text: str) -> str:
        """Prose whose math is between ``$`` signs, with the page's letters in its math."""
        if not self.renamed:
            return text
        pieces = text.split("$")
        return "$".join(self.tex(p) if i % 2 else p for i, p in enumerate(pieces))


def _same(x):
    return x


def sqrt(x):
    """√x for a float, a NumPy array or (for display only) anything NumPy takes."""
    return np.sqrt(x)


@dataclass(frozen=True)
class Line:
    """One line of an update as the worked example shows it.

    ``target`` and ``formula`` are LaTeX in which ``@`` stands for the parameter's name
    (``m_{@}`` becomes ``m_{w_{11}}``); ``parts`` alternate LaTeX text and numbers, which the
    page formats (a number in parentheses when negative); ``value`` is the line's result.
    """

    target: str
    formula: str
    parts: tuple
    value: Any
    assign: bool = True
    """True: the target is updated (←); False: it is defined (=)."""


@dataclass(frozen=True)
class Step:
    """One parameter's update: the new value, the new state and the lines that show it."""

    theta: Any
    state: dict
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Optimizer:
    """A rule θ ← f(θ, g, state, η). Subclasses are frozen dataclasses whose fields are their options."""

    name: ClassVar[str]
    title: ClassVar[str]
    """How the page names it: "plain gradient descent", "Adam"."""
    default_lr: ClassVar[float]
    """PyTorch's default learning rate for this optimizer."""
    state_names: ClassVar[tuple[str, ...]] = ()
    """The buffers PyTorch keeps in ``optimizer.state[p]``, by its names."""
    rational: ClassVar[bool] = True
    """Whether the rule keeps rationals rational (no square roots), so exact arithmetic can follow it."""
    description: ClassVar[str] = ""
    """One sentence of prose for the page: what the rule does."""
    letters: ClassVar[dict[str, str | None]] = {"g": None}
    """The letters the Lines and the description write the rule's quantities in → the state buffer each one is
    (None: an intermediate, such as the gradient g). :meth:`lettering` renames those a network already uses."""

    weight_decay: float = 0.0

    @classmethod
    def options(cls) -> dict[str, Any]:
        """Option name → default, as the spec's [training] table spells them."""
        return {f.name: f.default for f in fields(cls)}

    def check(self, fail: Callable[[str, str], Exception]) -> None:
        """Refuse option values PyTorch refuses (``fail(key, message)`` makes the error)."""
        if self.weight_decay < 0:
            raise fail("weight_decay", f"expected a number ≥ 0, got {self.weight_decay:g}")

    def init_state(self, zeros) -> dict:
        """The state before the first step (``zeros`` is 0.0 or an array of zeros)."""
        return {}

    def advance(self, theta, g, state: dict, lr: float, keep=_same) -> Step:
        """One step for one parameter (a float or an array): θ, its gradient g, its state, the learning rate.

        ``keep`` is applied to every intermediate the page shows (the identity, or rounding when a
        worksheet's policy carries rounded numbers).
        """
        raise NotImplementedError

    def step(self, theta, grad, rate, *, rounding=_same):
        """θ after a first update from a fresh state (float, SymPy number or array alike)."""
        return self.advance(theta, grad, self.init_state(theta * 0), rate, keep=rounding).theta

    def update(self, params: dict, grads: dict, rate, *, rounding=_same, states: dict | None = None) -> dict:
        """``params`` with every key of ``grads`` stepped, the others unchanged.

        ``states`` (parameter → state) carries the optimizer's buffers from one update to the next; it is
        updated in place. Without it, every parameter takes a first step from a fresh state.
        """
        out = dict(params)
        for key, g in grads.items():
            state = self.init_state(params[key] * 0) if states is None or key not in states else states[key]
            moved = self.advance(params[key], g, state, rate, keep=rounding)
            out[key] = moved.theta
            if states is not None:
                states[key] = moved.state
        return out

    def rule(self, theta: str = r"\theta", grad: str = r"\partial L / \partial \theta") -> str:
        r"""The last line of the rule in LaTeX (``\theta \leftarrow \theta - \eta \, g``), for prose."""
        line = self.advance(1.0, 1.0, self.init_state(0.0), 1.0).lines[-1]
        return rf"{theta} \leftarrow " + line.formula.replace("g_{@}", grad).replace("@", theta)

    def code(self) -> str:
        """The rule as NumPy code for the notebook, written apart from :meth:`advance`: the body of
        ``def step(theta, g, state, lr)`` returning ``(new theta, new state)``, the options as literals."""
        raise NotImplementedError

    def code_state(self) -> str:
        """A Python expression for the fresh state of one parameter (0.0 broadcasts against any array)."""
        return "{" + ", ".join(f'"{n}": {0 if n == "step" else (None if n == "momentum_buffer" else 0.0)!r}'
                               for n in self.state_names) + "}"

    def _code_decay(self) -> str:
        return f"    g = g + {self.weight_decay!r} * theta  # weight decay: λ·θ added to the gradient\n" \
            if self.weight_decay else ""

    def settings(self) -> dict[str, Any]:
        """The options in effect, for JSON and the notebook."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    def symbols(self) -> list[tuple[str, float]]:
        """(LaTeX symbol, value) of every option, for the page."""
        out = []
        for key, value in self.settings().items():
            if key == "betas":
                out += [(r"\beta_1", value[0]), (r"\beta_2", value[1])]
            elif value or key != "weight_decay":
                out.append((SYMBOLS[key], value))
        return out

    @classmethod
    def lettering(cls, taken) -> Lettering:
        """The letters a page writes this rule in, given the letters (``taken``) that already name quantities of
        the network: each usual letter that is taken becomes the first spare letter that is free (the same case).
        The one place that decides it; pages, circuits and worksheets apply it to the Lines and the description."""
        taken = set(taken)
        used = set(cls.letters) | taken
        renamed = {}
        for usual in cls.letters:
            if usual not in taken:
                continue
            spare = next((c.upper() if usual.isupper() else c for c in SPARE_LETTERS
                          if (c.upper() if usual.isupper() else c) not in used), None)
            if spare is not None:
                renamed[usual] = spare
                used.add(spare)
        return Lettering(renamed)

    @classmethod
    def source(cls) -> str:
        """The Python source of ``advance``, a plain function ``advance(self, theta, g, state, lr, keep)``."""
        return textwrap.dedent(inspect.getsource(cls.advance))

    # -- pieces shared by the rules

    def _decayed(self, theta, g, keep):
        """g + λ·θ (L2 weight decay added to the gradient, PyTorch's coupled weight_decay)."""
        if not self.weight_decay:
            return g, ()
        decayed = keep(g + self.weight_decay * theta)
        return decayed, (Line("g_{@}", r"g_{@} + \lambda_{\mathrm{wd}} @",
                              ("", g, " + ", self.weight_decay, r" \cdot ", theta), decayed),)


@dataclass(frozen=True)
class SGD(Optimizer):
    r"""Plain gradient descent: θ ← θ − η·g."""

    name: ClassVar[str] = "sgd"
    title: ClassVar[str] = N_("plain gradient descent")
    default_lr: ClassVar[float] = 1e-3
    description: ClassVar[str] = N_("Gradient descent moves every parameter a step against its gradient, "
                                  "$\\theta \\leftarrow \\theta - \\eta \\, \\partial L / \\partial \\theta$.")

    def advance(self, theta, g, state, lr, keep=_same):
        g, lines = self._decayed(theta, g, keep)
        new = keep(theta - keep(lr * g))
        return Step(new, {}, lines + (Line("@", r"@ - \eta \, g_{@}", ("", theta, " - ", lr, r" \cdot ", g), new),))

    def code(self):
        return self._code_decay() + "    return theta - lr * g, state\n"


@dataclass(frozen=True)
class Momentum(Optimizer):
    r"""Momentum, as torch.optim.SGD(momentum=μ): v ← μ·v + g (v = g on the first step), θ ← θ − η·v."""

    name: ClassVar[str] = "momentum"
    title: ClassVar[str] = N_("gradient descent with momentum")
    default_lr: ClassVar[float] = 1e-3
    state_names: ClassVar[tuple[str, ...]] = ("momentum_buffer",)
    letters: ClassVar[dict[str, str | None]] = {"g": None, "v": "momentum_buffer"}
    description: ClassVar[str] = N_("Momentum keeps a velocity $v$ per parameter, the gradients accumulated with decay "
                                  "$\\mu$ (on the first step $v = g$, as PyTorch starts it), and moves against it.")

    momentum: float = 0.9

    def check(self, fail):
        super().check(fail)
        if not 0.0 < self.momentum:
            raise fail("momentum", f"expected a number > 0 (with 0 the optimizer is sgd), got {self.momentum:g}")

    def init_state(self, zeros):
        return {"momentum_buffer": None}

    def _velocity(self, g, state, keep):
        buf = state["momentum_buffer"]
        if buf is None:
            return g, Line("v_{@}", "g_{@}", ("", g), g)
        v = keep(self.momentum * buf + g)
        return v, Line("v_{@}", r"\mu \, v_{@} + g_{@}", ("", self.momentum, r" \cdot ", buf, " + ", g), v)

    def advance(self, theta, g, state, lr, keep=_same):
        g, lines = self._decayed(theta, g, keep)
        v, line = self._velocity(g, state, keep)
        new = keep(theta - keep(lr * v))
        return Step(new, {"momentum_buffer": v},
                    lines + (line, Line("@", r"@ - \eta \, v_{@}", ("", theta, " - ", lr, r" \cdot ", v), new)))

    def code(self):
        return (self._code_decay()
                + f'    v = g if state["momentum_buffer"] is None else {self.momentum!r} * state["momentum_buffer"] + g\n'
                + '    return theta - lr * v, {"momentum_buffer": v}\n')


@dataclass(frozen=True)
class Nesterov(Momentum):
    r"""Nesterov momentum, as torch.optim.SGD(momentum=μ, nesterov=True): v ← μ·v + g, θ ← θ − η·(g + μ·v)."""

    name: ClassVar[str] = "nesterov"
    letters: ClassVar[dict[str, str | None]] = {"g": None, "v": "momentum_buffer", "d": None}
    title: ClassVar[str] = N_("gradient descent with Nesterov momentum")
    description: ClassVar[str] = N_("Nesterov momentum keeps a velocity $v$ as momentum does (on the first step $v = g$) "
                                  "and steps along the gradient plus the velocity's look-ahead $\\mu \\, v$.")

    def advance(self, theta, g, state, lr, keep=_same):
        g, lines = self._decayed(theta, g, keep)
        v, line = self._velocity(g, state, keep)
        d = keep(g + self.momentum * v)
        new = keep(theta - keep(lr * d))
        return Step(new, {"momentum_buffer": v},
                    lines + (line, Line("d_{@}", r"g_{@} + \mu \, v_{@}", ("", g, " + ", self.momentum, r" \cdot ", v),
                                        d, assign=False),
                             Line("@", r"@ - \eta \, d_{@}", ("", theta, " - ", lr, r" \cdot ", d), new)))

    def code(self):
        return (self._code_decay()
                + f'    v = g if state["momentum_buffer"] is None else {self.momentum!r} * state["momentum_buffer"] + g\n'
                + f'    return theta - lr * (g + {self.momentum!r} * v), {{"momentum_buffer": v}}\n')


@dataclass(frozen=True)
class RMSprop(Optimizer):
    r"""RMSprop, as torch.optim.RMSprop: s ← α·s + (1 − α)·g², θ ← θ − η·g / (√s + ε)."""

    name: ClassVar[str] = "rmsprop"
    title: ClassVar[str] = "RMSprop"
    default_lr: ClassVar[float] = 1e-2
    state_names: ClassVar[tuple[str, ...]] = ("step", "square_avg")
    letters: ClassVar[dict[str, str | None]] = {"g": None, "s": "square_avg"}
    rational: ClassVar[bool] = False
    description: ClassVar[str] = N_("RMSprop keeps a running average $s$ of the squared gradient (decay $\\alpha$) and "
                                  "divides each step by its square root.")

    alpha: float = 0.99
    eps: float = 1e-8

    def check(self, fail):
        super().check(fail)
        if not 0.0 <= self.alpha <= 1.0:
            raise fail("alpha", f"expected a number from 0 to 1, got {self.alpha:g}")
        if self.eps < 0:
            raise fail("eps", f"expected a number ≥ 0, got {self.eps:g}")

    def init_state(self, zeros):
        return {"step": 0, "square_avg": zeros}

    def advance(self, theta, g, state, lr, keep=_same):
        g, lines = self._decayed(theta, g, keep)
        s0 = state["square_avg"]
        s = keep(self.alpha * s0 + (1 - self.alpha) * g * g)
        root = keep(sqrt(s))
        new = keep(theta - keep(lr * g / (root + self.eps)))
        return Step(new, {"step": state["step"] + 1, "square_avg": s}, lines + (
            Line("s_{@}", r"\alpha \, s_{@} + (1 - \alpha) \, g_{@}^2",
                 ("", self.alpha, r" \cdot ", s0, " + ", 1 - self.alpha, r" \cdot ", g, "^2"), s),
            Line("@", r"@ - \eta \, \frac{g_{@}}{\sqrt{s_{@}} + \epsilon}",
                 ("", theta, " - ", lr, r" \cdot \frac{", g, "}{", root, " + ", self.eps, "}"), new)))

    def code(self):
        a = self.alpha
        return (self._code_decay()
                + f'    s = {a!r} * state["square_avg"] + (1 - {a!r}) * g * g\n'
                + f'    return theta - lr * g / (np.sqrt(s) + {self.eps!r}), {{"step": state["step"] + 1, "square_avg": s}}\n')


@dataclass(frozen=True)
class Adagrad(Optimizer):
    r"""Adagrad, as torch.optim.Adagrad: G ← G + g², θ ← θ − η·g / (√G + ε)."""

    name: ClassVar[str] = "adagrad"
    title: ClassVar[str] = "Adagrad"
    default_lr: ClassVar[float] = 1e-2
    state_names: ClassVar[tuple[str, ...]] = ("step", "sum")
    letters: ClassVar[dict[str, str | None]] = {"g": None, "G": "sum"}
    rational: ClassVar[bool] = False
    description: ClassVar[str] = N_("Adagrad adds up the squared gradients $G$ of each parameter and divides each step "
                                  "by their square root.")

    eps: float = 1e-10

    def check(self, fail):
        super().check(fail)
        if self.eps < 0:
            raise fail("eps", f"expected a number ≥ 0, got {self.eps:g}")

    def init_state(self, zeros):
        return {"step": 0, "sum": zeros}

    def advance(self, theta, g, state, lr, keep=_same):
        g, lines = self._decayed(theta, g, keep)
        total = keep(state["sum"] + g * g)
        root = keep(sqrt(total))
        new = keep(theta - keep(lr * g / (root + self.eps)))
        return Step(new, {"step": state["step"] + 1, "sum": total}, lines + (
            Line("G_{@}", r"G_{@} + g_{@}^2", ("", state["sum"], " + ", g, "^2"), total),
            Line("@", r"@ - \eta \, \frac{g_{@}}{\sqrt{G_{@}} + \epsilon}",
                 ("", theta, " - ", lr, r" \cdot \frac{", g, "}{", root, " + ", self.eps, "}"), new)))

    def code(self):
        return (self._code_decay()
                + '    G = state["sum"] + g * g\n'
                + f'    return theta - lr * g / (np.sqrt(G) + {self.eps!r}), {{"step": state["step"] + 1, "sum": G}}\n')


@dataclass(frozen=True)
class Adam(Optimizer):
    r"""Adam, as torch.optim.Adam: t ← t + 1; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    θ ← θ − η·m̂ / (√v̂ + ε) with m̂ = m / (1 − β₁ᵗ), v̂ = v / (1 − β₂ᵗ)."""

    name: ClassVar[str] = "adam"
    title: ClassVar[str] = "Adam"
    default_lr: ClassVar[float] = 1e-3
    state_names: ClassVar[tuple[str, ...]] = ("step", "exp_avg", "exp_avg_sq")
    letters: ClassVar[dict[str, str | None]] = {"g": None, "m": "exp_avg", "v": "exp_avg_sq"}
    rational: ClassVar[bool] = False
    description: ClassVar[str] = N_("Adam keeps running averages of the gradient $m$ (decay $\\beta_1$) and of its square "
                                  "$v$ (decay $\\beta_2$), corrects their bias towards the zeros they start from with "
                                  "the step counter $t$ (incremented before the correction, so $t = 1$ on the first "
                                  "step), and steps by $\\hat m / (\\sqrt{\\hat v} + \\epsilon)$.")

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def check(self, fail):
        super().check(fail)
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise fail("betas", f"expected two numbers from 0 to below 1, got {list(self.betas)}")
        if self.eps < 0:
            raise fail("eps", f"expected a number ≥ 0, got {self.eps:g}")

    def init_state(self, zeros):
        return {"step": 0, "exp_avg": zeros, "exp_avg_sq": zeros}

    def _decoupled(self, theta, lr, keep):
        return theta, ()

    def advance(self, theta, g, state, lr, keep=_same):
        beta1, beta2 = self.betas
        theta, lines = self._decoupled(theta, lr, keep)
        if not lines:
            g, lines = self._decayed(theta, g, keep)
        t = state["step"] + 1
        m0, v0 = state["exp_avg"], state["exp_avg_sq"]
        m = keep(m0 + (1 - beta1) * (g - m0))  # PyTorch's lerp: m + (1 − β₁)(g − m)
        v = keep(beta2 * v0 + (1 - beta2) * g * g)
        c1, c2 = 1 - beta1 ** t, 1 - beta2 ** t
        m_hat, v_hat = keep(m / c1), keep(v / c2)
        root = keep(sqrt(v) / sqrt(c2))
        new = keep(theta - keep((lr / c1) * m / (root + self.eps)))
        lines += (
            Line("m_{@}", r"\beta_1 m_{@} + (1 - \beta_1) \, g_{@}",
                 ("", beta1, r" \cdot ", m0, " + ", 1 - beta1, r" \cdot ", g), m),
            Line("v_{@}", r"\beta_2 v_{@} + (1 - \beta_2) \, g_{@}^2",
                 ("", beta2, r" \cdot ", v0, " + ", 1 - beta2, r" \cdot ", g, "^2"), v),
            Line(r"\hat m_{@}", r"\frac{m_{@}}{1 - \beta_1^t}", (r"\frac{", m, "}{1 - ", beta1, "^{", t, "}}"), m_hat,
                 assign=False),
            Line(r"\hat v_{@}", r"\frac{v_{@}}{1 - \beta_2^t}", (r"\frac{", v, "}{1 - ", beta2, "^{", t, "}}"), v_hat,
                 assign=False),
            Line("@", r"@ - \eta \, \frac{\hat m_{@}}{\sqrt{\hat v_{@}} + \epsilon}",
                 ("", theta, " - ", lr, r" \cdot \frac{", m_hat, "}{", root, " + ", self.eps, "}"), new))
        return Step(new, {"step": t, "exp_avg": m, "exp_avg_sq": v}, lines)

    def code(self):
        b1, b2 = self.betas
        return (self._code_decay()
                + '    t = state["step"] + 1  # incremented before the bias correction\n'
                + f'    m = {b1!r} * state["exp_avg"] + (1 - {b1!r}) * g\n'
                + f'    v = {b2!r} * state["exp_avg_sq"] + (1 - {b2!r}) * g * g\n'
                + f'    m_hat, v_hat = m / (1 - {b1!r} ** t), v / (1 - {b2!r} ** t)\n'
                + f'    return theta - lr * m_hat / (np.sqrt(v_hat) + {self.eps!r}), '
                + '{"step": t, "exp_avg": m, "exp_avg_sq": v}\n')


@dataclass(frozen=True)
class AdamW(Adam):
    r"""AdamW, as torch.optim.AdamW: first θ ← θ − η·λ·θ (decoupled weight decay), then Adam's step."""

    name: ClassVar[str] = "adamw"
    title: ClassVar[str] = "AdamW"
    description: ClassVar[str] = N_("AdamW first shrinks every parameter by $\\eta \\lambda$ (weight decay decoupled from "
                                  "the gradient), then takes Adam's step: running averages $m$ and $v$ of the gradient "
                                  "and its square, bias-corrected with the step counter $t$ (so $t = 1$ on the first "
                                  "step), and a step of $\\hat m / (\\sqrt{\\hat v} + \\epsilon)$.")

    weight_decay: float = 0.01

    def _decoupled(self, theta, lr, keep):
        if not self.weight_decay:
            return theta, ()
        shrunk = keep(theta * (1 - lr * self.weight_decay))
        return shrunk, (Line("@", r"@ - \eta \lambda_{\mathrm{wd}} \, @",
                             ("", theta, " - ", lr, r" \cdot ", self.weight_decay, r" \cdot ", theta), shrunk),)

    def _code_decay(self):
        return (f"    theta = theta * (1 - lr * {self.weight_decay!r})  # decoupled weight decay\n"
                if self.weight_decay else "")


#: name → optimizer class; a spec's ``optimizer = "..."`` is looked up here.
OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Momentum, Nesterov, RMSprop, Adagrad, Adam,
                                                                     AdamW)}


def register(cls: type[Optimizer]) -> type[Optimizer]:
    """Add an optimizer class to the registry (usable as a decorator)."""
    OPTIMIZERS[cls.name] = cls
    return cls


def optimizer_of(training) -> Optimizer:
    """The optimizer of a spec's ``[training]`` (plain gradient descent when there is none)."""
    return SGD() if training is None else training.optimizer
