"""Pictures: the network with its numbers, and the loss per epoch, drawn with Matplotlib.

One drawing for every format: SVG for Markdown and HTML, PDF for LaTeX. Text stays text (SVG
``<text>`` a reader can search, copy and have read aloud; fonts embedded in PDF), written in
plain Unicode (``w₁₁ = −0.5``, ``1.781 × 10⁻⁸``) in the page's notation, so the picture and the
formulas name things alike. Every figure has a title and a description (SVG ``<title>`` and
``<desc>``, PDF Title and Subject) that say in words what it shows. Labels never sit on top of
each other: each weight's label is placed along its edge where it overlaps nothing, measured
from the figure's own text extents. Files are reproducible: no dates, ids numbered in order
rather than hashed from coordinates.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from derive.core.derivation import Derivation
from derive.render.printer import format_number, node_names

#: Short labels of a unit's two values, per notation.
VALUE_LABELS = {"inout": ("in", "out"), "netout": ("net", "out"), "layer": ("z", "a")}
INK, GRADIENT, EDGE, FILL = "#1a1a1a", "#b2182b", "#7f7f7f", "#f2f2f2"
RC = {"svg.hashsalt": "derive", "svg.fonttype": "none", "pdf.fonttype": 42, "font.size": 9,
      "font.family": "DejaVu Sans", "axes.unicode_minus": True, "axes.formatter.use_mathtext": False}
METADATA = {"svg": {"Date": None, "Creator": "derive (Matplotlib)"},
            "pdf": {"CreationDate": None, "ModDate": None, "Creator": "derive (Matplotlib)", "Producer": None}}
#: Where along an edge (0: the source box, 1: the target box) its label may sit, in order of preference.
FRACTIONS = (0.22, 0.34, 0.46, 0.58, 0.7, 0.28, 0.4, 0.52, 0.64, 0.76, 0.16, 0.82)


@dataclass(frozen=True)
class Picture:
    """One picture of a worked example: its file stem, its caption, and where the page shows it."""

    role: str
    """``network-K`` (instance K, 1-based), ``given-K`` (the same with only the given numbers) or ``loss``."""
    caption: str

    @property
    def title(self) -> str:
        """A short title (the SVG ``<title>``): "The network on instance 1", "The loss per epoch"."""
        kind, _, k = self.role.partition("-")
        return {"network": f"The network on instance {k}", "given": "The network and its given numbers",
                "loss": "The loss per epoch"}[kind]


def pictures_of(d: Derivation, *, edge_gradients: bool = False) -> list[Picture]:
    """The pictures a worked example has: the network on each instance, the loss when it trains."""
    edges = "the weights on the edges" + (" with the gradients of the loss (red)" if edge_gradients else "")
    out = [Picture(f"network-{k}", f"The network on instance {k}: {edges}, each unit's values "
                                   f"inside it and the gradients of the loss beside it (red)")
           for k in range(1, len(d.instances) + 1)]
    if d.training is not None:
        t = d.spec.training
        out.append(Picture("loss", f"The loss over {t.epochs} epoch{'s' if t.epochs != 1 else ''} of {t.mode} "
                                   f"gradient descent (learning rate {t.learning_rate:g})"))
    return out


# --------------------------------------------------------------------------- plain-text labels

_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ"))
_SUP = dict(zip("0123456789+-−", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻"))


def _group(tex: str, i: int) -> tuple[str, int]:
    """The argument at ``tex[i]``: a braced group (without its braces) or one character; and the index after it."""
    if tex[i] != "{":
        return tex[i], i + 1
    depth = 0
    for j in range(i, len(tex)):
        depth += {"{": 1, "}": -1}.get(tex[j], 0)
        if depth == 0:
            return tex[i + 1:j], j + 1
    return tex[i + 1:], len(tex)


def plain(tex: str) -> str:
    """A name or number as derive writes it in LaTeX, as plain Unicode text for a picture.

    ``w_{11}`` → ``w₁₁``, ``b_{h_{1}}`` → ``bₕ₁``, ``\\mathrm{net}_{h_{1}}`` → ``netₕ₁``,
    ``W^{[1]}_{11}`` → ``W[1]₁₁``, ``-1.781 \\times 10^{-8}`` → ``−1.781 × 10⁻⁸``.
    """
    out, i = [], 0
    while i < len(tex):
        c = tex[i]
        if tex.startswith(r"\mathrm", i) or tex.startswith(r"\mathbf", i):
            body, i = _group(tex, i + 7)
            out.append(plain(body))
        elif tex.startswith(r"\times", i):
            out.append("×")
            i += 6
        elif tex.startswith(r"\partial", i):
            out.append("∂")
            i += 8
        elif c in "_^":
            body, i = _group(tex, i + 1)
            text = plain(body)
            table = _SUB if c == "_" else _SUP
            if all(ch in table for ch in text):
                out.append("".join(table[ch] for ch in text))
            else:
                out.append(text if c == "^" else "_" + text)
        elif c in "{}":
            i += 1
        else:
            out.append("−" if c == "-" else c)
            i += 1
    return "".join(out)


def _num(x: float, digits: int) -> str:
    return plain(format_number(x, digits))


# --------------------------------------------------------------------------- the network


def _overlap(a, b, pad: float = 0.0) -> bool:
    """Whether two display-space boxes (Bbox) overlap by more than ``pad`` pixels each way."""
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > pad) and (min(a.y1, b.y1) - max(a.y0, b.y0) > pad)


def network_figure(d: Derivation, instance: int, *, notation: str = "inout", digits: int = 4, reveal: bool = True,
                   edge_gradients: bool = False, spread: float = 1.0):
    """The network on instance ``instance`` (0-based): weights, unit values, gradients (red).

    ``reveal=False`` draws only what a worksheet gives: weights, biases, inputs and targets.
    ``edge_gradients`` writes ∂L/∂w under each weight. Returns the figure and the description of
    what it shows, in words. ``spread`` widens the gaps between layers (used when labels do not fit).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.transforms import Bbox

    graph, spec, num = d.graph, d.spec, d.instances[instance]
    names = node_names(graph, notation)
    name = {k: plain(names[graph[k].symbol]) for k in graph.nodes}
    in_label, out_label = VALUE_LABELS[notation]
    columns = [list(graph.input_keys)] + [[a for _, a in units] for units in graph.layer_units]
    tallest = max(len(c) for c in columns)
    dx, dy = (2.0 + 0.55 * tallest) * spread, 1.4
    box_w = 1.5
    box_h = 1.0 if any(b is not None for b in graph.layer_bias) else 0.8
    width = dx * (len(columns) - 1) + box_w + 2.8
    height = dy * tallest + 0.9
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-box_w / 2 - 0.4, width - box_w / 2 - 0.4)
    ax.set_ylim(-height + 0.55, 0.35)
    ax.set_axis_off()
    words: list[str] = []
    """The description, in the order a reader would go: inputs, each layer, the targets and the loss."""

    def y_of(c: int, j: int) -> float:
        return -(j + 0.5 * (tallest - len(columns[c]))) * dy - 0.35

    centre = {key: (c * dx, y_of(c, j)) for c, col in enumerate(columns) for j, key in enumerate(col)}
    grad = num.grad if reveal else {}
    taken: list = []
    """Display-space boxes already used by boxes and labels: nothing else may be placed on them."""

    def text(x, y, s, **kw):
        t = ax.text(x, y, s, **kw)
        taken.append(t.get_window_extent(renderer))
        return t

    def box(key: str, lines: list[str], fill: str = FILL):
        x, y = centre[key]
        patch = FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.04",
                               fc=fill, ec=INK, lw=0.9, zorder=4)
        ax.add_patch(patch)
        taken.append(patch.get_window_extent(renderer))
        step = box_h / (len(lines) + 1)
        for n, line in enumerate(lines):
            ax.text(x, y + box_h / 2 - step * (n + 1), line, ha="center", va="center", zorder=5,
                    fontsize=11 if n == 0 else 10, color=INK, fontweight="bold" if n == 0 else "normal")

    def gradients(key: str, pairs: list[tuple[str, float | None]]) -> list[str]:
        x, y = centre[key]
        shown = [f"∂L/∂{label} = {_num(g, digits)}" for label, g in pairs if g is not None]
        if shown:
            text(x, y - box_h / 2 - 0.06, "\n".join(shown), ha="center", va="top", fontsize=9, color=GRADIENT,
                 zorder=5)
        return shown

    # On a worksheet with several instances the data are in a table: the picture shows no one instance's.
    data = reveal or len(d.instances) == 1
    inputs = []
    for k in graph.input_keys:
        box(k, [name[k]] + ([f"= {_num(num.value[k], digits)}"] if data else []), fill="white")
        inputs.append(f"{name[k]} = {_num(num.value[k], digits)}" if data else name[k])
        inputs += [f"({g})" for g in gradients(k, [(name[k], grad.get(k))])]
    words.append("Inputs: " + ", ".join(inputs).replace(", (", " (") + ".")
    for l, units in enumerate(graph.layer_units):
        layer = spec.layers[l]
        bias = graph.layer_bias[l]
        described = []
        for j, (z, a) in enumerate(units):
            title = name[a] if notation == "layer" else plain(f"{layer.name}_{{{j + 1}}}")
            lines = [title]
            if reveal:
                lines += [f"{in_label} = {_num(num.value[z], digits)}", f"{out_label} = {_num(num.value[a], digits)}"]
            else:
                lines += [layer.activation]
            if bias is not None:
                lines.insert(1, f"{name[bias[j]]} = {_num(num.value[bias[j]], digits)}")
            box(a, lines)
            shown = gradients(a, [(out_label, grad.get(a)), (in_label, grad.get(z))])
            described.append(f"{title}: " + ", ".join(lines[1:] + shown))
        words.append(f"Layer {layer.name} ({layer.activation}): " + "; ".join(described) + ".")

    # The targets and the loss, right of the outputs.
    x_out = dx * (len(columns) - 1) + box_w / 2 + 0.25
    targets = []
    for j, key in enumerate(columns[-1]):
        if j < len(graph.target_keys):
            t = graph.target_keys[j]
            label = f"{name[t]} = {_num(num.value[t], digits)}" if data else name[t]
            text(x_out, centre[key][1], label, ha="left", va="center", fontsize=10, color=INK)
            targets.append(label)
    mid = sum(centre[k][1] for k in columns[-1]) / len(columns[-1])
    loss = f"L = {_num(num.loss, digits)}" if reveal else "L"
    text(x_out + (0.9 if graph.target_keys else 0.0), mid, loss, ha="left", va="center", fontsize=11,
         color=INK, fontstyle="italic", bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=INK, lw=0.9))
    if targets:
        words.append("Targets: " + ", ".join(targets) + ".")
    if reveal:
        words.append(f"Loss: {loss}.")

    # The edges, and each weight's label where along its edge it overlaps nothing placed so far.
    to_display = ax.transData.transform
    lines_px = []
    edges = []
    target_of = []
    layer_of = []
    for l, rows in enumerate(graph.layer_weights):
        sources, targets_ = columns[l], columns[l + 1]
        for i, row in enumerate(rows):
            for j, w in enumerate(row):
                (x0, y0), (x1, y1) = centre[sources[i]], centre[targets_[j]]
                start, end = (x0 + box_w / 2, y0), (x1 - box_w / 2, y1)
                ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, color=EDGE, lw=0.8,
                                             shrinkA=0, shrinkB=1))
                edges.append((w, start, end))
                target_of.append((j, len(targets_)))
                layer_of.append(l)
                lines_px.append((to_display(start), to_display(end)))
    fits = True
    weights = []
    for n, (w, (x0, y0), (x1, y1)) in enumerate(edges):
        label = f"{name[w]} = {_num(num.value[w], digits)}"
        g = grad.get(w) if edge_gradients else None
        block = label if g is None else f"{label}\n∂L/∂{name[w]} = {_num(g, digits)}"
        t = ax.text(x0, y0, block, ha="center", va="center", fontsize=9.5 if g is None else 8.5, color=INK,
                    zorder=3, linespacing=1.3, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                                                          alpha=0.9))
        size = t.get_window_extent(renderer)
        best = None
        # Edges into the same unit prefer the same fraction, edges into different units different ones:
        # the labels of one source fan out with its edges instead of stacking at its side.
        prefer = 0.22 + 0.5 * target_of[n][0] / max(1, target_of[n][1] - 1)
        for f in sorted(FRACTIONS, key=lambda f: abs(f - prefer)):
            x, y = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
            cx, cy = to_display((x, y))
            # The text's extent, its white background (pad 0.15 em) and a pixel to spare.
            pad = 0.15 * t.get_fontsize() * fig.dpi / 72 + 1
            there = Bbox.from_bounds(cx - size.width / 2 - pad, cy - size.height / 2 - pad, size.width + 2 * pad,
                                     size.height + 2 * pad)
            if any(_overlap(there, other) for other in taken):
                continue
            # Best where no other edge runs under the label: there it would seem to belong to both.
            crossing = sum(_crosses(there, p, q) for m, (p, q) in enumerate(lines_px) if m != n and layer_of[m] == layer_of[n])
            if best is None or crossing < best[2]:
                best = (x, y, crossing, there)
            if not crossing:
                break
        if best is None:
            fits = False
            x, y = x0 + 0.5 * (x1 - x0), y0 + 0.5 * (y1 - y0)
            t.set_position((x, y))
            taken.append(t.get_window_extent(renderer))
        else:
            t.set_position(best[:2])
            taken.append(best[3])
        if g is not None:
            # Two texts, the weight above the anchor and its gradient (red) below, where the block was measured.
            t.remove()
            anchor = t.get_position()
            for line, colour, offset, va in ((label, INK, 1.0, "bottom"),
                                             (f"∂L/∂{name[w]} = {_num(g, digits)}", GRADIENT, -1.0, "top")):
                ax.annotate(line, anchor, xytext=(0, offset), textcoords="offset points", ha="center", va=va,
                            fontsize=8.5, color=colour, zorder=3,
                            bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.9))
            weights.append(f"{label} (∂L/∂{name[w]} = {_num(g, digits)})")
        else:
            weights.append(label)
    words.insert(1, "Weights: " + ", ".join(weights) + ".")
    if not fits and spread < 3:
        return network_figure(d, instance, notation=notation, digits=digits, reveal=reveal,
                              edge_gradients=edge_gradients, spread=spread * 1.35)
    return fig, " ".join(words)


def _crosses(box, p, q) -> bool:
    """Whether the segment p–q (display space) passes through the box (Liang–Barsky clipping)."""
    (px, py), (qx, qy) = p, q
    dx, dy = qx - px, qy - py
    low, high = 0.0, 1.0
    for step, gap in ((-dx, px - box.x0), (dx, box.x1 - px), (-dy, py - box.y0), (dy, box.y1 - py)):
        if step == 0:
            if gap < 0:
                return False
            continue
        r = gap / step
        if step < 0:
            low = max(low, r)
        else:
            high = min(high, r)
        if low > high:
            return False
    return True


# --------------------------------------------------------------------------- the loss


def _power_of_ten(value: float, _pos=None) -> str:
    """A log axis's tick label as plain text: 10⁻¹⁴, 1, 10, 10²."""
    import math

    if value <= 0:
        return ""
    exponent = round(math.log10(value))
    if abs(math.log10(value) - exponent) > 1e-9:
        return ""
    return {0: "1", 1: "10"}.get(exponent, "10" + "".join(_SUP[c] for c in str(exponent)))


def loss_figure(d: Derivation):
    """The loss before each epoch's update, and after the last (log scale when it spans decades)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    losses = d.training.losses
    fig = Figure(figsize=(6.0, 3.2))
    ax = fig.add_subplot()
    ax.plot(range(len(losses)), losses, color="#2166ac", lw=1.4)
    positive = min(losses) > 0
    log = positive and max(losses) / min(losses) > 100
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=8))
        ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
        ax.yaxis.set_minor_formatter(NullFormatter())
    n = len(d.instances)
    ax.set_xlabel("epoch")
    over = f" ({d.spec.reduction} over {n} instances)" if n > 1 else ""
    ax.set_ylabel(f"loss L{over}")
    ax.set_xlim(0, len(losses) - 1)
    ax.grid(True, color="#dddddd", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    last = _num(losses[-1], 4)
    ax.annotate(last, (len(losses) - 1, losses[-1]), textcoords="offset points", xytext=(-4, 6), ha="right",
                fontsize=8)
    fig.tight_layout()
    epochs = len(losses) - 1
    words = (f"The total loss L{over} before each of {epochs} epoch{'s' if epochs != 1 else ''} of "
             f"{d.spec.training.mode} gradient descent and after the last: {_num(losses[0], 4)} at epoch 0, "
             f"{last} at epoch {epochs}" + (" (logarithmic scale)." if log else "."))
    return fig, words


# --------------------------------------------------------------------------- files


def draw(d: Derivation, picture: Picture, fmt: str, *, notation: str = "inout", digits: int = 4,
         edge_gradients: bool = False) -> bytes:
    """One picture as the bytes of an ``svg`` or ``pdf`` file, with its title and description."""
    import matplotlib

    with matplotlib.rc_context(RC):
        if picture.role == "loss":
            fig, words = loss_figure(d)
        else:  # network-K, or given-K: only what a worksheet gives
            kind, k = picture.role.split("-")
            fig, words = network_figure(d, int(k) - 1, notation=notation, digits=digits,
                                        reveal=kind == "network", edge_gradients=edge_gradients)
        buffer = io.BytesIO()
        metadata = dict(METADATA[fmt])
        if fmt == "pdf":
            metadata |= {"Title": picture.title, "Subject": words}
        fig.savefig(buffer, format=fmt, metadata=metadata)
    data = buffer.getvalue()
    return _accessible_svg(data, picture.title, words) if fmt == "svg" else data


def _accessible_svg(data: bytes, title: str, description: str) -> bytes:
    """The SVG with a <title> and a <desc> (what a screen reader says) and ids numbered in order.

    Matplotlib names clip paths and markers by a hash of their coordinates, so a last-digit
    difference in a computed number between two machines would rename them: numbered in order of
    appearance instead, the same drawing gives the same file.
    """
    svg = data.decode("utf-8")
    ids: dict[str, str] = {}

    def rename(m: re.Match) -> str:
        old = m.group(2)
        ids.setdefault(old, f"{old[0]}{len(ids) + 1}")
        return m.group(1) + ids[old]

    svg = re.sub(r'(id="|#)([pm][0-9a-f]{10,})', rename, svg)
    head = (f'<title id="title">{escape(title)}</title>\n <desc id="desc">{escape(description)}</desc>\n ')
    svg = re.sub(r"(<svg\b[^>]*?)(\s*>\s*)", lambda m: m.group(1) + ' role="img" aria-labelledby="title desc">\n '
                 + head, svg, count=1)
    return svg.encode("utf-8")
