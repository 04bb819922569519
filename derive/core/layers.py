"""The layer-type registry: one class per kind of layer, holding how it builds its graph nodes and how
the NumPy reference runs it.

``dense`` (``z = a_prev @ W + b``, ``a = f(z)``) and ``batchnorm`` (training mode: each feature
normalized by the mean and biased variance of the current batch, then ``γ·x̂ + β``, as
``F.batch_norm(training=True)``). A layer type builds the scalar nodes of one layer into the graph
(:meth:`LayerType.build`) and, written apart from that, runs the layer forward and backward in NumPy
for the reference check (:meth:`LayerType.forward`, :meth:`LayerType.backward`). The graph builder
and the reference never ask which type they hold.

A layer that *couples the instances of a batch* (``couples = True``: batch normalization, whose
statistics depend on every instance) builds two forms: :meth:`LayerType.build` for one instance,
where the batch statistics are leaves (what a per-instance page shows), and
:meth:`LayerType.build_batch` for the batch-wide graph, where they are nodes over every instance
(see :mod:`derive.core.graph`). Its NumPy ``forward``/``backward`` take the rows of the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import sympy as sp

from derive.core.activations import ACTIVATIONS, activation_of
from derive.core.ops import BatchVariance, Local


@dataclass(frozen=True)
class Built:
    """The keys of the nodes a layer added to the graph."""

    units: tuple[tuple[str, str], ...]
    """Per unit: the keys of (pre-activation, activation)."""
    weights: tuple[tuple[str, ...], ...]
    """The weight keys as a (previous size × size) matrix."""
    bias: tuple[str, ...] | None
    outputs: list
    """The output nodes, which the next layer (or the loss) takes as inputs."""


class LayerType:
    """A kind of layer."""

    name: ClassVar[str]
    couples: ClassVar[bool] = False
    """True when a quantity of one instance depends on the other instances of the batch."""

    def build_batch(self, layer, l: int, previous: list[list], adders: list[Callable]) -> list[Built]:
        """The layer over a whole batch: ``previous[n]`` are instance n's inputs, ``adders[n]`` adds instance n's
        nodes (shared nodes, the parameters and batch statistics, under their plain keys). Only for ``couples``."""
        raise NotImplementedError

    def param_json(self, weights: list, bias: list | None) -> dict:
        """The layer's parameters (or their gradients, or an optimizer's buffers) for `derive values`."""
        return {"weights": weights, "bias": bias}

    def node_name(self, node, layer, notation: str) -> str | None:
        """The LaTeX name of one of the layer's nodes, or None for the usual names of units, weights and biases."""
        return None

    def weight_shape(self, layer, previous: int) -> tuple[int, int]:
        """The shape of the layer's ``weights`` after ``previous`` units (a worksheet draws them anew)."""
        return (previous, layer.size)

    def edges(self, weights) -> list[tuple[int, int, str]]:
        """The edges a picture draws into the layer: (unit i before, unit j of the layer, the key of its weight)."""
        return [(i, j, w) for i, row in enumerate(weights) for j, w in enumerate(row)]

    def build(self, layer, l: int, previous: list, add: Callable) -> Built:
        """Add layer ``l``'s nodes with ``add(key, role, **fields)``, taking the nodes ``previous`` as inputs."""
        raise NotImplementedError

    def forward(self, layer, W: np.ndarray, b: np.ndarray | None, a_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Z, A) of the layer for the rows ``a_prev`` (one row per instance)."""
        raise NotImplementedError

    def backward(self, layer, W: np.ndarray, b: np.ndarray | None, a_prev: np.ndarray, Z: np.ndarray,
                 A: np.ndarray, dA: np.ndarray, *, stable: bool = False):
        """(dZ, per-instance dW, per-instance db or None, dA_prev) from dL/dA. ``stable``: the output layer
        under a loss of logarithms, where dL/dA may be e^{40}: f'(z) from z (Activation.backward_stable)."""
        raise NotImplementedError


class Dense(LayerType):
    r"""A fully connected layer: $z_j = \sum_i a_i w_{ij} + b_j$, $a_j = f(z_j)$."""

    name = "dense"

    def build(self, layer, l, previous, add):
        from derive.core.graph import weight_key
        from derive.core.ops import ActivationUnit, WeightedSum

        weights = [[add(weight_key(layer.weight_symbol, i, j), "weight", layer=l, index=(i, j), trainable=True)
                    for j in range(layer.size)] for i in range(len(previous))]
        bias = None
        if layer.bias is not None:
            bias = [add(f"b_{layer.unit_key(j)}", "bias", layer=l, index=(j,), trainable=layer.train_bias)
                    for j in range(layer.size)]
        pre = []
        for j in range(layer.size):
            terms = [sp.Mul(weights[i][j].symbol, a.symbol, evaluate=False) for i, a in enumerate(previous)]
            parents = [p for i, a in enumerate(previous) for p in (weights[i][j].key, a.key)]
            if bias is not None:
                terms.append(bias[j].symbol)
                parents.append(bias[j].key)
            expr = sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]
            pre.append(add(f"{layer.unit_key(j)}_in", "in", expr=expr, parents=tuple(parents), layer=l, index=(j,),
                           op=WeightedSum()))
        out = activate(layer, l, pre, add)
        return Built(units=tuple((z.key, a.key) for z, a in zip(pre, out)),
                     weights=tuple(tuple(w.key for w in row) for row in weights),
                     bias=tuple(b.key for b in bias) if bias is not None else None, outputs=out)

    def forward(self, layer, W, b, a_prev):
        z = a_prev @ W + (b if b is not None else 0.0)
        return z, ACTIVATIONS[layer.activation].forward(z, layer)  # NumPy only: no SymPy here

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False):
        act = ACTIVATIONS[layer.activation]
        dZ = (act.backward_stable if stable else act.backward)(Z, A, dA, layer)
        dW = np.einsum("ni,nj->nij", a_prev, dZ)
        db = dZ.copy() if b is not None else None
        return dZ, dW, db, dZ @ W.T


def activate(layer, l: int, pre: list, add: Callable) -> list:
    """The activation nodes ``a_j = f(z_j)`` of the pre-activation nodes ``pre``."""
    from derive.core.ops import ActivationUnit

    act = activation_of(layer)
    zs = [z.symbol for z in pre]
    key = getattr(add, "key", lambda k: k)  # the key a node gets (instance n's in a batch-wide graph)
    outs = [sp.Symbol(key(f"{layer.unit_key(j)}_out"), real=True) for j in range(layer.size)]
    return [add(f"{layer.unit_key(j)}_out", "out", expr=act.unit_expr(j, zs),
                parents=tuple(pre[i].key for i in act.parents(j, layer.size)),
                layer=l, index=(j,), op=ActivationUnit(act, j, zs, outs))
            for j in range(layer.size)]


class BatchNorm(LayerType):
    r"""Batch normalization in training mode, per feature $j$ of the layer before it, over the instances
    $n = 1 \ldots N$ of the current batch: $\mu_j = \frac{1}{N}\sum_n z_j^{(n)}$,
    $\sigma_j^2 = \frac{1}{N}\sum_n (z_j^{(n)} - \mu_j)^2$ (biased), $\hat{x}_j^{(n)} = (z_j^{(n)} - \mu_j) /
    \sqrt{\sigma_j^2 + \varepsilon}$, then $\gamma_j \hat{x}_j^{(n)} + \beta_j$ and the layer's activation
    (identity unless given). The layer's ``weights`` are the one row γ, its ``bias`` β (``F.batch_norm``)."""

    name = "batchnorm"
    couples = True

    def _parameters(self, layer, l, add):
        gamma = [add(f"gamma_{layer.unit_key(j)}", "weight", layer=l, index=(0, j), trainable=True)
                 for j in range(layer.size)]
        beta = [add(f"beta_{layer.unit_key(j)}", "bias", layer=l, index=(j,), trainable=True)
                for j in range(layer.size)]
        eps = add(f"eps_{layer.name}", "constant", layer=l)
        return gamma, beta, eps

    def _units(self, layer, l, previous, add, gamma, beta, eps, means, variances) -> Built:
        from derive.core.ops import WeightedSum

        hats, pre = [], []
        for j, z in enumerate(previous):
            mu, var = means[j], variances[j]
            expr = sp.Mul(sp.Add(z.symbol, sp.Mul(-1, mu.symbol, evaluate=False), evaluate=False),
                          sp.Pow(sp.Add(var.symbol, eps.symbol, evaluate=False), sp.Rational(-1, 2), evaluate=False),
                          evaluate=False)
            hats.append(add(f"{layer.unit_key(j)}_hat", "hat", expr=expr, parents=(z.key, mu.key, var.key, eps.key),
                            layer=l, index=(j,), op=Local()))
            pre.append(add(f"{layer.unit_key(j)}_in", "in",
                           expr=sp.Add(sp.Mul(gamma[j].symbol, hats[j].symbol, evaluate=False), beta[j].symbol,
                                       evaluate=False),
                           parents=(gamma[j].key, hats[j].key, beta[j].key), layer=l, index=(j,), op=WeightedSum()))
        out = activate(layer, l, pre, add)
        return Built(units=tuple((z.key, a.key) for z, a in zip(pre, out)),
                     weights=(tuple(g.key for g in gamma),), bias=tuple(b.key for b in beta), outputs=out)

    def build(self, layer, l, previous, add):
        """One instance's nodes; the batch statistics μ_j and σ²_j are leaves here (their values come from the
        batch-wide graph)."""
        gamma, beta, eps = self._parameters(layer, l, add)
        means = [add(f"{layer.unit_key(j)}_mean", "mean", layer=l, index=(j,)) for j in range(layer.size)]
        variances = [add(f"{layer.unit_key(j)}_var", "var", layer=l, index=(j,)) for j in range(layer.size)]
        return self._units(layer, l, previous, add, gamma, beta, eps, means, variances)

    def build_batch(self, layer, l, previous, adders):
        N = len(previous)
        gamma, beta, eps = self._parameters(layer, l, adders[0])
        means, variances = [], []
        for j in range(layer.size):
            zs = [previous[n][j] for n in range(N)]
            mean = sp.Mul(sp.Rational(1, N), sp.Add(*[z.symbol for z in zs], evaluate=False), evaluate=False)
            means.append(adders[0](f"{layer.unit_key(j)}_mean", "mean", expr=mean, parents=tuple(z.key for z in zs),
                                   layer=l, index=(j,), op=Local()))
            mu = means[j].symbol
            squares = [sp.Pow(sp.Add(z.symbol, sp.Mul(-1, mu, evaluate=False), evaluate=False), 2, evaluate=False)
                       for z in zs]
            var = sp.Mul(sp.Rational(1, N), sp.Add(*squares, evaluate=False), evaluate=False)
            variances.append(adders[0](f"{layer.unit_key(j)}_var", "var", expr=var,
                                       parents=tuple(z.key for z in zs) + (means[j].key,), layer=l, index=(j,),
                                       op=BatchVariance([z.symbol for z in zs], mu)))
        return [self._units(layer, l, previous[n], adders[n], gamma, beta, eps, means, variances) for n in range(N)]

    @staticmethod
    def normalized(layer, a_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(μ, σ², x̂) of the rows ``a_prev`` (one row per instance of the batch), the variance biased."""
        mean = a_prev.mean(axis=0)
        var = ((a_prev - mean) ** 2).mean(axis=0)
        return mean, var, (a_prev - mean) / np.sqrt(var + layer.eps)

    def forward(self, layer, W, b, a_prev):
        _, _, hat = self.normalized(layer, a_prev)
        z = W[0] * hat + b
        return z, ACTIVATIONS[layer.activation].forward(z, layer)

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False):
        act = ACTIVATIONS[layer.activation]
        dZ = (act.backward_stable if stable else act.backward)(Z, A, dA, layer)
        _, var, hat = self.normalized(layer, a_prev)
        N = a_prev.shape[0]
        dhat = dZ * W[0]
        # the three paths into z^(n): through x̂^(n) directly, through σ² and through μ (their sums over the batch)
        d_prev = (N * dhat - dhat.sum(axis=0) - hat * (dhat * hat).sum(axis=0)) / (N * np.sqrt(var + layer.eps))
        return dZ, (dZ * hat)[:, None, :], dZ.copy(), d_prev

    def weight_shape(self, layer, previous):
        return (1, layer.size)  # the one row γ

    def edges(self, weights):
        return [(j, j, g) for j, g in enumerate(weights[0])]  # unit j is normalized alone, then scaled by γ_j

    def param_json(self, weights, bias):
        if isinstance(weights, dict):  # an optimizer's buffers, by name
            return {"gamma": {name: rows[0] for name, rows in weights.items()}, "beta": bias}
        return {"gamma": weights[0], "beta": bias}

    def node_name(self, node, layer, notation):
        from derive.render.printer import _unit

        base, sub = _unit(layer.name, node.index[-1]) if node.index else (layer.name, "")
        l = node.layer + 1
        letters = {"weight": r"\gamma", "bias": r"\beta", "mean": r"\mu", "hat": r"\hat{x}"}
        if node.role == "constant":
            return r"\varepsilon"
        if node.role == "var":
            return (rf"\sigma^{{2\,[{l}]}}_{{{node.index[-1] + 1}}}" if notation == "layer"
                    else rf"\sigma^{{2}}_{{{base}_{{{sub}}}}}")
        if node.role in letters:
            j = node.index[-1] + 1
            return (rf"{letters[node.role]}^{{[{l}]}}_{{{j}}}" if notation == "layer"
                    else rf"{letters[node.role]}_{{{base}_{{{sub}}}}}")
        return None


#: Name → the layer type.
LAYERS: dict[str, LayerType] = {}


def register(cls: type[LayerType]) -> type[LayerType]:
    """Add a layer type to the registry under its ``name``."""
    LAYERS[cls.name] = cls()
    return cls


register(Dense)
register(BatchNorm)


def layer_type(layer) -> LayerType:
    """The type of a spec layer (``dense`` unless it names another)."""
    return LAYERS[getattr(layer, "type", "dense")]
