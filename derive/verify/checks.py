"""Stage 5: independent checks of a derivation.

- ``numpy``: every value and gradient against the vectorized NumPy reference;
- ``finite_differences``: the total gradient against central differences of the NumPy loss;
- ``sympy_diff``: the total gradient against ``sympy.diff`` of the whole composed loss
  (only while the network is small enough for that to be affordable; otherwise skipped, saying so);
- ``update``: the parameters after the first epoch against the NumPy training step.

None of them uses the chain-rule steps being checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from derive.core.activations import activation_of
from derive.i18n import N_, english, translate
from derive.core.layers import layer_type
from derive.verify import reference, symbolic

if TYPE_CHECKING:
    from derive.core.derivation import Derivation

#: ``sympy.diff`` of the composed loss is run while the graph has at most this many edges and layers
#: (its cost grows with both, and fast with tanh: a 3-4-3-2 tanh network of 60 edges took 50 s).
SYMPY_DIFF_MAX_EDGES = 40
SYMPY_DIFF_MAX_LAYERS = 3
#: With a layer that couples instances, the batch-wide graph's edges (its summed loss is composed once; measured:
#: 0.3-1.6 s up to 130 edges, but 24 s for 161 edges with sigmoid and tanh, 64 s for 234).
SYMPY_DIFF_MAX_BATCH_EDGES = 130
#: The tolerance of the checks that compare two computations of the same numbers (in words, for the page).
TIGHT = N_("abs Δ ≤ 1e-12 + 1e-9·abs(value)")


@dataclass(frozen=True)
class Check:
    """One check's outcome."""

    name: str
    description: str
    max_abs_error: float | None
    """None when the check was skipped."""
    tolerance: str
    passed: bool | None
    """None when skipped."""
    note: str = ""
    note_message: tuple | None = field(default=None, compare=False)
    """The note as a message (derive.i18n.translate), for a page in another language; ``note`` is it in English."""

    def __post_init__(self):
        if self.note_message is not None and not self.note:
            object.__setattr__(self, "note", english(self.note_message))

    def shown_note(self) -> str:
        """The note in the page's language."""
        return translate(self.note_message if self.note_message is not None else self.note)

    def to_json(self) -> dict:
        return {"max_abs_error": None if self.max_abs_error is None else float(self.max_abs_error),
                "passed": None if self.passed is None else bool(self.passed), "description": self.description,
                "tolerance": self.tolerance, **({"note": self.note} if self.note else {})}


def _worst(pairs, rtol: float, atol: float) -> tuple[float, bool]:
    """Max |a − b| over the pairs, and whether every pair is within atol + rtol·|b|."""
    a = np.array([p[0] for p in pairs], dtype=float)
    b = np.array([p[1] for p in pairs], dtype=float)
    if a.size == 0:
        return 0.0, True
    err = np.abs(a - b)
    return float(err.max()), bool(np.all(err <= atol + rtol * np.abs(b)))


def check_numpy(d: Derivation) -> Check:
    spec, graph = d.spec, d.graph
    X, T = reference.data_arrays(spec)
    p = reference.backward(spec, reference.Params.from_spec(spec), X, T)
    pairs = []
    for n, num in enumerate(d.instances):
        pairs.append((num.loss, p.loss[n]))
        pairs += [(num.grad[k], p.dX[n, i]) for i, k in enumerate(graph.input_keys)]
        for l, units in enumerate(graph.layer_units):
            Z, A, dZ, dA = (m[l][n].reshape(-1) for m in (p.Z, p.A, p.dZ, p.dA))
            for j, (z, a) in enumerate(units):
                pairs += [(num.value[z], Z[j]), (num.value[a], A[j]), (num.grad[z], dZ[j]), (num.grad[a], dA[j])]
            pairs += [(num.grad[k], p.dW[l][n][idx]) for idx, k in _indexed(graph.layer_weights[l])]
            if graph.layer_bias[l] is not None and spec.layers[l].train_bias:
                pairs += [(num.grad[k], p.db[l][n, j]) for j, k in enumerate(graph.layer_bias[l])]
    gW, gb = reference.total_gradient(spec, p, reference.Params.from_spec(spec), X, T)
    pairs.append((d.loss, reference.total_loss(spec, reference.Params.from_spec(spec), X, T)))
    pairs += _param_pairs(d, d.grad, gW, gb)
    err, ok = _worst(pairs, rtol=1e-9, atol=1e-12)
    return Check("numpy", N_("every value and gradient against a vectorized NumPy forward/backward pass"),
                 err, TIGHT, ok)


def _indexed(keys) -> list:
    """(index, key) of every key of nested key tuples (a weight matrix, a convolution's kernels)."""
    array = np.array(keys, dtype=object)
    return [(idx, array[idx]) for idx in np.ndindex(array.shape)] if array.size else []


def _param_pairs(d: Derivation, ours: dict[str, float], W: list, b: list) -> list:
    pairs = []
    for l, keys in enumerate(d.graph.layer_weights):
        pairs += [(ours[k], W[l][idx]) for idx, k in _indexed(keys)]
        if d.graph.layer_bias[l] is not None and d.spec.layers[l].train_bias:
            pairs += [(ours[k], b[l][j]) for j, k in enumerate(d.graph.layer_bias[l])]
    return pairs


def _arrays(d: Derivation, values: dict[str, float]) -> reference.Params:
    """Parameters by key as the reference's arrays (the spec's shapes)."""
    from derive.core.derivation import nested

    W = [np.array(nested(keys, values.__getitem__), dtype=float).reshape(np.shape(layer.weights))
         for layer, keys in zip(d.spec.layers, d.graph.layer_weights)]
    b = [None if keys is None else np.array([values[k] for k in keys], dtype=float) for keys in d.graph.layer_bias]
    return reference.Params(W=W, b=b)


def _buffers(d: Derivation, trainer, params: reference.Params, state: dict[str, dict]) -> dict:
    """The derivation's optimizer state by parameter as the reference trainer's, by (kind, layer) arrays."""
    out = {}
    for kind, l, theta in trainer.trained(params):
        keys = [k for _idx, k in _indexed(d.graph.layer_weights[l] if kind == "W" else d.graph.layer_bias[l])]
        first = state[keys[0]]
        out[(kind, l)] = {name: (v if v is None or name == "step" else
                                 np.array([state[k][name] for k in keys], dtype=float).reshape(theta.shape))
                          for name, v in first.items()}
    return out


def _param_keys(d: Derivation) -> list[str]:
    """The parameters' keys in the order of :func:`_param_pairs`."""
    keys = []
    for l, wkeys in enumerate(d.graph.layer_weights):
        keys += [k for _idx, k in _indexed(wkeys)]
        if d.graph.layer_bias[l] is not None and d.spec.layers[l].train_bias:
            keys += list(d.graph.layer_bias[l])
    return keys


def at_kink(d: Derivation, h: float, exactly: bool = False) -> tuple | None:
    """What sits within reach of a finite-difference step of a kink ("a relu unit", "the hinge loss"), or None,
    as a message (derive.i18n): ``exactly`` says "exactly at"."""
    for layer, units in zip(d.spec.layers, d.graph.layer_units):
        kink = layer_type(layer).kink(layer, units, d.instances, d.graph, 1e3 * h, exactly)
        if kink:
            return kink
    outputs = [a for _, a in d.graph.layer_units[-1]]
    loss = d.graph.loss
    if any(loss.near_kink([num.value[a] for a in outputs], [num.value[t] for t in d.graph.target_keys], 1e3 * h)
           for num in d.instances):
        return (N_("%(loss)s sits exactly at a kink") if exactly else N_("%(loss)s sits at a kink"),
                {"loss": (loss.title, {})})
    return None


def check_finite_differences(d: Derivation) -> Check:
    """Central differences of the NumPy total loss, one parameter at a time.

    At a kink (a relu unit with z = 0) the derivative is one-sided by convention, so there a
    gradient may instead match the forward or the backward difference.
    """
    spec = d.spec
    X, T = reference.data_arrays(spec)
    base = reference.Params.from_spec(spec)
    f0 = reference.total_loss(spec, base, X, T)
    scale = max(1.0, abs(d.loss))
    rtol, atol = 1e-5, 1e-6 * scale
    kink = at_kink(d, 1e-6 * max([1.0] + [abs(v) for v in d.params.values()]))
    worst, ok = 0.0, True
    for l in range(len(spec.layers)):
        arrays = [("W", base.W[l])] if base.W[l].size else []
        wkeys = np.array(d.graph.layer_weights[l], dtype=object)
        if base.b[l] is not None and spec.layers[l].train_bias:
            arrays.append(("b", base.b[l]))
        for kind, arr in arrays:
            for idx in np.ndindex(arr.shape):
                h = 1e-6 * max(1.0, abs(arr[idx]))
                plus, minus = base.copy(), base.copy()
                getattr(plus, kind)[l][idx] += h
                getattr(minus, kind)[l][idx] -= h
                up, down = reference.total_loss(spec, plus, X, T), reference.total_loss(spec, minus, X, T)
                key = wkeys[idx] if kind == "W" else d.graph.layer_bias[l][idx[0]]
                g = d.grad[key]
                candidates = [(up - down) / (2 * h)]
                if kink:
                    candidates += [(up - f0) / h, (f0 - down) / h]
                errors = [abs(g - c) for c in candidates]
                best = min(range(len(errors)), key=errors.__getitem__)
                tol = atol + rtol * abs(candidates[best]) if best == 0 else 1e3 * atol + 1e-3 * abs(candidates[best])
                worst = max(worst, errors[best])
                ok = ok and errors[best] <= tol
    description = N_("the total gradient against central differences of the NumPy loss, step 10⁻⁶·max(1, abs θ)")
    note = ((N_("%(kink)s, where only one-sided differences exist: there a gradient may match the forward or backward "
                "difference instead (tolerance 1e-3·max(1, abs L) + 1e-3·abs(value))"), {"kink": kink})
            if kink else None)
    return Check("finite_differences", description, worst, N_("abs Δ ≤ 1e-6·max(1, abs L) + 1e-5·abs(value)"), bool(ok),
                 note_message=note)


def check_sympy_diff(d: Derivation) -> Check:
    """Differentiate the whole composed loss with ``sympy.diff``, where affordable."""
    description = N_("the total gradient against sympy.diff of the whole loss expression, composed from the leaves")
    graph = d.graph
    layers = len(d.spec.layers)
    edges, max_edges, max_layers = graph.edges, SYMPY_DIFF_MAX_EDGES, SYMPY_DIFF_MAX_LAYERS
    if d.batch is not None:  # the batch-wide graph is composed once (a batch normalization adds a layer)
        edges, max_edges, max_layers = d.batch.graph.edges, SYMPY_DIFF_MAX_BATCH_EDGES, SYMPY_DIFF_MAX_LAYERS + 1
    # a layer that shares its weights (rnn: every time step) has many edges of few parameters, and asks for more
    max_edges = max([max_edges] + [layer_type(layer).sympy_edges for layer in d.spec.layers
                                   if layer_type(layer).sympy_edges])
    if edges > max_edges or layers > max_layers:
        return Check("sympy_diff", description, None, "", None, note_message=(
            N_("skipped: the computation graph has %(edges)s edges and the network %(layers)s; differentiating the "
               "composed loss is only affordable up to %(max_edges)s edges and %(max_layers)s layers (the chain-rule "
               "steps cost linear time, this check does not)"),
            {"edges": edges, "max_edges": max_edges, "max_layers": max_layers,
             "layers": (N_("1 layer") if layers == 1 else N_("%(n)s layers"), {"n": layers})}))
    kink = at_kink(d, 1e-12, exactly=True)
    if kink:
        return Check("sympy_diff", description, None, "", None,
                     note_message=(N_("skipped: %(kink)s, where the derivative is a convention"), {"kink": kink}))
    if d.batch is not None:  # the instances are coupled: the summed loss of the whole batch, composed once
        graph = d.batch.graph
        evaluated = [d.batch.numbers]
    else:
        evaluated = list(d.instances)
    derivatives = symbolic.loss_derivatives(graph)  # sympy.diff of the composed loss (remembered between runs)
    scale = 1.0 if d.spec.reduction == "sum" else 1.0 / len(d.instances)
    total = {key: 0.0 for key in derivatives.params}
    for num in evaluated:  # in the instance's working precision (more than 53 bits for a saturated output)
        leaves = {k: v for k, v in num.value.items() if graph[k].expr is None}
        for key, value in derivatives.values(leaves, num.precision).items():
            total[key] += scale * value
    reg = d.spec.regularization
    if reg is not None:  # the penalty's own derivative, by sympy.diff of R(θ) = c·θ² (any c: R is quadratic)
        theta = sp.Symbol("theta")
        slope = sp.diff(sp.Float(reg.penalty([1.0])) * theta**2, theta)
        for key in total:
            if key in d.regularized:
                total[key] += float(slope.subs(theta, d.params[key]))
    err, ok = _worst([(d.grad[k], total[k]) for k in total], rtol=1e-9, atol=1e-12)
    return Check("sympy_diff", description, err, TIGHT, ok)


def check_update(d: Derivation) -> Check:
    """The parameters and the optimizer's state after the first epoch against one NumPy epoch."""
    spec = d.spec
    if spec.training is None:
        return Check("update", N_("the first update against a NumPy training epoch"), None, "", None,
                     note=N_("skipped: the spec has no [training]"))
    X, T = reference.data_arrays(spec)
    after = d.after_step
    batches = spec.training.batches(len(X))
    trainer = reference.Trainer(spec)
    pairs = []
    for k, rows in enumerate(batches):
        # each update redone by NumPy from the derivation's parameters and state before it: round-off that an
        # optimizer dividing by √v amplifies in one update is not carried into the next one's comparison
        before, state, slack = after.trail[k]
        params_after, state_after = (after.trail[k + 1][:2] if k + 1 < len(batches) else (after.params, after.state))
        start = _arrays(d, before)
        trainer.state = {} if k == 0 else _buffers(d, trainer, start, state)
        trainer.updates = k
        sl = slice(rows.start, rows.stop)
        p = reference.backward(spec, start, X[sl], T[sl])
        new = trainer.step(start, *reference.total_gradient(spec, p, start, X[sl], T[sl]))
        pairs += [(a, b, slack[key]["theta"]) for (a, b), key in zip(_param_pairs(d, params_after, new.W, new.b),
                                                                      _param_keys(d))]
        for (kind, l), buffers in trainer.state.items():
            keys = _indexed(d.graph.layer_weights[l] if kind == "W" else d.graph.layer_bias[l])
            for name, array in buffers.items():
                if array is None:
                    continue
                array = np.broadcast_to(np.asarray(array, dtype=float).reshape(-1), (len(keys),))
                pairs += [(state_after[key][name], array[i], slack[key].get(name, 0.0)) for i, (_, key) in enumerate(keys)]
    pairs += [(a, b, 0.0) for a, b in zip(after.rates, trainer.rates)]
    err, ok = _worst([(a, b) for a, b, _ in pairs], rtol=1e-9, atol=1e-12)
    ok = all(abs(a - b) <= 1e-12 + 1e-9 * abs(b) + slack for a, b, slack in pairs)
    return Check("update", N_("the parameters and the optimizer's state after the first epoch against one NumPy "
                              "training epoch"), err, TIGHT, ok)


def check_shortcut(d: Derivation) -> Check:
    """Softmax with cross-entropy (sigmoid with BCE): the chain-rule dL/dz equals a − t."""
    description = N_("dL/dz of the output units through the chain rule against the simplified a − t")
    graph = d.graph
    if not graph.loss.simplifies(activation_of(d.spec.layers[-1])):
        return Check("shortcut", description, None, "", None,
                     note=N_("skipped: the output activation and the loss do not simplify to a − t"))
    pairs = [(num.grad[z], num.value[a] - num.value[t]) for num in d.instances
             for (z, a), t in zip(graph.layer_units[-1], graph.target_keys)]
    err, ok = _worst(pairs, rtol=1e-9, atol=1e-12)
    return Check("shortcut", description, err, TIGHT, ok)


ALL_CHECKS = (check_numpy, check_finite_differences, check_sympy_diff, check_update, check_shortcut)


def run_checks(d: Derivation, *, symbolic: bool = True) -> dict[str, Check]:
    """Every check; ``symbolic=False`` leaves out sympy.diff of the whole loss (the slow one)."""
    return {c.name: c for c in (fn(d) for fn in ALL_CHECKS if symbolic or fn is not check_sympy_diff)}
