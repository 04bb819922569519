"""What a reader of a page takes at its word: the checks' notes, the prose naming a loss, the footer."""

from __future__ import annotations

from conftest import spec_from
from derive.pipeline import derive
from derive.render.page import render
from derive.spec.parse import load_spec

HINGE_AT_KINK = """
name = "hinge-kink"
[network]
inputs = 1
loss = "hinge"
[[network.layers]]
name = "y"
size = 3
activation = "identity"
weights = [[0.5, 1.5, 0.25]]
[[data]]
x = [1.0]
t = 2
"""

SIGMOID_BCE = """
[network]
inputs = 2
loss = "bce"
[[network.layers]]
size = 1
activation = "sigmoid"
weights = [[1.1], [-0.6]]
[[data]]
x = [0.5, -1.5]
t = [1]
"""


def test_a_kink_note_names_what_sits_on_the_kink():
    d = derive(spec_from(HINGE_AT_KINK))
    # y_3 − y_2 + 1 = 0.25 − 1.5 + 1 ≠ 0 but y_1 − y_2 + 1 = 0.5 − 1.5 + 1 = 0: a margin of the hinge is exactly 0
    note = d.checks["sympy_diff"].note
    assert "hinge" in note and "relu" not in note, note


def test_the_edge_count_is_the_computation_graphs():
    d = derive(load_spec("slp-identity"))
    note = d.checks["sympy_diff"].note
    assert f"computation graph has {d.graph.edges} edges" in note, note


def test_the_shortcut_prose_names_the_loss_and_the_activation_in_words():
    page = render(derive(spec_from(SIGMOID_BCE)))
    assert "Binary cross-entropy after the logistic sigmoid simplifies to" in page
    assert "Bce after" not in page


def test_the_footer_names_the_spec_file_not_its_folder(tmp_path):
    folder = tmp_path / "private-folder"
    folder.mkdir()
    (folder / "mine.toml").write_text(SIGMOID_BCE)
    page = render(derive(load_spec(folder / "mine.toml")))
    assert "from mine.toml." in page and "private-folder" not in page
