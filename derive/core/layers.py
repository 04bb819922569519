"""The layer-type registry: one class per kind of layer, holding how it builds its graph nodes and how
the NumPy reference runs it.

Only ``dense`` exists so far (``z = a_prev @ W + b``, ``a = f(z)``). A layer type builds the
scalar nodes of one layer into the graph (:meth:`LayerType.build`) and, written apart from that,
runs the layer forward and backward in NumPy for the reference check (:meth:`LayerType.forward`,
:meth:`LayerType.backward`). The graph builder and the reference never ask which type they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import sympy as sp

from derive.core.activations import ACTIVATIONS, activation_of


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
        act = activation_of(layer)
        zs = [z.symbol for z in pre]
        outs = [sp.Symbol(f"{layer.unit_key(j)}_out", real=True) for j in range(layer.size)]
        out = [add(f"{layer.unit_key(j)}_out", "out", expr=act.unit_expr(j, zs),
                   parents=tuple(pre[i].key for i in act.parents(j, layer.size)),
                   layer=l, index=(j,), op=ActivationUnit(act, j, zs, outs))
               for j in range(layer.size)]
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


#: Name → the layer type.
LAYERS: dict[str, LayerType] = {}


def register(cls: type[LayerType]) -> type[LayerType]:
    """Add a layer type to the registry under its ``name``."""
    LAYERS[cls.name] = cls()
    return cls


register(Dense)


def layer_type(layer) -> LayerType:
    """The type of a spec layer (``dense`` unless it names another)."""
    return LAYERS[getattr(layer, "type", "dense")]
