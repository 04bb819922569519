"""What the page section of a recurrent layer (templates/layers/rnn.md.j2) asks for: states step by step.

A recurrent layer's page shows each time step's states as small vectors with one unit written out, the
backward pass through time (the gradient of a state collects what the output sends it and what the next
step sends it), and each shared weight's gradient as the sum over the steps. Every number comes from the
derivation: this module only arranges keys by step and formats them.
"""

from __future__ import annotations

from dataclasses import dataclass

from derive.core.layers import layer_type
from derive.render.tensors import written_sum


@dataclass(frozen=True)
class _Named:
    """A stand-in node for a whole step's vector: the layer type names it as it names an entry."""

    role: str
    layer: int
    index: tuple


class Sequences:
    """States, weights and their gradients of the recurrent layers of one page, as LaTeX."""

    def __init__(self, page):
        self.page = page
        self.d = page.d
        self.graph = page.graph
        self.spec = page.spec

    def _kind(self, l: int):
        return layer_type(self.spec.layers[l])

    def dims(self, l: int) -> tuple[int, int, int]:
        """(T, F, H) of layer l."""
        return self._kind(l).dims(self.spec.layers[l])

    def steps(self, l: int) -> range:
        return range(1, self.dims(l)[0] + 1)

    # -- keys

    def ins(self, l: int, t: int) -> list[str]:
        return [z for z, _ in self._kind(l).step_keys(self.spec.layers[l], t)]

    def outs(self, l: int, t: int) -> list[str]:
        """The state h_t of step t (t = 0: the start state h_0)."""
        layer = self.spec.layers[l]
        if t == 0:
            return self._kind(l).state0_keys(layer)
        return [a for _, a in self._kind(l).step_keys(layer, t)]

    def inputs(self, l: int, t: int) -> list[str]:
        """x_t: what layer l reads at step t (the network's inputs, or the states of an rnn before it)."""
        T, F, H = self.dims(l)
        prev = list(self.graph.input_keys) if l == 0 else [a for _, a in self.graph.layer_units[l - 1]]
        return prev[(t - 1) * F: t * F]

    def matrix_keys(self, l: int, part: str) -> list[list[str]]:
        """The keys of W_ih (``part = "ih"``) or W_hh, rows by hidden unit."""
        T, F, H = self.dims(l)
        rows = self.graph.layer_weights[l]
        return [list(r[:F]) if part == "ih" else list(r[F:]) for r in rows]

    def reader(self, l: int) -> int | None:
        """The layer that reads layer l's states (past a flatten, which passes them on as they are); None: the loss."""
        for k in range(l + 1, len(self.spec.layers)):
            if not layer_type(self.spec.layers[k]).same_nodes:
                return k
        return None

    def parameters(self, l: int) -> list[str]:
        """Every parameter of layer l: W_ih row by row, W_hh, then b_ih and b_hh."""
        return ([k for row in self.matrix_keys(l, "ih") for k in row] + [k for row in self.matrix_keys(l, "hh") for k in row]
                + self.bias_keys(l, "ih") + self.bias_keys(l, "hh"))

    def bias_keys(self, l: int, part: str) -> list[str]:
        T, F, H = self.dims(l)
        keys = list(self.graph.layer_bias[l])
        return keys[:H] if part == "ih" else keys[H:]

    # -- names

    def step_name(self, l: int, role: str, step: str) -> str:
        """A whole step's vector with the step written as given (``t``, ``t-1``, ``3``): ``h^{out}_{t-1}``; role
        ``x`` names the input of the step (the network's ``x_{t}``, or the states of the rnn below)."""
        if role == "x":
            return f"x_{{{step}}}" if l == 0 else self.step_name(l - 1, "out", step)
        layer = self.spec.layers[l]
        entry = layer_type(layer).tex_name(layer, _Named(role, l, (0, 0)), self.page.notation)
        return entry.replace("{1,1}", "{" + step + "}", 1)

    def apply(self, l: int, step: str) -> str:
        """The activation of a whole step's sums, in the activation's own notation: ``\\tanh(h^{in}_{2})``."""
        import sympy as sp

        from derive.core.activations import activation_of
        from derive.render.printer import tex

        m = sp.Symbol("M", real=True)
        return tex(activation_of(self.spec.layers[l]).unit_expr(0, [m]), {m: self.step_name(l, "in", step)})

    def x_values(self, l: int, t: int, num) -> list[float]:
        return [num.value[k] for k in self.inputs(l, t)]

    def two_parts(self, l: int, key: str, num) -> str | None:
        """For a state that feeds both the layer after it and the next step: ``∂L/∂h = A + B ≈ g`` with A what the
        layer after sends, B what the next step sends (each the sum of its terms), or None."""
        page = self.page
        terms = self.d.steps.steps[key].terms
        mine = [t for t in terms if self.graph[t.child].layer == l]
        other = [t for t in terms if self.graph[t.child].layer != l]
        if not mine or not other:
            return None
        part = [sum(num.grad[t.child] * num.local[(t.child, key)] for t in group) for group in (other, mine)]
        return rf"{page.dL(key)} = {page.num(part[0])} + {page.factor(part[1])} {page.gradient(num, key)}"

    def per_step(self, key: str, num) -> list[float | None]:
        """A shared parameter's share of the gradient at each step t = 1 … T (its terms, one per step)."""
        node = self.graph[key]
        T = self.dims(node.layer)[0]
        out: list[float | None] = [None] * T
        for t in self.d.steps.steps[key].terms:
            step = self.graph[t.child].index[0]
            out[step] = (out[step] or 0.0) + num.grad[t.child] * num.local[(t.child, key)]
        return out

    def trained(self, l: int, W, b) -> str:
        """The layer's parameters after training (arrays W (H, F + H) and b (2H)) as W_ih, W_hh and the biases."""
        T, F, H = self.dims(l)
        out = [rf"{self.matrix_name(l, 'ih')} = {self.matrix(W[:, :F].tolist())}",
               rf"{self.matrix_name(l, 'hh')} = {self.matrix(W[:, F:].tolist())}"]
        if b is not None:
            out += [rf"{self.bias_name(l, 'ih')} = {self.column(b[:H].tolist())}",
                    rf"{self.bias_name(l, 'hh')} = {self.column(b[H:].tolist())}"]
        return r", \quad ".join(out)

    def matrix_name(self, l: int, part: str) -> str:
        layer = self.spec.layers[l]
        if self.page.notation == "layer":
            return rf"W^{{[{l + 1}]\,\mathrm{{{part}}}}}"
        return rf"W^{{\mathrm{{{part}}}}}_{{{_base(layer.name)}}}"

    def bias_name(self, l: int, part: str) -> str:
        layer = self.spec.layers[l]
        if self.page.notation == "layer":
            return rf"b^{{[{l + 1}]\,\mathrm{{{part}}}}}"
        return rf"b^{{\mathrm{{{part}}}}}_{{{_base(layer.name)}}}"

    # -- numbers

    def column(self, xs) -> str:
        """Numbers as a column vector."""
        return r"\begin{bmatrix} " + r" \\ ".join(self.page.num(x) for x in xs) + r" \end{bmatrix}"

    def name_column(self, keys) -> str:
        return r"\begin{bmatrix} " + r" \\ ".join(self.page.name(k) for k in keys) + r" \end{bmatrix}"

    def matrix(self, rows) -> str:
        return r"\begin{bmatrix} " + r" \\ ".join(" & ".join(self.page.num(x) for x in r) for r in rows) + \
            r" \end{bmatrix}"

    def name_matrix(self, rows) -> str:
        return r"\begin{bmatrix} " + r" \\ ".join(" & ".join(self.page.name(k) for k in r) for r in rows) + \
            r" \end{bmatrix}"

    def values(self, keys, num) -> list[float]:
        return [num.value[k] for k in keys]

    def grads(self, keys, num) -> list[float]:
        return [num.grad.get(k, 0.0) for k in keys]

    def params(self, keys) -> list[float]:
        return [self.d.params[k] for k in keys]

    def matrix_values(self, l: int, part: str) -> list[list[float]]:
        return [self.params(r) for r in self.matrix_keys(l, part)]

    def h0(self, l: int) -> list[float]:
        return list(self.spec.layers[l].option("h0"))

    # -- the backward pass through time

    def sources(self, l: int, key: str) -> tuple[list[str], list[str]]:
        """The children of a state h_{t,j}, split: (those of the next step, those after the layer)."""
        steps = self.d.steps.steps[key]
        mine = [t.child for t in steps.terms if self.graph[t.child].layer == l]
        other = [t.child for t in steps.terms if self.graph[t.child].layer != l]
        return mine, other

    def time_sum(self, key: str, num, per_row: int = 3) -> str:
        """The rows of an ``aligned`` block: ∂L/∂θ of a shared weight (or bias) as the sum over the steps,
        first in general (Σ over t), then each step's ∂L/∂z times its local derivative with numbers, then the
        value."""
        page = self.page
        node = self.graph[key]
        l = node.layer
        layer = self.spec.layers[l]
        kind = layer_type(layer)
        T, F, H = kind.dims(layer)
        if node.role == "weight":
            j, c = node.index
            z = kind.tex_name(layer, _Named("in", l, (0, j)), page.notation).replace("{1,", "{t,", 1)
            if c < F:
                factor = self._input_entry(l, c)
            else:
                factor = kind.tex_name(layer, _Named("out", l, (0, c - F)), page.notation).replace("{1,", "{t-1,", 1)
            general = rf"\sum_{{t=1}}^{{{T}}} \frac{{\partial L}}{{\partial {z}}} \, {factor}"
        else:
            j = node.index[0] % H
            z = kind.tex_name(layer, _Named("in", l, (0, j)), page.notation).replace("{1,", "{t,", 1)
            general = rf"\sum_{{t=1}}^{{{T}}} \frac{{\partial L}}{{\partial {z}}}"
        return written_sum(page, self.d, num, key, general, per_row)

    def _input_entry(self, l: int, i: int) -> str:
        """Feature i of the input at step t, with a symbolic t: ``x_{t,1}``."""
        if l == 0:
            return f"x_{{t,{i + 1}}}"
        prev = self.spec.layers[l - 1]
        return layer_type(prev).tex_name(prev, _Named("out", l - 1, (0, i)), self.page.notation).replace("{1,", "{t,", 1)

    def first_weight(self, l: int, part: str) -> str:
        """The weight of W_ih (or W_hh) written out: the first with a gradient that is not zero."""
        keys = [k for row in self.matrix_keys(l, part) for k in row]
        num = self.d.instances[0]
        return next((k for k in keys if num.grad.get(k, 0.0) != 0.0), keys[0])


def _base(name: str) -> str:
    return name if len(name) == 1 else rf"\mathit{{{name}}}"
