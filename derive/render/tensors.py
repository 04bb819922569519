"""What the page sections of feature-map layers (templates/layers/*.md.j2) ask for: maps as matrices.

A convolution's page shows its feature maps as small matrices, one entry written out with numbers,
and its kernel gradients as sums over the positions each weight touched; pooling shows which
entry of each window won. Every number here comes from the derivation: this module only arranges
keys into grids and formats them (the page's own helpers write the chains).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from derive.core.layers import layer_type


@dataclass(frozen=True)
class _Named:
    """A stand-in node for a whole map or kernel: the layer type names it as it names an entry."""

    role: str
    layer: int
    index: tuple[int, ...]


class Maps:
    """Feature maps, kernels and their gradients of one page, as LaTeX."""

    def __init__(self, page):
        self.page = page
        self.d = page.d
        self.graph = page.graph
        self.spec = page.spec

    # -- keys as grids

    def out_keys(self, l: int) -> np.ndarray:
        """Layer l's output keys in its shape (C, H, W) or (C, L); the inputs for l = -1."""
        if l < 0:
            keys, shape = list(self.graph.input_keys), self.spec.input_shape
        else:
            keys, shape = [a for _, a in self.graph.layer_units[l]], self.spec.layers[l].out_shape
        return _grid(keys, shape)

    def in_keys(self, l: int) -> np.ndarray:
        return _grid([z for z, _ in self.graph.layer_units[l]], self.spec.layers[l].out_shape)

    def kernel_keys(self, l: int) -> np.ndarray:
        return np.array(self.graph.layer_weights[l], dtype=object)

    # -- names

    def map_name(self, l: int, role: str, channel: int) -> str:
        """The name of a whole map: ``c^{in}_{1}`` (map 1 of layer c's pre-activations), ``x_{1}`` (input channel 1)."""
        if l < 0:
            return f"x_{{{channel + 1}}}"
        layer = self.spec.layers[l]
        return layer_type(layer).tex_name(layer, _Named(role, l, (channel,)), self.page.notation)

    def kernel_name(self, l: int, o: int, c: int) -> str:
        layer = self.spec.layers[l]
        return layer_type(layer).tex_name(layer, _Named("weight", l, (o, c)), self.page.notation)

    def channels(self, l: int) -> range:
        return range((self.spec.input_shape if l < 0 else self.spec.layers[l].out_shape)[0])

    # -- matrices

    def matrix(self, values: np.ndarray, boxed: np.ndarray | None = None) -> str:
        """A 2-D (or 1-D: one row) array of numbers as a bmatrix; ``boxed`` entries in a box."""
        rows = np.atleast_2d(values)
        box = np.atleast_2d(boxed) if boxed is not None else np.zeros(rows.shape, dtype=bool)
        body = r" \\ ".join(" & ".join((rf"\boxed{{{self.page.num(x)}}}" if b else self.page.num(x))
                                       for x, b in zip(row, brow)) for row, brow in zip(rows, box))
        return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"

    def name_matrix(self, keys: np.ndarray) -> str:
        rows = np.atleast_2d(keys)
        body = r" \\ ".join(" & ".join(self.page.name(k) for k in row) for row in rows)
        return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"

    def values(self, keys: np.ndarray, num, source: str = "value") -> np.ndarray:
        table = num.value if source == "value" else num.grad
        return np.vectorize(lambda k: float(table.get(k, 0.0)), otypes=[float])(keys)

    def grad_values(self, keys: np.ndarray, num) -> np.ndarray:
        return self.values(keys, num, "grad")

    def kernels(self, l: int) -> list[tuple[str, str, str]]:
        """(name, names matrix, values matrix) of every kernel slice (o, c) of layer l."""
        keys = self.kernel_keys(l)
        out = []
        for o, c in np.ndindex(keys.shape[:2]):
            sub = keys[o, c]
            vals = np.vectorize(lambda k: self.d.params[k], otypes=[float])(sub)
            out.append((self.kernel_name(l, o, c), self.name_matrix(sub), self.matrix(vals)))
        return out

    def input_values(self, inst) -> np.ndarray:
        """An instance's inputs in the input shape."""
        return np.reshape(np.array(inst.x, dtype=float), self.spec.input_shape)

    def has_kernels(self, l: int) -> bool:
        """Whether layer l's weights are kernels (channels × input channels × k…), shown as small matrices."""
        return self.kernel_keys(l).ndim >= 3

    def trained_kernels(self, l: int, W: np.ndarray) -> list[tuple[str, str]]:
        """(name, values matrix) of every kernel slice of weights ``W`` (after training)."""
        return [(self.kernel_name(l, o, c), self.matrix(W[o, c])) for o, c in np.ndindex(W.shape[:2])]

    def apply(self, l: int, channel: int) -> str:
        """The activation applied to a whole map, in the activation's own notation: ``\\operatorname{ReLU}(c^{in}_1)``."""
        import sympy as sp

        from derive.core.activations import activation_of
        from derive.render.printer import tex

        m = sp.Symbol("M", real=True)
        e = activation_of(self.spec.layers[l]).unit_expr(0, [m])
        return tex(e, {m: self.map_name(l, "in", channel)})

    def shared_sum(self, key: str, num, per_row: int = 4) -> str:
        """The rows of an ``aligned`` block: ∂L/∂θ of a shared parameter (a kernel weight, a map's bias) as the
        sum over the positions it touched, first in general (Σ over the positions), then with every term's
        numbers, ``per_row`` terms a row, and its value."""
        page = self.page
        node = self.graph[key]
        l = node.layer
        layer = self.spec.layers[l]
        kind = layer_type(layer)
        axes = "ij"[:len(layer.kernel)]
        o = node.index[0]
        z = kind.tex_name(layer, _Named("in", l, (o,) + tuple(axes)), page.notation)
        general = rf"\sum_{{{','.join(axes)}}} \frac{{\partial L}}{{\partial {z}}}"
        if node.role == "weight":
            c, offsets = node.index[1], node.index[2:]
            where = tuple(_position(a, s, k, p) for a, s, k, p in zip(axes, layer.stride, offsets, layer.padding))
            general += r" \, " + self._entry_name(l - 1, (c,) + where)
        return written_sum(page, self.d, num, key, general, per_row)

    def _entry_name(self, l: int, index: tuple) -> str:
        """The name of an entry (with symbolic indices) of layer l's output, or of the input for l = -1."""
        if l < 0:
            return "x_{" + ",".join(str(i + 1) if isinstance(i, int) else i for i in index) + "}"
        layer = self.spec.layers[l]
        return layer_type(layer).tex_name(layer, _Named("out", l, index), self.page.notation)

    # -- what the sections single out

    def first_live(self, keys) -> str:
        """The first key (row-major) whose gradient is not zero in the first instance, else the first key."""
        flat = list(np.asarray(keys, dtype=object).reshape(-1))
        num = self.d.instances[0]
        return next((k for k in flat if num.grad.get(k, 0.0) != 0.0), flat[0])

    def winners(self, l: int, num) -> np.ndarray:
        """For pooling layer l: a boolean array of the previous layer's output shape, True where an entry won
        (is the first maximum of) a window it belongs to."""
        prev = self.out_keys(l - 1)
        won = np.zeros(prev.shape, dtype=bool)
        where = {k: idx for idx, k in np.ndenumerate(prev)}
        for key, _ in self.graph.layer_units[l]:
            node = self.graph[key]
            values = [num.value[p] for p in node.parents]
            won[where[node.parents[values.index(max(values))]]] = True
        return won

    def window_count(self, key: str) -> int:
        """How many entries a parameter (a kernel weight) touched: the children it has."""
        return len(self.graph.children[key])

    @cached_property
    def scalar(self) -> bool:
        """Whether every layer is shown node by node (a dense network)."""
        return all(layer_type(layer).scalar_steps for layer in self.spec.layers)


def _position(axis: str, stride: int, offset: int, padding: int) -> str:
    """The input index (1-based) under kernel offset ``offset`` (0-based) at output position ``axis``:
    s·i + (offset − padding + 1 − s)."""
    shift = offset - padding + 1 - stride
    head = axis if stride == 1 else f"{stride}{axis}"
    return head + (f"{shift:+d}" if shift else "")


def _grid(keys: list[str], shape) -> np.ndarray:
    array = np.empty(len(keys), dtype=object)
    array[:] = keys
    return array.reshape(tuple(shape))


def written_sum(page, d, num, key: str, general: str, per_row: int) -> str:
    """The rows of a shared parameter's gradient as a sum (over positions, or over time steps): ``general``
    (the Σ in symbols), then every term's numbers (∂L/∂z, times the local derivative for a weight),
    ``per_row`` terms a row, and the value."""
    weight = d.graph[key].role == "weight"
    pieces = [page.grad_factor(num, t.child) + (rf" \cdot {page.local_value(num, t.child, key)}" if weight else "")
              for t in d.steps.steps[key].terms]
    rows = [" + ".join(pieces[i:i + per_row]) for i in range(0, len(pieces), per_row)] or ["0"]
    out = [rf"{page.dL(key)} &= {general} \\", rf"&= {rows[0]}"]
    out += [rf"\\ &\quad + {row}" for row in rows[1:]]
    out[-1] += f" {page.gradient(num, key)}"
    return "\n".join(out)
