"""The network picture draws the edges without weights: a residual addition's skip connections (routed around
the layers they jump, blue and dashed, clear of every label and unit) and its one-to-one edges, and dropout's
one-to-one edges with the dropped units marked."""

from __future__ import annotations

import itertools

import pytest

from conftest import spec_from
from derive.i18n import language
from derive.pipeline import derive
from derive.render.pictures import (DROPPED, EDGE, SKIP, Line, Rect, Text, draw, network_scene, pictures_of,
                                    _crosses)
from derive.spec.parse import load_spec
from tests.render.test_pictures import overlapping


def _net(sizes_and_kinds: list[str], inputs: int = 2, masks=None) -> str:
    """A spec from short layer lines: ``dense h 3 tanh``, ``add r h relu``, ``dropout d 0.5``."""
    lines = ['name = "net"', "[network]", f"inputs = {inputs}", 'loss = "half_sse"']
    size = inputs
    for k, text in enumerate(sizes_and_kinds):
        kind, name, *rest = text.split()
        lines += ["[[network.layers]]", f'name = "{name}"']
        if kind == "dense":
            n, act = int(rest[0]), rest[1]
            weights = [[round(0.3 * ((i + 2 * j + k) % 5) - 0.6, 2) or 0.25 for j in range(n)] for i in range(size)]
            lines += [f"size = {n}", f'activation = "{act}"', f"weights = {weights}"]
            size = n
        elif kind == "add":
            lines += ['type = "add"', f'from = "{rest[0]}"'] + ([f'activation = "{rest[1]}"'] if len(rest) > 1 else [])
        else:
            lines += ['type = "dropout"', f"p = {rest[0]}", f"masks = [{masks}]"]
    lines += ["[[data]]", f"x = {[0.5 + i for i in range(inputs)]}", "t = [1]"]
    return "\n".join(lines)


CASES = {
    "preset": None,
    "four-with-dropout": _net(["dense h 4 tanh", "dropout d 0.5", "dense f 4 relu", "dense g 4 identity",
                               "add r d relu", "dense y 1 identity"], inputs=3, masks=[1, 0, 1, 1]),
    "three-units": _net(["dense h 3 tanh", "dense f 3 tanh", "add r h", "dense y 1 identity"]),
    "one-unit": _net(["dense h 1 tanh", "dense f 1 tanh", "dense g 1 tanh", "add r h relu", "dense y 1 identity"]),
    "two-blocks": _net(["dense h 2 relu", "dense f 2 tanh", "add r h relu", "dense g 2 tanh", "add s r relu",
                        "dense y 1 identity"]),
    "nested": _net(["dense h 2 relu", "dense f 2 tanh", "add r h", "dense g 2 tanh", "add s h relu",
                    "dense y 1 identity"]),
}


def _derivation(case: str):
    return derive(load_spec("residual-block") if CASES[case] is None else spec_from(CASES[case], case))


def _segments(line: Line):
    return list(zip(line.points, line.points[1:]))


def _cross(p, q, r, s) -> bool:
    """Whether the segments p–q and r–s cross (touching ends do not count)."""
    def side(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    d1, d2, d3, d4 = side(p, q, r), side(p, q, s), side(r, s, p), side(r, s, q)
    return d1 * d2 < -1e-9 and d3 * d4 < -1e-9


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("notation", ["inout", "layer"])
def test_skip_connections_are_routed_clear_of_every_label_and_unit(case, notation):
    d = _derivation(case)
    scene = network_scene(d, 0, notation=notation)
    skips = [i for i in scene.items if isinstance(i, Line) and i.color == SKIP]
    adds = [layer for layer in d.spec.layers if layer.type == "add"]
    assert len(skips) == sum(layer.size for layer in adds)
    assert all(line.dash and line.arrow for line in skips)  # drawn unlike the weighted edges: dashed, blue
    assert all(not line.dash for line in scene.items if isinstance(line, Line) and line.color == EDGE)
    units = [r.extent(-0.5) for r in scene.items if isinstance(r, Rect) and r.stroke != "none"]
    texts = [t for t in scene.texts()]
    for line in skips:
        for p, q in _segments(line):
            assert not any(_crosses(box, p, q) for box in units), "a skip connection runs through a unit"
            hit = [t.text for t in texts if _crosses(t.extent(), p, q)]
            assert hit == [], f"a skip connection runs through {hit}"
            assert all(0 <= x <= scene.width and 0 <= y <= scene.height for x, y in (p, q))
    for a, b in itertools.combinations(skips, 2):  # the lanes nest: no two skip connections cross
        assert not any(_cross(p, q, r, s) for p, q in _segments(a) for r, s in _segments(b))
    assert overlapping(scene.items) == []
    assert all(0 <= t.extent()[0] and t.extent()[2] <= scene.width and 0 <= t.extent()[1]
               and t.extent()[3] <= scene.height for t in texts)
    # each starts at a unit of layer `from` and ends at the same unit of the addition
    boxes = [r for r in scene.items if isinstance(r, Rect) and r.stroke != "none"]
    for line in skips:
        (x0, y0), (x1, y1) = line.points[0], line.points[-1]
        start = [b for b in boxes if abs(b.x + b.w - x0) < 0.01 and b.y < y0 < b.y + b.h]
        end = [b for b in boxes if abs(b.x - 1 - x1) < 0.01 and b.y < y1 < b.y + b.h]
        assert len(start) == len(end) == 1
    assert "Skip connections (dashed, blue) into layer" in scene.description


def test_the_preset_names_each_skip_connection():
    d = _derivation("preset")
    scene = network_scene(d, 0)
    assert "skip connection to layer r" in [t.text for t in scene.texts()]
    assert "Skip connections (dashed, blue) into layer r: h₁ → r₁, h₂ → r₂." in scene.description
    # the additions' one-to-one edges g_j → r_j, grey like the weighted ones, without a label
    plain_edges = [i for i in scene.items if isinstance(i, Line) and i.color == EDGE]
    assert len(plain_edges) == 2 * 2 + 2 * 2 + 2 * 2 + 2 + 2 * 1


def test_dropout_draws_one_edge_per_unit_and_marks_the_dropped_ones():
    d = _derivation("four-with-dropout")
    scene = network_scene(d, 0)
    dropped = [i for i in scene.items if isinstance(i, Line) and i.color == DROPPED]
    assert len(dropped) == 1 and dropped[0].dash
    titles = [t.text for t in scene.texts() if t.bold]
    assert "d₂: dropped" in titles and "d₁" in titles and "d₁: dropped" not in titles
    box = [r for r in scene.items if isinstance(r, Rect) and r.dash]
    assert len(box) == 1 and box[0].stroke == DROPPED
    # a dropout unit is one node: its value once (not an "in" that would show the dropped 0 as what came in)
    inside = [t.text for t in scene.texts() if box[0].x < t.x < box[0].x + box[0].w and box[0].y < t.y < box[0].y + box[0].h]
    assert inside == ["d₂: dropped", "out = 0"]
    assert "d₂: dropped: out = 0, ∂L/∂out = " in scene.description
    svg = draw(d, pictures_of(d)[0], "svg").decode()
    assert svg.count("stroke-dasharray") == 1 + 1 + 4  # the dropped edge, its box, the four skip connections
    assert draw(d, pictures_of(d)[0], "pdf").startswith(b"%PDF")


def test_the_words_of_the_picture_are_german_in_german():
    d = _derivation("four-with-dropout")
    with language("de"):
        scene = network_scene(d, 0)
    texts = [t.text for t in scene.texts()]
    assert "Sprungverbindung zu Schicht r" in texts and "d₂: verworfen" in texts
    assert "Sprungverbindungen (gestrichelt, blau) zu Schicht r" in scene.description


def test_the_routing_test_can_fail():
    """A straight skip edge, as a naive picture would draw it, runs through the units and labels in between."""
    scene = network_scene(_derivation("preset"), 0)
    line = next(i for i in scene.items if isinstance(i, Line) and i.color == SKIP)
    straight = (line.points[0], line.points[-1])
    units = [r.extent(-0.5) for r in scene.items if isinstance(r, Rect) and r.stroke != "none"]
    assert any(_crosses(box, *straight) for box in units)
    assert any(_crosses(t.extent(), *straight) for t in scene.texts())
