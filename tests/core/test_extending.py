"""Extending derive at run time: a new activation (softplus) and a new loss (log-cosh), each one class and
one register line, as docs/extending.md walks a contributor through; no file of the package is edited.

With both registered, a spec that uses them is derived and checked (NumPy, finite differences,
sympy.diff, the update), rendered to md, tex and ipynb, the notebook runs in a Jupyter kernel, a
worksheet is drawn and its key passes `derive check`, a formula answer may call softplus, and every
value and gradient agrees with PyTorch.
"""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest
import sympy as sp

from conftest import spec_from
from derive.core import activations, losses
from derive.core.activations import Activation, sigmoid
from derive.core.losses import Loss
from derive.grade.answers import answers_file, parse_answers
from derive.grade.judge import check_answers
from derive.pipeline import derive
from derive.render.page import render


# --------------------------------------------------------------------------- the contributor's two classes


class Softplus(Activation):
    r"""$f(z) = \ln(1 + e^z)$, $f'(z) = \sigma(z)$."""

    name = "softplus"
    title = "the softplus"
    saturates = True  # f'(z) = σ(z) rounds to 0 for very negative z
    target_range = (0, 3, 0)
    formula_functions = {"softplus": (lambda z: math.log1p(math.exp(-abs(z))) + max(z, 0.0),
                                      lambda z: sp.log(1 + sp.exp(z)))}
    latex_words = {r"\operatorname{softplus}": "softplus"}

    def expr(self, z):
        return sp.log(1 + sp.exp(z))

    def derivative(self, z, a):
        return sigmoid(z)

    def forward(self, z, layer):
        return np.logaddexp(0.0, z)

    def slope_at(self, z, a, layer):
        return np.exp(-np.logaddexp(0.0, -z))  # σ(z), without overflow

    def code_forward(self, Z, layer):
        return f"np.logaddexp(0.0, {Z})"

    def code_backward(self, Z, A, dA, layer):
        return f"{dA} * np.exp(-np.logaddexp(0.0, -{Z}))  # softplus: f'(z) = sigma(z)"


class LogCosh(Loss):
    r"""$L = \sum_k \ln\cosh(y_k - t_k)$, $\partial L / \partial e_k = \tanh e_k$."""

    name = "log_cosh"
    uses_errors = True
    sheet_text = r"the sum of the log-cosh of its errors, $L = \sum_k \ln \cosh (y_k - t_k)$"

    def expr(self, es, ts=()):
        terms = [sp.log(sp.cosh(e)) for e in es]
        return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]

    def partial(self, k, es, ts=()):
        return sp.tanh(es[k])

    def sentence(self, error, outputs):
        return (f"The loss of one instance is the sum of the log-cosh of the errors, with the error of each "
                f"output, ${error}$ and so on:")

    def forward(self, Y, T):
        e = np.abs(Y - T)
        return (e + np.log1p(np.exp(-2 * e)) - math.log(2)).sum(axis=1)  # ln cosh e, stable for large e

    def backward(self, Y, T):
        return np.tanh(Y - T)

    def code_forward(self):
        return "np.log(np.cosh(Y - T)).sum(axis=1)"

    def code_backward(self):
        return "np.tanh(Y - T)"


SPEC = """
name = "softplus-logcosh"
[network]
inputs = 2
loss = "log_cosh"
reduction = "mean"
[[network.layers]]
name = "h"
size = 3
activation = "softplus"
weights = [[0.5, -0.3, 0.8], [-0.2, 0.7, 0.1]]
bias = [0.1, -0.2, 0.05]
[[network.layers]]
name = "y"
size = 2
activation = "softplus"
weights = [[0.3, -0.6], [0.9, 0.2], [-0.4, 0.5]]
bias = [0.0, 0.1]
[[data]]
x = [1.0, -2.0]
t = [0.5, 1.5]
[[data]]
x = [-0.5, 0.75]
t = [1.0, 0.25]
[training]
learning_rate = 0.1
epochs = 5
"""


@pytest.fixture(scope="module")
def registered():
    activations.register(Softplus)
    losses.register(LogCosh)
    yield
    activations.unregister("softplus")
    losses.unregister("log_cosh")


@pytest.fixture(scope="module")
def d(registered):
    return derive(spec_from(SPEC, "softplus-logcosh"))


def test_every_check_passes(d):
    assert {name: c.passed for name, c in d.checks.items()} == {
        "numpy": True, "finite_differences": True, "sympy_diff": True, "update": True, "shortcut": None}


def test_values_and_gradients_agree_with_pytorch(d):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    spec = d.spec
    X = torch.tensor([inst.x for inst in spec.data], dtype=torch.float64)
    T = torch.tensor([inst.t for inst in spec.data], dtype=torch.float64)
    params = [(torch.tensor(layer.weights, dtype=torch.float64, requires_grad=True),
               torch.tensor(layer.bias, dtype=torch.float64, requires_grad=True)) for layer in spec.layers]
    a = X
    outs = []
    for W, b in params:
        a = F.softplus(a @ W + b)
        outs.append(a)
    per_instance = torch.log(torch.cosh(a - T)).sum(dim=1)
    per_instance.mean().backward()
    assert [n.loss for n in d.instances] == pytest.approx(per_instance.tolist(), rel=1e-12)
    for l, (units, (W, b)) in enumerate(zip(d.graph.layer_units, params)):
        for n, num in enumerate(d.instances):
            assert [num.value[a] for _, a in units] == pytest.approx(outs[l][n].tolist(), rel=1e-12)
        for i, row in enumerate(d.graph.layer_weights[l]):
            assert [d.grad[k] for k in row] == pytest.approx(W.grad[i].tolist(), rel=1e-10, abs=1e-14)
        assert [d.grad[k] for k in d.graph.layer_bias[l]] == pytest.approx(b.grad.tolist(), rel=1e-10, abs=1e-14)


def test_the_page_states_the_new_activation_and_loss(d):
    md = render(d, fmt="md")
    assert "The softplus activation (layers h, y) and its derivative" in md
    assert r"\sigma\left(z\right)" in md
    assert "the log-cosh of the errors" in md
    assert "circuit" not in md
    tex = render(d, fmt="tex")
    assert r"\begin{document}" in tex and r"\cosh" in tex


def test_the_notebook_runs_in_a_kernel_and_agrees(d):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.reads(render(d, fmt="ipynb"), as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not any(o.get("output_type") == "error" for o in outputs)
    printed = "".join(o.get("text", "") for o in outputs)
    assert printed.count("agrees with the derivation") >= 10
    assert "the loss of every epoch and the trained weights agree with the derivation" in printed


def test_a_worksheet_is_drawn_and_its_key_passes_check(registered):
    from derive.worksheets.draw import Settings, make_variant

    base = spec_from(SPEC, "softplus-logcosh")
    settings = Settings.of(base)
    assert settings.targets.low == 0 and settings.targets.high == 3  # the activation's target range
    v = make_variant(base, settings, seed=7, k=1)
    key = answers_file(v.derivation, filled=True, only={q.name for q in v.blanks}, values=v.key,
                       settings={"tolerance": settings.tolerance,
                                 "rounding": {"decimals": settings.rounding.decimals, "carry": False}})
    report = check_answers(v.derivation, parse_answers(tomllib.loads(key), v.derivation))
    assert report.count("correct") == len(v.blanks) > 10 and report.count("wrong") == 0


def test_a_formula_answer_may_call_the_new_activation(d):
    doc = {"instance1": {"h1_out": "softplus(h1_in)", "h2_out": r"\operatorname{softplus}\left(h_{2}^{\mathrm{in}}\right)",
                         "y1_out": "sigma(y1_in)"}}
    report = check_answers(d, parse_answers(doc, d))
    verdicts = {v.name: v.status for v in report.verdicts}
    assert verdicts["instance1.h1_out"] == verdicts["instance1.h2_out"] == "correct"
    assert verdicts["instance1.y1_out"] == "wrong"  # σ is not softplus


def test_a_mistake_registered_at_run_time_is_diagnosed(registered):
    from derive.grade import mistakes
    from derive.grade.mistakes import Mistake, with_grads

    class ThirdOfTheGradient(Mistake):
        name = "third"

        def models(self, d):
            nums = [with_grads(n, {k: g / 3 for k, g in n.grad.items()}) for n in d.instances]
            yield ("third", "every gradient divided by 3", nums, {})

    mistakes.register(ThirdOfTheGradient)
    try:
        d = derive(spec_from(SPEC, "softplus-logcosh"))  # a fresh derivation: check caches its mistakes per derivation
        true = d.instances[0].grad["w11"]
        report = check_answers(d, parse_answers({"instance1": {"dL/dw11": true / 3}}, d))
        (verdict,) = report.verdicts
        assert verdict.status == "wrong" and "every gradient divided by 3" in verdict.diagnosis
    finally:
        mistakes.unregister("third")
    assert "third" not in mistakes.MISTAKES


def test_derive_values_through_the_command_line(registered, tmp_path, capsys):
    """The complaint that started it: a new activation made `derive values` exit 3."""
    import json

    from derive.cli import main

    path = tmp_path / "softplus-logcosh.toml"
    path.write_text(SPEC)
    with pytest.raises(SystemExit) as exc:
        main(["values", str(path)])
    out, err = capsys.readouterr()
    assert exc.value.code == 0, err
    values = json.loads(out)
    d = derive(spec_from(SPEC, "softplus-logcosh"))
    assert values["loss"] == pytest.approx(d.loss, rel=1e-15)
    assert all(c["passed"] in (True, None) for c in values["checks"].values())
