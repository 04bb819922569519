"""The pooling layer's sentences read as English and German do, for 1-d and 2-d windows: "max pooling of each
map of layer c over 2×2 windows, stride 2", "average pooling … over windows of 2 entries", not "2 average
pooling (stride 2)"."""

from __future__ import annotations

import pytest

from conftest import spec_from
from derive.pipeline import derive
from derive.render.page import render
from derive.spec.parse import load_spec

ONE_D = """
name = "pool1d"
[network]
input_shape = [1, 6]
loss = "half_sse"
[[network.layers]]
name = "p"
type = "{kind}"
kernel = {kernel}
[[network.layers]]
name = "f"
type = "flatten"
[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = {weights}
[[data]]
x = [[1, 3, 2, 5, 4, 0]]
t = [1]
"""

TWO_D = """
name = "pool2d"
[network]
input_shape = [1, 4, 4]
loss = "half_sse"
[[network.layers]]
name = "p"
type = "avgpool2d"
kernel = [2, 1]
stride = [1, 2]
[[network.layers]]
name = "f"
type = "flatten"
[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = [[1], [0.5], [-1], [0.25], [2], [-0.5]]
[[data]]
x = [[[1, 3, 2, 5], [4, 0, 1, 2], [2, 2, 3, 1], [0, 1, 4, 2]]]
t = [1]
"""


def one_d(kind: str, kernel: int):
    size = (6 - kernel) // kernel + 1
    return derive(spec_from(ONE_D.format(kind=kind, kernel=kernel, weights=[[0.5]] * size)))


CASES = {
    "avgpool1d-2": (lambda: one_d("avgpool1d", 2), {
        "en": ("average pooling of each map of the input over windows of 2 entries, stride 2, giving 1 map of 3; "
               "no parameters.", "Each entry is the mean of its window of 2 entries:"),
        "de": ("Average Pooling über Fenster aus 2 Einträgen, Schrittweite 2, Karte für Karte angewandt auf die "
               "Eingabe, ergibt 1 Karte von 3; keine Parameter.", "Jeder Eintrag ist der Mittelwert seines Fensters aus 2 Einträgen:")}),
    "maxpool1d-3": (lambda: one_d("maxpool1d", 3), {
        "en": ("max pooling of each map of the input over windows of 3 entries, stride 3, giving 1 map of 2; "
               "no parameters.", "Each entry is the largest of its window of 3 entries; the entry that won each "
                                 "window is boxed:"),
        "de": ("Max Pooling über Fenster aus 3 Einträgen, Schrittweite 3, Karte für Karte angewandt auf die Eingabe, "
               "ergibt 1 Karte von 2; keine Parameter.", "Jeder Eintrag ist der größte seines Fensters aus 3 Einträgen;")}),
    "cnn": (lambda: derive(load_spec("cnn")), {
        "en": ("max pooling of each map of layer c over 2×2 windows, stride 2, giving 2 maps of 2×2; no parameters.",
               "Each entry is the largest of its 2×2 window; the entry that won each window is boxed:"),
        "de": ("Max Pooling über 2×2-Fenster, Schrittweite 2, Karte für Karte angewandt auf Schicht c, ergibt 2 Karten "
               "von 2×2; keine Parameter.", "Jeder Eintrag ist der größte seines 2×2-Fensters;")}),
    "avgpool2d-2x1": (lambda: derive(spec_from(TWO_D)), {
        "en": ("average pooling of each map of the input over 2×1 windows, stride 1×2, giving 1 map of 3×2; "
               "no parameters.", "Each entry is the mean of its 2×1 window:"),
        "de": ("Average Pooling über 2×1-Fenster, Schrittweite 1×2, Karte für Karte angewandt auf die Eingabe, "
               "ergibt 1 Karte von 3×2; keine Parameter.", "Jeder Eintrag ist der Mittelwert seines 2×1-Fensters:")}),
}


@pytest.mark.parametrize("lang", ["en", "de"])
@pytest.mark.parametrize("case", CASES)
def test_the_pooling_sentences_read_naturally(case, lang):
    make, expected = CASES[case]
    md = render(make(), fmt="md", lang=lang)
    network, forward = expected[lang]
    layer = {"en": "Layer p", "de": "Schicht p"}[lang]
    assert f"- **{layer}**: {network}" in md
    line = next(text for text in md.splitlines() if forward in text)
    assert line.endswith(":")  # the sentence ends its line; the display follows on its own
    assert "(stride" not in md and "(Schrittweite" not in md
