"""The layer-type registry: one class per kind of layer, owning everything about that kind.

A layer type (a subclass of :class:`LayerType`, registered with :func:`register`) holds:

- its spec keys and how they are read and checked (:attr:`LayerType.keys`, :meth:`LayerType.parse`,
  which returns the :class:`~derive.spec.parse.Layer` record, its output ``shape`` included; errors
  name the field, ``network.layers[1].kernel``);
- its scalar graph nodes, each a local expression of its parents (:meth:`LayerType.build`), with their
  plain keys and LaTeX names (:meth:`LayerType.tex_name`);
- its two parameter arrays, ``weights`` and ``bias`` (either may be empty or None), in the shapes the
  spec gives them (dense: (previous size, size); tensor layers: PyTorch's (out, in, k…));
- its NumPy forward and backward for the independent reference, written apart from the graph
  (:meth:`LayerType.forward`, :meth:`LayerType.backward`), on arrays ``(instances, *shape)``;
- its page section: the template partial it names (:attr:`LayerType.partial`, a file of macros in
  ``templates/layers/``), and its TOML (:meth:`LayerType.dump`).

A layer that *couples the instances of a batch* (``couples = True``: batch normalization, whose
statistics depend on every instance) builds two forms: :meth:`LayerType.build` for one instance,
where the batch statistics are leaves (what a per-instance page shows), and
:meth:`LayerType.build_batch` for the batch-wide graph, where they are nodes over every instance
(see :mod:`derive.core.graph`). Its NumPy ``forward``/``backward`` take the rows of the whole batch.

Nothing outside this module compares layer type names: consumers look the class up
(:func:`layer_type`) and ask it. Adding a layer type is one class here, one partial and one
:func:`register` call (docs/extending.md).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import sympy as sp

from derive.core.activations import ACTIVATIONS, activation_of
from derive.core.ops import BatchVariance, Local
from derive.i18n import N_, _


@dataclass(frozen=True)
class LayerContext:
    """What a layer type's parser knows of the network around the table it reads."""

    index: int
    """0-based position of the layer."""
    field: str
    """``network.layers[k]``: the prefix of every error about this table."""
    name: str
    in_shape: tuple[int, ...]
    """What the layer takes in: ``(n,)`` for a vector, ``(C, H, W)`` or ``(C, L)`` for feature maps."""
    earlier: tuple
    """The layers before it (records)."""
    symbol: str
    """The default letter of its weights (w, v, u, … in the order of the layers that have weights)."""
    source: str
    """What feeds it, in words: ``input`` or ``unit of layer h``."""
    last: bool
    """Whether it is the output layer."""


@dataclass(frozen=True)
class Built:
    """The keys of the nodes a layer added to the graph."""

    units: tuple[tuple[str, str], ...]
    """Per output entry (row-major over the layer's shape): the keys of (pre-activation, activation). A layer
    without an activation of its own (pooling, flatten) gives its output key twice."""
    weights: tuple
    """The weight keys, nested in the shape of the layer's weights (dense: previous size × size; a
    convolution: channels × in_channels × k…); ``()`` for a layer without weights."""
    bias: tuple[str, ...] | None
    outputs: list
    """The output nodes (row-major), which the next layer (or the loss) takes as inputs."""


class LayerType:
    """A kind of layer. Subclasses set the class attributes and implement the methods below."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]] = ()
    """The spec keys it reads, besides ``name`` and ``type`` (any other is an unknown key)."""
    title: ClassVar[str] = ""
    """What the page calls it: "dense", "convolution", "max pooling"."""
    has_weights: ClassVar[bool] = False
    """Whether it takes a weight letter (w, v, …) in the order of the layers that do."""
    can_output: ClassVar[bool] = False
    """Whether it may be the output layer (its units feed the loss)."""
    exact: ClassVar[bool] = False
    """Whether ``arithmetic = "exact"`` supports it."""
    scalar_steps: ClassVar[bool] = False
    """Whether the page shows each of its nodes as its own forward line and chain-rule step (dense), or the
    layer's partial shows it as a whole (feature maps as matrices)."""
    activated: ClassVar[bool] = False
    """Whether it has an activation of its own (the page describes each activation used once)."""
    routes: ClassVar[bool] = False
    """Max pooling: the gradient of each output goes to one entry of its window (the winner)."""
    partial: ClassVar[str] = ""
    """The template of its page section (``layers/<name>.md.j2``): macros ``network``, ``forward`` and
    ``backward`` (see templates/layers/)."""
    couples: ClassVar[bool] = False
    """True when a quantity of one instance depends on the other instances of the batch."""
    needs_earlier: ClassVar[bool] = False
    """True when it takes the output of an earlier layer besides the previous one (``add``): then ``build`` gets
    ``earlier=`` (the output nodes of every layer before it) and ``forward`` gets ``earlier=`` (their arrays),
    and the reference adds its ``dA`` to the gradient of that layer (:meth:`source`)."""

    sequence: ClassVar[bool] = False
    """True when it reads a sequence ``(T, F)`` step by step (rnn): a page then shows its input as steps."""
    sympy_edges: ClassVar[int | None] = None
    """A network with this layer gets the sympy.diff check up to this many edges (instead of the general budget)."""
    same_nodes: ClassVar[bool] = False
    """True when its outputs are the previous layer's output nodes themselves (flatten): then their gradient is
    that layer's, in full."""

    def source(self, layer) -> int | None:
        """The index of the earlier layer it also takes (``needs_earlier``), else None."""
        return None

    def activates(self, layer) -> bool:
        """Whether this layer applies an activation the page describes (:attr:`activated`, or an addition that
        names one)."""
        return self.activated

    def check_data(self, read, layer, field: str, data: tuple) -> None:
        """Check what the layer gives per instance against the data (dropout: one mask per instance)."""

    def extra(self, layer, n: int) -> tuple[tuple[str, float], ...]:
        """Instance n's own leaves of this layer, (key, value) pairs (dropout: its mask); they reach the
        NumPy reference as ``mask=`` (its forward and backward), in this order."""
        return ()

    def build_batch(self, layer, l: int, previous: list[list], adders: list[Callable]) -> list[Built]:
        """The layer over a whole batch: ``previous[n]`` are instance n's inputs, ``adders[n]`` adds instance n's
        nodes (shared nodes, the parameters and batch statistics, under their plain keys). Only for ``couples``."""
        raise NotImplementedError

    def param_json(self, weights: list, bias: list | None) -> dict:
        """The layer's parameters (or their gradients, or an optimizer's buffers) for `derive values`."""
        return {"weights": weights, "bias": bias}

    def notebook_json(self, entry: dict) -> dict:
        """:meth:`param_json`'s entry as the notebook holds the arrays (``weights``, ``bias``): the inverse where
        the JSON gives them otherwise (rnn: its four arrays)."""
        return entry

    def constant(self, layer, node) -> float:
        """The value of one of its ``constant`` leaves (batchnorm's ε; rnn's h0)."""
        return layer.eps

    # -- the spec

    def weight_shape(self, layer, previous: int) -> tuple[int, ...]:
        """The shape of the layer's ``weights`` (a worksheet draws them anew): as the spec gives them."""
        return tuple(np.shape(layer.weights)) if np.size(layer.weights) else (previous, layer.size)

    def edges(self, weights) -> list[tuple[int, int, str]]:
        """The edges a picture draws into the layer: (unit i before, unit j of the layer, the key of its weight)."""
        return [(i, j, w) for i, row in enumerate(weights) for j, w in enumerate(row)]

    def links(self, layer, value: dict) -> list[tuple[int, int, bool]]:
        """The edges without a weight a picture draws into the layer: (unit i before, unit j of the layer, whether
        the unit passes on, in the instance whose values are ``value``). One to one for a layer that maps each unit
        on its own (an addition, dropout, whose dropped units pass nothing); none for the others."""
        return []

    def parse(self, read, table: dict, ctx: LayerContext):
        """The :class:`~derive.spec.parse.Layer` of a ``[[network.layers]]`` table (its keys already known to
        be in :attr:`keys`). ``read`` is the spec reader: ``read.fail(field, message)``, ``read.integer``,
        ``read.window``, ``read.tensor``, ``read.activation``, ``read.bias``, ``read.weight_symbol``."""
        raise NotImplementedError

    def dump(self, layer, num: Callable, default_symbol: str) -> list[str]:
        """The TOML lines of its keys (after ``name`` and ``type``) that read back to the same layer."""
        raise NotImplementedError

    # -- the graph

    def build(self, layer, l: int, previous: list, add: Callable) -> Built:
        """Add layer ``l``'s nodes with ``add(key, role, **fields)``, taking the nodes ``previous`` (row-major
        over ``layer.in_shape``) as inputs."""
        raise NotImplementedError

    def tex_name(self, layer, node, notation: str) -> str:
        """The LaTeX name of one of its nodes (a weight, bias, pre-activation or activation)."""
        raise NotImplementedError

    def kink(self, layer, units, instances, graph, h: float, exactly: bool = False) -> tuple | None:
        """What of this layer sits within ``h`` of a point where it is not differentiable ("a relu unit sits at
        its kink"), in any instance (``Numbers``), or None: finite differences are one-sided there. A message
        for derive.i18n, (N_(text), parameters); ``exactly`` says "exactly at"."""
        act = activation_of(layer)
        if act.kinks and any(act.near_kink(num.value[z], h) for num in instances for z, _ in units):
            return ((N_("a %(name)s unit sits exactly at its kink (z = 0)") if exactly
                     else N_("a %(name)s unit sits at its kink (z = 0)")), {"name": act.name})
        return None

    # -- classic mistakes (derive.grade.mistakes asks these; a layer without the slip answers None or {})

    def one_path(self, layer, graph, node, children: list) -> tuple[str, list] | None:
        """The missing-path slip at ``node`` (a node this layer takes in, or one of its own parameters), whose
        gradient sums over several of this layer's nodes ``children`` (keys): (what was missed, the children
        a student who counts one path keeps), or None when the layer has no such slip there."""
        return None

    def one_path_words(self, layer, aspect: str) -> str:
        """The words of the missing-path slip ``aspect`` (from :meth:`one_path`) in this layer."""
        raise NotImplementedError

    def swapped(self, layer, weights: tuple) -> dict[str, str]:
        """The weights a student reads the wrong way round: weight key → the key whose value they use there
        (a square matrix transposed); {} when the layer's weights have no such reading."""
        return {}

    def swapped_words(self, layer, backward: bool) -> str:
        """The words of :meth:`swapped`, in the backward pass or the forward pass."""
        raise NotImplementedError

    # -- the notebook (its NumPy code, written apart from forward/backward; helpers in notebook.py.j2)

    def code_forward(self, layer, prev: str) -> str:
        """Python lines (indented 4) of ``forward(P, X)`` that set ``Z_<name>`` and ``A_<name>`` from the array
        named ``prev``. Dense layers are written by the template itself."""
        raise NotImplementedError

    def code_backward(self, layer, below: str) -> str:
        """Python lines of ``backward(P, X, T)``: from ``dA`` (dL/d its output) and ``Z, A = F[name]``, set
        ``G[name]`` (``out``, ``in``, per-instance ``weights`` and ``bias``) and ``dA`` to dL/d ``below``."""
        raise NotImplementedError

    # -- the independent NumPy reference

    def forward(self, layer, W: np.ndarray, b: np.ndarray | None, a_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Z, A) of the layer, shapes ``(N, *layer.shape)``, for ``a_prev`` of shape ``(N, *layer.in_shape)``."""
        raise NotImplementedError

    def backward(self, layer, W: np.ndarray, b: np.ndarray | None, a_prev: np.ndarray, Z: np.ndarray,
                 A: np.ndarray, dA: np.ndarray, *, stable: bool = False):
        """(dZ, per-instance dW (N, *W.shape), per-instance db or None, dA_prev) from dL/dA. ``stable``: the
        output layer under a loss of logarithms, where dL/dA may be e^{40}: f'(z) from z
        (Activation.backward_stable)."""
        raise NotImplementedError


def _suffix(name: str) -> str:
    """``h`` → ``h``, ``h2`` → ``h2_``: where a layer's name ends in a digit, indices follow an underscore."""
    return f"{name}_" if name[-1].isdigit() else name


def _indices(index) -> str:
    return "_".join(str(i + 1) for i in index)


class Dense(LayerType):
    r"""A fully connected layer: $z_j = \sum_i a_i w_{ij} + b_j$, $a_j = f(z_j)$."""

    name = "dense"
    keys = ("size", "activation", "weights", "bias", "train_bias", "weight_symbol", "slope")
    title = N_("dense")
    has_weights = can_output = exact = scalar_steps = activated = True

    def parse(self, read, table, ctx):
        from derive.spec.parse import MAX_UNITS_PER_LAYER, Layer

        f = ctx.field
        if len(ctx.in_shape) != 1:
            raise read.fail(f"{f}.type", f"a dense layer takes a vector, but its input has shape "
                                         f"{'×'.join(map(str, ctx.in_shape))}; put a flatten layer before it")
        previous = ctx.in_shape[0]
        size = read.integer(read.require(table, "size", f), f"{f}.size", 1, MAX_UNITS_PER_LAYER)
        activation, slope = read.activation(table, ctx)
        weights = read.matrix(read.require(table, "weights", f), f"{f}.weights", previous, size,
                              f"{previous} row{'s' * (previous != 1)}, one per {ctx.source}; "
                              f"{size} column{'s' * (size != 1)}, one per unit of layer {ctx.name}")
        bias, train_bias = read.bias(table, ctx, size, f"one per unit of layer {ctx.name}")
        symbol = read.weight_symbol(table, ctx)
        return Layer(name=ctx.name, size=size, activation=activation, weights=weights, bias=bias,
                     train_bias=train_bias, weight_symbol=symbol, slope=slope, type=self.name,
                     in_shape=(previous,), shape=(size,))

    def dump(self, layer, num, default_symbol):
        vec = lambda v: "[" + ", ".join(num(x) for x in v) + "]"  # noqa: E731
        lines = [f"size = {layer.size}", f'activation = "{layer.activation}"',
                 "weights = [" + ", ".join(vec(r) for r in layer.weights) + "]"]
        lines += _dump_bias(layer, vec)
        if layer.weight_symbol != default_symbol:
            lines.append(f'weight_symbol = "{layer.weight_symbol}"')
        lines += _dump_slope(layer, num)
        return lines

    def build(self, layer, l, previous, add):
        from derive.core.graph import weight_key
        from derive.core.ops import WeightedSum

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

    def tex_name(self, layer, node, notation):
        from derive.render.printer import _sub, _unit

        l = node.layer + 1
        if node.role == "weight":
            i, j = node.index
            if notation == "layer":
                return f"W^{{[{l}]}}_{{{_sub(i, j)}}}"
            return f"{layer.weight_symbol}_{{{_sub(i, j)}}}"
        base, sub = _unit(layer.name, node.index[0])
        if node.role == "bias":
            if notation == "layer":
                return f"b^{{[{l}]}}_{{{node.index[0] + 1}}}"
            return f"b_{{{base}_{{{sub}}}}}"
        if notation == "layer":
            letter = "z" if node.role == "in" else "a"
            return f"{letter}^{{[{l}]}}_{{{node.index[0] + 1}}}"
        if notation == "netout":
            word = "net" if node.role == "in" else "out"
            return rf"\mathrm{{{word}}}_{{{base}_{{{sub}}}}}"
        return rf"{base}_{{{sub}}}^{{\mathrm{{{node.role}}}}}"

    def one_path(self, layer, graph, node, children):
        """A unit feeding every unit of the layer: the path to the unit of its own index (else the first) kept."""
        if graph[node].role in ("weight", "bias"):
            return None
        same = [c for c in children if graph[c].index[:1] == graph[node].index[:1]]
        return "input", same[:1] or children[:1]

    def one_path_words(self, layer, aspect):
        return _("a missing path: a unit that feeds several others gets its gradient as the sum over all of "
                 "them, and only one path was counted (into layer %(name)s)") % {"name": layer.name}

    def swapped(self, layer, weights):
        if len(weights) != len(weights[0]):
            return {}
        return {key: weights[j][i] for i, row in enumerate(weights) for j, key in enumerate(row)}

    def swapped_words(self, layer, backward):
        if backward:
            return _("the weight matrix of layer %(name)s read transposed in the backward pass (w_ji used for "
                     "w_ij)") % {"name": layer.name}
        return _("the weights of layer %(name)s read transposed (w_ji used for w_ij)") % {"name": layer.name}

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
    keys = ("size", "gamma", "beta", "eps", "activation")
    title = N_("batch normalization")
    couples = True
    can_output = scalar_steps = activated = True
    has_weights = True
    """Its γ takes a place in the sequence of weight letters (the layers after it keep their letters)."""
    cancels_bias = True
    """A trained bias right before it has no effect (the mean over the batch removes it)."""

    def parse(self, read, table, ctx):
        """Per feature of the layer before it: ``gamma`` (ones), ``beta`` (zeros), ``eps`` (1e-5), ``activation``."""
        from derive.spec.parse import MAX_UNITS_PER_LAYER, Layer

        f, kind, name = ctx.field, self.name, ctx.name
        if len(ctx.in_shape) != 1:
            raise read.fail(f"{f}.type", f"a {kind} layer normalizes a vector, but its input has shape "
                                         f"{'×'.join(map(str, ctx.in_shape))}; put a flatten layer before it")
        previous = ctx.in_shape[0]
        before = ctx.source
        if "size" in table:
            size = read.integer(table["size"], f"{f}.size", 1, MAX_UNITS_PER_LAYER)
            if size != previous:
                raise read.fail(f"{f}.size", f"a {kind} layer keeps the size of what it normalizes: expected "
                                             f"{previous} (one per {before}), got {size}")
        gamma = read.vector(table.get("gamma", [1.0] * previous), f"{f}.gamma", previous, f"one per {before}")
        beta = read.vector(table.get("beta", [0.0] * previous), f"{f}.beta", previous, f"one per {before}")
        eps = read.number(table.get("eps", 1e-5), f"{f}.eps")
        if not eps > 0:
            raise read.fail(f"{f}.eps", f"expected a positive number (the default is 1e-5), got {eps!r}")
        activation = read.choice(table.get("activation", "identity"), f"{f}.activation", ACTIVATIONS)
        earlier = ctx.earlier
        if self.cancels_bias and earlier and ACTIVATIONS[earlier[-1].activation].shifts and earlier[-1].bias is not None \
                and earlier[-1].train_bias:
            raise read.fail(f"network.layers[{ctx.index - 1}].bias", f"a trained bias right before {kind} layer "
                            f"'{name}' has no effect (the normalization subtracts the batch mean again; its gradient "
                            "is exactly 0, and optimizers such as adam would amplify rounding noise): leave it out or "
                            "set train_bias = false")
        return Layer(name=name, size=previous, activation=activation, weights=(gamma,), bias=beta,
                     train_bias=True, weight_symbol="", type=kind, eps=eps, in_shape=(previous,), shape=(previous,))

    def dump(self, layer, num, default_symbol):
        vec = lambda v: "[" + ", ".join(num(x) for x in v) + "]"  # noqa: E731
        return [f"gamma = {vec(layer.weights[0])}", f"beta = {vec(layer.bias)}", f"eps = {num(layer.eps)}",
                f'activation = "{layer.activation}"']

    def tex_name(self, layer, node, notation):
        return self.node_name(node, layer, notation) or LAYERS["dense"].tex_name(layer, node, notation)

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

    def one_path(self, layer, graph, node, children):
        """An input z of the normalization reaches the loss through x̂, μ and σ²: the slip keeps x̂'s path alone
        (μ and σ² taken for constants). Its γ has no slip of the kind: {} (no square matrix to transpose either)."""
        hats = [c for c in children if graph[c].role == "hat"]
        return ("statistics", hats) if graph[node].role not in ("weight", "bias") and hats else None

    def one_path_words(self, layer, aspect):
        return _("the mean and variance of layer %(name)s treated as constants: ∂L/∂z of a normalized input has "
                 "three terms, through x̂, through σ² and through μ, and only the one through x̂ was counted") % {
            "name": layer.name}

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


class LayerNorm(BatchNorm):
    r"""Layer normalization of one instance over its features $j = 1 \ldots F$ (the vector of the layer
    before it): $\mu = \frac{1}{F}\sum_j z_j$, $\sigma^2 = \frac{1}{F}\sum_j (z_j - \mu)^2$ (biased),
    $\hat{x}_j = (z_j - \mu)/\sqrt{\sigma^2 + \varepsilon}$, then $\gamma_j \hat{x}_j + \beta_j$ and the
    layer's activation (identity unless given): ``F.layer_norm`` with an elementwise affine. Unlike batch
    normalization it does not couple the instances."""

    name = "layernorm"
    title = N_("layer normalization")
    couples = False
    scalar_steps = False
    cancels_bias = False
    partial = "layers/norm.md.j2"

    def build(self, layer, l, previous, add):
        gamma, beta, eps = self._parameters(layer, l, add)
        F = len(previous)
        zs = [z.symbol for z in previous]
        mean = add(f"{layer.name}_mean", "mean", expr=sp.Mul(sp.Rational(1, F), sp.Add(*zs, evaluate=False),
                                                               evaluate=False),
                   parents=tuple(z.key for z in previous), layer=l, index=(), op=Local())
        squares = [sp.Pow(sp.Add(z, sp.Mul(-1, mean.symbol, evaluate=False), evaluate=False), 2, evaluate=False)
                   for z in zs]
        var = add(f"{layer.name}_var", "var", expr=sp.Mul(sp.Rational(1, F), sp.Add(*squares, evaluate=False),
                                                           evaluate=False),
                  parents=tuple(z.key for z in previous) + (mean.key,), layer=l, index=(), op=Local())
        # the same normalized units as batch normalization's, with one mean and variance for every feature
        return self._units(layer, l, previous, add, gamma, beta, eps, [mean] * F, [var] * F)

    def build_batch(self, layer, l, previous, adders):
        raise NotImplementedError("layernorm does not couple instances")

    def param_json(self, weights, bias):
        """Its γ as the one row of ``weights`` and β as ``bias`` (the notebook reads them as a dense layer's)."""
        return LayerType.param_json(self, weights, bias)

    def tex_name(self, layer, node, notation):
        l = node.layer + 1
        if node.role == "mean":
            return rf"\mu^{{[{l}]}}" if notation == "layer" else rf"\mu_{{{layer.name}}}"
        if node.role == "var":
            return rf"\sigma^{{2\,[{l}]}}" if notation == "layer" else rf"\sigma^{{2}}_{{{layer.name}}}"
        return super().tex_name(layer, node, notation)

    @staticmethod
    def normalized(layer, a_prev):
        mean = a_prev.mean(axis=1, keepdims=True)
        var = ((a_prev - mean) ** 2).mean(axis=1, keepdims=True)
        return mean, var, (a_prev - mean) / np.sqrt(var + layer.eps)

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False):
        act = ACTIVATIONS[layer.activation]
        dZ = (act.backward_stable if stable else act.backward)(Z, A, dA, layer)
        _, var, hat = self.normalized(layer, a_prev)
        F = a_prev.shape[1]
        dhat = dZ * W[0]
        # the three paths into z_j: through x̂_j directly, through σ² and through μ (sums over the features)
        d_prev = (F * dhat - dhat.sum(axis=1, keepdims=True) - hat * (dhat * hat).sum(axis=1, keepdims=True)) / (
            F * np.sqrt(var + layer.eps))
        return dZ, (dZ * hat)[:, None, :], dZ.copy(), d_prev

    def code_forward(self, layer, prev):
        n = layer.name
        act = ACTIVATIONS[layer.activation].code_forward(f"Z_{n}", layer)
        return (f"    mu = {prev}.mean(axis=1, keepdims=True)\n"
                f"    var = (({prev} - mu) ** 2).mean(axis=1, keepdims=True)\n"
                f'    Z_{n} = P["W_{n}"][0] * ({prev} - mu) / np.sqrt(var + {layer.eps!r}) + P["b_{n}"]\n'
                f"    A_{n} = {act}")

    def code_backward(self, layer, below):
        n = layer.name
        act = ACTIVATIONS[layer.activation].code_backward("Z", "A", "dA", layer)
        return (f'    Z, A = F["{n}"]\n'
                f"    dZ = {act}\n"
                f"    mu = {below}.mean(axis=1, keepdims=True)\n"
                f"    sd = np.sqrt((({below} - mu) ** 2).mean(axis=1, keepdims=True) + {layer.eps!r})\n"
                f"    hat = ({below} - mu) / sd\n"
                f'    dhat = dZ * P["W_{n}"][0]\n'
                f'    G["{n}"] = {{"out": dA, "in": dZ, "weights": (dZ * hat)[:, None, :], "bias": dZ}}\n'
                f"    dA = (dhat - dhat.mean(axis=1, keepdims=True) - hat * (dhat * hat).mean(axis=1, keepdims=True)) / sd")


class Add(LayerType):
    """A residual connection: each unit is the previous layer's output plus the output of an earlier layer
    (``from``) of the same shape, $z_j = a^{\\mathrm{prev}}_j + a^{\\mathrm{from}}_j$, then an optional
    ``activation`` applied entry by entry, $a_j = f(z_j)$ (ResNet's basic block: ``relu``). The default,
    identity, adds no nodes of its own: the unit is the sum. No parameters."""

    name = "add"
    keys = ("from", "activation", "slope")
    title = N_("residual addition")
    partial = "layers/add.md.j2"
    needs_earlier = True

    def parse(self, read, table, ctx):
        from derive.spec.parse import Layer

        f = f"{ctx.field}.from"
        source = read.string(read.require(table, "from", ctx.field), f)
        names = [layer.name for layer in ctx.earlier]
        if source not in names:
            later = "a later layer or this one" if source == ctx.name else "no earlier layer"
            raise read.fail(f, f"'{source}' names {later}; expected the name of an earlier layer "
                               f"({', '.join(names[:-1]) or 'none but the one right before'}"
                               f"{'' if len(names) < 2 else ''})")
        index = names.index(source)
        shape = ctx.earlier[index].out_shape
        if tuple(shape) != tuple(ctx.in_shape):
            raise read.fail(f, f"layer {source} gives shape {'×'.join(map(str, shape))}, but the layer before "
                               f"gives {'×'.join(map(str, ctx.in_shape))}: an addition needs the same shape")
        activation, slope = (read.activation(table, ctx, elementwise=True) if "activation" in table
                             else (self.DEFAULT, 0.01))
        if "slope" in table and "activation" not in table:
            read.activation(table, ctx, elementwise=True)  # names the missing activation
        size = math.prod(ctx.in_shape)
        return Layer(name=ctx.name, size=size, activation=activation, weights=(), bias=None, train_bias=False,
                     weight_symbol="", type=self.name, in_shape=ctx.in_shape, shape=tuple(ctx.in_shape),
                     slope=slope, options=(("from", source), ("from_index", index)))

    DEFAULT = "identity"
    """The activation of an addition that names none: the sum is the unit."""

    def activates(self, layer) -> bool:
        """Whether the sum passes through an activation of its own (a node ``a = f(z)`` after ``z``)."""
        return layer.activation != self.DEFAULT

    def dump(self, layer, num, default_symbol):
        lines = [f'from = "{layer.option("from")}"']
        if self.activates(layer):
            lines.append(f'activation = "{layer.activation}"')
        return lines + _dump_slope(layer, num)

    def one_path(self, layer, graph, node, children):
        """The output of layer ``from`` reaches the loss through the branch and along the skip connection into this
        addition (``children``: all its children): the slip counts the branch alone (the skip path dropped)."""
        if graph[node].layer != self.source(layer) or graph[node].role in ("weight", "bias"):
            return None
        mine = [c for c in children if graph.spec.layers[graph[c].layer].name == layer.name
                and graph[c].parents[1:2] == (node,)]  # its sums take the skip input second
        kept = [c for c in children if c not in mine]
        return ("skip", kept) if mine and kept else None

    def one_path_words(self, layer, aspect):
        return _("the skip connection into layer %(name)s left out of the backward pass: the outputs of layer "
                 "%(source)s reach the loss through the branch and along the skip connection, and their gradient is "
                 "the sum of both; only the path through the branch was counted") % {
            "name": layer.name, "source": layer.option("from")}

    def source(self, layer):
        return layer.option("from_index")

    def links(self, layer, value):
        return [(j, j, True) for j in range(layer.size)]

    def build(self, layer, l, previous, add, earlier=()):
        other = earlier[layer.option("from_index")]
        role, suffix = ("in", "_in") if self.activates(layer) else ("out", "_out")
        sums = []
        for j, (a, r) in enumerate(zip(previous, other)):
            sums.append(add(f"{layer.unit_key(j)}{suffix}", role, expr=sp.Add(a.symbol, r.symbol, evaluate=False),
                            parents=(a.key, r.key), layer=l, index=(j,), op=Local()))
        outputs = activate(layer, l, sums, add) if self.activates(layer) else sums
        return Built(units=tuple((z.key, a.key) for z, a in zip(sums, outputs)), weights=(), bias=None,
                     outputs=outputs)

    def tex_name(self, layer, node, notation):
        from derive.render.printer import _unit

        if self.activates(layer):  # a sum and its activation: named as a dense layer's in and out values
            return LAYERS["dense"].tex_name(layer, node, notation)
        if notation == "layer":
            return f"a^{{[{node.layer + 1}]}}_{{{node.index[0] + 1}}}"
        base, sub = _unit(layer.name, node.index[0])
        return f"{base}_{{{sub}}}"

    def forward(self, layer, W, b, a_prev, earlier=()):
        z = a_prev + earlier[layer.option("from_index")]
        return z, ACTIVATIONS[layer.activation].forward(z, layer)

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False):
        """dL/dz flows on unchanged to the layer before; the reference also adds it to layer ``from``'s gradient."""
        dZ = ACTIVATIONS[layer.activation].backward(Z, A, dA, layer)
        return dZ, np.zeros((len(dA), 0)), None, dZ

    def code_forward(self, layer, prev):
        n = layer.name
        act = ACTIVATIONS[layer.activation].code_forward(f"Z_{n}", layer)
        return (f'    Z_{n} = {prev} + A_{layer.option("from")}  # ' + _("the residual connection") + "\n"
                f"    A_{n} = {act}")

    def code_backward(self, layer, below):
        n = layer.name
        act = ACTIVATIONS[layer.activation].code_backward("Z", "A", "dA", layer)
        return (f'    Z, A = F["{n}"]\n'
                f"    dZ = {act}\n"
                f'    G["{n}"] = {{"out": dA, "in": dZ, "weights": np.zeros((len(dA), 0)), "bias": None}}\n'
                f'    extra["{layer.option("from")}"] = dZ  # ' + _("added to the gradient of layer %(name)s") % {"name": layer.option("from")} + "\n"
                "    dA = dZ")


class Dropout(LayerType):
    """Inverted dropout with given masks: unit j of instance n is a_j · m_j^(n) / (1 − p), the mask m^(n) one
    0/1 vector per instance (in data order), as ``F.dropout(training=True)`` computes it for that mask. No
    parameters; the gradient passes only through the kept units, scaled by 1/(1 − p)."""

    name = "dropout"
    keys = ("p", "masks")
    title = N_("dropout")
    partial = "layers/dropout.md.j2"

    def parse(self, read, table, ctx):
        from derive.spec.parse import Layer

        f = ctx.field
        if len(ctx.in_shape) != 1:
            raise read.fail(f"{f}.type", f"dropout takes a vector, but its input has shape "
                                         f"{'×'.join(map(str, ctx.in_shape))}; put it after a flatten or dense layer")
        p = read.number(read.require(table, "p", f), f"{f}.p")
        if not 0 <= p < 1:
            raise read.fail(f"{f}.p", f"expected a probability of dropping a unit, 0 ≤ p < 1, got {p!r}")
        raw = read.require(table, "masks", f)
        size = ctx.in_shape[0]
        if not isinstance(raw, list) or not raw:
            raise read.fail(f"{f}.masks", f"expected one mask per instance, each a list of {size} zeros and ones")
        masks = []
        for n, mask in enumerate(raw):
            m = read.vector(mask, f"{f}.masks[{n}]", size, f"one 0 or 1 per unit of {ctx.source.split(' of ')[-1]}")
            if any(v not in (0.0, 1.0) for v in m):
                raise read.fail(f"{f}.masks[{n}]", f"expected zeros and ones (1: the unit is kept), got {list(m)}")
            masks.append(m)
        return Layer(name=ctx.name, size=size, activation="identity", weights=(), bias=None, train_bias=False,
                     weight_symbol="", type=self.name, in_shape=(size,), shape=(size,),
                     options=(("p", p), ("masks", tuple(masks))))

    def check_data(self, read, layer, field, data):
        masks = layer.option("masks")
        if len(masks) != len(data):
            raise read.fail(f"{field}.masks", f"expected one mask per instance: {len(data)} instances, "
                                              f"got {len(masks)} masks")

    def extra(self, layer, n):
        return tuple((self.mask_key(layer, j), float(v)) for j, v in enumerate(layer.option("masks")[n]))

    def mask_key(self, layer, j: int) -> str:
        return f"m_{layer.unit_key(j)}"

    def links(self, layer, value):
        return [(j, j, value[self.mask_key(layer, j)] != 0) for j in range(layer.size)]

    def dump(self, layer, num, default_symbol):
        masks = ", ".join("[" + ", ".join(num(v) for v in m) + "]" for m in layer.option("masks"))
        return [f"p = {num(layer.option('p'))}", f"masks = [{masks}]"]

    def scale(self, layer) -> sp.Expr:
        """1/(1 − p), exact: 2 for p = 0.5."""
        return 1 / (1 - sp.Rational(repr(float(layer.option("p")))))

    def build(self, layer, l, previous, add):
        scale = self.scale(layer)
        outputs = []
        for j, a in enumerate(previous):
            m = add(self.mask_key(layer, j), "mask", layer=l, index=(j,))
            outputs.append(add(f"{layer.unit_key(j)}_out", "out",
                               expr=sp.Mul(a.symbol, m.symbol, scale, evaluate=False) if scale != 1 else
                               sp.Mul(a.symbol, m.symbol, evaluate=False),
                               parents=(a.key, m.key), layer=l, index=(j,), op=Local()))
        return Built(units=tuple((n.key, n.key) for n in outputs), weights=(), bias=None, outputs=outputs)

    def tex_name(self, layer, node, notation):
        from derive.render.printer import _unit

        base, sub = _unit(layer.name, node.index[0])
        if node.role == "mask":
            return f"m_{{{base}_{{{sub}}}}}"
        if notation == "layer":
            return f"a^{{[{node.layer + 1}]}}_{{{node.index[0] + 1}}}"
        return f"{base}_{{{sub}}}"

    def forward(self, layer, W, b, a_prev, mask=None):
        a = a_prev * mask / (1 - layer.option("p"))
        return a, a

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False, mask=None):
        return dA, np.zeros((len(dA), 0)), None, dA * mask / (1 - layer.option("p"))

    def code_forward(self, layer, prev):
        n = layer.name
        return f'    Z_{n} = A_{n} = {prev} * MASKS["{n}"] / (1 - {layer.option("p")!r})  # ' + _("the given masks")

    def code_backward(self, layer, below):
        n = layer.name
        return (f'    G["{n}"] = {{"out": dA, "in": dA, "weights": np.zeros((len(dA), 0)), "bias": None}}\n'
                f'    dA = dA * MASKS["{n}"] / (1 - {layer.option("p")!r})')


def _dump_bias(layer, vec) -> list[str]:
    if layer.bias is None:
        return []
    return [f"bias = {vec(layer.bias)}"] + ([] if layer.train_bias else ["train_bias = false"])


def _dump_slope(layer, num) -> list[str]:
    return [f"slope = {num(layer.slope)}"] if "slope" in ACTIVATIONS[layer.activation].options else []


def _nested(values, num) -> str:
    if isinstance(values, (tuple, list)):
        return "[" + ", ".join(_nested(v, num) for v in values) + "]"
    return num(values)


def _shape_text(shape) -> str:
    return "×".join(map(str, shape))


def _window_value(layer_kernel, stride, padding) -> list[str]:
    out = []
    for key, value, default in (("kernel", layer_kernel, None), ("stride", stride, None), ("padding", padding, None)):
        if value is None:
            continue
        out.append(f"{key} = {value[0] if len(set(value)) == 1 else list(value)}")
    return out


def _windows(x: np.ndarray, kernel, stride) -> np.ndarray:
    """The windows of ``x`` (N, C, *spatial): shape (N, C, *out, *kernel), out = (size − k) // s + 1."""
    dims = len(kernel)
    axes = tuple(range(2, 2 + dims))
    win = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=axes)
    return win[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)]


def _pad(x: np.ndarray, padding) -> np.ndarray:
    return np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])


def _scatter(shape, kernel, stride, out_shape, pieces) -> np.ndarray:
    """The sum, at every input position, of what each window position sends back: ``pieces(offset)`` is
    an array (N, C, *out) for the kernel offset ``offset``; returns (N, C, *shape)."""
    total = None
    for offset in itertools.product(*map(range, kernel)):
        piece = pieces(offset)
        if total is None:
            total = np.zeros(piece.shape[:2] + tuple(shape), dtype=float)
        index = (slice(None), slice(None)) + tuple(
            slice(o, o + s * (n - 1) + 1, s) for o, s, n in zip(offset, stride, out_shape))
        total[index] += piece
    return total


_LETTERS = "ijk"
_KLETTERS = "pqr"


class _Windowed(LayerType):
    """A layer that slides a window over feature maps (C, L) or (C, H, W): convolution and pooling."""

    dims: ClassVar[int]
    padded: ClassVar[bool] = False

    def _spatial(self, read, table, ctx):
        """(kernel, stride, padding, out spatial shape), checked against the input."""
        f = ctx.field
        axes = "[C, L]" if self.dims == 1 else "[C, H, W]"
        if len(ctx.in_shape) != self.dims + 1:
            raise read.fail(f"{f}.type", f"{self.name} takes feature maps of shape {axes}, but its input has shape "
                                         f"{_shape_text(ctx.in_shape)} (set [network] input_shape = {axes})")
        kernel = read.window(read.require(table, "kernel", f), f"{f}.kernel", self.dims, 1, 64)
        stride = read.window(table.get("stride", list(kernel) if not self.padded else 1), f"{f}.stride",
                             self.dims, 1, 64)
        padding = read.window(table.get("padding", 0), f"{f}.padding", self.dims, 0, 64) if self.padded else \
            (0,) * self.dims
        spatial = ctx.in_shape[1:]
        for k, p, n in zip(kernel, padding, spatial):
            if k > n + 2 * p:
                padded = f"{n} + 2·{p} = {n + 2 * p}" if self.padded else str(n)
                raise read.fail(f"{f}.kernel", f"the kernel ({_shape_text(kernel)}) is larger than the "
                                               f"{'padded ' if self.padded else ''}input ({padded} along an axis)")
        out = tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(spatial, kernel, stride, padding))
        return kernel, stride, padding, out

    def _dump_window(self, layer) -> list[str]:
        def one(v):
            return str(v[0]) if len(set(v)) == 1 else "[" + ", ".join(map(str, v)) + "]"
        lines = [f"kernel = {one(layer.kernel)}", f"stride = {one(layer.stride)}"]
        if self.padded:
            lines.append(f"padding = {one(layer.padding)}")
        return lines

    def unit_key(self, layer, index) -> str:
        """``c1_2_3``: channel 1, row 2, column 3 of layer c's output."""
        return _suffix(layer.name) + _indices(index)

    def _grid(self, layer, previous):
        """The previous nodes as an object array of the input shape."""
        grid = np.empty(len(previous), dtype=object)
        grid[:] = previous
        return grid.reshape(layer.in_shape)

    def _sources(self, layer, position):
        """For an output position (i, j): [(kernel offset, input position)] of the in-range window entries."""
        out = []
        for offset in itertools.product(*map(range, layer.kernel)):
            pos = tuple(i * s + o - p for i, s, o, p in zip(position, layer.stride, offset, layer.padding))
            if all(0 <= q < n for q, n in zip(pos, layer.in_shape[1:])):
                out.append((offset, pos))
        return out

    def _index_text(self, index) -> str:
        """1-based indices, ``1,2,3``; an index given as text (``i``, ``2i-1``) is written as it is."""
        return ",".join(str(i + 1) if isinstance(i, int) else i for i in index)


class Conv(_Windowed):
    """A convolution (cross-correlation, as PyTorch computes it) over feature maps, then an activation:
    $z_{o,i,j} = \\sum_{c,p,q} w_{o,c,p,q}\\, a_{c,\\, i s + p - P,\\, j s + q - P} + b_o$."""

    keys = ("channels", "kernel", "stride", "padding", "activation", "weights", "bias", "train_bias",
            "weight_symbol", "slope")
    title = N_("convolution")
    has_weights = activated = True
    padded = True

    def parse(self, read, table, ctx):
        from derive.spec.parse import Layer

        f = ctx.field
        kernel, stride, padding, out = self._spatial(read, table, ctx)
        channels = read.integer(read.require(table, "channels", f), f"{f}.channels", 1, 64)
        activation, slope = read.activation(table, ctx, elementwise=True)
        in_channels = ctx.in_shape[0]
        wshape = (channels, in_channels) + kernel
        what = (f"{channels} channel{'s' if channels > 1 else ''} × {in_channels} input channel{'s' if in_channels > 1 else ''} × the kernel "
                f"{_shape_text(kernel)}, as PyTorch orders them")
        weights = read.tensor(read.require(table, "weights", f), f"{f}.weights", wshape, what)
        bias, train_bias = read.bias(table, ctx, channels, f"one per channel of layer {ctx.name}")
        symbol = read.weight_symbol(table, ctx)
        shape = (channels,) + out
        return Layer(name=ctx.name, size=math.prod(shape), activation=activation, weights=weights, bias=bias,
                     train_bias=train_bias, weight_symbol=symbol, slope=slope, type=self.name,
                     in_shape=ctx.in_shape, shape=shape, kernel=kernel, stride=stride, padding=padding)

    def dump(self, layer, num, default_symbol):
        lines = [f"channels = {layer.shape[0]}"] + self._dump_window(layer) + [
            f'activation = "{layer.activation}"', f"weights = {_nested(layer.weights, num)}"]
        lines += _dump_bias(layer, lambda v: _nested(v, num))
        if layer.weight_symbol != default_symbol:
            lines.append(f'weight_symbol = "{layer.weight_symbol}"')
        return lines + _dump_slope(layer, num)

    def build(self, layer, l, previous, add):
        from derive.core.ops import ActivationUnit, WeightedSum

        grid = self._grid(layer, previous)
        wshape = (layer.shape[0], layer.in_shape[0]) + layer.kernel
        weights = np.empty(wshape, dtype=object)
        for idx in np.ndindex(wshape):
            weights[idx] = add(layer.weight_symbol + _indices(idx), "weight", layer=l, index=idx, trainable=True)
        bias = None
        if layer.bias is not None:
            bias = [add(f"b_{_suffix(layer.name)}{o + 1}", "bias", layer=l, index=(o,), trainable=layer.train_bias)
                    for o in range(layer.shape[0])]
        act = activation_of(layer)
        key_of = getattr(add, "key", lambda k: k)  # the key a node gets (instance n's in a batch-wide graph)
        units, outputs = [], []
        for idx in np.ndindex(layer.shape):
            o, position = idx[0], idx[1:]
            terms, parents = [], []
            for offset, pos in self._sources(layer, position):
                for c in range(layer.in_shape[0]):
                    w, a = weights[(o, c) + offset], grid[(c,) + pos]
                    terms.append(sp.Mul(w.symbol, a.symbol, evaluate=False))
                    parents += [w.key, a.key]
            if bias is not None:
                terms.append(bias[o].symbol)
                parents.append(bias[o].key)
            expr = sp.Add(*terms, evaluate=False) if len(terms) > 1 else (terms[0] if terms else sp.S.Zero)
            key = self.unit_key(layer, idx)
            z = add(f"{key}_in", "in", expr=expr, parents=tuple(parents), layer=l, index=idx, op=WeightedSum())
            a = add(f"{key}_out", "out", expr=act.unit_expr(0, [z.symbol]), parents=(z.key,), layer=l, index=idx,
                    op=ActivationUnit(act, 0, [z.symbol], [sp.Symbol(key_of(f"{key}_out"), real=True)]))
            units.append((z.key, a.key))
            outputs.append(a)
        return Built(units=tuple(units), weights=_keys(weights), outputs=outputs,
                     bias=tuple(b.key for b in bias) if bias is not None else None)

    def tex_name(self, layer, node, notation):
        sub = self._index_text(node.index)
        l = node.layer + 1
        if node.role == "weight":
            return f"W^{{[{l}]}}_{{{sub}}}" if notation == "layer" else f"{layer.weight_symbol}_{{{sub}}}"
        if node.role == "bias":
            return f"b^{{[{l}]}}_{{{sub}}}" if notation == "layer" else f"b_{{{layer.name}_{{{sub}}}}}"
        base = _base(layer.name)
        if notation == "layer":
            return f"{'z' if node.role == 'in' else 'a'}^{{[{l}]}}_{{{sub}}}"
        if notation == "netout":
            word = "net" if node.role == "in" else "out"
            return rf"\mathrm{{{word}}}_{{{base}_{{{sub}}}}}"
        return rf"{base}_{{{sub}}}^{{\mathrm{{{node.role}}}}}"

    def _letters(self):
        return _LETTERS[:self.dims], _KLETTERS[:self.dims]

    def one_path(self, layer, graph, node, children):
        """A kernel weight or bias used at every position: one position kept (the first). An input entry under
        several windows: per output channel, the window where it sits under the kernel's first weight kept (the
        first window holding it near the far edges)."""
        if graph[node].role in ("weight", "bias"):
            return "shared", children[:1]
        kept = {}
        for c in children:
            parents = graph[c].parents
            offset = graph[parents[parents.index(node) - 1]].index[2:]  # the weight that touched the entry
            channel = graph[c].index[0]
            if channel not in kept or (not any(offset) and any(kept[channel][1])):
                kept[channel] = (c, offset)
        return "input", [c for c, _offset in kept.values()]

    def one_path_words(self, layer, aspect):
        if aspect == "shared":
            return _("the gradient of a weight or bias of layer %(name)s taken at one position only: the kernel "
                     "slides over the whole map, and a weight's gradient is the sum over every position it "
                     "touched") % {"name": layer.name}
        return _("a missing path in layer %(name)s: an entry of its input lies in several windows of the kernel, "
                 "and its gradient is the sum over all of them; only one window was counted") % {"name": layer.name}

    def swapped(self, layer, weights):
        """The kernel rotated by 180° (the conv analogue of a transposed matrix: convolution for correlation)."""
        keys = np.array(weights, dtype=object)
        flipped = keys[(slice(None), slice(None)) + (slice(None, None, -1),) * self.dims]
        return {k: f for k, f in zip(keys.flat, flipped.flat) if k != f}

    def swapped_words(self, layer, backward):
        if backward:
            return _("the kernel of layer %(name)s slid over the gradients unflipped in the backward pass: an "
                     "input entry's gradient takes each window's gradient times the weight that touched the entry, "
                     "a full convolution with the kernel rotated by 180°") % {"name": layer.name}
        return _("the kernel of layer %(name)s flipped (rotated by 180°) in the forward pass: the layer "
                 "cross-correlates, as PyTorch computes it, where a textbook convolution flips the kernel") % {
            "name": layer.name}

    def code_forward(self, layer, prev):
        n = layer.name
        bias = f'P["b_{n}"]' if layer.bias is not None else "None"
        act = ACTIVATIONS[layer.activation].code_forward(f"Z_{n}", layer)
        return (f'    Z_{n} = conv({prev}, P["W_{n}"], {bias}, stride={layer.stride}, padding={layer.padding})\n'
                f"    A_{n} = {act}")

    def code_backward(self, layer, below):
        n = layer.name
        act = ACTIVATIONS[layer.activation].code_backward("Z", "A", "dA", layer)
        axes = tuple(range(2, 2 + self.dims))
        bias = f"dZ.sum(axis={axes})" if layer.bias is not None else "None"
        return (f'    Z, A = F["{n}"]\n'
                f"    dZ = {act}\n"
                f'    dW, dA_below = conv_backward({below}, P["W_{n}"], dZ, stride={layer.stride}, '
                f"padding={layer.padding})\n"
                f'    G["{n}"] = {{"out": dA, "in": dZ, "weights": dW, "bias": {bias}}}\n'
                f"    dA = dA_below")

    def forward(self, layer, W, b, a_prev):
        win = _windows(_pad(a_prev, layer.padding), layer.kernel, layer.stride)
        s, k = self._letters()
        z = np.einsum(f"nc{s}{k},oc{k}->no{s}", win, W)
        if b is not None:
            z = z + b.reshape((1, -1) + (1,) * self.dims)
        return z, ACTIVATIONS[layer.activation].forward(z, layer)

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False):
        act = ACTIVATIONS[layer.activation]
        dZ = (act.backward_stable if stable else act.backward)(Z, A, dA, layer)
        win = _windows(_pad(a_prev, layer.padding), layer.kernel, layer.stride)
        s, k = self._letters()
        dW = np.einsum(f"nc{s}{k},no{s}->noc{k}", win, dZ)
        db = dZ.sum(axis=tuple(range(2, 2 + self.dims))) if b is not None else None
        padded = tuple(n + 2 * p for n, p in zip(layer.in_shape[1:], layer.padding))
        dXp = _scatter(padded, layer.kernel, layer.stride, layer.shape[1:],
                       lambda offset: np.einsum(f"no{s},oc->nc{s}", dZ, W[(slice(None), slice(None)) + offset]))
        inner = (slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(layer.padding, layer.in_shape[1:]))
        return dZ, dW, db, dXp[inner]


class Conv1d(Conv):
    name = "conv1d"
    dims = 1
    partial = "layers/conv.md.j2"


class Conv2d(Conv):
    name = "conv2d"
    dims = 2
    partial = "layers/conv.md.j2"


def _base(name: str) -> str:
    """A layer name as a LaTeX base: ``c`` → ``c``, ``c2`` → ``c^{(2)}``… kept simple: the name itself."""
    return name if len(name) == 1 else rf"\mathit{{{name}}}"


def _keys(array: np.ndarray) -> tuple:
    """An object array of nodes as nested tuples of their keys."""
    if array.ndim == 1:
        return tuple(n.key for n in array)
    return tuple(_keys(sub) for sub in array)


class Pool(_Windowed):
    """Pooling: each output entry is the maximum (or the mean) of its window, channel by channel."""

    keys = ("kernel", "stride")
    partial = "layers/pool.md.j2"

    def parse(self, read, table, ctx):
        from derive.spec.parse import Layer

        kernel, stride, padding, out = self._spatial(read, table, ctx)
        shape = (ctx.in_shape[0],) + out
        return Layer(name=ctx.name, size=math.prod(shape), activation="identity", weights=(), bias=None,
                     train_bias=False, weight_symbol="", type=self.name, in_shape=ctx.in_shape, shape=shape,
                     kernel=kernel, stride=stride, padding=padding)

    def dump(self, layer, num, default_symbol):
        return self._dump_window(layer)

    def code_forward(self, layer, prev):
        n = layer.name
        return f'    Z_{n} = A_{n} = pool({prev}, {layer.kernel}, {layer.stride}, "{self.mode}")'

    def code_backward(self, layer, below):
        n = layer.name
        return (f'    G["{n}"] = {{"out": dA, "in": dA, "weights": np.zeros((len(dA), 0)), "bias": None}}\n'
                f'    dA = pool_backward({below}, dA, {layer.kernel}, {layer.stride}, "{self.mode}")')

    def combine(self, symbols: list) -> tuple[sp.Expr, Any]:
        """The expression of one output entry over its window's symbols, and its Local."""
        raise NotImplementedError

    def build(self, layer, l, previous, add):
        grid = self._grid(layer, previous)
        units, outputs = [], []
        for idx in np.ndindex(layer.shape):
            c, position = idx[0], idx[1:]
            window = [grid[(c,) + pos] for _, pos in self._sources(layer, position)]
            expr, op = self.combine([n.symbol for n in window])
            key = self.unit_key(layer, idx)
            node = add(key, "out", expr=expr, parents=tuple(n.key for n in window), layer=l, index=idx, op=op)
            units.append((node.key, node.key))
            outputs.append(node)
        return Built(units=tuple(units), weights=(), bias=None, outputs=outputs)

    def tex_name(self, layer, node, notation):
        sub = self._index_text(node.index)
        if notation == "layer":
            return f"a^{{[{node.layer + 1}]}}_{{{sub}}}"
        return f"{_base(layer.name)}_{{{sub}}}"

    def forward(self, layer, W, b, a_prev):
        a = self.reduce(_windows(a_prev, layer.kernel, layer.stride))
        return a, a

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False):
        win = _windows(a_prev, layer.kernel, layer.stride)
        share = self.shares(win)  # (N, C, *out, *kernel): how much of each output goes back to each entry
        dX = _scatter(layer.in_shape[1:], layer.kernel, layer.stride, layer.shape[1:],
                      lambda offset: dA * share[(Ellipsis,) + offset])
        return dA, np.zeros((len(dA), 0)), None, dX

    def reduce(self, win: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def shares(self, win: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ArgMax(sp.Function):
    r"""$[a_k \text{ is the first maximum of its window}]$: ∂ max / ∂a_k (PyTorch's convention at ties: the
    first maximum, in row-major order, takes the whole gradient). Arguments: the entry's index k, then the
    window's entries."""

    @classmethod
    def eval(cls, k, *window):
        if all(a.is_number for a in window):
            values = [float(a) for a in window]
            return sp.S.One if values.index(max(values)) == int(k) else sp.S.Zero
        return None

    def _latex(self, printer):
        k = int(self.args[0])
        names = [printer._print(a) for a in self.args[1:]]
        return rf"\left[{names[k]} = \max\left({', '.join(names)}\right)\right]"


class MaxOf:
    """The local derivatives of a max node: 1 for the first maximum of the window, 0 for the others."""

    def __init__(self, symbols):
        self.symbols = tuple(symbols)

    def partial(self, expr, parent):
        return ArgMax(sp.Integer(self.symbols.index(parent)), *self.symbols)


class MaxPool(Pool):
    title = N_("max pooling")
    routes = True
    mode = "max"

    def kink(self, layer, units, instances, graph, h, exactly=False):
        for num in instances:
            for key, _ in units:
                top = sorted((num.value[p] for p in graph[key].parents), reverse=True)
                if len(top) > 1 and top[0] - top[1] <= h:
                    return (N_("a max-pooling window of layer %(name)s has two maxima (a tie)"), {"name": layer.name})
        return None

    def combine(self, symbols):
        return (sp.Max(*symbols, evaluate=False) if len(symbols) > 1 else symbols[0]), MaxOf(symbols)

    def reduce(self, win):
        return win.reshape(win.shape[:2 + self.dims] + (-1,)).max(axis=-1)

    def shares(self, win):
        flat = win.reshape(win.shape[:2 + self.dims] + (-1,))
        first = flat.argmax(axis=-1)  # the first maximum, as PyTorch routes the gradient at ties
        onehot = (np.arange(flat.shape[-1]) == first[..., None]).astype(float)
        return onehot.reshape(win.shape)


class AvgPool(Pool):
    title = N_("average pooling")
    mode = "mean"

    def combine(self, symbols):
        from derive.core.ops import Local

        return sp.Mul(sp.Rational(1, len(symbols)), sp.Add(*symbols, evaluate=False), evaluate=False), Local()

    def reduce(self, win):
        return win.reshape(win.shape[:2 + self.dims] + (-1,)).mean(axis=-1)

    def shares(self, win):
        return np.full(win.shape, 1.0 / math.prod(win.shape[2 + self.dims:]))


class MaxPool1d(MaxPool):
    name = "maxpool1d"
    dims = 1


class MaxPool2d(MaxPool):
    name = "maxpool2d"
    dims = 2


class AvgPool1d(AvgPool):
    name = "avgpool1d"
    dims = 1


class AvgPool2d(AvgPool):
    name = "avgpool2d"
    dims = 2


class Flatten(LayerType):
    """Feature maps as one vector, row-major (``torch.flatten`` from the channel axis): no new nodes, only a
    new order of the previous layer's outputs."""

    name = "flatten"
    title = N_("flatten")
    same_nodes = True
    partial = "layers/flatten.md.j2"

    def parse(self, read, table, ctx):
        from derive.spec.parse import Layer

        size = math.prod(ctx.in_shape)
        return Layer(name=ctx.name, size=size, activation="identity", weights=(), bias=None, train_bias=False,
                     weight_symbol="", type=self.name, in_shape=ctx.in_shape, shape=(size,))

    def dump(self, layer, num, default_symbol):
        return []

    def build(self, layer, l, previous, add):
        return Built(units=tuple((n.key, n.key) for n in previous), weights=(), bias=None, outputs=list(previous))

    def tex_name(self, layer, node, notation):
        raise AssertionError("flatten has no nodes of its own")

    def code_forward(self, layer, prev):
        n = layer.name
        return f"    Z_{n} = A_{n} = {prev}.reshape(len({prev}), -1)  # " + _("row-major")

    def code_backward(self, layer, below):
        n = layer.name
        return (f'    G["{n}"] = {{"out": dA, "in": dA, "weights": np.zeros((len(dA), 0)), "bias": None}}\n'
                f"    dA = dA.reshape({below}.shape)")

    def forward(self, layer, W, b, a_prev):
        a = a_prev.reshape(len(a_prev), -1)
        return a, a

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False):
        return dA, np.zeros((len(dA), 0)), None, dA.reshape(a_prev.shape)


class Rnn(LayerType):
    r"""An Elman recurrent layer, PyTorch's ``nn.RNN`` (one layer) unrolled over the sequence of its input
    ``(T, F)``: $h_t = f(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})$ for $t = 1 \ldots T$, from a fixed
    $h_0$ (zeros unless given, never trained). The weights are shared by every time step, so their gradient
    is a sum over time (backpropagation through time). Its output is $h_T$ (``output = "last"``, shape
    ``(H,)``) or every $h_t$ (``"all"``, shape ``(T, H)``).

    The parameters are held as one ``weights`` array ``(H, F + H)``, each row ``[W_ih[j], W_hh[j]]``, and one
    ``bias`` ``(2H,)``, ``[b_ih, b_hh]`` (so training, optimizers and regularization treat them as any layer's);
    the spec, ``derive values`` and the page give them apart, in PyTorch's shapes (out, in)."""

    name = "rnn"
    keys = ("size", "activation", "slope", "weights_ih", "weights_hh", "bias_ih", "bias_hh", "h0", "output",
            "weight_symbol")
    title = N_("recurrent layer")
    has_weights = activated = True
    partial = "layers/rnn.md.j2"
    outputs_kinds = ("last", "all")
    sequence = True
    MAX_UNROLLED_EDGES = 20_000
    sympy_edges = 64
    """Weight sharing makes many edges of few parameters: a 3-step rnn of 2 units on 1 feature and a dense output
    (63 edges) composes and differentiates in about 5 s, once (the derivatives are cached); 72 edges took 15 s."""

    # -- the spec

    def parse(self, read, table, ctx):
        from derive.spec.parse import MAX_UNITS_PER_LAYER, Layer

        f = ctx.field
        if len(ctx.in_shape) != 2:
            raise read.fail(f"{f}.type", f"an rnn layer takes a sequence of shape [T, F] (T time steps of F "
                                         f"features), but its input has shape {_shape_text(ctx.in_shape)} "
                                         f"(set [network] input_shape = [T, F], or put it after an rnn with "
                                         f'output = "all")')
        T, F = ctx.in_shape
        H = read.integer(read.require(table, "size", f), f"{f}.size", 1, MAX_UNITS_PER_LAYER)
        activation, slope = read.activation({"activation": "tanh", **table}, ctx, elementwise=True)
        w_ih = read.tensor(read.require(table, "weights_ih", f), f"{f}.weights_ih", (H, F),
                           f"{H} rows, one per hidden unit; {F} columns, one per input feature (PyTorch's weight_ih)")
        w_hh = read.tensor(read.require(table, "weights_hh", f), f"{f}.weights_hh", (H, H),
                           f"{H} rows, one per hidden unit; {H} columns, one per unit of the previous step "
                           "(PyTorch's weight_hh)")
        b_ih = read.vector(table.get("bias_ih", [0.0] * H), f"{f}.bias_ih", H, "one per hidden unit")
        b_hh = read.vector(table.get("bias_hh", [0.0] * H), f"{f}.bias_hh", H, "one per hidden unit")
        h0 = read.vector(table.get("h0", [0.0] * H), f"{f}.h0", H, "the state before the first step, one per "
                                                                   "hidden unit")
        output = read.choice(table.get("output", "last"), f"{f}.output", self.outputs_kinds)
        terms = T * H * (2 * F + 2 * H + 2)  # the edges of the unrolled sums: every step repeats every weight
        if terms > self.MAX_UNROLLED_EDGES:
            raise read.fail(f"{f}.size", f"{T} steps × {H} units over {F} features unroll into {terms} terms, more "
                                         f"than {self.MAX_UNROLLED_EDGES}, the limit of a readable worked example: "
                                         "use fewer steps or units")
        symbol = read.weight_symbol(table, ctx)
        shape = (H,) if output == "last" else (T, H)
        return Layer(name=ctx.name, size=math.prod(shape), activation=activation,
                     weights=tuple(tuple(a) + tuple(b) for a, b in zip(w_ih, w_hh)), bias=tuple(b_ih) + tuple(b_hh),
                     train_bias=True, weight_symbol=symbol, slope=slope, type=self.name, in_shape=tuple(ctx.in_shape),
                     shape=shape, options=(("h0", tuple(h0)), ("output", output), ("hidden", H), ("steps", T)))

    @staticmethod
    def dims(layer) -> tuple[int, int, int]:
        """(T, F, H): time steps, input features, hidden units."""
        return layer.option("steps"), layer.in_shape[1], layer.option("hidden")

    @staticmethod
    def split(weights, bias, F: int):
        """(W_ih, W_hh, b_ih, b_hh) of the layer's two arrays (nested lists or NumPy arrays)."""
        if isinstance(weights, np.ndarray):
            W_ih, W_hh = weights[..., :F], weights[..., F:]
        else:
            W_ih, W_hh = [list(r[:F]) for r in weights], [list(r[F:]) for r in weights]
        if bias is None:
            return W_ih, W_hh, None, None
        H = len(bias) // 2 if not isinstance(bias, np.ndarray) else bias.shape[-1] // 2
        return W_ih, W_hh, bias[..., :H] if isinstance(bias, np.ndarray) else list(bias[:H]), \
            bias[..., H:] if isinstance(bias, np.ndarray) else list(bias[H:])

    def dump(self, layer, num, default_symbol):
        T, F, H = self.dims(layer)
        W_ih, W_hh, b_ih, b_hh = self.split(layer.weights, layer.bias, F)
        lines = [f"size = {H}", f'activation = "{layer.activation}"', f"weights_ih = {_nested(W_ih, num)}",
                 f"weights_hh = {_nested(W_hh, num)}", f"bias_ih = {_nested(b_ih, num)}",
                 f"bias_hh = {_nested(b_hh, num)}", f"h0 = {_nested(list(layer.option('h0')), num)}",
                 f'output = "{layer.option("output")}"']
        if layer.weight_symbol != default_symbol:
            lines.append(f'weight_symbol = "{layer.weight_symbol}"')
        return lines + _dump_slope(layer, num)

    def weight_shape(self, layer, previous):
        T, F, H = self.dims(layer)
        return (H, F + H)

    def edges(self, weights):
        return []  # the unrolled picture draws its own (derive.render.pictures)

    def param_json(self, weights, bias):
        if isinstance(weights, dict):  # an optimizer's buffers, by name
            parts = {n: self.param_json(w, None if bias is None else bias[n]) for n, w in weights.items()}
            keys = ("weights_ih", "weights_hh", "bias_ih", "bias_hh")
            return {k: (None if any(p[k] is None for p in parts.values()) else {n: p[k] for n, p in parts.items()})
                    for k in keys}
        H = len(weights)
        F = len(weights[0]) - H if H else 0
        W_ih, W_hh, b_ih, b_hh = self.split(weights, bias, F)
        return {"weights_ih": W_ih, "weights_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh}

    def notebook_json(self, entry: dict) -> dict:
        """The notebook holds the layer's two arrays as the derivation does: ``weights`` (H, F + H), ``bias`` (2H)."""
        if "weights_ih" not in entry:
            return entry
        w_ih, w_hh, b_ih, b_hh = (entry.pop(k) for k in ("weights_ih", "weights_hh", "bias_ih", "bias_hh"))

        def join(a, b, rows):
            if isinstance(a, dict):
                return {n: join(a[n], b[n], rows) for n in a}
            if rows:
                return [list(x) + list(y) for x, y in zip(a, b)]
            return list(a) + list(b)
        entry["weights"] = join(w_ih, w_hh, True)
        entry["bias"] = None if b_ih is None else join(b_ih, b_hh, False)
        return entry

    # -- the graph

    def unit_key(self, layer, t: int, j: int) -> str:
        """``h2_1``: unit 1 at time 2 (t = 0 is h0, the state before the first step)."""
        return f"{_suffix(layer.name)}{t}_{j + 1}"

    def weight_keys(self, layer) -> tuple[tuple[str, ...], ...]:
        """The keys of the ``(H, F + H)`` array: ``wih12`` (W_ih[0][1]), then ``whh11`` …"""
        from derive.core.graph import weight_key

        T, F, H = self.dims(layer)
        s = layer.weight_symbol
        return tuple(tuple(weight_key(s + "ih", j, i) for i in range(F)) + tuple(weight_key(s + "hh", j, k)
                                                                                 for k in range(H))
                     for j in range(H))

    def bias_keys(self, layer) -> tuple[str, ...]:
        T, F, H = self.dims(layer)
        return (tuple(f"bih_{layer.unit_key(j)}" for j in range(H)) +
                tuple(f"bhh_{layer.unit_key(j)}" for j in range(H)))

    def step_keys(self, layer, t: int) -> list[tuple[str, str]]:
        """(pre-activation, state) keys of time step t = 1 … T."""
        T, F, H = self.dims(layer)
        return [(f"{self.unit_key(layer, t, j)}_in", f"{self.unit_key(layer, t, j)}_out") for j in range(H)]

    def state0_keys(self, layer) -> list[str]:
        T, F, H = self.dims(layer)
        return [f"{self.unit_key(layer, 0, j)}_out" for j in range(H)]

    def build(self, layer, l, previous, add):
        from derive.core.ops import ActivationUnit, WeightedSum

        T, F, H = self.dims(layer)
        wkeys, bkeys = self.weight_keys(layer), self.bias_keys(layer)
        W = [[add(wkeys[j][c], "weight", layer=l, index=(j, c), trainable=True) for c in range(F + H)]
             for j in range(H)]
        b = [add(k, "bias", layer=l, index=(c,), trainable=True) for c, k in enumerate(bkeys)]
        state = [add(k, "constant", layer=l, index=(0, j)) for j, k in enumerate(self.state0_keys(layer))]
        act = activation_of(layer)
        key_of = getattr(add, "key", lambda k: k)
        steps = []
        for t in range(1, T + 1):
            x = previous[(t - 1) * F: t * F]
            new = []
            for j, (zk, ak) in enumerate(self.step_keys(layer, t)):
                terms, parents = [], []
                for i in range(F):
                    terms.append(sp.Mul(W[j][i].symbol, x[i].symbol, evaluate=False))
                    parents += [W[j][i].key, x[i].key]
                terms.append(b[j].symbol)
                parents.append(b[j].key)
                for k in range(H):
                    terms.append(sp.Mul(W[j][F + k].symbol, state[k].symbol, evaluate=False))
                    parents += [W[j][F + k].key, state[k].key]
                terms.append(b[H + j].symbol)
                parents.append(b[H + j].key)
                z = add(zk, "in", expr=sp.Add(*terms, evaluate=False), parents=tuple(parents), layer=l,
                        index=(t - 1, j), op=WeightedSum())
                a = add(ak, "out", expr=act.unit_expr(0, [z.symbol]), parents=(z.key,), layer=l, index=(t - 1, j),
                        op=ActivationUnit(act, 0, [z.symbol], [sp.Symbol(key_of(ak), real=True)]))
                new.append((z, a))
            steps.append(new)
            state = [a for _, a in new]
        shown = steps[-1:] if layer.option("output") == "last" else steps
        pairs = [pair for step in shown for pair in step]
        return Built(units=tuple((z.key, a.key) for z, a in pairs), weights=wkeys, bias=bkeys,
                     outputs=[a for _, a in pairs])

    def constant(self, layer, node) -> float:
        return layer.option("h0")[node.index[-1]]

    def one_path(self, layer, graph, node, children):
        """A weight or bias shared by every step: the last step's term kept (the sum over time forgotten). An
        input of a step feeding every unit's sum of that step: the first unit's path kept."""
        if graph[node].role in ("weight", "bias"):
            return "time", [max(children, key=lambda c: graph[c].index[0])]
        return "input", children[:1]

    def one_path_words(self, layer, aspect):
        if aspect == "time":
            return _("the gradient of a weight or bias of layer %(name)s taken at the last step only: the same "
                     "weights act at every step, and a weight's gradient is the sum over the steps "
                     "(backpropagation through time)") % {"name": layer.name}
        return _("a missing path in layer %(name)s: an input of a step feeds the sum of every unit at that step, "
                 "and its gradient is the sum over all of them; only one was counted") % {"name": layer.name}

    def swapped(self, layer, weights):
        """The recurrent matrix W_hh read transposed (w_kj used for w_jk); W_ih is not square in general."""
        T, F, H = self.dims(layer)
        return {weights[j][F + k]: weights[k][F + j] for j in range(H) for k in range(H) if j != k}

    def swapped_words(self, layer, backward):
        if backward:
            return _("the recurrent weights W_hh of layer %(name)s read transposed in the backward pass (w_kj "
                     "used for w_jk)") % {"name": layer.name}
        return _("the recurrent weights W_hh of layer %(name)s read transposed (w_kj used for w_jk)") % {
            "name": layer.name}

    def kink(self, layer, units, instances, graph, h, exactly=False):
        act = activation_of(layer)
        if not act.kinks:
            return None
        l = graph[units[0][0]].layer
        zs = [n.key for n in graph.nodes.values() if n.layer == l and n.role == "in" and n.instance in (None, 1)]
        if any(act.near_kink(num.value[z], h) for num in instances for z in zs):
            return ((N_("a %(name)s unit sits exactly at its kink (z = 0)") if exactly
                     else N_("a %(name)s unit sits at its kink (z = 0)")), {"name": act.name})
        return None

    def tex_name(self, layer, node, notation):
        from derive.render.printer import _sub

        T, F, H = self.dims(layer)
        l = node.layer + 1
        s = layer.weight_symbol
        if node.role == "weight":
            j, c = node.index
            part, k = ("ih", c) if c < F else ("hh", c - F)
            if notation == "layer":
                return rf"W^{{[{l}]\,\mathrm{{{part}}}}}_{{{_sub(j, k)}}}"
            return rf"{s}^{{\mathrm{{{part}}}}}_{{{_sub(j, k)}}}"
        if node.role == "bias":
            c = node.index[0]
            part, j = ("ih", c) if c < H else ("hh", c - H)
            if notation == "layer":
                return rf"b^{{[{l}]\,\mathrm{{{part}}}}}_{{{j + 1}}}"
            return rf"b^{{\mathrm{{{part}}}}}_{{{_base(layer.name)}_{{{j + 1}}}}}"
        t = node.index[0] + (0 if node.role == "constant" else 1)
        j = node.index[-1]
        sub = f"{t},{j + 1}"
        role = "in" if node.role == "in" else "out"
        base = _base(layer.name)
        if notation == "layer":
            return f"{'z' if role == 'in' else 'a'}^{{[{l}]}}_{{{sub}}}"
        if notation == "netout":
            word = "net" if role == "in" else "out"
            return rf"\mathrm{{{word}}}_{{{base}_{{{sub}}}}}"
        return rf"{base}_{{{sub}}}^{{\mathrm{{{role}}}}}"

    # -- the independent NumPy reference

    def unroll(self, layer, W, b, a_prev):
        """(z, h) of every step, arrays (N, T, H), and h0 as (N, H)."""
        T, F, H = self.dims(layer)
        W_ih, W_hh, b_ih, b_hh = self.split(W, b, F)
        act = ACTIVATIONS[layer.activation]
        h = np.broadcast_to(np.array(layer.option("h0"), dtype=float), (len(a_prev), H))
        h0 = h
        zs, hs = [], []
        for t in range(T):
            z = a_prev[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh
            h = act.forward(z, layer)
            zs.append(z)
            hs.append(h)
        return np.stack(zs, axis=1), np.stack(hs, axis=1), h0

    def forward(self, layer, W, b, a_prev):
        z, h, _ = self.unroll(layer, W, b, a_prev)
        return (z[:, -1], h[:, -1]) if layer.option("output") == "last" else (z, h)

    def backward(self, layer, W, b, a_prev, Z, A, dA, *, stable=False):
        """As every layer's, and a fifth array: dL/d its outputs in full, through the later steps too (the
        gradient of h_t collects what the output sends it and what h_{t+1} sends it)."""
        T, F, H = self.dims(layer)
        W_ih, W_hh, _, _ = self.split(W, b, F)
        act = ACTIVATIONS[layer.activation]
        z, h, h0 = self.unroll(layer, W, b, a_prev)
        N = len(a_prev)
        last = layer.option("output") == "last"
        dz = np.zeros((N, T, H))
        dW_ih, dW_hh, db = np.zeros((N, H, F)), np.zeros((N, H, H)), np.zeros((N, H))
        dx = np.zeros((N, T, F))
        dh = np.zeros((N, T, H))  # dL/dh_t: from the layer's output, plus through h_{t+1}
        carry = np.zeros((N, H))  # dL/dh_t through h_{t+1}
        for t in reversed(range(T)):
            from_out = (dA if t == T - 1 else 0.0) if last else dA[:, t]
            dh[:, t] = from_out + carry
            dz[:, t] = act.backward(z[:, t], h[:, t], dh[:, t], layer)
            before = h[:, t - 1] if t else h0
            dW_ih += np.einsum("nj,ni->nji", dz[:, t], a_prev[:, t])
            dW_hh += np.einsum("nj,nk->njk", dz[:, t], before)
            db += dz[:, t]
            dx[:, t] = dz[:, t] @ W_ih
            carry = dz[:, t] @ W_hh
        return ((dz[:, -1] if last else dz), np.concatenate([dW_ih, dW_hh], axis=2), np.concatenate([db, db], axis=1),
                dx, (dh[:, -1] if last else dh))

    # -- the notebook

    def _code_unroll(self, layer, prev: str) -> str:
        T, F, H = self.dims(layer)
        n = layer.name
        act = ACTIVATIONS[layer.activation].code_forward("z", layer)
        return (f'    W_ih, W_hh = P["W_{n}"][:, :{F}], P["W_{n}"][:, {F}:]  # ' + _("the two weight matrices") + "\n"
                f'    b_ih, b_hh = P["b_{n}"][:{H}], P["b_{n}"][{H}:]\n'
                f"    h = np.tile({list(layer.option('h0'))!r}, (len({prev}), 1))  # h_0\n"
                f"    hs, zs = [h], []\n"
                f"    for t in range({T}):  # " + _("the same weights at every time step") + "\n"
                f"        z = {prev}[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh\n"
                f"        h = {act}\n"
                f"        zs.append(z)\n"
                f"        hs.append(h)\n")

    def code_forward(self, layer, prev):
        n = layer.name
        pick = ("zs[-1], hs[-1]" if layer.option("output") == "last"
                else "np.stack(zs, axis=1), np.stack(hs[1:], axis=1)")
        return self._code_unroll(layer, prev) + f"    Z_{n}, A_{n} = {pick}"

    def code_backward(self, layer, below):
        T, F, H = self.dims(layer)
        n = layer.name
        dz = ACTIVATIONS[layer.activation].code_backward("zs[t]", "hs[t + 1]", "g", layer)
        last = layer.option("output") == "last"
        return (self._code_unroll(layer, below) +
                f"    dZ, dH, dW_ih, dW_hh, db, dX = [], [], 0, 0, 0, np.zeros({below}.shape)\n"
                f"    carry = 0  # " + _("dL/dh_t through h_(t+1)") + "\n"
                f"    for t in reversed(range({T})):  # " + _("backpropagation through time") + "\n"
                f"        g = {'(dA if t == ' + str(T - 1) + ' else 0)' if last else 'dA[:, t]'} + carry\n"
                f"        dH.insert(0, g)  # " + _("from the output, plus through h_(t+1)") + "\n"
                f"        dz = {dz}\n"
                f"        dZ.insert(0, dz)\n"
                f'        dW_ih = dW_ih + np.einsum("nj,ni->nji", dz, {below}[:, t])\n'
                f'        dW_hh = dW_hh + np.einsum("nj,nk->njk", dz, hs[t])\n'
                f"        db = db + dz\n"
                f"        dX[:, t] = dz @ W_ih\n"
                f"        carry = dz @ W_hh\n"
                f'    G["{n}"] = {{"out": {"dH[-1]" if last else "np.stack(dH, axis=1)"}, '
                f'"in": {"dZ[-1]" if last else "np.stack(dZ, axis=1)"}, '
                f'"weights": np.concatenate([dW_ih, dW_hh], axis=2), "bias": np.concatenate([db, db], axis=1)}}\n'
                f"    dA = dX")


#: Name → the layer type.
LAYERS: dict[str, LayerType] = {}


def register(cls: type[LayerType]) -> type[LayerType]:
    """Add a layer type to the registry under its ``name``."""
    LAYERS[cls.name] = cls()
    return cls


for _cls in (Dense, BatchNorm, LayerNorm, Add, Dropout, Conv1d, Conv2d, MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, Flatten,
             Rnn):
    register(_cls)


def layer_type(layer) -> LayerType:
    """The type of a spec layer (``dense`` unless it names another)."""
    return LAYERS[getattr(layer, "type", "dense")]
