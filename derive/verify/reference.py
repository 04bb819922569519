"""An independent, vectorized NumPy implementation: forward, backward, training.

Written from the spec alone, without SymPy and without the derivation's graph, so that it can
check the derivation. It also runs the training epochs (fast, and needs no symbols).
Numerically stable forms: no overflow warnings for z = ±1000, log(0) clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.spec.parse import Spec

_TINY = np.finfo(float).tiny


def _sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _elementwise(f, df):
    """An elementwise activation: forward f(z), backward g ↦ g · f'(z)."""
    return (lambda z, layer: f(z, layer)), (lambda z, a, g, layer: g * df(z, a, layer))


#: name → (forward(z, layer), backward(z, a, dL/da, layer) → dL/dz); rows are instances.
ACTIVATIONS = {
    "identity": _elementwise(lambda z, _: z, lambda z, a, _: np.ones_like(z)),
    "sigmoid": _elementwise(lambda z, _: _sigmoid(z), lambda z, a, _: a * (1.0 - a)),
    "tanh": _elementwise(lambda z, _: np.tanh(z), lambda z, a, _: 1.0 - a * a),
    "relu": _elementwise(lambda z, _: np.maximum(z, 0.0), lambda z, a, _: (z > 0).astype(float)),
    "leaky_relu": _elementwise(lambda z, layer: np.where(z > 0, z, layer.slope * z),
                               lambda z, a, layer: np.where(z > 0, 1.0, layer.slope)),
    # softmax couples the units: dL/dz_j = a_j (g_j − Σ_i g_i a_i)
    "softmax": (lambda z, _: _softmax(z),
                lambda z, a, g, _: a * (g - (g * a).sum(axis=1, keepdims=True))),
}


def _log(y):
    return np.log(np.maximum(y, _TINY))


#: name → (per-instance loss of Y, T (rows = instances), dL/dY).
LOSSES = {
    "sse": (lambda Y, T: ((Y - T) ** 2).sum(axis=1), lambda Y, T: 2.0 * (Y - T)),
    "half_sse": (lambda Y, T: 0.5 * ((Y - T) ** 2).sum(axis=1), lambda Y, T: Y - T),
    "mse": (lambda Y, T: ((Y - T) ** 2).mean(axis=1), lambda Y, T: 2.0 * (Y - T) / Y.shape[1]),
    "bce": (lambda Y, T: -(T * _log(Y) + (1 - T) * _log(1 - Y)).sum(axis=1),
            lambda Y, T: -(T / np.maximum(Y, _TINY)) + (1 - T) / np.maximum(1 - Y, _TINY)),
    "cross_entropy": (lambda Y, T: -(T * _log(Y)).sum(axis=1), lambda Y, T: -T / np.maximum(Y, _TINY)),
    "output": (lambda Y, T: Y[:, 0].copy(), lambda Y, T: np.ones_like(Y)),
}


@dataclass
class Params:
    """Weights and biases as arrays, one entry per layer (bias None when absent)."""

    W: list[np.ndarray]
    b: list[np.ndarray | None]

    @classmethod
    def from_spec(cls, spec: Spec) -> "Params":
        return cls(W=[np.array(layer.weights, dtype=float) for layer in spec.layers],
                   b=[None if layer.bias is None else np.array(layer.bias, dtype=float) for layer in spec.layers])

    def copy(self) -> "Params":
        return Params(W=[w.copy() for w in self.W], b=[None if b is None else b.copy() for b in self.b])


@dataclass
class Pass:
    """A forward and backward pass over all instances (rows)."""

    Z: list[np.ndarray]
    A: list[np.ndarray]
    loss: np.ndarray
    """Per-instance losses."""
    dZ: list[np.ndarray]
    """dL_n/dZ per instance, for the instance's own loss L_n."""
    dA: list[np.ndarray]
    dW: list[np.ndarray]
    """Per-instance weight gradients, shape (N, previous, size)."""
    db: list[np.ndarray | None]
    dX: np.ndarray


def data_arrays(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    X = np.array([inst.x for inst in spec.data], dtype=float)
    T = np.array([inst.t for inst in spec.data], dtype=float) if spec.loss != "output" else np.zeros((len(X), 1))
    return X, T


def forward(spec: Spec, params: Params, X: np.ndarray):
    Z, A = [], []
    a = X
    for layer, W, b in zip(spec.layers, params.W, params.b):
        z = a @ W + (b if b is not None else 0.0)
        a = ACTIVATIONS[layer.activation][0](z, layer)
        Z.append(z)
        A.append(a)
    return Z, A


def losses(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-instance losses."""
    _, A = forward(spec, params, X)
    return LOSSES[spec.loss][0](A[-1], T)


def total_loss(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> float:
    per = losses(spec, params, X, T)
    return float(per.sum() if spec.reduction == "sum" else per.mean())


def backward(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> Pass:
    Z, A = forward(spec, params, X)
    loss_fn, dloss = LOSSES[spec.loss]
    dA_last = dloss(A[-1], T)
    if spec.loss == "output":
        dA_last[:, 1:] = 0.0
    n_layers = len(spec.layers)
    dZ, dA, dW, db = [None] * n_layers, [None] * n_layers, [None] * n_layers, [None] * n_layers
    grad_a = dA_last
    for l in reversed(range(n_layers)):
        dA[l] = grad_a
        layer = spec.layers[l]
        dZ[l] = ACTIVATIONS[layer.activation][1](Z[l], A[l], grad_a, layer)
        a_prev = X if l == 0 else A[l - 1]
        dW[l] = np.einsum("ni,nj->nij", a_prev, dZ[l])
        db[l] = dZ[l].copy() if params.b[l] is not None else None
        grad_a = dZ[l] @ params.W[l].T
    return Pass(Z=Z, A=A, loss=loss_fn(A[-1], T), dZ=dZ, dA=dA, dW=dW, db=db, dX=grad_a)


def total_gradient(spec: Spec, p: Pass) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """The gradient of the total loss: the per-instance gradients summed (or averaged)."""
    scale = 1.0 if spec.reduction == "sum" else 1.0 / p.dZ[0].shape[0]
    return ([scale * w.sum(axis=0) for w in p.dW], [None if b is None else scale * b.sum(axis=0) for b in p.db])


def step(spec: Spec, params: Params, gW, gb, rate: float) -> Params:
    new = params.copy()
    for l, layer in enumerate(spec.layers):
        new.W[l] -= rate * gW[l]
        if new.b[l] is not None and layer.train_bias:
            new.b[l] -= rate * gb[l]
    return new


def epoch(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray, rate: float, mode: str) -> Params:
    """One epoch: one batch update from the total gradient, or one online update per instance (its own loss)."""
    if mode == "batch":
        return step(spec, params, *total_gradient(spec, backward(spec, params, X, T)), rate)
    for n in range(X.shape[0]):
        p = backward(spec, params, X[n : n + 1], T[n : n + 1])
        params = step(spec, params, [w[0] for w in p.dW], [None if b is None else b[0] for b in p.db], rate)
    return params


@dataclass
class TrainingRun:
    losses: list[float]
    """Total loss before each epoch's update, then after the last one."""
    params: Params
    outputs: np.ndarray


def train(spec: Spec) -> TrainingRun:
    """``spec.training.epochs`` epochs of gradient descent from the spec's parameters."""
    X, T = data_arrays(spec)
    params = Params.from_spec(spec)
    rate, mode = spec.training.learning_rate, spec.training.mode
    history = []
    for _ in range(spec.training.epochs):
        if mode == "batch":  # the epoch's own forward pass gives the loss before its update
            p = backward(spec, params, X, T)
            history.append(float(p.loss.sum() if spec.reduction == "sum" else p.loss.mean()))
            params = step(spec, params, *total_gradient(spec, p), rate)
        else:
            history.append(total_loss(spec, params, X, T))
            params = epoch(spec, params, X, T, rate, mode)
    history.append(total_loss(spec, params, X, T))
    return TrainingRun(losses=history, params=params, outputs=forward(spec, params, X)[1][-1])
