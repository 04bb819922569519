"""The worked example of a batch normalization: statistics, normalized values and the three-term backward pass,
each number against PyTorch's autograd through a batch normalization written out in tensors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from derive.pipeline import derive
from derive.render.page import render
from derive.render.printer import format_number
from derive.spec.parse import load_spec
from tests.conftest import spec_from

torch = pytest.importorskip("torch")


def torch_batchnorm(spec):
    """Autograd through the preset's network, the normalization's μ, σ², x̂ kept: (their values, their grads)."""
    dt = torch.float64
    X = torch.tensor([i.x for i in spec.data], dtype=dt)
    T = torch.tensor([i.t for i in spec.data], dtype=dt)
    h, bn, y = spec.layers
    z = X @ torch.tensor(h.weights, dtype=dt, requires_grad=True)
    mu = z.mean(0)
    var = ((z - mu) ** 2).mean(0)
    hat = (z - mu) / torch.sqrt(var + bn.eps)
    for t in (z, mu, var, hat):
        t.retain_grad()
    a = torch.sigmoid(torch.tensor(bn.weights[0], dtype=dt) * hat + torch.tensor(bn.bias, dtype=dt))
    out = torch.sigmoid(a @ torch.tensor(y.weights, dtype=dt) + torch.tensor(y.bias, dtype=dt))
    per = -(T * torch.log(out) + (1 - T) * torch.log(1 - out)).sum(1)
    per.sum().backward()  # the pages' L: the summed loss of the batch
    return {"z": z, "mu": mu, "var": var, "hat": hat}


@pytest.fixture(scope="module")
def preset():
    spec = load_spec("batch-norm")
    d = derive(spec)
    return spec, d, render(d, views=("scalar", "matrix", "tape")), torch_batchnorm(spec)


def shown(x: float) -> str:
    return format_number(float(x))


def chain_of(text: str, start: str) -> str:
    """The rows of a display from the one that starts with ``start`` through its ``&=`` continuations, joined."""
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(start))
    rows = [lines[i]]
    for line in lines[i + 1:]:
        if not line.startswith("&="):
            break
        rows.append(line)
    return " ".join(r.rstrip(" \\") for r in rows)


def test_statistics_and_normalized_values_are_torchs(preset):
    spec, d, page, t = preset
    stats = page.split("### The statistics of the batch")[1]
    for j in range(2):
        assert chain_of(stats, rf"\mu_{{bn_{{{j + 1}}}}} &=").endswith(shown(t["mu"][j].item()))
        assert chain_of(stats, rf"\sigma^{{2}}_{{bn_{{{j + 1}}}}} &=").endswith(shown(t["var"][j].item()))
    for n in range(3):  # the normalized values of each instance
        part = page.split(f"### Instance {n + 1}, continued")[1]
        for j in range(2):
            assert chain_of(part, rf"\hat{{x}}_{{bn_{{{j + 1}}}}} &=").endswith(shown(t["hat"][n, j].item()))


def test_the_three_terms_of_the_backward_pass(preset):
    spec, d, page, t = preset
    back = page.split("### Back through the statistics of the batch")[1]
    for j in range(2):
        for name, key in (("var", rf"\sigma^{{2}}_{{bn_{{{j + 1}}}}}"), ("mu", rf"\mu_{{bn_{{{j + 1}}}}}")):
            block = back[back.index(rf"\frac{{\partial L}}{{\partial {key}}} &="):]
            block = block[:block.index(r"\end{aligned}")]
            assert block.rstrip().endswith(shown(t[name].grad[j].item())), (name, j)
    for n in range(3):
        part = page.split(f"### Instance {n + 1}, continued")[-1].split("#### Through the inputs of layer h")[0]
        for j in range(2):
            start = part.index(rf"\frac{{\partial L}}{{\partial h_{{{j + 1}}}^{{\mathrm{{out}}}}}} &=")
            block = part[start:part.index(r"\end{aligned}", start)]
            symbols, formulas, numbers = [r.strip() for r in block.split("\\\\\n")[:3]]
            # through x̂ directly, through the variance, through the mean
            assert symbols.index(r"\hat{x}") < symbols.index(r"\sigma^{2}") < symbols.index(r"\mu_")
            hat_g, var_g, mu_g = t["hat"].grad[n, j].item(), t["var"].grad[j].item(), t["mu"].grad[j].item()
            factors = re.findall(r"(?:^&= |\+ )(\\left\((-[\d.]+(?: \\times 10\^\{-?\d+\})?)\\right\)|[\d.]+(?: \\times 10\^\{-?\d+\})?) \\cdot",
                                 numbers)
            assert [f[1] or f[0] for f in factors] == [shown(hat_g), shown(var_g), shown(mu_g)], numbers
            total = t["z"].grad[n, j].item()
            assert numbers.endswith(shown(total)), numbers
            # and the three terms add up to autograd's gradient of z^(n)_j
            z, mu, var = t["z"][n, j].item(), t["mu"][j].item(), t["var"][j].item()
            eps = spec.layers[1].eps
            assert hat_g / np.sqrt(var + eps) + var_g * 2 * (z - mu) / 3 + mu_g / 3 == pytest.approx(total, rel=1e-12)


def test_the_matrix_and_tape_views_say_they_are_not_drawn(preset):
    page = preset[2]
    assert "## The matrix and tape views" in page and "## The same in matrices" not in page


@pytest.mark.parametrize("notation", ["inout", "netout", "layer"])
@pytest.mark.parametrize("optimizer, batch", [("sgd", 2), ("adam", None), ("momentum", 3)])
def test_mini_batches_and_optimizers_render_true(notation, optimizer, batch):
    """Rendering runs the page self-check: every chain on the page (statistics, steps, the update of
    each mini-batch with its own statistics) must be true."""
    from tests.core.test_batchnorm import bn_spec

    spec = bn_spec(5, 5 if batch == 3 else 4, optimizer=optimizer, batch=batch)
    d = derive(spec, symbolic=False)
    text = render(d, notation=notation)
    assert "### The statistics of the batch" in text
    if batch is not None:
        assert "L_{1}" in text and "its instances normalized with that batch's own mean and variance" in text


def test_instance_superscripts_in_the_batch_sections():
    from derive.render.printer import instance_name

    assert instance_name(r"h_{1}^{\mathrm{in}}", 2) == r"h_{1}^{\mathrm{in}\,(2)}"
    assert instance_name("x_{1}", 3) == "x_{1}^{(3)}"
    assert instance_name(r"z^{[1]}_{1}", 2) == r"z^{[1](2)}_{1}"
    spec = spec_from("""
name = "t"
[network]
inputs = 1
loss = "sse"
[[network.layers]]
name = "bn"
type = "batchnorm"
[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = [[2]]
[[data]]
x = [1]
t = [0]
[[data]]
x = [3]
t = [1]
""")
    text = render(derive(spec), notation="layer")
    assert r"x_{1}^{(1)} + x_{1}^{(2)}" in text  # the inputs themselves normalized, named by instance
