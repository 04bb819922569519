"""Pictures: the network with its numbers, and the loss per epoch, drawn with Matplotlib.

One drawing for every format: SVG for Markdown and HTML, PDF for LaTeX. Labels are
Matplotlib mathtext in the page's notation, so the picture and the formulas name things alike.
Files are reproducible: no dates, fixed SVG ids, glyphs as paths (no font needed to view them).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from derive.core.derivation import Derivation
from derive.render.printer import format_number, node_names

#: Short labels of a unit's two values, per notation.
VALUE_LABELS = {"inout": ("in", "out"), "netout": ("net", "out"), "layer": ("z", "a")}
INK, GRADIENT, EDGE, FILL = "#1a1a1a", "#b2182b", "#7f7f7f", "#f2f2f2"
RC = {"svg.hashsalt": "derive", "svg.fonttype": "path", "pdf.fonttype": 42, "font.size": 9,
      "mathtext.fontset": "dejavusans", "axes.unicode_minus": True}
METADATA = {"svg": {"Date": None, "Creator": "derive (Matplotlib)"},
            "pdf": {"CreationDate": None, "ModDate": None, "Creator": "derive (Matplotlib)", "Producer": None}}


@dataclass(frozen=True)
class Picture:
    """One picture of a worked example: its file stem, its caption, and where the page shows it."""

    role: str
    """``network-K`` (instance K, 1-based), ``given-K`` (the same with only the given numbers) or ``loss``."""
    caption: str


def pictures_of(d: Derivation) -> list[Picture]:
    """The pictures a worked example has: the network on each instance, the loss when it trains."""
    out = [Picture(f"network-{k}", f"The network on instance {k}: the weights on the edges, each unit's values "
                                   f"inside it and the gradients of the loss beside it (red)")
           for k in range(1, len(d.instances) + 1)]
    if d.training is not None:
        t = d.spec.training
        out.append(Picture("loss", f"The loss over {t.epochs} epochs of {t.mode} gradient descent "
                                   f"(learning rate {t.learning_rate:g})"))
    return out


def _math(tex: str) -> str:
    return f"${tex}$"


_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _plain(tex: str) -> str:
    """Simple labels (``w_{11} = -0.5``) as plain Unicode text, which Matplotlib draws several times
    faster than mathtext; anything else stays mathtext."""
    text = re.sub(r"_\{(\d+)\}", lambda m: m.group(1).translate(_SUB), tex)
    text = re.sub(r"\\times 10\^\{(-?\d+)\}", lambda m: "× 10" + m.group(1).translate(_SUP), text)
    text = re.sub(r"\\mathrm\{(\w+)\}", r"\1", text).replace("-", "−")
    return _math(tex) if re.search(r"[\\{}^_$]", text) else text


def _num(x: float, digits: int) -> str:
    return format_number(x, digits)


def network_figure(d: Derivation, instance: int, *, notation: str = "inout", digits: int = 4, reveal: bool = True):
    """The network on instance ``instance`` (0-based): weights, unit values, gradients (red).

    ``reveal=False`` draws only what a worksheet gives: weights, biases, inputs and targets.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    graph, spec, num = d.graph, d.spec, d.instances[instance]
    _math = globals()["_math"] if reveal else _plain  # worksheets draw hundreds: plain text where it can
    names = node_names(graph, notation)
    name = {k: names[graph[k].symbol] for k in graph.nodes}
    in_label, out_label = VALUE_LABELS[notation]
    columns = [list(graph.input_keys)] + [[a for _, a in units] for units in graph.layer_units]
    tallest = max(len(c) for c in columns)
    widest = max(len(c) for c in columns)
    dx, dy = 2.0 + 0.55 * widest, 1.4
    box_w = 1.5
    box_h = 1.0 if any(b is not None for b in graph.layer_bias) else 0.8
    width = dx * (len(columns) - 1) + box_w + 2.8
    height = dy * tallest + 0.9
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-box_w / 2 - 0.4, width - box_w / 2 - 0.4)
    ax.set_ylim(-height + 0.55, 0.35)
    ax.set_axis_off()

    def y_of(c: int, j: int) -> float:
        return -(j + 0.5 * (tallest - len(columns[c]))) * dy - 0.35

    centre = {key: (c * dx, y_of(c, j)) for c, col in enumerate(columns) for j, key in enumerate(col)}
    grad = num.grad

    # Edges first, so that the boxes and labels sit on top of them.
    for l, rows in enumerate(graph.layer_weights):
        sources, targets = columns[l], columns[l + 1]
        for i, row in enumerate(rows):
            for j, w in enumerate(row):
                (x0, y0), (x1, y1) = centre[sources[i]], centre[targets[j]]
                ax.add_patch(FancyArrowPatch((x0 + box_w / 2, y0), (x1 - box_w / 2, y1), arrowstyle="-|>",
                                             mutation_scale=9, color=EDGE, lw=0.8, shrinkA=0, shrinkB=1))
                # Near the source: the labels of one unit's edges stack up, clear of the crossings.
                t = 0.25
                x = x0 + box_w / 2 + t * (x1 - x0 - box_w)
                y = y0 + t * (y1 - y0)
                ax.text(x, y, _math(f"{name[w]} = {_num(num.value[w], digits)}"), ha="center", va="center",
                        fontsize=9.5, color=INK, zorder=3,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))

    def box(key: str, lines: list[str], fill: str = FILL):
        x, y = centre[key]
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.04",
                                    fc=fill, ec=INK, lw=0.9, zorder=4))
        step = box_h / (len(lines) + 1)
        for n, text in enumerate(lines):
            ax.text(x, y + box_h / 2 - step * (n + 1), text, ha="center", va="center", zorder=5,
                    fontsize=11 if n == 0 else 10, color=INK, fontweight="bold" if n == 0 else "normal")

    def gradients(key: str, pairs: list[tuple[str, float | None]]):
        x, y = centre[key]
        text = "\n".join(_math(rf"\partial L/\partial {label} = {_num(g, digits)}") for label, g in pairs
                         if g is not None)
        if text:
            ax.text(x, y - box_h / 2 - 0.06, text, ha="center", va="top", fontsize=9, color=GRADIENT, zorder=5)

    if not reveal:
        grad = {}
    # On a worksheet with several instances the data are in a table: the picture shows no one instance's.
    data = reveal or len(d.instances) == 1
    for k in graph.input_keys:
        box(k, [_math(name[k])] + ([_math(f"= {_num(num.value[k], digits)}")] if data else []), fill="white")
        gradients(k, [(name[k], grad.get(k))])
    for l, units in enumerate(graph.layer_units):
        layer = spec.layers[l]
        bias = graph.layer_bias[l]
        for j, (z, a) in enumerate(units):
            if notation == "layer":
                lines = [_math(name[a])]
            elif reveal:
                lines = [_math(rf"\mathbf{{{layer.name}_{{{j + 1}}}}}")]
            else:
                lines = [f"{layer.name}{str(j + 1).translate(_SUB)}"]
            if reveal:
                lines += [_math(rf"\mathrm{{{in_label}}} = {_num(num.value[z], digits)}"),
                          _math(rf"\mathrm{{{out_label}}} = {_num(num.value[a], digits)}")]
            else:
                lines += [layer.activation]
            if bias is not None:
                lines.insert(1, _math(f"{name[bias[j]]} = {_num(num.value[bias[j]], digits)}"))
            box(a, lines)
            gradients(a, [(rf"\mathrm{{{out_label}}}", grad.get(a)), (rf"\mathrm{{{in_label}}}", grad.get(z))])

    # The targets and the loss, right of the outputs.
    x_out = dx * (len(columns) - 1) + box_w / 2 + 0.25
    for j, key in enumerate(columns[-1]):
        if j < len(graph.target_keys):
            t = graph.target_keys[j]
            ax.text(x_out, centre[key][1], _math(f"{name[t]} = {_num(num.value[t], digits)}" if data else name[t]),
                    ha="left",
                    va="center", fontsize=10, color=INK)
    mid = sum(centre[k][1] for k in columns[-1]) / len(columns[-1])
    loss = f"L = {_num(num.loss, digits)}" if reveal else "L"
    ax.text(x_out + (0.9 if graph.target_keys else 0.0), mid, _math(loss), ha="left",
            va="center", fontsize=11, color=INK, bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=INK, lw=0.9))
    return fig


def loss_figure(d: Derivation):
    """The loss before each epoch's update, and after the last (log scale when it spans decades)."""
    from matplotlib.figure import Figure

    losses = d.training.losses
    fig = Figure(figsize=(6.0, 3.2))
    ax = fig.add_subplot()
    ax.plot(range(len(losses)), losses, color="#2166ac", lw=1.4)
    positive = min(losses) > 0
    if positive and max(losses) / min(losses) > 100:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss $L$ ({d.spec.reduction} over {len(d.instances)} instance"
                  f"{'s' if len(d.instances) > 1 else ''})")
    ax.set_xlim(0, len(losses) - 1)
    ax.grid(True, color="#dddddd", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.annotate(format_number(losses[-1], 4), (len(losses) - 1, losses[-1]), textcoords="offset points",
                xytext=(-4, 6), ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def draw(d: Derivation, picture: Picture, fmt: str, *, notation: str = "inout", digits: int = 4) -> bytes:
    """One picture as the bytes of an ``svg`` or ``pdf`` file."""
    import matplotlib

    with matplotlib.rc_context(RC):
        if picture.role == "loss":
            fig = loss_figure(d)
        else:  # network-K, or given-K: only what a worksheet gives
            kind, k = picture.role.split("-")
            fig = network_figure(d, int(k) - 1, notation=notation, digits=digits, reveal=kind == "network")
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=METADATA[fmt])
    return buffer.getvalue()
