"""Worksheets: randomized variants of one network, with blanks to fill in and their keys.

From a base spec, variant k draws its weights, biases, inputs and targets as "nice" numbers
(small integers, one decimal) from documented ranges, with a generator seeded by (seed, k)
alone: variant k is the same whatever the number of variants. A draw a person could not learn
from (a gradient the sheet asks for that is 0 at the sheet's precision, a saturated sigmoid, a
ReLU exactly at its kink) is rejected and drawn again. Each variant is a spec of its own and is
derived, checked and rendered like any other; keys follow the sheet's rounding policy
(:mod:`derive.policy`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

import numpy as np

from derive.core.activations import activation_of
from derive.core.layers import layer_type
from derive.core.numbers import flat
from derive.core.losses import LOSSES
from derive.verify import reference
from derive.grade.answers import Quantity, catalogue
from derive.i18n import _
from derive.core.derivation import Derivation
from derive.pipeline import derive
from derive.errors import SpecError
from derive.grade.policy import Rounding, policy_values
from derive.spec.parse import SCOPES, Instance, Range, Spec, Training, Worksheet

MAX_ATTEMPTS = 200
DEFAULT_RATE = 0.5

#: Where numbers are drawn unless the spec's [worksheet] table says otherwise.
DEFAULT_INPUTS = Range(-3, 3, 0)
DEFAULT_WEIGHTS = Range(-1, 1, 1, nonzero=True)
DEFAULT_BIAS = Range(-1, 1, 1)


def default_targets(spec: Spec) -> Range | None:
    """Targets that suit the loss and the output activation (0/1 for sigmoid and bce, one decimal for
    tanh), as they state them; None for one-hot classes (or no targets)."""
    r = LOSSES[spec.loss].worksheet_targets(activation_of(spec.layers[-1]))
    return None if r is None else Range(*r)


@dataclass(frozen=True)
class Settings:
    """A worksheet run's settings: the spec's [worksheet] table with the command line over it."""

    inputs: Range
    weights: Range
    bias: Range
    targets: Range | None
    scope: tuple[str, ...]
    rounding: Rounding
    given: tuple[str, ...]
    degenerate: bool
    partial: tuple[tuple[str, float], ...] = ()
    """The [worksheet] partial credits of the LMS exports (derive.worksheets.lms)."""
    blanks: int | None = None
    """At most this many blanks per sheet (--blanks); None: every one the scope asks for."""

    @classmethod
    def of(cls, spec: Spec, *, scope: tuple[str, ...] | None = None, decimals: int | None = None,
           carry: bool | None = None, blanks: int | None = None) -> "Settings":
        w = spec.worksheet or Worksheet()
        loss = LOSSES[spec.loss]
        if w.targets is not None and loss.target_bounds is not None and not loss.class_index:
            low, high = loss.target_bounds
            if not (low <= w.targets.low and w.targets.high <= high):
                raise SpecError(spec.source, "worksheet.targets", f"{loss.name} targets must lie in [{low:g}, {high:g}], "
                                                                  f"got [{w.targets.low:g}, {w.targets.high:g}]")
        return cls(inputs=w.inputs or DEFAULT_INPUTS, weights=w.weights or DEFAULT_WEIGHTS,
                   bias=w.bias or DEFAULT_BIAS,
                   targets=w.targets if w.targets is not None and not loss.class_index else default_targets(spec),
                   scope=scope or w.scope,
                   rounding=Rounding(decimals=w.decimals if decimals is None else decimals,
                                     carry=w.carry if carry is None else carry),
                   given=w.given, degenerate=w.degenerate, partial=w.partial,
                   blanks=blanks if blanks is not None else w.blanks)

    @property
    def tolerance(self) -> dict[str, float]:
        """The [tolerance] of the answers files: one unit in the last decimal place asked for."""
        return {"atol": self.rounding.unit, "rtol": 1e-3}


# --------------------------------------------------------------------------- drawing


def _grid(rng: np.random.Generator, r: Range, shape) -> np.ndarray:
    step = 10.0 ** -r.decimals
    lo, hi = math.ceil(r.low / step - 1e-9), math.floor(r.high / step + 1e-9)
    ks = np.arange(lo, hi + 1)
    if r.nonzero:
        ks = ks[ks != 0]
    picks = rng.choice(ks, size=shape)
    return np.round(picks * step, r.decimals) + 0.0


def _tuple(a: np.ndarray):
    return tuple(_tuple(x) for x in a) if a.ndim > 1 else tuple(float(x) for x in a)


def draw_spec(base: Spec, settings: Settings, rng: np.random.Generator, name: str, title: str) -> Spec:
    """One draw of every number of the base spec's network and data."""
    layers = []
    for layer in base.layers:
        # the layer's own weight shape: (previous size, size) for dense, γ's one row, a convolution's kernels
        shape = layer_type(layer).weight_shape(layer, math.prod(layer.in_shape) if layer.in_shape else len(base.inputs))
        weights = _tuple(_grid(rng, settings.weights, shape)) if np.size(layer.weights) else layer.weights
        bias = None if layer.bias is None else _tuple(_grid(rng, settings.bias, (len(layer.bias),)))
        layers.append(dataclasses.replace(layer, weights=weights, bias=bias))
    data = []
    K = base.layers[-1].size
    for inst in base.data:
        x = _tuple(_grid(rng, settings.inputs, (len(base.inputs),)))
        if not LOSSES[base.loss].needs_targets:
            t = ()
        elif settings.targets is None:
            t = _one_hot(rng, K)
        else:
            t = _tuple(_grid(rng, settings.targets, (K,)))
        data.append(Instance(x=x, t=t, extra=inst.extra))  # a dropout layer's masks stay as given
    training = base.training
    if "update" in settings.scope:
        training = (dataclasses.replace(training, epochs=1) if training
                    else Training(learning_rate=DEFAULT_RATE, epochs=1, mode="batch"))
    else:
        training = None
    return dataclasses.replace(base, name=name, title=title, description="", layers=tuple(layers),
                               data=tuple(data), training=training, worksheet=None,
                               source=f"{name}.toml", arithmetic="float")


def _one_hot(rng: np.random.Generator, K: int) -> tuple[float, ...]:
    k = int(rng.integers(K))
    return tuple(1.0 if j == k else 0.0 for j in range(K))


# --------------------------------------------------------------------------- what the sheet asks


def blanks(d: Derivation, scope: tuple[str, ...]) -> list[Quantity]:
    """The quantities the student computes, in the order a derivation meets them."""
    known = catalogue(d)
    graph, spec = d.graph, d.spec
    last = len(spec.layers) - 1
    names: list[str] = []
    grad_layers = ([last] if "output-layer" in scope else []) + (
        list(reversed(range(last))) if "hidden-layers" in scope else [])
    for n in range(len(d.instances)):
        table = f"instance{n + 1}"
        if "forward" in scope:
            for l, units in enumerate(graph.layer_units):
                names += [f"{table}.{k}" for k in _roles(d, "hat", l)]  # a batch normalization's x̂
                names += [f"{table}.{k}" for k in _earlier_steps(d, l)]  # a recurrent layer's states before the last
                names += [f"{table}.{z}" for z, _ in units] + [f"{table}.{a}" for _, a in units]
        if "loss" in scope:
            names += [f"{table}.{n.key}" for n in graph.computed if n.role in ("error", "loss")]
        if "output-layer" in scope:
            names += [f"{table}.dL/d{n.key}" for n in graph.computed if n.role == "error"]
        for l in grad_layers:
            units = graph.layer_units[l]
            names += [f"{table}.dL/d{a}" for _, a in units] + [f"{table}.dL/d{z}" for z, _ in units]
            names += [f"{table}.dL/d{k}" for k in _roles(d, "hat", l)]
            names += [f"{table}.dL/d{k}" for k in _earlier_steps(d, l, backward=True)]  # back through time
            names += [f"{table}.dL/d{k}" for k in _parameters(d, l)]
    # a batch normalization's statistics, once for the batch: their values (forward), their gradients (its layer's)
    stats = [l for l in range(len(spec.layers)) if _roles(d, "mean", l)]
    if "forward" in scope:
        names += [f"batch.{k}" for l in stats for role in ("mean", "var") for k in _roles(d, role, l)]
    names += [f"batch.dL/d{k}" for l in stats if l in grad_layers for role in ("var", "mean") for k in _roles(d, role, l)]
    update_layers = grad_layers or list(range(last, -1, -1))
    if len(d.instances) > 1:
        if "loss" in scope:
            names.append("total.L")
        if grad_layers and "update" in scope:
            names += [f"total.dL/d{k}" for l in grad_layers for k in _parameters(d, l)]
    if "update" in scope:  # the sheet asks for one step: with several an epoch, the first (θ⁽¹⁾)
        table = "update" if d.after_step is None or len(d.after_step.rates) == 1 else "step1"
        names += [f"{table}.{k}" for l in update_layers for k in _parameters(d, l)]
    return [known[n] for n in dict.fromkeys(names) if n in known]


def cap(asked: list[Quantity], most: int | None) -> list[Quantity]:
    """At most ``most`` blanks, spread evenly over the sheet's order (so every part of the scope
    keeps some, the first and the last blank among them)."""
    if most is None or len(asked) <= most:
        return asked
    if most == 1:
        return asked[-1:]
    picks = sorted({round(i * (len(asked) - 1) / (most - 1)) for i in range(most)})
    return [asked[i] for i in picks]


def _roles(d: Derivation, role: str, l: int) -> list[str]:
    """The keys of ``role`` in layer l (a batch normalization's ``hat``, ``mean``, ``var``), in unit order."""
    return [n.key for n in d.graph.nodes.values() if n.role == role and n.layer == l]


def _earlier_steps(d: Derivation, l: int, backward: bool = False) -> list[str]:
    """The sums and activations of layer l that it does not give out (a recurrent layer's states before the ones it
    gives), in forward order (``backward``: the last step first, each step's activations before its sums); [] for
    any other layer."""
    given = {k for pair in d.graph.layer_units[l] for k in pair}
    nodes = [n for n in d.graph.computed if n.layer == l and n.role in ("in", "out") and n.key not in given]
    if backward:
        nodes.sort(key=lambda n: (-n.index[0], n.role != "out", n.index[1:]))
    return [n.key for n in nodes]


def _parameters(d: Derivation, l: int) -> list[str]:
    keys = flat(d.graph.layer_weights[l])
    bias = d.graph.layer_bias[l]
    if bias is not None and d.spec.layers[l].train_bias:
        keys += list(bias)
    return keys


def degenerate(spec: Spec, scope: tuple[str, ...], rounding: Rounding) -> str | None:
    """Why a draw teaches nothing where it should (None when it is fine).

    Judged on the NumPy reference's numbers alone, which cost a millisecond a draw: a variant is
    derived symbolically only once it is kept.
    """
    X, T = reference.data_arrays(spec)
    if len({tuple(x) for x in X.tolist()}) < len(X):
        return "two instances have the same inputs"
    if T.size > 1 and np.all(T == T.flat[0]):
        # every target the same: outputs or instances mixed up would give the same numbers
        return "every target is the same"
    for i in range(X.shape[1] if spec.input_shape is None else 0):  # an image's pixels may well be opposite
        if np.all(X[:, i] == 0):
            return f"input {i + 1} is 0 in every instance (the gradients of its weights are all 0)"
        for j in range(i + 1, X.shape[1]):
            if np.all(X[:, j] == -X[:, i]):
                # x_j = −x_i everywhere: their weights' gradients are opposite, a sign slip unseen
                return f"inputs {i + 1} and {j + 1} are opposite in every instance (mirrored)"
    params = reference.Params.from_spec(spec)
    p = reference.backward(spec, params, X, T)
    last = len(spec.layers) - 1
    for n in range(len(X)):
        for l, layer in enumerate(spec.layers):
            z, a = np.ravel(p.Z[l][n]), np.ravel(p.A[l][n])
            sums = [rounding(v) for v in z]
            if layer_type(layer).scalar_steps and len(set(sums)) < len(sums):
                # A tie: a mixed-up unit or a transposed weight would give the same numbers, unseen.
                return f"instance {n + 1}: two units of layer {layer.name} have the same sum"
            act = activation_of(layer)
            if act.on_kink(z) or any(act.near_kink(v, 1e-9) for v in z):  # 0 up to float noise is the kink too
                return f"instance {n + 1}: a sum of layer {layer.name} sits on the kink of {layer.activation}"
            if act.is_saturated(p.Z[l][n : n + 1].reshape(1, -1), p.A[l][n : n + 1].reshape(1, -1), rounding, layer):
                return f"instance {n + 1}: a {layer.activation} of layer {layer.name} saturates"
    layers = ([last] if "output-layer" in scope else []) + (list(range(last)) if "hidden-layers" in scope else [])
    # A gradient the loss makes 0 whatever the outputs (cross-entropy's −t/y of a class whose target is 0)
    # is what it teaches, not a coincidence of the draw: only the output gradients the draw decides count.
    loss = LOSSES[spec.loss]
    if loss.needs_targets:
        K = np.shape(p.A[last])[-1]
        other = loss.backward(np.full((len(X), K), 1.0 / K), T)
        decided = ~((np.asarray(p.dA[last]) == 0) & (np.asarray(other) == 0))
    else:
        decided = np.ones(np.shape(p.dA[last]), dtype=bool)
    asked = []
    for l in layers:
        trained_bias = p.db[l] is not None and spec.layers[l].train_bias
        for n in range(len(X)):
            dA = np.asarray(p.dA[l][n])[decided[n]] if l == last else p.dA[l][n]
            asked += [(f"dL/da of layer {spec.layers[l].name}", dA), (f"dL/dz of layer {spec.layers[l].name}",
                      p.dZ[l][n]), (f"dL/dW of layer {spec.layers[l].name}", p.dW[l][n])]
            if trained_bias:
                asked.append((f"dL/db of layer {spec.layers[l].name}", p.db[l][n]))
    if len(X) > 1 and "update" in scope and layers:
        gW, gb = reference.total_gradient(spec, p, params)
        asked += [(f"the total dL/dW of layer {spec.layers[l].name}", gW[l]) for l in layers]
        asked += [(f"the total dL/db of layer {spec.layers[l].name}", gb[l]) for l in layers
                  if gb[l] is not None and spec.layers[l].train_bias]
    # Feature maps: pooling and ReLU route many gradients to exactly 0, which is what they teach.
    asked = [(what, values) for what, values in asked if spec.input_shape is None]
    for what, values in asked:
        for g in np.ravel(values):
            if rounding(g) == 0:
                return f"{what}: a gradient is 0 at {rounding.decimals} decimal places"
            if abs(rounding(g)) < 10 * rounding.unit:
                # One significant digit: a slip in the rounding would be as large as the answer.
                return f"{what}: a gradient has a single significant digit at {rounding.decimals} decimal places"
    return None


@dataclass(frozen=True)
class Variant:
    number: int
    derivation: Derivation
    blanks: list[Quantity]
    key: dict[str, float]
    """Quantity name → its value under the sheet's rounding policy."""
    attempts: int
    """Draws it took (1 when the first one was fine)."""

    @property
    def label(self) -> str:
        return f"{self.number:02d}"

    @property
    def stem(self) -> str:
        return f"variant-{self.label}"


def make_variant(base: Spec, settings: Settings, seed: int, k: int) -> Variant:
    """Variant k (from 1): drawn from a generator seeded by (seed, k) alone, redrawn while degenerate."""
    rng = np.random.default_rng([seed, k])
    name = f"{base.name}-variant-{k:02d}"
    title = _("%(title)s (worksheet variant %(k)s)") % {"title": base.title, "k": f"{k:02d}"}
    reason = None
    reasons: dict[str, list] = {}  # a reason with its numbers taken out → [how often, an example]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        spec = draw_spec(base, settings, rng, name, title)
        reason = None if settings.degenerate else degenerate(spec, settings.scope, settings.rounding)
        if reason is not None:
            kind = re.sub(r"^instance \d+: |\d+", "", reason)  # "a sum of layer h sits on the kink", counted
            reasons.setdefault(kind, [0, reason])[0] += 1
        else:
            d = derive(spec, symbolic=False)
            asked = cap(blanks(d, settings.scope), settings.blanks)
            policy = policy_values(d, settings.rounding)
            return Variant(number=k, derivation=d, blanks=asked, key={q.name: policy[q.name] for q in asked},
                           attempts=attempt)
    count, example = max(reasons.values(), key=lambda r: r[0])
    raise SpecError(base.source, "worksheet", f"variant {k}: {MAX_ATTEMPTS} draws were all degenerate, {count} of "
                                              f"them like this one: {example}; widen the ranges, narrow --scope, "
                                              f"or set degenerate = true")


def given_values(d: Derivation, given: tuple[str, ...], rounding: Rounding) -> list[tuple[str, str]]:
    """(LaTeX, value) pairs handed out with the sheet: for the sum z of every unit whose activation
    offers them, σ(z) or e^{-z} (sigmoid), in the order of ``given``.

    z is shown to the sheet's decimals; the value is of z itself (of the rounded z when the sheet
    carries rounded values), to two more decimals than the answers.
    """
    zs = sorted({(num.value[z], l) for num in d.instances for l, units in enumerate(d.graph.layer_units)
                 for z, _ in units if set(given) & set(activation_of(d.spec.layers[l]).givens)})
    digits = rounding.decimals + 2
    out = []
    for z, l in zs:
        shown = rounding(z)
        at = shown if rounding.carry else z
        act = activation_of(d.spec.layers[l])
        for what in (g for g in act.givens if g in given):
            pair = act.given(what, shown, at)
            if pair is not None and (pair[0], f"{pair[1]:.{digits}f}") not in out:
                out.append((pair[0], f"{pair[1]:.{digits}f}"))
    return out
