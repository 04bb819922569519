r"""Names written in any notation, mapped to the quantities of a spec.

A document may call the first hidden unit's sum ``h1_in``, ``h_{1}^{\mathrm{in}}``,
``\mathrm{net}_{h_{1}}``, ``net_{h1}``, ``z^{[1]}_{1}`` or ``H_in[0]``; its gradient
``\frac{\partial L}{\partial h_{1}^{\mathrm{in}}}``, ``dL/dh1_in``, ``grad_h1_in`` or ``\delta_{h1}``;
a weight ``w_{11}``, ``w11``, ``W^{[1]}_{11}``, ``W_{1,1}`` or, numbered through the network as in
Matt Mazur's example, ``w_1``. :class:`Vocabulary` knows every spelling of every quantity of one
derivation (derive's three notations, Mazur's, the seed post's code names, common others) and
:meth:`Vocabulary.resolve` turns a written name into a :class:`Ref`: the nodes it can mean and
whether it means their value, their gradient or their value after the update.

A name is never evaluated: it is normalized (styling, braces, sub/superscript marks dropped,
lower case) and looked up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from derive.core.layers import layer_type
from derive.core.derivation import Derivation
from derive.grade.answers import Quantity, catalogue


@dataclass(frozen=True)
class Ref:
    """What a written name means."""

    nodes: tuple[str, ...]
    """Graph keys it can mean (several: ``y_1`` is y1_in or y1_out, ``b_1`` every bias of layer 1)."""
    kind: str = "value"
    """``value`` (also a parameter, or a loss), ``grad`` (∂L/∂ of it), ``update`` (after gradient descent)."""
    shape: tuple[int, int] | None = None
    """For a matrix or vector name (``W``, ``Y``): rows × columns of the nodes, row-major; None: a scalar."""
    rows_are_instances: bool = False
    """A matrix of unit values whose rows are instances (``Y`` is instances × units)."""


@dataclass
class Known:
    """One number of the derivation a document may state."""

    name: str
    """``instance1.h1_out``, ``total.dL/dw11``, ``update.v11`` (as in answers files), ``initial.w11``,
    ``trained.w11``, ``training.epoch20.L``, ``training.learning_rate``."""
    node: str
    kind: str
    """``value`` or ``grad``; ``update`` for values after the first step or after training."""
    value: float
    quantity: Quantity | None = None
    """The answers-file quantity, for the diagnoses of `derive check` (None for parameters and training)."""


#: Styling that does not change a name.
_STYLE = re.compile(r"\\(?:mathrm|mathit|mathbf|mathsf|mathtt|mathcal|boldsymbol|bm|text|textrm|textit|texttt|"
                    r"operatorname|vec|hat|bar)\b\s*")
_GREEK = {"δ": "delta", "η": "eta", "α": "alpha", "∂": "partial", "∇": "nabla", "λ": "lambda", "ε": "epsilon"}
LOSS_WORDS = {"l", "e", "etotal", "eto", "loss", "sse", "mse", "cost", "j", "c", "ltotal", "lossvalue", "error",
              "totalloss", "totalerror", "lall"}
RATE_WORDS = {"eta", "alpha", "lr", "learningrate", "learnrate"}


def squash(text: str) -> str:
    r"""The lookup key of a written name: ``h_{1}^{\mathrm{in}}`` → ``h1in``, ``V_{2,2}`` → ``v22``."""
    s = text.strip().strip("`$ ")
    for k, v in _GREEK.items():
        s = s.replace(k, v)
    s = _STYLE.sub("", s)
    s = s.replace(r"\left", "").replace(r"\right", "").replace(r"\,", "").replace(r"\!", "").replace(r"\ ", "")
    s = re.sub(r"\\([A-Za-z]+)", r"\1", s)
    return re.sub(r"[\s{}_^()\[\],.:'\-*]", "", s).lower()


@dataclass
class Vocabulary:
    d: Derivation
    aliases: dict[str, set[str]] = field(default_factory=dict)
    """squashed spelling → node keys"""
    matrices: dict[str, Ref] = field(default_factory=dict)
    """case-sensitive matrix names (``W``, ``V``, ``H``, ``Y_in``) → what they hold"""
    known: list[Known] = field(default_factory=list)
    by_node: dict[str, list[Known]] = field(default_factory=dict)

    def __post_init__(self):
        self._aliases()
        self._known()

    # ------------------------------------------------------------------ spellings

    def _add(self, spelling: str, *keys: str) -> None:
        key = squash(spelling)
        if key:
            self.aliases.setdefault(key, set()).update(keys)

    def _aliases(self) -> None:
        from derive.render.printer import NOTATIONS, node_names

        graph, spec = self.d.graph, self.d.spec
        for notation in NOTATIONS:
            for symbol, tex in node_names(graph, notation).items():
                self._add(tex, graph.by_symbol[symbol].key)
        for node in graph.nodes.values():
            self._add(node.key, node.key)
        mazur = 0
        for l, layer in enumerate(spec.layers):
            if not layer_type(layer).scalar_steps:
                continue  # feature maps, normalizations: their keys and LaTeX names above are their spellings
            n = l + 1
            units = graph.layer_units[l]
            for j, (z, a) in enumerate(units):
                unit = layer.unit_key(j)
                k = j + 1
                for s in (f"{unit}_in", f"net_{unit}", f"net{unit}", f"{unit}in", f"{layer.name}_{k}^in",
                          f"{layer.name}^in_{k}", f"{layer.name}^(in)_{k}", f"{layer.name}_{k}^(in)",
                          f"z^[{n}]_{k}", f"z^({n})_{k}", f"z{n}{k}",
                          f"{unit}_net", f"{layer.name}_in_{k}", f"{layer.name}in{k}"):
                    self._add(s, z)
                for s in (f"{unit}_out", f"out_{unit}", f"out{unit}", f"{layer.name}_{k}^out",
                          f"{layer.name}^out_{k}", f"{layer.name}^(out)_{k}", f"a^[{n}]_{k}",
                          f"a^({n})_{k}", f"a{n}{k}", f"{layer.name}_out_{k}", f"{layer.name}out{k}"):
                    self._add(s, a)
                self._add(unit, z, a)  # a bare unit name: its activation, or its sum
                self._add(f"{layer.name}_{k}", z, a)
            weights = graph.layer_weights[l]
            sym = layer.weight_symbol
            for i, row in enumerate(weights):
                for j, key in enumerate(row):
                    for s in (f"{sym}_{i + 1}{j + 1}", f"{sym}_{i + 1},{j + 1}", f"W^[{n}]_{i + 1}{j + 1}",
                              f"W^({n})_{i + 1}{j + 1}", f"{sym.upper()}_{i + 1}{j + 1}"):
                        self._add(s, key)
            # Mazur: w_1, w_2, ... numbered through the network, unit by unit (w1: i1→h1, w2: i2→h1, ...)
            for j in range(len(weights[0]) if weights else 0):
                for i in range(len(weights)):
                    mazur += 1
                    self._add(f"w{mazur}", weights[i][j])
            bias = graph.layer_bias[l]
            if bias:
                self._add(f"b{n}", *bias)  # Mazur's b1 (one bias per layer)
                for j, key in enumerate(bias):
                    for s in (f"b^[{n}]_{j + 1}", f"b^({n})_{j + 1}", f"b_{layer.unit_key(j)}",
                              f"b{layer.unit_key(j)}"):
                        self._add(s, key)
            # matrices (code and LaTeX): W, V, H, Y, H_in, Y_in
            rows, cols = len(weights), len(weights[0]) if weights else 0
            flat = tuple(k for row in weights for k in row)
            for s in (sym.upper(), f"W{n}", f"W^[{n}]", f"W^({n})", f"W_{n}"):
                self.matrices.setdefault(matrix_key(s), Ref(flat, shape=(rows, cols)))
            outs = tuple(a for _, a in units)
            ins = tuple(z for z, _ in units)
            for s in (layer.name.upper(), layer.name, f"A{n}", f"A^[{n}]", f"{layer.name}_out",
                      f"{layer.name.upper()}_out", f"out_{layer.name}"):
                self.matrices.setdefault(matrix_key(s), Ref(outs, shape=(1, len(outs)), rows_are_instances=True))
            for s in (f"{layer.name.upper()}_in", f"{layer.name}_in", f"Z{n}", f"Z^[{n}]", f"net_{layer.name}",
                      f"{layer.name.upper()}^in"):
                self.matrices.setdefault(matrix_key(s), Ref(ins, shape=(1, len(ins)), rows_are_instances=True))
        xs = tuple(graph.input_keys)
        for k, key in enumerate(xs):
            for s in (f"x_{k + 1}", f"i_{k + 1}", f"in_{k + 1}", f"x{k + 1}", f"i{k + 1}"):
                self._add(s, key)
        for k, key in enumerate(graph.target_keys):
            out = graph.layer_units[-1][k][1] if k < len(graph.layer_units[-1]) else ""
            for s in (f"t_{k + 1}", f"target_{out}", f"t{k + 1}", f"target{k + 1}"):
                self._add(s, key)
        for k, node in enumerate(n for n in graph.computed if n.role == "error"):
            self._add(f"e_{k + 1}", node.key)
        for word in LOSS_WORDS:
            self.aliases.setdefault(word, set()).add(graph.loss_key)
        self.matrices.setdefault("L", Ref((graph.loss_key,), shape=(1, 1), rows_are_instances=True))
        self.matrices.setdefault("X", Ref(xs, shape=(1, len(xs)), rows_are_instances=True))
        options = self._options()
        for word in RATE_WORDS - {squash(symbol) for symbol in options}:  # RMSprop's α is no learning rate
            self.aliases.setdefault(word, set()).add("learning_rate")
        for symbol in options:
            self.aliases.setdefault(squash(symbol), set()).add(f"option:{symbol}")

    def _options(self) -> dict[str, float]:
        """The optimizer's options as the page writes them (``\\beta_1`` → 0.9), asked of its class."""
        training = self.d.spec.training
        return {} if training is None else {symbol: float(value) for symbol, value in training.optimizer.symbols()}

    # ------------------------------------------------------------------ numbers

    def _known(self) -> None:
        d, graph = self.d, self.d.graph
        for q in catalogue(d).values():
            kind = {"value": "value", "grad": "grad", "total_grad": "grad", "total_loss": "value",
                    "update": "update", "update_loss": "update", "after_update": "update",
                    "trained": "update", "batch_value": "value", "batch_grad": "grad", "first_update": "update"}[q.kind]
            self._record(Known(q.name, q.node, kind, q.value, q))
        for p in graph.parameters:
            self._record(Known(f"initial.{p.key}", p.key, "value", d.params[p.key]))
        for n, inst in enumerate(d.spec.data):
            for key, x in zip(graph.input_keys, inst.x):
                self._record(Known(f"instance{n + 1}.{key}", key, "value", float(x)))
            for key, t in zip(graph.target_keys, inst.t):
                self._record(Known(f"instance{n + 1}.{key}", key, "value", float(t)))
        if d.training is not None:
            trained = d.training.params
            for l, keys in enumerate(graph.layer_weights):
                array = np.array(keys, dtype=object)
                for idx in (np.ndindex(array.shape) if array.size else ()):
                    key = array[idx]
                    self._record(Known(f"trained.{key}", key, "update", float(trained.W[l][idx])))
                if graph.layer_bias[l] and trained.b[l] is not None:
                    for j, key in enumerate(graph.layer_bias[l]):
                        self._record(Known(f"trained.{key}", key, "update", float(trained.b[l][j])))
            for epoch, loss in enumerate(d.training.losses):
                if epoch > 1:
                    self._record(Known(f"training.epoch{epoch}.L", graph.loss_key, "update", float(loss)))
        for symbol, value in self._options().items():
            self._record(Known(f"training.{symbol}", f"option:{symbol}", "value", value))
        if d.spec.training is not None:
            self._record(Known("training.learning_rate", "learning_rate", "value", d.spec.training.learning_rate))

    def _record(self, k: Known) -> None:
        self.known.append(k)
        self.by_node.setdefault(k.node, []).append(k)

    # ------------------------------------------------------------------ resolving

    def resolve(self, text: str) -> Ref | None:
        r"""What a written name (LaTeX, code or prose) means, or None when it is no name of this spec.

        ``\frac{\partial E_{total}}{\partial w_5}``, ``dL/dw11``, ``grad_v21``, ``w11.grad`` and
        ``\delta_{o1}`` are gradients; ``w_5^+``, ``w11_new`` are values after the update.
        """
        t = text.strip().strip("`$ ").strip()
        if not t or len(t) > 120:
            return None
        cache = self.__dict__.setdefault("_resolved", {})
        if t in cache:
            return cache[t]
        ref = self._resolve(t)
        if len(cache) < 100_000:
            cache[t] = ref
        return ref

    def _resolve(self, t: str) -> Ref | None:
        grad = _derivative(t)
        if grad is not None:
            top, bottom = grad
            if squash(top) not in LOSS_WORDS:
                return None  # a local derivative (∂out/∂net), or of part of the loss: not a quantity
            inner = self.resolve(bottom)
            return None if inner is None or inner.kind != "value" else Ref(inner.nodes, "grad", inner.shape,
                                                                            inner.rows_are_instances)
        m = re.fullmatch(r"\\?(?:delta|δ)\s*_?\s*\{?([^{}]+)\}?", t)
        if m:
            inner = self.resolve(m.group(1))
            if inner is None or inner.shape is not None:
                return None
            ins = tuple(k for k in inner.nodes if self.d.graph[k].role == "in")
            return Ref(ins, "grad") if ins else None
        # code: obj.attr, grad_ prefixes, .grad suffixes
        code = t
        kind = "value"
        m = re.fullmatch(r"(.+?)\.(grad|gradient)(?:\(\))?", code)
        if m:
            code, kind = m.group(1), "grad"
        code = re.sub(r"^(?:self|net|model|nn|network)\.", "", code)
        m = re.fullmatch(r"(?:grad_|g_|d_?L_?d_?|d_?E_?d_?|dloss_d|grad)([A-Za-z].*)", code)
        if m and kind == "value" and self._plain(m.group(1)) is not None:
            code, kind = m.group(1), "grad"
        m = re.fullmatch(r"(.+?)(?:_grad|grad)", code)
        if m and kind == "value" and self._plain(m.group(1)) is not None:
            code, kind = m.group(1), "grad"
        m = re.fullmatch(r"(.+?)(?:\^\{?(?:\+|new|\(new\)|\*)\}?|_new|_updated|')", code)
        if m:
            code, kind = m.group(1), ("update" if kind == "value" else kind)
        m = re.fullmatch(r"(?:new_|updated_)(.+)", code)
        if m:
            code, kind = m.group(1), ("update" if kind == "value" else kind)
        step = self._after_step(code) if kind == "value" else None
        ref = self._plain(code)
        if step is not None:
            # θ⁽ᵏ⁾, a parameter after its k-th update (derive's pages); read as a layer's superscript too
            return step if ref is None else Ref(tuple(sorted(set(step.nodes) | set(ref.nodes))), "update")
        if ref is None:
            return None
        if kind == "value":
            return ref
        if "learning_rate" in ref.nodes:
            return None
        return Ref(ref.nodes, kind, ref.shape, ref.rows_are_instances)

    def _after_step(self, text: str) -> Ref | None:
        r"""``w_{11}^{(1)}``, ``W^{[1](1)}_{11}``: a parameter with an update count in its last superscript."""
        if self.d.spec.training is None:
            return None
        m = re.fullmatch(r"(.+?)\^\{\s*\((\d+)\)\s*\}", text) or re.fullmatch(r"(.+?)\^\((\d+)\)", text)
        if m:
            base = m.group(1)
        else:
            m = re.fullmatch(r"(.+?)\^\{([^{}]*?\S)\s*(?:\\,)?\s*\((\d+)\)\}(.*)", text)
            if not m:
                return None
            base = f"{m.group(1)}^{{{m.group(2)}}}{m.group(4)}"
        ref = self._plain(base)
        if ref is None or ref.shape is not None or not ref.nodes:
            return None
        nodes = self.d.graph.nodes
        if not all(k in nodes and nodes[k].trainable for k in ref.nodes):
            return None
        return Ref(ref.nodes, "update")

    def _plain(self, text: str) -> Ref | None:
        if matrix_key(text) in self.matrices:
            return self.matrices[matrix_key(text)]
        if re.search(r"[A-Za-z]\s*\(", text) and not re.search(r"\^\s*\{?\(", text):
            return None  # a function of something: L(3), f(x, y)
        key = squash(text)
        if key in self.aliases:
            return Ref(tuple(sorted(self.aliases[key])))
        if "loss" in key and re.fullmatch(r"[a-z]*loss[a-z0-9]*", key):
            return Ref((self.d.graph.loss_key,))
        return None

    # ------------------------------------------------------------------ candidates

    def candidates(self, ref: Ref, loose: bool = False) -> list[Known]:
        """The numbers a scalar name can state: by kind, or every number of its nodes when ``loose``."""
        out = []
        for node in ref.nodes:
            for k in self.by_node.get(node, []):
                if loose or k.kind == ref.kind or (ref.kind == "value" and k.kind == "update"):
                    out.append(k)
        return out


def matrix_key(text: str) -> str:
    r"""A matrix name without styling and braces, case kept: ``H^{\mathrm{in}}`` → ``H^in``."""
    s = _STYLE.sub("", text.strip().strip("`$ "))
    return re.sub(r"[\s{}]", "", s)


def _derivative(t: str) -> tuple[str, str] | None:
    r"""(numerator, denominator) of ``\frac{\partial A}{\partial B}``, ``\partial A / \partial B``, ``dA/dB``."""
    s = t.replace("∂", r"\partial ")
    m = re.fullmatch(r"\\[dt]?frac\s*\{\s*(?:\\partial|d)\s*(.+?)\}\s*\{\s*(?:\\partial|d)\s*(.+)\}", s)
    if m and _balanced(m.group(1)) and _balanced(m.group(2)):
        return m.group(1), m.group(2)
    m = re.fullmatch(r"(?:\\partial|d)\s*(\S.*?)\s*/\s*(?:\\partial|d)\s*(\S.*)", s)
    if m:
        return m.group(1), m.group(2)
    m = re.fullmatch(r"d(L|E|loss|E_?total)_d(\w+)", s)
    if m:
        return m.group(1), m.group(2)
    return None


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0
