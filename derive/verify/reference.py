"""An independent, vectorized NumPy implementation: forward, backward, training.

Written from the spec alone, without SymPy and without the derivation's graph, so that it can
check the derivation: it uses only the NumPy methods of the layer, activation and loss classes
(``forward``, ``backward``), which are written apart from their SymPy expressions, never
derived from them. It also runs the training epochs (fast, and needs no symbols).
Numerically stable forms: no overflow warnings for z = ±1000, log(0) clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from derive.core.layers import layer_type
from derive.core.losses import LOSSES
from derive.core.optimizers import optimizer_of
from derive.spec.parse import Spec


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
    T = np.array([inst.t for inst in spec.data], dtype=float) if LOSSES[spec.loss].needs_targets else np.zeros((len(X), 1))
    return X, T


def forward(spec: Spec, params: Params, X: np.ndarray):
    Z, A = [], []
    a = X
    for layer, W, b in zip(spec.layers, params.W, params.b):
        z, a = layer_type(layer).forward(layer, W, b, a)
        Z.append(z)
        A.append(a)
    return Z, A


def losses(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-instance losses."""
    _, A = forward(spec, params, X)
    return LOSSES[spec.loss].forward(A[-1], T)


def total_loss(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> float:
    per = losses(spec, params, X, T)
    return float(per.sum() if spec.reduction == "sum" else per.mean())


def backward(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> Pass:
    Z, A = forward(spec, params, X)
    loss = LOSSES[spec.loss]
    dA_last = loss.backward(A[-1], T)
    n_layers = len(spec.layers)
    dZ, dA, dW, db = [None] * n_layers, [None] * n_layers, [None] * n_layers, [None] * n_layers
    grad_a = dA_last
    for l in reversed(range(n_layers)):
        dA[l] = grad_a
        a_prev = X if l == 0 else A[l - 1]
        dZ[l], dW[l], db[l], grad_a = layer_type(spec.layers[l]).backward(
            spec.layers[l], params.W[l], params.b[l], a_prev, Z[l], A[l], grad_a)
    return Pass(Z=Z, A=A, loss=loss.forward(A[-1], T), dZ=dZ, dA=dA, dW=dW, db=db, dX=grad_a)


def total_gradient(spec: Spec, p: Pass) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """The gradient of the total loss: the per-instance gradients summed (or averaged)."""
    scale = 1.0 if spec.reduction == "sum" else 1.0 / p.dZ[0].shape[0]
    return ([scale * w.sum(axis=0) for w in p.dW], [None if b is None else scale * b.sum(axis=0) for b in p.db])


def step(spec: Spec, params: Params, gW, gb, rate: float) -> Params:
    opt = optimizer_of(spec.training)
    new = params.copy()
    for l, layer in enumerate(spec.layers):
        new.W[l] = opt.step(new.W[l], gW[l], rate)
        if new.b[l] is not None and layer.train_bias:
            new.b[l] = opt.step(new.b[l], gb[l], rate)
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
