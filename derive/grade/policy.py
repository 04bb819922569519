"""Rounding policies: the numbers a person gets who rounds as a worksheet tells them to.

A policy rounds answers to a number of decimal places, half up as people do (0.12345 → 0.1235),
and either carries full precision between steps (``carry = false``: the answers are the true
values, rounded) or rounds every intermediate result and goes on with the rounded value
(``carry = true``). Worksheet keys are computed under their sheet's policy, and `derive check`
accepts an answer that matches either the policy's value or the true one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from derive.grade.answers import catalogue
from derive.core.derivation import Derivation
from derive.core.numbers import evaluate_rounded, leaf_values


@dataclass(frozen=True)
class Rounding:
    decimals: int = 4
    carry: bool = False

    def __call__(self, x: float) -> float:
        """``x`` rounded half up (on its shortest decimal form) to ``decimals`` places."""
        q = Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP)
        return float(q) + 0.0  # no -0.0

    @property
    def unit(self) -> float:
        """One unit in the last place: 0.0001 for 4 decimals."""
        return 10.0 ** -self.decimals

    def describe(self) -> str:
        from derive.i18n import ngettext

        if self.carry:
            return ngettext("Round every result to %(num)d decimal place and use the rounded value in the steps that "
                            "follow (as you would write it down).",
                            "Round every result to %(num)d decimal places and use the rounded value in the steps that "
                            "follow (as you would write it down).", self.decimals) % {"num": self.decimals}
        return ngettext("Round every answer to %(num)d decimal place, but keep full precision in the steps that follow "
                        "(your calculator's memory, not the rounded number).",
                        "Round every answer to %(num)d decimal places, but keep full precision in the steps that follow "
                        "(your calculator's memory, not the rounded number).", self.decimals) % {"num": self.decimals}


def policy_values(d: Derivation, rounding: Rounding) -> dict[str, float]:
    """Quantity name (as in answers files) → its value under the policy."""
    known = catalogue(d)
    if not rounding.carry:
        return {name: rounding(q.value) for name, q in known.items()}
    graph, steps, spec = d.graph, d.steps, d.spec
    out = {name: rounding(q.value) for name, q in known.items()}  # tables the policy does not model
    nums = list(d.evaluate_data(d.params, rounding=rounding))  # one by one, or as one batch (batchnorm)
    for name, q in known.items():
        if q.kind == "value":
            out[name] = nums[q.instance].value[q.node]
        elif q.kind == "grad":
            out[name] = nums[q.instance].grad[q.node]
    mean = spec.reduction == "mean"
    combine = (lambda xs: rounding(sum(xs) / len(xs))) if mean else (lambda xs: rounding(sum(xs)))
    reg = spec.regularization

    def penalized(grad: dict, params: dict) -> dict:
        """The gradient plus the regularization term's (rounded), where it reaches."""
        if reg is None:
            return grad
        return {key: rounding(g + rounding(reg.gradient(params[key]))) if key in d.regularized else g
                for key, g in grad.items()}

    if "total.L" in known:
        out["total.L"] = combine([n.loss for n in nums])
        if reg is not None:
            out["total.L"] = rounding(out["total.L"] + rounding(d.penalty({k: rounding(v) for k, v in d.params.items()})))
    total_grad = {p.key: combine([n.grad[p.key] for n in nums]) if len(nums) > 1 else nums[0].grad[p.key]
                  for p in graph.parameters}
    total_grad = penalized(total_grad, {k: rounding(v) for k, v in d.params.items()})
    for p in graph.parameters:
        if f"total.dL/d{p.key}" in known:
            out[f"total.dL/d{p.key}"] = total_grad[p.key]
    if d.after_step is not None:
        training = spec.training
        opt = training.optimizer
        params = {k: rounding(v) for k, v in d.params.items()}
        states: dict = {}
        for k, rows in enumerate(training.batches(len(spec.data))):
            if k == 0 and len(rows) == len(spec.data):
                grad = total_grad
            else:
                if d.coupled:  # the mini-batch with its own statistics
                    batch = list(d.evaluate_data(params, tuple(spec.data[i] for i in rows), rounding))
                else:
                    batch = [nums[i] if k == 0 else evaluate_rounded(steps, leaf_values(graph, params, spec.data[i]),
                                                                     rounding) for i in rows]
                part = ((lambda xs: rounding(sum(xs) / len(xs))) if mean else (lambda xs: rounding(sum(xs))))
                grad = penalized({p.key: part([n.grad[p.key] for n in batch]) if len(batch) > 1 else batch[0].grad[p.key]
                                  for p in graph.parameters}, params)
            params = opt.update(params, grad, training.schedule.rate(training.learning_rate, k), rounding=rounding,
                                states=states)
            if k == 0:
                first = dict(params)
        for p in graph.parameters:
            out[f"update.{p.key}"] = params[p.key]
            if f"step1.{p.key}" in known:
                out[f"step1.{p.key}"] = first[p.key]
    return out
