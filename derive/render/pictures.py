"""Pictures: the network with its numbers, and the loss per epoch.

One drawing for every format: a picture is first laid out as a :class:`Scene` (boxes, lines,
texts at computed places, in points), then written as SVG for Markdown and HTML by a few lines
of our own (fast: no plotting library is imported for a Markdown page) or as PDF for LaTeX by
Matplotlib. Text stays text (SVG ``<text>`` a reader can search, copy and have read aloud; fonts
embedded in PDF), written in plain Unicode (``w₁₁ = −0.5``, ``1.781 × 10⁻⁸``) in the page's
notation, so the picture and the formulas name things alike. Every picture has a title and a
description (SVG ``<title>`` and ``<desc>``, PDF Title and Subject) that say in words what it
shows. Labels never sit on top of each other: each weight's label is placed along its edge where
it overlaps nothing, measured with the font's own advance widths (:mod:`derive.render.font_metrics`).
Files are reproducible: no dates, no ids, coordinates rounded to 1/100 pt.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import numpy as np

from derive.core.derivation import Derivation
from derive.core.layers import layer_type
from derive.i18n import _, ngettext
from derive.render.printer import format_number, node_names

#: Short labels of a unit's two values, per notation.
VALUE_LABELS = {"inout": ("in", "out"), "netout": ("net", "out"), "layer": ("z", "a")}
INK, GRADIENT, EDGE, FILL = "#1a1a1a", "#b2182b", "#7f7f7f", "#f2f2f2"
#: A skip connection (a residual addition's ``from``): blue and dashed, unlike the grey weighted edges.
SKIP, SKIP_DASH = "#2166ac", (5.0, 2.5)
#: A unit dropout drops in this instance: its edge and box outline dashed and light.
DROPPED, DROPPED_DASH = "#b0b0b0", (2.5, 2.0)
FONT = "DejaVu Sans"
RC = {"pdf.fonttype": 42, "font.family": FONT}
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Creator": "derive (Matplotlib)", "Producer": None}
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
        kind, _sep, k = self.role.partition("-")
        return {"network": lambda: _("The network on instance %(k)s") % {"k": k},
                "given": lambda: _("The network and its given numbers"),
                "maps": lambda: _("The feature maps on instance %(k)s") % {"k": k},
                "steps": lambda: _("The recurrent layer unrolled on instance %(k)s") % {"k": k},
                "loss": lambda: _("The loss per epoch")}[kind]()


def pictures_of(d: Derivation, *, edge_gradients: bool = False) -> list[Picture]:
    """The pictures a worked example has: the network on each instance, the loss when it trains."""
    caption = (_("The network on instance %(k)s: the weights on the edges with the gradients of the loss (red), each "
                 "unit's values inside it and the gradients of the loss beside it (red)") if edge_gradients else
               _("The network on instance %(k)s: the weights on the edges, each unit's values inside it and the "
                 "gradients of the loss beside it (red)"))
    if any(layer_type(layer).sequence for layer in d.spec.layers):  # a recurrent layer, unrolled over its steps
        steps = _("The recurrent layer unrolled on instance %(k)s: the inputs x_t below, the states h_t in a row with "
                  "the arrows h_(t−1) → h_t, the outputs on top; the numbers of each step, and the gradients of the "
                  "loss by the states and outputs (red)")
        out = [Picture(f"steps-{k}", steps % {"k": k}) for k in range(1, len(d.instances) + 1)]
    elif d.spec.input_shape is not None:  # feature maps: grids of numbers, not a graph of hundreds of units
        maps = _("The feature maps on instance %(k)s: the input, each kernel with the gradient of the loss by its "
                 "weights (red), each layer's maps (the winners of max pooling shaded) and the outputs")
        out = [Picture(f"maps-{k}", maps % {"k": k}) for k in range(1, len(d.instances) + 1)]
    else:
        out = [Picture(f"network-{k}", caption % {"k": k}) for k in range(1, len(d.instances) + 1)]
    if d.training is not None:
        t = d.spec.training
        out.append(Picture("loss", ngettext("The %(objective)s over %(num)d epoch of %(method)s",
                                            "The %(objective)s over %(num)d epochs of %(method)s", t.epochs)
                           % {"objective": _objective(d), "num": t.epochs, "method": _method(d)}))
    return out


def _objective(d: Derivation) -> str:
    """What the loss plot shows: the loss, or the loss plus the regularization term."""
    return _("loss plus regularization term") if d.spec.regularization is not None else _("loss")


def _method(d: Derivation) -> str:
    """How the network trains, in words: "plain gradient descent on the whole data (learning rate 0.5)"."""
    t = d.spec.training
    n = len(d.instances)
    size = t.batch_size if t.batch_size is not None else (n if t.mode == "batch" else 1)
    data = (_("the whole data") if size >= n else _("one instance at a time") if size == 1
            else _("mini-batches of %(size)s") % {"size": size})
    rate = _("learning rate %(rate)s") % {"rate": f"{t.learning_rate:g}"}
    if t.schedule.kind != "constant":
        rate += ", " + _("%(kind)s schedule") % {"kind": t.schedule.kind}
    return _("%(optimizer)s on %(data)s (%(rate)s)") % {"optimizer": _(t.optimizer.title), "data": data, "rate": rate}


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


_GREEK = {"gamma": "γ", "beta": "β", "mu": "μ", "sigma": "σ", "varepsilon": "ε", "epsilon": "ε"}


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
        elif tex.startswith(r"\hat", i):  # x̂: the letter, then the combining circumflex
            body, i = _group(tex, i + 4)
            out.append(plain(body) + "\u0302")
        elif tex[i] == "\\" and tex[i + 1:i + 2].isalpha():  # a Greek letter (a batch normalization's γ, β, μ, σ, ε)
            j = i + 1
            while j < len(tex) and tex[j].isalpha():
                j += 1
            out.append(_GREEK.get(tex[i + 1:j], tex[i + 1:j]))
            i = j
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



# --------------------------------------------------------------------------- the scene


@dataclass
class Text:
    """One line of text: ``x`` where ``anchor`` says (start, middle, end), ``y`` its vertical centre, in points."""

    x: float
    y: float
    text: str
    size: float
    color: str = INK
    anchor: str = "middle"
    bold: bool = False
    italic: bool = False
    rotate: bool = False
    """Turned a quarter left (a y-axis label): then ``x`` is its vertical centre and ``y`` its anchor."""

    @property
    def width(self) -> float:
        from derive.render.font_metrics import BOLD, REGULAR

        table = BOLD if self.bold else REGULAR
        return self.size * sum(table.get(c, 0.6) for c in self.text)

    @property
    def baseline(self) -> float:
        from derive.render.font_metrics import ASCENT, DESCENT

        return (self.x if self.rotate else self.y) + (ASCENT - DESCENT) / 2 * self.size

    def extent(self, pad: float = 0.0) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1): the ink box of the line, from its ascent to its descent, grown by ``pad``."""
        from derive.render.font_metrics import ASCENT, DESCENT

        w, h = self.width, (ASCENT + DESCENT) * self.size
        along = self.y if self.rotate else self.x
        start = along - {"start": 0.0, "middle": w / 2, "end": w}[self.anchor]
        across = (self.x if self.rotate else self.y) - h / 2
        if self.rotate:  # turned left: the text runs upwards from its anchor
            return across - pad, along - (start - along) - w - pad, across + h + pad, along + (along - start) + pad
        return start - pad, across - pad, start + w + pad, across + h + pad


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str = "none"
    stroke: str = "none"
    width: float = 0.0
    radius: float = 0.0
    dash: tuple[float, float] | None = None

    def extent(self, pad: float = 0.0) -> tuple[float, float, float, float]:
        return self.x - pad, self.y - pad, self.x + self.w + pad, self.y + self.h + pad


@dataclass
class Line:
    points: list[tuple[float, float]]
    color: str = EDGE
    width: float = 0.8
    arrow: bool = False
    dash: tuple[float, float] | None = None


@dataclass
class Scene:
    """A picture as what is drawn where (points, y downwards), written out by :func:`svg` or :func:`pdf`."""

    width: float
    height: float
    items: list = field(default_factory=list)
    description: str = ""

    def add(self, item):
        self.items.append(item)
        return item

    def texts(self) -> list[Text]:
        return [i for i in self.items if isinstance(i, Text)]


def _f(x: float) -> str:
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _arrowhead(line: Line) -> list[tuple[float, float]]:
    (x0, y0), (x1, y1) = line.points[-2], line.points[-1]
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    back, half = 6.5, 2.4
    return [(x1, y1), (x1 - back * ux - half * uy, y1 - back * uy + half * ux),
            (x1 - back * ux + half * uy, y1 - back * uy - half * ux)]


def svg(scene: Scene, title: str) -> bytes:
    """The scene as an SVG file: text as <text>, a <title> and a <desc> (what a screen reader says)."""
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(scene.width)}pt" height="{_f(scene.height)}pt" '
           f'viewBox="0 0 {_f(scene.width)} {_f(scene.height)}" role="img" aria-labelledby="title desc" '
           f'font-family="{FONT}, Verdana, sans-serif">',
           f' <title id="title">{escape(title)}</title>',
           f' <desc id="desc">{escape(scene.description)}</desc>',
           f' <rect width="{_f(scene.width)}" height="{_f(scene.height)}" fill="#ffffff"/>']
    for item in scene.items:
        if isinstance(item, Rect):
            rounded = f' rx="{_f(item.radius)}"' if item.radius else ""
            stroke = f' stroke="{item.stroke}" stroke-width="{_f(item.width)}"' if item.stroke != "none" else ""
            stroke += f' stroke-dasharray="{_f(item.dash[0])} {_f(item.dash[1])}"' if item.dash else ""
            out.append(f' <rect x="{_f(item.x)}" y="{_f(item.y)}" width="{_f(item.w)}" height="{_f(item.h)}"'
                       f'{rounded} fill="{item.fill}"{stroke}/>')
        elif isinstance(item, Line):
            points = " ".join(f"{_f(x)},{_f(y)}" for x, y in item.points)
            dash = f' stroke-dasharray="{_f(item.dash[0])} {_f(item.dash[1])}"' if item.dash else ""
            out.append(f' <polyline points="{points}" fill="none" stroke="{item.color}" '
                       f'stroke-width="{_f(item.width)}" stroke-linejoin="round"{dash}/>')
            if item.arrow:
                head = " ".join(f"{_f(x)},{_f(y)}" for x, y in _arrowhead(item))
                out.append(f' <polygon points="{head}" fill="{item.color}"/>')
        else:
            style = (' font-weight="bold"' if item.bold else "") + (' font-style="italic"' if item.italic else "")
            anchor = "" if item.anchor == "start" else f' text-anchor="{item.anchor}"'
            if item.rotate:
                where = f'transform="translate({_f(item.baseline)} {_f(item.y)}) rotate(-90)" x="0" y="0"'
            else:
                where = f'x="{_f(item.x)}" y="{_f(item.baseline)}"'
            out.append(f' <text {where} font-size="{_f(item.size)}" fill="{item.color}"{anchor}{style}>'
                       f'{escape(item.text)}</text>')
    out.append("</svg>\n")
    return "\n".join(out).encode("utf-8")


def pdf(scene: Scene, title: str) -> bytes:
    """The same scene drawn by Matplotlib as a PDF (fonts embedded, text as text), for LaTeX."""
    import matplotlib
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Polygon, Rectangle

    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(scene.width / 72, scene.height / 72))
        FigureCanvasPdf(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, scene.width)
        ax.set_ylim(scene.height, 0)
        ax.set_axis_off()
        for z, item in enumerate(scene.items):
            if isinstance(item, Rect):
                if item.radius:
                    patch = FancyBboxPatch((item.x, item.y), item.w, item.h, boxstyle=f"round,pad=0,rounding_size={item.radius}",
                                           fc=item.fill, ec=item.stroke, lw=item.width, zorder=z,
                                           ls=(0, item.dash) if item.dash else "solid")
                else:
                    patch = Rectangle((item.x, item.y), item.w, item.h, fc=item.fill, ec=item.stroke, lw=item.width,
                                      zorder=z)
                ax.add_patch(patch)
            elif isinstance(item, Line):
                xs, ys = zip(*item.points)
                ax.plot(xs, ys, color=item.color, lw=item.width, zorder=z, solid_joinstyle="round",
                        ls=(0, item.dash) if item.dash else "solid")
                if item.arrow:
                    ax.add_patch(Polygon(_arrowhead(item), closed=True, fc=item.color, ec="none", zorder=z))
            else:
                kw = dict(fontsize=item.size, color=item.color, zorder=z, va="baseline",
                          fontweight="bold" if item.bold else "normal", fontstyle="italic" if item.italic else "normal")
                if item.rotate:
                    ax.text(item.baseline, item.y, item.text, rotation=90, rotation_mode="anchor",
                            ha={"start": "left", "middle": "center", "end": "right"}[item.anchor], **kw)
                else:
                    ax.text(item.x, item.baseline, item.text,
                            ha={"start": "left", "middle": "center", "end": "right"}[item.anchor], **kw)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="pdf", metadata=PDF_METADATA | {"Title": title, "Subject": scene.description})
    return buffer.getvalue()


def _overlap(a, b, pad: float = 0.0) -> bool:
    """Whether two boxes (x0, y0, x1, y1) overlap by more than ``pad`` each way."""
    return min(a[2], b[2]) - max(a[0], b[0]) > pad and min(a[3], b[3]) - max(a[1], b[1]) > pad


def _crosses(box, p, q) -> bool:
    """Whether the segment p–q passes through the box (x0, y0, x1, y1) (Liang–Barsky clipping)."""
    (px, py), (qx, qy) = p, q
    dx, dy = qx - px, qy - py
    low, high = 0.0, 1.0
    for step, gap in ((-dx, px - box[0]), (dx, box[2] - px), (-dy, py - box[1]), (dy, box[3] - py)):
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


# --------------------------------------------------------------------------- the network

#: A layer with more weights than this draws its edges without labels (its weight matrix is on the page).
MAX_LABELLED_EDGES = 64

PT = 72.0
"""Points per inch: the layout below is in inches, the scene in points."""


def network_scene(d: Derivation, instance: int, *, notation: str = "inout", digits: int = 4, reveal: bool = True,
                  edge_gradients: bool = False, spread: float = 1.0) -> Scene:
    """The network on instance ``instance`` (0-based): weights, unit values, gradients (red).

    ``reveal=False`` draws only what a worksheet gives: weights, biases, inputs and targets.
    ``edge_gradients`` writes ∂L/∂w under each weight. ``spread`` widens the gaps between layers
    (used when a label finds no free place along its edge).
    """
    if any(layer_type(layer).sequence for layer in d.spec.layers):  # a recurrent layer: unrolled over its steps
        return steps_scene(d, instance, notation=notation, digits=digits, reveal=reveal)
    if d.spec.input_shape is not None:  # feature maps: grids of numbers, not a graph of hundreds of units
        return maps_scene(d, instance, notation=notation, digits=digits, reveal=reveal)
    graph, spec, num = d.graph, d.spec, d.instances[instance]
    names = node_names(graph, notation)
    name = {k: plain(names[graph[k].symbol]) for k in graph.nodes}
    in_label, out_label = VALUE_LABELS[notation]
    columns = [list(graph.input_keys)] + [[a for _, a in units] for units in graph.layer_units]
    tallest = max(len(c) for c in columns)
    dx, dy = (2.0 + 0.55 * tallest) * spread * PT, 1.4 * PT
    box_w = 1.5 * PT
    box_h = (1.0 if any(b is not None for b in graph.layer_bias) else 0.8) * PT
    left, top = 0.4 * PT + box_w / 2, 0.35 * PT + 0.35 * PT
    width = dx * (len(columns) - 1) + box_w + 2.8 * PT
    height = dy * tallest + 0.9 * PT
    skips = _skips(spec)
    above = sum(SKIP_LANE * up + SKIP_LABEL for _l, _s, up, _down in skips) + SKIP_GAP if skips else 0.0
    below = sum(SKIP_LANE * down for _l, _s, _up, down in skips) + SKIP_GAP if skips else 0.0
    top += above
    height += above + below
    scene = Scene(width, height)
    words: list[str] = []
    """The description, in the order a reader would go: inputs, weights, each layer, the targets and the loss."""

    def y_of(c: int, j: int) -> float:
        return top + (j + 0.5 * (tallest - len(columns[c]))) * dy

    centre = {key: (left + c * dx, y_of(c, j)) for c, col in enumerate(columns) for j, key in enumerate(col)}
    grad = num.grad if reveal else {}
    taken: list = []
    """Boxes already used by unit boxes and labels: nothing else may be placed on them."""
    edges_layer = scene.add([])  # a placeholder: the edges are drawn first, under everything
    scene.items.remove(edges_layer)
    behind: list = []

    def box(key: str, lines: list[str], fill: str = FILL, dash=None):
        x, y = centre[key]
        rect = Rect(x - box_w / 2, y - box_h / 2, box_w, box_h, fill=fill, stroke=DROPPED if dash else INK, width=0.9,
                    radius=4, dash=dash)
        scene.add(rect)
        taken.append(rect.extent(1))
        step = box_h / (len(lines) + 1)
        for n, line in enumerate(lines):
            scene.add(Text(x, y - box_h / 2 + step * (n + 1), line, 11 if n == 0 else 10, bold=n == 0))

    def gradients(key: str, pairs: list[tuple[str, float | None]]) -> list[str]:
        x, y = centre[key]
        shown = [f"∂L/∂{label} = {_num(g, digits)}" for label, g in pairs if g is not None]
        for n, line in enumerate(shown):
            t = scene.add(Text(x, y + box_h / 2 + 9 + n * 11, line, 9, color=GRADIENT))
            taken.append(t.extent(1))
        return shown

    # On a worksheet with several instances the data are in a table: the picture shows no one instance's.
    data = reveal or len(d.instances) == 1
    inputs = []
    for k in graph.input_keys:
        box(k, [name[k]] + ([f"= {_num(num.value[k], digits)}"] if data else []), fill="#ffffff")
        inputs.append(f"{name[k]} = {_num(num.value[k], digits)}" if data else name[k])
        inputs += [f"({g})" for g in gradients(k, [(name[k], grad.get(k))])]
    words.append(_("Inputs:") + " " + ", ".join(inputs).replace(", (", " (") + ".")
    passes = [{j: ok for _i, j, ok in layer_type(layer).links(layer, num.value)} for layer in spec.layers]
    for l, units in enumerate(graph.layer_units):
        layer = spec.layers[l]
        bias = graph.layer_bias[l]
        described = []
        for j, (z, a) in enumerate(units):
            title = name[a] if notation == "layer" else plain(f"{layer.name}_{{{j + 1}}}")
            dropped = passes[l].get(j) is False and data
            if dropped:
                title = _("%(unit)s: dropped") % {"unit": title}
            lines = [title]
            single = z == a  # one node (dropout, an addition without an activation): its value once, as "out"
            if reveal:
                lines += ([] if single else [f"{in_label} = {_num(num.value[z], digits)}"]) + [
                    f"{out_label} = {_num(num.value[a], digits)}"]
            else:
                lines += [layer.activation]
            if bias is not None:
                lines.insert(1, f"{name[bias[j]]} = {_num(num.value[bias[j]], digits)}")
            box(a, lines, fill="#ffffff" if dropped else FILL, dash=DROPPED_DASH if dropped else None)
            shown = gradients(a, [(out_label, grad.get(a))] + ([] if single else [(in_label, grad.get(z))]))
            described.append(f"{title}: " + ", ".join(lines[1:] + shown))
        words.append(_("Layer %(name)s") % {"name": layer.name} + f" ({layer.activation}): " + "; ".join(described) + ".")

    # The targets and the loss, right of the outputs.
    x_out = left + dx * (len(columns) - 1) + box_w / 2 + 0.25 * PT
    targets = []
    for j, key in enumerate(columns[-1]):
        if j < len(graph.target_keys):
            t = graph.target_keys[j]
            label = f"{name[t]} = {_num(num.value[t], digits)}" if data else name[t]
            taken.append(scene.add(Text(x_out, centre[key][1], label, 10, anchor="start")).extent(1))
            targets.append(label)
    mid = sum(centre[k][1] for k in columns[-1]) / len(columns[-1])
    loss = Text(x_out + (0.9 * PT if graph.target_keys else 0.0), mid, f"L = {_num(num.loss, digits)}" if reveal else "L",
                11, anchor="start", italic=True)
    x0, y0, x1, y1 = loss.extent(4)
    scene.add(Rect(x0, y0, x1 - x0, y1 - y0, fill="#ffffff", stroke=INK, width=0.9, radius=3))
    scene.add(loss)
    taken.append((x0, y0, x1, y1))
    if targets:
        words.append(_("Targets:") + " " + ", ".join(targets) + ".")
    if reveal:
        words.append(_("Loss:") + f" {loss.text}.")

    # The edges without weights (one to one: an addition, dropout) and the skip connections, which the weights'
    # labels then keep clear of.
    for l, layer in enumerate(spec.layers):
        for i, j, ok in layer_type(layer).links(layer, num.value):
            (x0, y0), (x1, y1) = centre[columns[l][i]], centre[columns[l + 1][j]]
            behind.append(Line([(x0 + box_w / 2, y0), (x1 - box_w / 2 - 1, y1)], arrow=True,
                               **({} if ok or not data else {"color": DROPPED, "dash": DROPPED_DASH})))
    if skips:
        titles = {a: name[a] if notation == "layer" else plain(f"{spec.layers[l].name}_{{{j + 1}}}")
                  for l, units in enumerate(graph.layer_units) for j, (_z, a) in enumerate(units)}
        words.append(_skip_lines(scene, behind, taken, skips, columns, centre, box_w, box_h, dx, titles, spec))

    # The edges, and each weight's label where along its edge it overlaps nothing placed so far.
    edges = []
    for l, rows in enumerate(graph.layer_weights):
        sources, targets_ = columns[l], columns[l + 1]
        for i, j, w in layer_type(spec.layers[l]).edges(rows):
            (x0, y0), (x1, y1) = centre[sources[i]], centre[targets_[j]]
            start, end = (x0 + box_w / 2, y0), (x1 - box_w / 2 - 1, y1)
            behind.append(Line([start, end], arrow=True))
            edges.append((w, start, end, l, j, len(targets_)))
    fits = True
    weights = []
    labels = []
    spans = [(min(e[1][1], e[2][1]), max(e[1][1], e[2][1])) for e in edges]
    unlabelled = {l for l, rows in enumerate(graph.layer_weights) if sum(map(len, rows)) > MAX_LABELLED_EDGES}
    for n, (w, (x0, y0), (x1, y1), l, j, n_targets) in enumerate(edges):
        label = f"{name[w]} = {_num(num.value[w], digits)}"
        if l in unlabelled:  # a wide layer: its weight matrix on the page says them better than a thicket of labels
            continue
        g = grad.get(w) if edge_gradients else None
        size = 9.5 if g is None else 8.5
        lines = [Text(0, 0, label, size)] + ([Text(0, 0, f"∂L/∂{name[w]} = {_num(g, digits)}", size, color=GRADIENT)]
                                             if g is not None else [])
        line_h = size * 1.25
        block_w = max(t.width for t in lines) + 4
        block_h = line_h * len(lines) + 2
        # Edges into the same unit prefer the same fraction, edges into different units different ones:
        # the labels of one source fan out with its edges instead of stacking at its side.
        prefer = 0.22 + 0.5 * j / max(1, n_targets - 1)
        best = None
        for f in sorted(FRACTIONS, key=lambda f: abs(f - prefer)):
            x, y = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
            there = (x - block_w / 2, y - block_h / 2, x + block_w / 2, y + block_h / 2)
            if any(_overlap(there, other) for other in taken):
                continue
            # Best where no other edge runs under the label: there it would seem to belong to both.
            crossing = sum(_crosses(there, e[1], e[2]) for m, e in enumerate(edges)
                           if m != n and e[3] == l and spans[m][0] <= there[3] and there[1] <= spans[m][1])
            if best is None or crossing < best[2]:
                best = (x, y, crossing, there)
            if not crossing:
                break
        if best is None:
            fits = False
            x, y = x0 + 0.5 * (x1 - x0), y0 + 0.5 * (y1 - y0)
            there = (x - block_w / 2, y - block_h / 2, x + block_w / 2, y + block_h / 2)
        else:
            x, y, _score, there = best
        taken.append(there)
        labels.append(Rect(there[0] + 1, there[1] + 1, block_w - 2, block_h - 2, fill="#ffffff", radius=2))
        for k, t in enumerate(lines):
            t.x, t.y = x, y - (len(lines) - 1) * line_h / 2 + k * line_h
            labels.append(t)
        weights.append(label if g is None else f"{label} (∂L/∂{name[w]} = {_num(g, digits)})")
    if not fits and spread < 3:
        return network_scene(d, instance, notation=notation, digits=digits, reveal=reveal,
                             edge_gradients=edge_gradients, spread=spread * 1.35)
    words.insert(1, _("Weights:") + " " + ", ".join(weights) + "." if weights else "")
    for l in sorted(unlabelled):
        words.insert(2, _("The %(n)s weights into layer %(name)s are not labelled (more than %(most)s): the page lists "
                          "them as a matrix.") % {"n": sum(map(len, graph.layer_weights[l])), "name": spec.layers[l].name,
                                                   "most": MAX_LABELLED_EDGES})
    words = [w for w in words if w]
    scene.items = behind + labels + scene.items
    scene.description = " ".join(words)
    return scene


SKIP_LANE, SKIP_LABEL, SKIP_GAP = 10.0, 14.0, 8.0
"""Points between the lanes of skip connections above and below the units, for the label over a block's lanes,
and between the units and the first lane."""


def _skips(spec) -> list[tuple[int, int, int, int]]:
    """The skip connections a network picture routes around the layers they jump: per residual addition whose
    ``from`` is not the layer right before it, (its index, the index of ``from``, its units routed above, below)."""
    out = []
    for l, layer in enumerate(spec.layers):
        source = layer_type(layer).source(layer)
        if source is not None and source != l - 1:
            up = (layer.size + 1) // 2
            out.append((l, source, up, layer.size - up))
    return out


def _s_curve(p, q, n: int = 14) -> list[tuple[float, float]]:
    """A cubic from p to q that leaves p and reaches q horizontally (points after p)."""
    (x0, y0), (x1, y1) = p, q
    mid = (x0 + x1) / 2
    out = []
    for k in range(1, n + 1):
        t = k / n
        a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
        out.append((a * x0 + b * mid + c * mid + e * x1, a * y0 + b * y0 + c * y1 + e * y1))
    return out


def _skip_lines(scene, behind, taken, skips, columns, centre, box_w, box_h, dx, titles, spec) -> str:
    """Route each unit's skip connection from layer ``from`` to its addition: out of the unit to the right, up
    (or down) in the gap after its layer to a lane above (below) every unit and label, along it, and down (up)
    into the addition's unit. Blue and dashed; the lanes of one addition nest without crossing. Returns the
    words of the picture's description."""
    top = min(box[1] for box in taken)
    bottom = max(box[3] for box in taken)
    up_y, down_y = top - SKIP_GAP, bottom + SKIP_GAP
    run, rise = 12.0, 0.42 * (dx - box_w)
    words = []
    for l, source, up, down in skips:
        lanes = {}
        for j in reversed(range(up)):  # the unit nearest the middle on the innermost lane
            lanes[j] = up_y
            up_y -= SKIP_LANE
        for j in range(up, up + down):
            lanes[j] = down_y
            down_y += SKIP_LANE
        pairs = []
        for j in range(spec.layers[l].size):
            a, b = columns[source + 1][j], columns[l + 1][j]
            (x0, y0), (x1, y1) = centre[a], centre[b]
            # off the middle of the boxes' sides, where the weighted edges start and end, towards its lane
            side = (-1 if j < up else 1) * box_h / 4
            start, end = (x0 + box_w / 2, y0 + side), (x1 - box_w / 2 - 1, y1 + side)
            lane = lanes[j]
            points = [start, (start[0] + run, start[1])]
            points += _s_curve(points[-1], (start[0] + run + rise, lane))
            points.append((end[0] - run - rise, lane))
            points += _s_curve(points[-1], (end[0] - run, end[1]))
            points.append(end)
            behind.append(Line(points, color=SKIP, width=1.1, arrow=True, dash=SKIP_DASH))
            for p, q in zip(points, points[1:]):
                taken.append((min(p[0], q[0]) - 2, min(p[1], q[1]) - 2, max(p[0], q[0]) + 2, max(p[1], q[1]) + 2))
            pairs.append(f"{titles[a]} → {titles[b]}")
        if up:
            outer = lanes[0]
            x_from = centre[columns[source + 1][0]][0] + box_w / 2 + run + rise
            x_to = centre[columns[l + 1][0]][0] - box_w / 2 - 1 - run - rise
            label = Text((x_from + x_to) / 2, outer - SKIP_LABEL / 2 - 1, _("skip connection to layer %(name)s")
                         % {"name": spec.layers[l].name}, 9, color=SKIP, italic=True)
            scene.add(label)
            taken.append(label.extent(1))
            up_y -= SKIP_LABEL
        words.append(_("Skip connections (dashed, blue) into layer %(name)s: %(pairs)s.")
                     % {"name": spec.layers[l].name, "pairs": ", ".join(pairs)})
    return " ".join(words)


# --------------------------------------------------------------------------- the loss


def _power_of_ten(exponent: int) -> str:
    """A log axis's tick label as plain text: 10⁻¹⁴, 1, 10, 10²."""
    return {0: "1", 1: "10"}.get(exponent, "10" + "".join(_SUP[c] for c in str(exponent)))


def _ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round numbers from low to high, at most about ``most`` of them: steps of 1, 2, 2.5 or 5 × 10ᵏ."""
    span = high - low
    step = 10.0 ** math.floor(math.log10(span / most))
    for m in (1, 2, 2.5, 5, 10):
        if span / (step * m) <= most:
            step *= m
            break
    first = math.ceil(low / step - 1e-9)
    return [k * step for k in range(first, math.floor(high / step + 1e-9) + 1)]


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    if math.isclose(step, 2.5 * 10.0 ** math.floor(math.log10(step))) and step < 10:
        decimals += 1
    text = f"{value:.{decimals}f}"
    return ("0" if float(text) == 0 else text).replace("-", "−")


def loss_scene(d: Derivation) -> Scene:
    """The total loss before each epoch's update, and after the last (log scale when it spans decades)."""
    losses = d.training.losses
    epochs = len(losses) - 1
    n = len(d.instances)
    over = " (" + (_("sum over %(n)s instances") if d.spec.reduction == "sum" else _("mean over %(n)s instances")) % {
        "n": n} + ")" if n > 1 else ""
    scene = Scene(432.0, 230.0)
    left, right, top, bottom = 62.0, 414.0, 14.0, 190.0
    positive = min(losses) > 0
    log = positive and max(losses) / min(losses) > 100
    if log:
        low_e, high_e = math.floor(math.log10(min(losses))), math.ceil(math.log10(max(losses)))
        every = max(1, math.ceil((high_e - low_e) / 7))
        low_e -= (low_e % every) if every > 1 else 0
        lo, hi = float(low_e), float(high_e)
        y_ticks = [(float(e), _power_of_ten(e)) for e in range(low_e, high_e + 1, every)]
        value = lambda v: math.log10(v)  # noqa: E731
    else:
        lo, hi = min(losses), max(losses)
        pad = max((hi - lo) * 0.05, max(abs(hi), abs(lo)) * 1e-3, 1e-12)  # a flat loss still gets a readable axis
        lo, hi = lo - pad, hi + pad
        if min(losses) >= 0 > lo:
            lo = 0.0
        ticks = _ticks(lo, hi)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
        y_ticks = [(t, _tick_label(t, step)) for t in ticks]
        value = lambda v: v  # noqa: E731
    last = max(epochs, 1)
    # Room on the left for the widest tick label and the axis's own label beside it.
    widest = max((Text(0, 0, label, 9).width for _, label in y_ticks), default=0.0)
    left = max(left, 30.0 + widest + 8.0)
    label_x = left - 8.0 - widest - 10.0

    def at(e: float, v: float) -> tuple[float, float]:
        return left + (right - left) * e / last, bottom - (bottom - top) * (value(v) - lo) / (hi - lo)

    x_ticks = [x for x in _ticks(0, last, 6) if x == int(x)]  # epochs are whole numbers
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1
    for t in x_ticks:
        x = left + (right - left) * t / last
        scene.add(Line([(x, top), (x, bottom)], color="#dddddd", width=0.6))
        scene.add(Line([(x, bottom), (x, bottom + 3.5)], color=INK, width=0.8))
        scene.add(Text(x, bottom + 12, _tick_label(t, max(x_step, 1)), 9))
    for t, label in y_ticks:
        y = bottom - (bottom - top) * (t - lo) / (hi - lo)
        scene.add(Line([(left, y), (right, y)], color="#dddddd", width=0.6))
        scene.add(Line([(left - 3.5, y), (left, y)], color=INK, width=0.8))
        scene.add(Text(left - 6, y, label, 9, anchor="end"))
    scene.add(Line([(left, top), (left, bottom), (right, bottom)], color=INK, width=0.8))
    stride = max(1, len(losses) // 1500)
    picks = list(range(0, len(losses), stride)) + ([epochs] if epochs % stride else [])
    scene.add(Line([at(e, losses[e]) for e in picks], color="#2166ac", width=1.4))
    final = _num(losses[-1], 4)
    x, y = at(epochs, losses[-1])
    scene.add(Text((left + right) / 2, bottom + 30, _("epoch"), 10))
    name = "J = L + R" if d.spec.regularization is not None else "L"
    axis = _("loss") + f" L{over}"
    if d.spec.regularization is not None:  # the reduction is L's; R is added once
        axis = "J = L + R" + (" (L: " + (_("sum of %(n)s") if d.spec.reduction == "sum" else _("mean of %(n)s")) % {
            "n": n} + ")" if n > 1 else "")
    scene.add(Text(label_x, (top + bottom) / 2, axis, 10, rotate=True))
    scene.add(Text(x - 4, y - 10, final, 8, anchor="end"))  # last: the final loss
    scene.description = ngettext(
        "The total %(objective)s %(name)s%(over)s before each of %(num)d epoch of %(method)s and after the last: "
        "%(first)s at epoch 0, %(final)s at epoch %(num)d",
        "The total %(objective)s %(name)s%(over)s before each of %(num)d epochs of %(method)s and after the last: "
        "%(first)s at epoch 0, %(final)s at epoch %(num)d", epochs) % {
        "objective": _objective(d), "name": name, "over": over, "num": epochs, "method": _method(d),
        "first": _num(losses[0], 4), "final": final} + (" (" + _("logarithmic scale") + ")." if log else ".")
    return scene


# --------------------------------------------------------------------------- feature maps

WON = "#fde9a9"


def maps_scene(d: Derivation, instance: int, *, notation: str = "inout", digits: int = 3, reveal: bool = True) -> Scene:
    """Feature maps on instance ``instance`` (0-based) as grids of numbers, column by column: the input, then
    each layer of maps (a convolution's kernels beside its maps, with ∂L/∂w in red; max pooling's winners
    shaded in the maps before it), then the output units."""
    from derive.core.layers import layer_type
    from derive.render.tensors import _grid

    graph, spec, num = d.graph, d.spec, d.instances[instance]
    names = node_names(graph, notation)
    cell_w, cell_h, size = 28.0, 15.0, 8.0
    gap, title_h = 16.0, 14.0
    columns: list[list[tuple[str, np.ndarray, str, np.ndarray | None]]] = []
    """Each column: panels of (title, values, colour, shaded)."""
    words: list[str] = []

    inputs = np.reshape(np.array([num.value[k] for k in graph.input_keys]), spec.input_shape)
    columns.append([(_("x, channel %(c)s") % {"c": c + 1}, inputs[c], INK, None) for c in range(spec.input_shape[0])])
    words.append(_("The input: %(num)s map(s) of %(shape)s.") % {"num": spec.input_shape[0],
                                                              "shape": "×".join(map(str, spec.input_shape[1:]))})
    for l, layer in enumerate(spec.layers):
        kind = layer_type(layer)
        if len(layer.out_shape) == 1:
            break
        outs = _grid([a for _in, a in graph.layer_units[l]], layer.out_shape)
        values = np.vectorize(lambda k: num.value[k], otypes=[float])(outs)
        if kind.has_weights:
            keys = np.array(graph.layer_weights[l], dtype=object)
            panels = []
            for o, c in np.ndindex(keys.shape[:2]):
                w = np.vectorize(lambda k: d.params[k], otypes=[float])(keys[o, c])
                g = np.vectorize(lambda k: num.grad[k], otypes=[float])(keys[o, c])
                panels.append((_("kernel %(o)s, channel %(c)s") % {"o": o + 1, "c": c + 1}, w, INK, None))
                if reveal:
                    panels.append(("∂L/∂w", g, GRADIENT, None))  # a formula: the same in every language
            columns.append(panels)
            words.append(_("Layer %(name)s: %(num)s kernel(s) of %(shape)s with the gradients of the loss by their "
                           "weights.") % {"name": layer.name, "num": keys.shape[0],
                                          "shape": "×".join(map(str, keys.shape[2:]))})
        if not reveal:  # a worksheet: the maps are what the student computes
            continue
        if kind.routes:  # shade the winners in the column before
            prev_keys = _grid([a for _in, a in graph.layer_units[l - 1]], spec.layers[l - 1].out_shape) if l else \
                _grid(list(graph.input_keys), spec.input_shape)
            won = np.zeros(prev_keys.shape, dtype=bool)
            where = {k: idx for idx, k in np.ndenumerate(prev_keys)}
            for key, _out in graph.layer_units[l]:
                node = graph[key]
                vals = [num.value[p] for p in node.parents]
                won[where[node.parents[vals.index(max(vals))]]] = True
            columns[-1] = [(t, v, colour, won[i] if colour == INK else shade)
                           for i, (t, v, colour, shade) in enumerate(columns[-1])]
        columns.append([(_("%(name)s, map %(c)s") % {"name": layer.name, "c": c + 1}, values[c], INK, None)
                        for c in range(layer.out_shape[0])])
        words.append(_("Layer %(name)s (%(kind)s): %(num)s map(s) of %(shape)s.") % {
            "name": layer.name, "kind": _(kind.title), "num": layer.out_shape[0],
            "shape": "×".join(map(str, layer.out_shape[1:]))})
    last = spec.layers[-1]
    y = np.array([[num.value[a]] for _in, a in graph.layer_units[-1]])
    if reveal:
        columns.append([(_("output %(name)s") % {"name": last.name}, y, INK, None)])
    if reveal:
        words.append(_("The outputs:") + " " + ", ".join(
            f"{plain(names[graph[a].symbol])} = {_num(num.value[a], digits)}" for _in, a in graph.layer_units[-1]) + ".")

    def cell_width(v: np.ndarray) -> float:
        """Wide enough for the widest number of the grid."""
        return max([cell_w] + [Text(0, 0, _num(x, digits), size).width + 8 for x in np.ravel(v)])

    def grid_size(v: np.ndarray) -> tuple[float, float]:
        rows = np.atleast_2d(v)
        return rows.shape[1] * cell_width(v), rows.shape[0] * cell_h

    widths = [max(max(grid_size(v)[0] for _t, v, _c, _s in col), 60.0) for col in columns]
    heights = [sum(grid_size(v)[1] + title_h + gap for _t, v, _c, _s in col) for col in columns]
    width = sum(widths) + gap * (len(columns) + 1)
    height = max(heights) + gap
    scene = Scene(width, height)
    x = gap
    for col, w in zip(columns, widths):
        y = gap
        for title, v, colour, shade in col:
            rows = np.atleast_2d(v)
            gw, gh = grid_size(v)
            cw = cell_width(v)
            left = x + (w - gw) / 2
            scene.add(Text(x + w / 2, y + title_h / 2 - 2, title, 8.5, color=colour, bold=colour == INK))
            y += title_h
            shaded = np.atleast_2d(shade) if shade is not None else np.zeros(rows.shape, dtype=bool)
            for (i, j), value in np.ndenumerate(rows):
                scene.add(Rect(left + j * cw, y + i * cell_h, cw, cell_h, fill=WON if shaded[i, j] else FILL,
                               stroke=EDGE, width=0.5))
                scene.add(Text(left + (j + 0.5) * cw, y + (i + 0.5) * cell_h, _num(value, digits), size,
                               color=colour))
            y += gh + gap
        x += w + gap
    scene.description = " ".join(words)
    return scene


# --------------------------------------------------------------------------- a recurrent layer, unrolled


def _sub(text: str) -> str:
    """Subscript digits and the letters Unicode has (``ih`` → ``ᵢₕ``)."""
    return "".join(_SUB.get(c, c) for c in text)


def steps_scene(d: Derivation, instance: int, *, notation: str = "inout", digits: int = 4, reveal: bool = True) -> Scene:
    """The first recurrent layer unrolled on instance ``instance`` (0-based): the inputs x_t in a row at the
    bottom, the states h_t in a row above them (h_0 first) with arrows x_t → h_t (W_ih) and h_(t−1) → h_t
    (W_hh), and the network's outputs on top with arrows from the states the layer gives. Each box holds its
    numbers; beside a state's values, the gradients of the loss by them (red)."""
    graph, spec, num = d.graph, d.spec, d.instances[instance]
    l = next(k for k, layer in enumerate(spec.layers) if layer_type(layer).sequence)
    layer = spec.layers[l]
    kind = layer_type(layer)
    T, F, H = kind.dims(layer)
    prev = list(graph.input_keys) if l == 0 else [a for _z, a in graph.layer_units[l - 1]]
    inputs = [prev[t * F:(t + 1) * F] for t in range(T)]
    states = [kind.state0_keys(layer)] + [[a for _z, a in kind.step_keys(layer, t)] for t in range(1, T + 1)]
    outputs = [a for _z, a in graph.layer_units[-1]]
    size, title_size, line_h, pad = 8.0, 8.5, 12.0, 5.0
    x_name = "x" if l == 0 else spec.layers[l - 1].name
    base = layer.name

    def column_width(rows: list[list[Text]]) -> float:
        return max(sum(t.width for t in row) + 8.0 * (len(row) - 1) for row in rows)

    def box(title: str, rows: list[list[tuple[str, str]]]) -> tuple[Text, list[list[Text]], float, float]:
        """A box's title and rows of (text, colour): its texts (placed later) and its width and height."""
        head = Text(0, 0, title, title_size, bold=True)
        lines = [[Text(0, 0, text, size, color=colour) for text, colour in row] for row in rows]
        # room to spare: a PDF viewer's fallback glyphs (× 10⁻⁴) run wider than the font's own metrics
        w = max(head.width, 1.15 * column_width(lines) if lines else 0.0) + 2 * pad
        return head, lines, w, line_h * (len(lines) + 1) + 2 * pad

    def value_rows(keys, with_grad: bool, hidden: bool = False) -> list[list[tuple[str, str]]]:
        out = []
        for k in keys:
            row = [("?" if hidden else _num(num.value[k], digits), INK)]  # a worksheet: what the student computes
            if with_grad and reveal and k in num.grad:
                row.append((_num(num.grad[k], digits), GRADIENT))
            out.append(row)
        return out

    x_boxes = [box(f"{x_name}{_sub(str(t + 1))}", value_rows(inputs[t], False)) for t in range(T)]
    h_boxes = [box(f"{base}{_sub(str(t))}", value_rows(states[t], t > 0, hidden=t > 0 and not reveal))
               for t in range(T + 1)]
    # the outputs' box names every layer between the states and the loss, so its arrow skips none unsaid
    after = " → ".join(layer_.name for layer_ in spec.layers[l + 1:])
    y_box = box(after, value_rows(outputs, True, hidden=not reveal))  # on a worksheet: "?", for the student
    gap, margin, rise = 34.0, 14.0, 30.0
    widths = [max(h_boxes[0][2], 40.0)] + [max(h_boxes[t + 1][2], x_boxes[t][2], 40.0) for t in range(T)]
    lefts, x = [], margin
    for w in widths:
        lefts.append(x)
        x += w + gap
    width = x - gap + margin
    h_h = max(b[3] for b in h_boxes)
    x_h = max(b[3] for b in x_boxes)
    y_h = y_box[3] if y_box else 0.0
    legend_h = 14.0
    top = margin + legend_h
    y_top = top
    h_top = y_top + (y_h + rise if y_box else 0.0)
    x_top = h_top + h_h + rise
    height = x_top + x_h + margin
    scene = Scene(width, height)

    def place(b, left: float, top_: float, w: float, h: float, fill: str = FILL) -> tuple[float, float, float, float]:
        head, lines, _w, _h = b
        scene.add(Rect(left, top_, w, h, fill=fill, stroke=EDGE, width=0.6, radius=3.0))
        scene.add(Text(left + w / 2, top_ + pad + line_h / 2, head.text, title_size, bold=True))
        cols = max((len(r) for r in lines), default=0)
        col_w = [max((r[c].width for r in lines if len(r) > c), default=0.0) for c in range(cols)]
        total = sum(col_w) + 8.0 * (cols - 1)
        for i, row in enumerate(lines):  # columns of numbers, each right-aligned
            cx = left + (w - total) / 2
            for c, t in enumerate(row):
                cx += col_w[c]
                scene.add(Text(cx, top_ + pad + line_h * (i + 1.5), t.text, size, color=t.color, anchor="end"))
                cx += 8.0
        return left, top_, left + w, top_ + h

    h_rects = [place(h_boxes[t], lefts[t], h_top, widths[t], h_h, "#ffffff" if t == 0 else FILL) for t in range(T + 1)]
    x_rects = [place(x_boxes[t], lefts[t + 1], x_top, widths[t + 1], x_h, "#ffffff") for t in range(T)]
    w_ih, w_hh = "W" + _sub("ih"), "W" + _sub("hh")
    for t in range(1, T + 1):  # h_(t-1) → h_t, and x_t → h_t
        a, b = h_rects[t - 1], h_rects[t]
        y = (a[1] + a[3]) / 2
        scene.add(Line([(a[2] + 1, y), (b[0] - 1, y)], arrow=True))
        scene.add(Text((a[2] + b[0]) / 2, y - 7, w_hh, 7.5, italic=True))
        xr = x_rects[t - 1]
        cx = (b[0] + b[2]) / 2
        scene.add(Line([(cx, xr[1] - 1), (cx, b[3] + 1)], arrow=True))
        scene.add(Text(cx + 4, (xr[1] + b[3]) / 2, w_ih, 7.5, italic=True, anchor="start"))
    if y_box:
        given = range(T, T + 1) if layer.option("output") == "last" else range(1, T + 1)
        left = min(h_rects[t][0] for t in given)
        right = max(h_rects[t][2] for t in given)
        w = max(right - left, y_box[2])
        left = (left + right - w) / 2
        yr = place(y_box, left, y_top, w, y_h, "#ffffff")
        for t in given:
            cx = (h_rects[t][0] + h_rects[t][2]) / 2
            scene.add(Line([(cx, h_rects[t][1] - 1), (cx, yr[3] + 1)], arrow=True))
    if reveal:
        first = scene.add(Text(margin, margin + legend_h / 2 - 2, _("values"), 7.5, anchor="start"))
        scene.add(Text(margin + first.width + 10, margin + legend_h / 2 - 2, _("gradients of the loss by them"), 7.5,
                       color=GRADIENT, anchor="start"))
    state = lambda t: ", ".join(_num(num.value[k], digits) for k in states[t])  # noqa: E731
    words = [_("The recurrent layer %(name)s unrolled over %(T)s steps: at each step t the input x_t and the state "
               "before it, h_(t−1), give the state h_t, with the same weights W_ih and W_hh at every step.")
             % {"name": base, "T": T}]
    if reveal:
        words += [_("Step %(t)s: state (%(values)s).") % {"t": t, "values": state(t)} for t in range(1, T + 1)]
    if reveal:
        words.append(_("The outputs:") + " " + ", ".join(_num(num.value[a], digits) for a in outputs) + ".")
    scene.description = " ".join(words)
    return scene


# --------------------------------------------------------------------------- files


def scene_of(d: Derivation, picture: Picture, *, notation: str = "inout", digits: int = 4,
             edge_gradients: bool = False) -> Scene:
    if picture.role == "loss":
        return loss_scene(d)
    kind, k = picture.role.split("-")  # network-K, or given-K: only what a worksheet gives
    if kind == "steps" or (kind == "given" and any(layer_type(layer).sequence for layer in d.spec.layers)):
        return steps_scene(d, int(k) - 1, notation=notation, digits=digits, reveal=kind != "given")
    if kind == "maps" or d.spec.input_shape is not None:  # feature maps: grids of numbers
        return maps_scene(d, int(k) - 1, notation=notation, digits=digits, reveal=kind != "given")
    return network_scene(d, int(k) - 1, notation=notation, digits=digits, reveal=kind == "network",
                         edge_gradients=edge_gradients)


def draw(d: Derivation, picture: Picture, fmt: str, *, notation: str = "inout", digits: int = 4,
         edge_gradients: bool = False) -> bytes:
    """One picture as the bytes of an ``svg`` or ``pdf`` file, with its title and description."""
    scene = scene_of(d, picture, notation=notation, digits=digits, edge_gradients=edge_gradients)
    return svg(scene, picture.title) if fmt == "svg" else pdf(scene, picture.title)
