"""Circuits ([circuit] specs): parsing and its errors, values against published figures, sympy.diff and
torch.autograd, pages in every format with every chain true, the picture, the notebook."""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys

import pytest

from conftest import ROOT, need, spec_from
from derive.errors import SpecError
from derive.pipeline import derive
from derive.render.circuit import circuit_scene, overlapping
from derive.render.page import render, render_files
from derive.spec.parse import load_spec
from derive.verify.chains import check_page
from tests.circuit.helpers import random_circuit

SEEDS = range(int(os.environ.get("DERIVE_CIRCUITS", "24")))


def circuit(text: str):
    return derive(spec_from(text))


# --------------------------------------------------------------------------- published figures


def test_add_times_gives_cs231n_figures():
    """CS231n, Backpropagation Intuitions: q = 3, f = -12, df/dx = df/dy = -4, df/dz = 3."""
    d = derive(load_spec("add-times"))
    v = d.to_values()
    assert v["output"] == -12
    assert v["nodes"]["q"]["value"] == 3
    assert [v["nodes"][k]["grad"] for k in ("x", "y", "z", "q")] == [-4, -4, 3, -4]


def test_sigmoid_neuron_gives_cs231n_figures_at_their_digits():
    """CS231n's sigmoid neuron: output 0.73; gradients w0 -0.20, x0 0.39, w1 -0.39, x1 -0.59, w2 0.20 (2 decimals)."""
    d = derive(load_spec("sigmoid-neuron"))
    assert f"{d.output:.2f}" == "0.73"
    published = {"w0": "-0.20", "x0": "0.39", "w1": "-0.39", "x1": "-0.59", "w2": "0.20"}
    assert {k: f"{d.grad[k]:.2f}" for k in published} == published
    # the figure's intermediate values: the sum 1.00, its negation -1.00, exp 0.37, +1 1.37, 1/x 0.73
    assert [f"{d.value[k]:.2f}" for k in ("s", "n", "m", "p", "f")] == ["1.00", "-1.00", "0.37", "1.37", "0.73"]
    # and the gradients flowing back through them: 1/x -0.53, +1 -0.53, exp -0.20, *-1 0.20
    assert [f"{d.grad[k]:.2f}" for k in ("p", "m", "n", "s")] == ["-0.53", "-0.53", "-0.20", "0.20"]


# --------------------------------------------------------------------------- independent: torch, sympy


def _torch_eval(tree, env, torch):
    """The test's own interpreter of a formula tree in torch (float64), apart from derive's."""
    if isinstance(tree, ast.Constant):
        return torch.tensor(float(tree.value), dtype=torch.float64)
    if isinstance(tree, ast.Name):
        return {"e": torch.tensor(math.e, dtype=torch.float64), "pi": torch.tensor(math.pi, dtype=torch.float64)}.get(
            tree.id, env.get(tree.id))
    if isinstance(tree, ast.UnaryOp):
        x = _torch_eval(tree.operand, env, torch)
        return -x if isinstance(tree.op, ast.USub) else x
    if isinstance(tree, ast.BinOp):
        a, b = _torch_eval(tree.left, env, torch), _torch_eval(tree.right, env, torch)
        return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.Div: lambda: a / b,
                ast.Pow: lambda: a ** b}[type(tree.op)]()
    args = [_torch_eval(a, env, torch) for a in tree.args]
    f = tree.func.id
    table = {"exp": torch.exp, "log": torch.log, "ln": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
             "tanh": torch.tanh, "sigma": torch.sigmoid, "sigmoid": torch.sigmoid, "relu": torch.relu,
             "max": torch.maximum, "min": torch.minimum}
    return table[f](*args)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_circuits_match_torch_autograd(seed):
    torch = pytest.importorskip("torch")
    d = circuit(random_circuit(seed))
    spec = d.spec
    env = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in spec.inputs}
    for n in spec.nodes:
        tree = ast.parse(n.text.replace("^", "**"), mode="eval").body
        env[n.name] = _torch_eval(tree, env, torch)
        env[n.name].retain_grad()
    env[spec.output].backward()
    for k in spec.names:
        assert abs(env[k].item() - d.value[k]) <= 1e-10 * max(1, abs(d.value[k])), k
        g = 1.0 if k == spec.output else env[k].grad.item()
        assert abs(g - d.grad[k]) <= 1e-10 * max(1, abs(g)), (k, g, d.grad[k])


@pytest.mark.parametrize("seed", SEEDS)
def test_random_circuits_pass_sympy_diff_and_finite_differences(seed):
    d = circuit(random_circuit(seed))
    for name in ("sympy_diff", "finite_differences"):
        c = d.checks[name]
        assert c.passed is True, (name, c)
        assert c.max_abs_error < 1e-10 if name == "sympy_diff" else c.max_abs_error < 1e-6


def test_the_checks_catch_a_wrong_gradient():
    """A check that cannot fail is no check: a wrong local gradient is caught by both."""
    from derive.verify.circuit import run_circuit_checks

    d = derive(load_spec("add-times"), verify=False)
    d.numbers.grad["x"] = 4.0
    checks = run_circuit_checks(d)
    assert checks["sympy_diff"].passed is False and checks["finite_differences"].passed is False


# --------------------------------------------------------------------------- spec errors


BASE = 'name = "c"\n[circuit]\ninputs = {{ x = 2, y = 3 }}\nnodes = [{nodes}]\noutput = "{out}"\n'

BAD = {
    "unknown name": ('"q = x + w"', "f", "circuit.nodes[0]", "unknown name 'w'"),
    "cycle": ('"q = q + x", "f = q * y"', "f", "circuit.nodes[0]", "cycle"),
    "forward reference": ('"q = r + x", "r = y * 2", "f = q * r"', "f", "circuit.nodes[0]", "before it is defined"),
    "defined twice": ('"q = x + y", "q = x * y", "f = q"', "f", "circuit.nodes[1]", "defined twice"),
    "leaf defined again": ('"x = y + 1", "f = x"', "f", "circuit.nodes[0]", "defined twice"),
    "function name": ('"exp = x + y", "f = exp"', "f", "circuit.nodes[0]", "function"),
    "constant name": ('"e = x + y", "f = e"', "f", "circuit.nodes[0]", "constant"),
    "bad output": ('"q = x + y", "f = q * y"', "g", "circuit.output", "not a node"),
    "leaf output": ('"q = x + y", "f = q * y"', "x", "circuit.output", "is a leaf"),
    "log of non-positive": ('"q = x - y", "f = log(q)"', "f", "circuit.nodes[1]", "log of a number that is not positive"),
    "division by zero": ('"q = y - 3", "f = x / q"', "f", "circuit.nodes[1]", "divides by zero"),
    "sqrt of negative": ('"q = x - y", "f = sqrt(q)"', "f", "circuit.nodes[1]", "square root of a negative"),
    "eval attempt": ('"f = __import__(x)"', "f", "circuit.nodes[0]", "unknown function"),
    "attribute": ('"f = x.real"', "f", "circuit.nodes[0]", "Attribute"),
    "not a formula": ('"f = x +"', "f", "circuit.nodes[0]", "not a formula"),
    "no equals": ('"x + y"', "f", "circuit.nodes[0]", "name = formula"),
    "unused node": ('"q = x + y", "r = x * 2", "f = q * y"', "f", "circuit.nodes[1]", "does not lead"),
    "one argument max": ('"f = max(x)"', "f", "circuit.nodes[0]", "two arguments"),
    "number node": ('"q = 2 + 3", "f = x * y + q"', "f", "circuit.nodes[0]", "make it a leaf"),
}


@pytest.mark.parametrize("case", BAD, ids=str)
def test_bad_circuits_get_one_line_naming_the_field(case, tmp_path):
    nodes, out, field, words = BAD[case]
    path = tmp_path / "c.toml"
    path.write_text(BASE.format(nodes=nodes, out=out))
    run = subprocess.run([sys.executable, "-m", "derive", "values", str(path)], capture_output=True, text=True,
                         cwd=ROOT)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert f": {field}: " in lines[0] and words in lines[0], lines[0]


def test_bad_leaves_and_parameters_name_the_field():
    cases = {'inputs = { x = "a" }\nnodes = ["f = x"]': "circuit.inputs.x",
             'inputs = { sigma = 1 }\nnodes = ["f = sigma * 2"]': "circuit.inputs.sigma",
             'inputs = { x = 1, y = 2 }\nnodes = ["f = x * 2"]': "circuit.inputs.y",
             'inputs = { x = 1 }\nnodes = ["f = x * 2"]\nparameters = ["q"]': "circuit.parameters[0]",
             'inputs = { x = 1, dx = 2 }\nnodes = ["f = x * dx"]': "circuit.inputs.dx",
             'inputs = { x = 1 }\nnodes = ["f = x * 2"]\nlayers = 3': "circuit.layers"}
    for body, field in cases.items():
        with pytest.raises(SpecError) as err:
            spec_from(f'name = "c"\n[circuit]\n{body}\noutput = "f"\n')
        assert err.value.field == field, (body, str(err.value))


# --------------------------------------------------------------------------- pages


def _pages(d):
    for fmt in ("md", "html", "tex", "ipynb"):
        yield fmt, render(d, fmt=fmt, pictures=True)


@pytest.mark.parametrize("preset", ["add-times", "sigmoid-neuron"])
def test_preset_pages_show_only_true_chains(preset):
    d = derive(load_spec(preset))
    least = {"add-times": 8, "sigmoid-neuron": 40}[preset]
    for fmt, text in _pages(d):
        report = check_page(text, fmt)
        assert report.failures == []
        assert report.checked >= least, (fmt, report.checked)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_circuit_pages_show_only_true_chains(seed):
    d = circuit(random_circuit(seed, training=seed % 3 == 0))
    for fmt, text in _pages(d):
        report = check_page(text, fmt)
        assert report.failures == []
        assert report.checked >= 2 * len(d.spec.nodes), (fmt, report.checked)


def test_the_page_check_catches_a_false_chain():
    text = render(derive(load_spec("add-times")), fmt="md")
    wrong = text.replace(r"3 \cdot \left(-4\right) = -12", r"3 \cdot \left(-4\right) = -11")
    assert wrong != text
    assert len(check_page(wrong, "md").failures) == 1


def test_branching_wires_add_their_gradients():
    """x feeds two gates: the page says the gradients add and shows the sum of the two products."""
    d = circuit('name = "branch"\n[circuit]\ninputs = { x = 3, y = -2 }\n'
                'nodes = ["a = x * y", "b = x + y", "f = a * b"]\noutput = "f"\n')
    # f = (x y)(x + y): df/dx = y (x + y) + x y = -2 + (-6) = -8
    assert d.grad["x"] == -8
    text = render(d, fmt="md")
    assert "branches" in text
    assert r"\frac{df}{dx} = \frac{df}{da} \, \frac{\partial a}{\partial x} + \frac{df}{db} \, " in text
    assert r"= -2 - 6 = -8" in text


def test_notebook_recomputes_every_number():
    from tests.render.test_notebook import code_of, run_code

    for text in (random_circuit(5, training=True), random_circuit(7)):
        d = circuit(text)
        printed = run_code(code_of(render(d, fmt="ipynb")))
        edges = len(d.steps.local)
        assert printed.count("agrees with the derivation") >= len(d.spec.nodes) + edges + len(d.spec.names) - 1


def test_preset_notebook_runs_in_a_kernel():
    from tests.render.test_notebook import execute

    nb = execute(render(derive(load_spec("sigmoid-neuron")), fmt="ipynb", pictures=True))
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not any(o.get("output_type") == "error" for o in outputs)
    assert "".join(o.get("text", "") for o in outputs).count("agrees with the derivation") >= 30


# --------------------------------------------------------------------------- the picture


@pytest.mark.parametrize("which", ["add-times", "sigmoid-neuron", *[f"random-{s}" for s in SEEDS]])
def test_circuit_picture_has_no_label_on_another(which):
    d = derive(load_spec(which)) if not which.startswith("random") else circuit(random_circuit(int(which[7:])))
    for reveal in (True, False):
        scene = circuit_scene(d, reveal=reveal)
        assert overlapping(scene) == []
        assert all(0 <= t.extent()[0] and t.extent()[2] <= scene.width for t in scene.texts())
        assert all(0 <= t.extent()[1] and t.extent()[3] <= scene.height for t in scene.texts())


def test_the_circuit_overlap_test_can_fail():
    from derive.render.pictures import Scene, Text

    scene = Scene(100, 100, [Text(10, 10, "q = 3", 10), Text(14, 12, "−4", 10)])
    assert overlapping(scene) == [("q = 3", "−4")]


def test_picture_labels_every_wire_with_value_and_gradient():
    svg = render_files(derive(load_spec("add-times")), fmt="md", pictures=True)["add-times-circuit.svg"].decode()
    for label in ("x = −2", "y = 5", "z = −4", "q = 3", "f = −12", ">−4<", ">3<", ">1<"):
        assert label in svg, label
    assert "<text" in svg and "<title" in svg


# --------------------------------------------------------------------------- values JSON and training


def test_values_json_of_a_circuit():
    run = subprocess.run([sys.executable, "-m", "derive", "values", "add-times"], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    v = json.loads(run.stdout)
    assert v["name"] == "add-times" and v["output"] == -12
    assert v["nodes"]["z"] == {"value": -4, "grad": 3}
    assert v["checks"]["sympy_diff"]["passed"] and v["checks"]["finite_differences"]["passed"]


def test_training_takes_gradient_steps_on_the_parameters():
    torch = pytest.importorskip("torch")
    text = ('name = "t"\n[circuit]\ninputs = { w = 1.5, x = 2, b = -0.5 }\nnodes = ["s = w * x + b", "f = s ^ 2"]\n'
            'output = "f"\nparameters = ["w", "b"]\n[training]\nlearning_rate = 0.05\nepochs = 4\noptimizer = "momentum"\n'
            'momentum = 0.9\n')
    d = circuit(text)
    w = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-0.5, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=0.05, momentum=0.9)
    outs = []
    for _ in range(4):
        opt.zero_grad()
        f = (w * 2 + b) ** 2
        outs.append(f.item())
        f.backward()
        opt.step()
    outs.append(((w * 2 + b) ** 2).item())
    assert d.training.outputs == pytest.approx(outs, rel=1e-12)
    assert d.training.params[-1]["w"] == pytest.approx(w.item(), rel=1e-12)
    assert "## Gradient steps" in render(d, fmt="md")


def test_kinked_gates_show_their_brackets_and_every_chain_is_read():
    """|x|, max, min and ReLU: their local gradients are sign(x) and Iverson brackets, with numbers, all checked."""
    d = circuit('name = "kinks"\n[circuit]\ninputs = { x = -1.2345, y = 0.7 }\n'
                'nodes = ["q = abs(x)", "r = max(q, y)", "s = min(x, y)", "t = relu(s)", '
                '"f = r * sigma(y) + t + sqrt(q * q + 1) + y ^ 3"]\noutput = "f"\n')
    text = render(d, fmt="md")
    assert r"\operatorname{sign}\left(-1.234\right) = -1" in text
    assert r"\left[1.234 - 0.7 > 0\right] = 1" in text
    assert r"f = r \cdot \sigma\left(y\right) + t + \sqrt{q \cdot q + 1} + y^{3}" in text  # one sum, no nesting
    report = check_page(text, "md")
    assert report.failures == [] and sum(c.unreadable for c in report.chains) == 0
    wrong = text.replace(r"\operatorname{sign}\left(-1.234\right) = -1", r"\operatorname{sign}\left(-1.234\right) = 1")
    assert len(check_page(wrong, "md").failures) == 1


def test_a_title_keeps_the_space_before_its_math():
    from derive.render.escape import md_prose

    assert md_prose("through a circuit: $f = (x + y) z$", field="title", one_line=True) == \
        "through a circuit: $f = (x + y) z$"
    assert r"\title{Backpropagation through a circuit: $f" in render(derive(load_spec("add-times")), fmt="tex")


@pytest.mark.parametrize("preset", ["add-times", "sigmoid-neuron"])
def test_german_circuit_pages_and_sheets_carry_no_english(preset, tmp_path):
    from tests.render.test_languages import english_in, user_words
    from derive.i18n import language
    from derive.worksheets.circuit import circuit_worksheet_files

    d = derive(load_spec(preset))
    files = render_files(d, fmt="md", lang="de", pictures=True)
    md = files[f"{preset}.md"]
    assert english_in(md, user_text=user_words(d.spec)) == []
    assert "## Der Schaltkreis" in md and check_page(md, "md").failures == []
    assert "Der Schaltkreis" in files[f"{preset}-circuit.svg"].decode()
    cells = json.loads(render_files(d, fmt="ipynb", lang="de", pictures=False)[f"{preset}.ipynb"])["cells"]
    english = json.loads(render_files(d, fmt="ipynb", pictures=False)[f"{preset}.ipynb"])["cells"]
    assert [c["cell_type"] for c in cells] == [c["cell_type"] for c in english]  # each code cell after its section
    with language("de"):
        sheets = circuit_worksheet_files(load_spec(preset), variants=1, seed=1)
    for name in ("variant-01.sheet.md", "variant-01.key.md", "keys.md"):
        assert english_in(sheets[name], user_text=user_words(d.spec)) == [], name


def test_a_circuit_that_doubles_its_expression_is_checked_in_time():
    """q_k = q_{k-1}·q_{k-1} + …: the composed expression doubles with each node (2^30 parts): sympy.diff is skipped,
    saying so, and finite differences compare the gradients whose differences settle."""
    nodes = ['"q1 = x * y"'] + [f'"q{i} = q{i - 1} * q{i - 1} + q{i - 1} - q{i - 1}"' for i in range(2, 31)]
    d = circuit('name = "dbl"\n[circuit]\ninputs = { x = 1.0, y = 1.0 }\nnodes = [' + ", ".join(nodes)
                + ']\noutput = "q30"\n')
    assert d.checks["sympy_diff"].passed is None and "more than 4000 parts" in d.checks["sympy_diff"].note
    assert d.checks["finite_differences"].passed is True and "of 32 gradients compared" in d.checks["finite_differences"].note
    assert d.grad["x"] == 2.0 ** 29


def test_a_spec_with_a_network_and_a_circuit_is_refused():
    with pytest.raises(SpecError) as err:
        spec_from('name = "c"\n[circuit]\ninputs = { x = 1 }\nnodes = ["f = x * 2"]\noutput = "f"\n'
                  '[network]\ninputs = 1\n')
    assert err.value.field == "circuit" and "not both" in str(err.value)
