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

from derive.core.activations import ACTIVATIONS
from derive.core.layers import layer_type
from derive.core.losses import LOSSES
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
    """Per-instance weight gradients, shape (N, *the layer's weights' shape)."""
    db: list[np.ndarray | None]
    dX: np.ndarray


def data_arrays(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """X (one row per instance: its inputs, then the values of its own that layers take, such as dropout masks,
    so that a mini-batch's rows keep them) and T."""
    X = np.array([tuple(inst.x) + tuple(v for _k, v in inst.extra) for inst in spec.data], dtype=float)
    T = np.array([inst.t for inst in spec.data], dtype=float) if LOSSES[spec.loss].needs_targets else np.zeros((len(X), 1))
    return X, T


def shaped(spec: Spec, X: np.ndarray) -> np.ndarray:
    """The inputs as the first layer takes them: rows of a vector, or (N, C, H, W) / (N, C, L) feature maps."""
    X = X[:, :len(spec.inputs)]
    return X if spec.input_shape is None else X.reshape((len(X),) + tuple(spec.input_shape))


def _extras(spec: Spec, X: np.ndarray) -> list[dict]:
    """Per layer, the keyword arguments of its forward/backward beyond the usual: ``mask=`` (the rows' columns of
    its per-instance values, after the inputs in X)."""
    out, offset = [], len(spec.inputs)
    for layer in spec.layers:
        size = len(layer_type(layer).extra(layer, 0)) if spec.data else 0
        out.append({"mask": X[:, offset:offset + size]} if size else {})
        offset += size
    return out


def forward(spec: Spec, params: Params, X: np.ndarray):
    """Z and A of every layer, each of shape (N, *the layer's shape)."""
    Z, A = [], []
    a = shaped(spec, X)
    for layer, W, b, extra in zip(spec.layers, params.W, params.b, _extras(spec, X)):
        kind = layer_type(layer)
        if kind.needs_earlier:
            extra = {**extra, "earlier": A}
        z, a = kind.forward(layer, W, b, a, **extra)
        Z.append(z)
        A.append(a)
    return Z, A


def losses(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-instance losses."""
    Z, A = forward(spec, params, X)
    return _loss_forward(spec, Z[-1], A[-1], T)


def _logs(spec: Spec, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log Y and log(1 − Y) of the output layer in the activation's stable forms (from the logits z)."""
    layer = spec.layers[-1]
    act = ACTIVATIONS[layer.activation]
    return act.log_forward(z, layer), act.log1m_forward(z, layer)


def _loss_forward(spec: Spec, z: np.ndarray, Y: np.ndarray, T: np.ndarray) -> np.ndarray:
    return LOSSES[spec.loss].forward_logs(Y, *_logs(spec, z), T)


def penalty(spec: Spec, params: Params) -> float:
    """The regularization term of the total loss (0 without one): over the weights, and the trained biases if asked."""
    reg = spec.regularization
    if reg is None:
        return 0.0
    values = []
    for l, layer in enumerate(spec.layers):
        if reg.covers("weight"):
            values += params.W[l].ravel().tolist()
        if params.b[l] is not None and layer.train_bias and reg.covers("bias"):
            values += params.b[l].ravel().tolist()
    return float(reg.penalty(values))


def total_loss(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> float:
    """The reduced loss of the instances given, plus the regularization term once."""
    per = losses(spec, params, X, T)
    return float(per.sum() if spec.reduction == "sum" else per.mean()) + penalty(spec, params)
def backward(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> Pass:
    Z, A = forward(spec, params, X)
    loss = LOSSES[spec.loss]
    dA_last = loss.backward_logs(A[-1], *_logs(spec, Z[-1]), T)
    n_layers = len(spec.layers)
    dZ, dA, dW, db = [None] * n_layers, [None] * n_layers, [None] * n_layers, [None] * n_layers
    grad_a = dA_last
    extras = _extras(spec, X)
    extra: dict[int, np.ndarray] = {}
    """Layer → the gradient a later residual addition sends it directly (``add`` with ``from``)."""
    for l in reversed(range(n_layers)):
        if l in extra:
            grad_a = grad_a + extra.pop(l)
        dA[l] = grad_a
        a_prev = shaped(spec, X) if l == 0 else A[l - 1]
        stable = l == n_layers - 1 and loss.output_bounds is not None  # logarithms of the outputs: dL/da ~ e^z
        got = layer_type(spec.layers[l]).backward(
            spec.layers[l], params.W[l], params.b[l], a_prev, Z[l], A[l], grad_a, stable=stable, **extras[l])
        dZ[l], dW[l], db[l], grad_a = got[:4]
        if len(got) > 4:  # dL/d its outputs through the layer itself as well (rnn: h_t also feeds h_(t+1))
            dA[l] = got[4]
        source = layer_type(spec.layers[l]).source(spec.layers[l])
        if source is not None:  # what the addition passes back goes to both of its terms
            extra[source] = extra.get(source, 0.0) + grad_a
    for l in range(1, n_layers):  # a layer whose outputs are the previous layer's own (flatten) has their gradient
        if layer_type(spec.layers[l]).same_nodes:
            dA[l] = dZ[l] = dA[l - 1].reshape(dA[l].shape)
    return Pass(Z=Z, A=A, loss=_loss_forward(spec, Z[-1], A[-1], T), dZ=dZ, dA=dA, dW=dW, db=db,
                dX=grad_a.reshape(len(X), -1))


def total_gradient(spec: Spec, p: Pass, params: Params | None = None, X: np.ndarray | None = None,
                   T: np.ndarray | None = None) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """The gradient of the total loss of the pass's instances: their gradients summed (or averaged),
    plus the regularization term's at ``params`` (required when the spec has one).

    Given the pass's rows ``X`` and ``T``, a gradient whose terms cancel is 0 (:func:`cancelled`)."""
    scale = 1.0 if spec.reduction == "sum" else 1.0 / p.dZ[0].shape[0]
    gW = [scale * w.sum(axis=0) for w in p.dW]
    gb = [None if b is None else scale * b.sum(axis=0) for b in p.db]
    if X is not None and params is not None:
        zero_W, zero_b = cancelled(spec, params, X, T, gW, gb)
        gW = [np.where(z, 0.0, g) for g, z in zip(gW, zero_W)]
        gb = [None if g is None else np.where(z, 0.0, g) for g, z in zip(gb, zero_b)]
    reg = spec.regularization
    if reg is not None:
        if params is None:
            raise ValueError("total_gradient: the spec has a regularization term; pass the parameters")
        for l, layer in enumerate(spec.layers):
            if reg.covers("weight"):
                gW[l] = gW[l] + reg.gradient(params.W[l])
            if gb[l] is not None and layer.train_bias and reg.covers("bias"):
                gb[l] = gb[l] + reg.gradient(params.b[l])
    return gW, gb


def cancelled(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray, gW: list, gb: list) -> tuple[list, list]:
    """Where a gradient's terms cancel: masks (per layer, for the weights and the biases) of the entries of the
    float64 gradient ``gW``/``gb`` that are round-off. The pass is redone in extended precision (NumPy's longdouble,
    11 more bits); an entry is round-off when its extended value is no farther from 0 than from the float64 one
    (0 is then at least as accurate: ∂L/∂b of a bias before a batch normalization, a weight of an input that is the
    same in every instance of the batch). Without a longer float on the machine, only exact zeros are."""
    if np.finfo(np.longdouble).nmant <= np.finfo(float).nmant or not X.shape[0]:
        return [np.zeros(np.shape(g), bool) for g in gW], [None if g is None else np.zeros(np.shape(g), bool) for g in gb]
    wide = np.longdouble
    P = Params(W=[w.astype(wide) for w in params.W], b=[None if b is None else b.astype(wide) for b in params.b])
    p = backward(spec, P, X.astype(wide), T.astype(wide))
    scale = wide(1) if spec.reduction == "sum" else wide(1) / wide(X.shape[0])

    def mask(g64, g_wide):
        g_wide = scale * g_wide.sum(axis=0)
        return np.abs(g_wide) <= np.abs(np.asarray(g64, dtype=wide) - g_wide)

    return ([mask(g, w) for g, w in zip(gW, p.dW)],
            [None if g is None else mask(g, b) for g, b in zip(gb, p.db)])


class Trainer:
    """Training with the spec's optimizer and schedule, on arrays: one update per mini-batch, in data order.

    The optimizer state of each parameter array is kept by PyTorch's buffer names.
    """

    def __init__(self, spec: Spec):
        self.spec = spec
        self.optimizer = spec.training.optimizer
        self.schedule = spec.training.schedule
        self.updates = 0
        """Updates done so far (the schedule's k)."""
        self.rates: list[float] = []
        self.state: dict[tuple[str, int], dict] = {}

    def trained(self, params: Params):
        """(kind, layer index, array) of every trained parameter array."""
        for l, layer in enumerate(self.spec.layers):
            if params.W[l].size:
                yield "W", l, params.W[l]
            if params.b[l] is not None and layer.train_bias:
                yield "b", l, params.b[l]

    def step(self, params: Params, gW, gb) -> Params:
        new = params.copy()
        rate = self.schedule.rate(self.spec.training.learning_rate, self.updates)
        self.rates.append(rate)
        for kind, l, theta in self.trained(params):
            key = (kind, l)
            if key not in self.state:
                self.state[key] = self.optimizer.init_state(np.zeros_like(theta))
            g = gW[l] if kind == "W" else gb[l]
            out = self.optimizer.advance(theta, g, self.state[key], rate)
            self.state[key] = out.state
            (new.W if kind == "W" else new.b)[l] = np.asarray(out.theta, dtype=float)
        self.updates += 1
        return new

    def epoch(self, params: Params, X: np.ndarray, T: np.ndarray, first: Pass | None = None) -> Params:
        """One pass over the data: one update per batch (``first``: the pass of the whole data, if at hand)."""
        batches = self.spec.training.batches(X.shape[0])
        for rows in batches:
            sl = slice(rows.start, rows.stop)
            p = first if first is not None and len(batches) == 1 else backward(self.spec, params, X[sl], T[sl])
            params = self.step(params, *total_gradient(self.spec, p, params, X[sl], T[sl]))
        return params


def epoch(spec: Spec, params: Params, X: np.ndarray, T: np.ndarray) -> tuple[Params, Trainer]:
    """The first epoch from ``params`` with a fresh optimizer state: the new parameters and the trainer (its state)."""
    trainer = Trainer(spec)
    return trainer.epoch(params, X, T), trainer


@dataclass
class TrainingRun:
    losses: list[float]
    """Total loss (regularization included) before each epoch's updates, then after the last one."""
    params: Params
    outputs: np.ndarray
    state: dict
    """(kind, layer) → the optimizer's buffers after the last update."""
    rates: list[float]
    """The learning rate of every update."""


def train(spec: Spec) -> TrainingRun:
    """``spec.training.epochs`` epochs with the spec's optimizer, schedule and batches, from the spec's parameters."""
    X, T = data_arrays(spec)
    params = Params.from_spec(spec)
    trainer = Trainer(spec)
    history = []
    for _ in range(spec.training.epochs):
        p = backward(spec, params, X, T)  # the loss before the epoch, and the gradient of a whole-data batch
        history.append(float(p.loss.sum() if spec.reduction == "sum" else p.loss.mean()) + penalty(spec, params))
        params = trainer.epoch(params, X, T, first=p)
    history.append(total_loss(spec, params, X, T))
    return TrainingRun(losses=history, params=params, outputs=forward(spec, params, X)[1][-1], state=trainer.state,
                       rates=trainer.rates)
