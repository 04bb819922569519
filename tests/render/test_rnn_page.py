"""The page of a recurrent layer, as the user sees it: every step with its numbers, the backward pass through
time, the sums over time, its picture, its notebook; and derive check, audit and worksheet on an rnn.

The preset (3 steps, 1 feature, 2 tanh units, the last state to a dense unit) and a combination it does not
cover (every state through a flatten, relu, 2 features, 4 steps, 3 units, a start state, softmax, adam,
2 instances) in every format; every equation chain of every page is read back and must be true.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from derive.errors import SpecError
from derive.pipeline import derive
from derive.render.page import render, render_files
from derive.render.pictures import Rect, pictures_of, scene_of, steps_scene
from derive.spec.parse import load_spec
from derive.verify.chains import check_page
from tests.conftest import spec_from
from tests.render.test_notebook import code_of, run_code
from tests.render.test_pictures import overlapping

COMBINATION = """
name = "rnn-all"
[network]
input_shape = [4, 2]
loss = "cross_entropy"

[[network.layers]]
name = "h"
type = "rnn"
size = 3
activation = "relu"
weights_ih = [[0.5, -0.25], [-1, 0.5], [0.25, 0.75]]
weights_hh = [[0.5, 0, -0.25], [0.5, -0.5, 0.25], [0, 0.25, 0.5]]
bias_ih = [0.1, 0.2, -0.1]
bias_hh = [0, 0.1, 0.05]
h0 = [0.1, -0.2, 0.3]
output = "all"

[[network.layers]]
name = "f"
type = "flatten"

[[network.layers]]
name = "y"
size = 2
activation = "softmax"
weights = { random = "normal", std = 0.3, seed = 1, decimals = 2 }
bias = [0, 0]

[[data]]
x = [[1, 0.5], [0.5, -1], [-1, 2], [0.3, 0.2]]
t = 1

[[data]]
x = [[0, 1], [1, 1], [2, -1], [-0.5, 0.5]]
t = 2

[training]
optimizer = "adam"
learning_rate = 0.05
epochs = 5
"""


@pytest.fixture(scope="module")
def preset():
    return derive(load_spec("rnn"))


@pytest.fixture(scope="module")
def combination():
    return derive(spec_from(COMBINATION, "rnn-all"))


def _chains(text: str, fmt: str):
    report = check_page(text, fmt)
    assert report.ok, report.failures[:1]
    return report


@pytest.mark.parametrize("which", ["preset", "combination"])
@pytest.mark.parametrize("fmt", ["md", "tex", "html", "ipynb"])
def test_every_chain_of_every_format_is_true(which, fmt, request):
    d = request.getfixturevalue(which)
    text = render(d, fmt=fmt, pictures=fmt in ("html", "ipynb"))
    report = _chains(text, fmt)
    assert report.checked > 50  # the steps, the backward pass through time and the sums over time are read


def test_the_page_shows_every_step_as_vectors_with_one_unit_written_out(preset):
    text = render(preset, fmt="md")
    num = preset.instances[0]
    for t in (1, 2, 3):
        # h_t as a small vector, its numbers those of an independent pass
        values = [num.value[f"h{t}_{j}_out"] for j in (1, 2)]
        head = rf"h_{{{t}}}^{{\mathrm{{out}}}} = \tanh{{\left(h_{{{t}}}^{{\mathrm{{in}}}} \right)}} = \begin{{bmatrix}} "
        line = next(x for x in text.splitlines() if head in x)
        shown = line.split(head)[1].split(r" \end{bmatrix}")[0].split(r" \\ ")
        np.testing.assert_allclose([float(v) for v in shown], values, rtol=1e-3)
        assert f"h_{{{t},1}}^{{\\mathrm{{in}}}} &= w^{{\\mathrm{{ih}}}}_{{11}} x_{{{t},1}}" in text  # unit 1 written out
    # the last state, from an independent NumPy pass
    h = np.zeros(2)
    W_ih, W_hh = np.array([[0.5], [-1]]), np.array([[0.5, 0], [0.5, -0.5]])
    for x in (1, 0.5, -1):
        h = np.tanh(W_ih @ [x] + [0, 0.5] + W_hh @ h)
    np.testing.assert_allclose([num.value["h3_1_out"], num.value["h3_2_out"]], h, rtol=1e-12)


def test_the_sum_over_time_is_written_out_for_one_weight_of_each_matrix(preset):
    text = render(preset, fmt="md")
    block = text[text.index("**The shared weights.**"):]
    lines = block.splitlines()
    for key, tex in (("wih11", r"w^{\mathrm{ih}}_{11}"), ("whh11", r"w^{\mathrm{hh}}_{11}")):
        k = next(i for i, x in enumerate(lines) if x.startswith(r"\frac{\partial L}{\partial " + tex + "} &= \\sum_{t=1}^{3}"))
        numbers = lines[k + 1]
        body, value = numbers.split(r" \approx ")
        terms = re.findall(r"(?:\\left\()?(-?[\d.]+)(?:\\right\))? \\cdot (?:\\left\()?(-?[\d.]+)", body)
        assert len(terms) == 3, numbers  # one term per step
        assert sum(float(a) * float(b) for a, b in terms) == pytest.approx(preset.grad[key], rel=2e-3)
        assert float(value.split()[0]) == pytest.approx(preset.grad[key], rel=1e-3)
    # the table: every parameter, its share at each step, the total
    rows = re.findall(r"^\| \$(w|b)\^.*$", block, flags=re.M)
    assert len(rows) == 10


def test_the_gradient_of_a_state_adds_the_output_and_the_next_step(combination):
    text = render(combination, fmt="md")
    text = text[text.index("## Backpropagation"):]
    parts = re.findall(r"The two parts, from layer y and from step (\d), add up: \$\\frac\{\\partial L\}\{\\partial "
                       r"h_\{(\d),1\}\^\{\\mathrm\{out\}\}\} = ([-\d.]+) \+ (?:\\left\()?([-\d.]+)", text)
    assert text.count("The two parts, from layer y and from step") == 2 * 3  # steps 3, 2, 1 of both instances
    assert len(parts) >= 4
    for nxt, t, a, b in parts:
        assert int(nxt) == int(t) + 1
        n = 0 if text.index(f"The two parts, from layer y and from step {nxt}, add up: $\\frac{{\\partial L}}{{\\partial "
                            f"h_{{{t},1}}^{{\\mathrm{{out}}}}}} = {a}") < text.index("### Instance 2") else 1
        assert float(a) + float(b) == pytest.approx(combination.instances[n].grad[f"h{t}_1_out"], abs=2e-3)


def test_the_picture_is_the_unrolled_graph_with_numbers_and_no_label_on_another(preset, combination):
    for d in (preset, combination):
        roles = [p.role for p in pictures_of(d)]
        assert "steps-1" in roles
        T = d.spec.input_shape[0]
        for notation in ("inout", "layer"):
            scene = steps_scene(d, 0, notation=notation)
            assert overlapping(scene.items) == []
            texts = [t.text for t in scene.texts()]
            assert [f"h{chr(0x2080 + t)}" for t in range(T + 1)] == [t for t in texts if re.fullmatch("h.", t)]
            assert [f"x{chr(0x2081 + t)}" for t in range(T)] == [t for t in texts if re.fullmatch("x.", t)]
            boxes = [r.extent() for r in scene.items if isinstance(r, Rect) and r.stroke != "none"]
            for t in scene.texts():  # every number inside its box, every box inside the picture
                x0, y0, x1, y1 = t.extent()
                assert 0 <= x0 and x1 <= scene.width and 0 <= y0 and y1 <= scene.height, t.text
                if re.fullmatch(r"[−\d.× ⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+", t.text):
                    assert any(b[0] <= x0 and x1 <= b[2] and b[1] <= y0 and y1 <= b[3] for b in boxes), t.text
        num = d.instances[0]
        shown = {t.text for t in steps_scene(d, 0).texts()}
        from derive.render.printer import format_number

        for k in ("h1_1_out", "h2_2_out"):  # the numbers are the derivation's
            assert format_number(num.value[k], 4).replace("-", "−") in shown


def test_a_worksheet_picture_gives_the_inputs_not_the_states(preset):
    from derive.render.pictures import Picture

    scene = scene_of(preset, Picture("given-1", ""))
    texts = [t.text for t in scene.texts()]
    assert texts.count("?") == 3 * 2 + 1  # every state, and the output the states feed (its box kept, as "?")
    assert "0.4621" not in texts and "y" in texts


def test_the_notebook_recomputes_every_number(preset, combination):
    for d in (preset, combination):
        out = run_code(code_of(render(d, fmt="ipynb")))
        assert "agree with the derivation" in out
        assert "dL/dW of layer h" in out


def test_files_of_every_format(tmp_path, combination):
    for fmt in ("md", "tex", "html", "ipynb"):
        files = render_files(combination, fmt=fmt, pictures=True)
        assert any("steps-1" in name for name in files) or fmt in ("html", "ipynb")


def test_german_page_has_every_chain_true(combination):
    text = render(combination, fmt="md", lang="de")
    assert "Schritt" in text and "zurück durch die Zeit" in text
    _chains(text, "md")


def test_the_trained_parameters_are_shown_as_the_two_matrices(preset):
    text = render(preset, fmt="md")
    trained = text[text.index("The parameters after training"):]
    W = preset.training.params.W[0]
    assert re.search(r"W\^\{\\mathrm\{ih\}\}_\{h\} = \\begin\{bmatrix\} " + re.escape(f"{W[0, 0]:.4g}"), trained)


# -- derive check, audit and worksheet


def test_check_a_key_passes_and_a_wrong_number_is_flagged(preset):
    import derive as api

    key = {k: v for k, v in preset.instances[0].value.items() if preset.graph[k].expr is not None}
    key.update({f"dL/d{k}": v for k, v in preset.instances[0].grad.items() if k != "L"})
    assert api.check(preset, {"instance1": key}).ok
    bad = {"instance1": dict(key, **{"h2_1_out": 0.5})}
    report = api.check(preset, bad)
    wrong = [v for v in report.verdicts if v.status == "wrong"]
    assert [v.name for v in wrong] == ["instance1.h2_1_out"]


def test_check_names_the_forgotten_sum_over_time(preset):
    """dL/dw_hh11 from the last step alone: the diagnosis says the sum over the steps was left out."""
    import derive as api

    num = preset.instances[0]
    last = [t for t in preset.steps.steps["whh11"].terms if preset.graph[t.child].index[0] == 2][0]
    report = api.check(preset, {"instance1": {"dL/dwhh11": num.grad[last.child] * num.local[(last.child, "whh11")]}})
    (verdict,) = report.verdicts
    assert verdict.status == "wrong" and "sum over the steps" in verdict.diagnosis


def test_audit_of_the_rendered_page(preset, tmp_path):
    import derive as api

    text = render(preset, fmt="md")
    assert api.audit(preset, text, fmt="md").ok
    wrong = text.replace(r"\tanh{\left(0.4811 \right)} \approx 0.4471", r"\tanh{\left(0.4811 \right)} \approx 0.4571")
    assert wrong != text
    report = api.audit(preset, wrong, fmt="md")
    assert not report.ok and any(f.given == pytest.approx(0.4571) for f in report.findings)


@pytest.mark.parametrize("kinds", [("md",), ("md", "pdf")])
def test_worksheet_asks_every_step_and_its_key_checks(tmp_path, kinds):
    from derive.worksheets.write import worksheet_files

    if "pdf" in kinds:
        import shutil

        if not shutil.which("pdflatex"):
            pytest.skip("pdflatex")
    files = worksheet_files(load_spec("rnn"), variants=2, seed=3, formats=kinds)
    sheet = files["variant-01.sheet.md"]
    for t in (1, 2, 3):
        assert f"`instance1.h{t}_1_out`" in sheet and f"`instance1.dL/dh{t}_1_in`" in sheet
    if "pdf" in kinds:
        assert files["sheets.pdf"][:4] == b"%PDF"
    import derive as api

    d = derive(spec_from(files["variant-02.toml"], "v2"))
    (tmp_path / "key.toml").write_text(files["variant-02.key.toml"])
    assert api.check(d, tmp_path / "key.toml").ok


def test_malformed_output_is_one_line_naming_the_field():
    with pytest.raises(SpecError) as err:
        derive(spec_from(COMBINATION.replace('output = "all"', "output = 2"), "bad"))
    assert err.value.field == "network.layers[0].output" and "\n" not in str(err.value)


def test_values_json_shapes(combination):
    values = combination.to_values()
    inst = values["instances"][0]
    assert np.shape(inst["layers"]["h"]["out"]) == (4, 3)
    assert np.shape(inst["grad"]["h"]["in"]) == (4, 3)
    assert np.shape(values["grad"]["h"]["weights_ih"]) == (3, 2)
    assert np.shape(values["grad"]["h"]["weights_hh"]) == (3, 3)
    assert np.shape(values["after_step"]["state"]["h"]["weights_hh"]["exp_avg"]) == (3, 3)
    assert np.shape(inst["x"]) == (4, 2)
    json.dumps(values, allow_nan=False)


def test_check_names_the_other_classic_mistakes_in_an_rnn(preset):
    """The activation's derivative left out at the last step, and W_hh read transposed going back a step."""
    import derive as api

    num, p = preset.instances[0], preset.params
    report = api.check(preset, {"instance1": {"dL/dh3_1_in": num.grad["h3_1_out"]}})
    assert "derivative left out in layer h" in report.verdicts[0].diagnosis
    transposed = num.grad["h3_1_in"] * p["whh11"] + num.grad["h3_2_in"] * p["whh12"]  # w_hh21 is the right one
    report = api.check(preset, {"instance1": {"dL/dh2_1_out": transposed}})
    assert "W_hh of layer h read transposed in the backward pass" in report.verdicts[0].diagnosis


def test_the_outputs_box_names_every_layer_between_the_states_and_the_loss(preset, combination):
    """The arrow from the last state goes to the outputs' box: with a flatten (or more) in between, the box
    says so (h → f → y), so the picture does not claim the states feed the output layer directly."""
    titles = lambda d: [t.text for t in steps_scene(d, 0).texts() if t.bold]  # noqa: E731
    assert "y" in titles(preset) and "f → y" in titles(combination)
