"""relu and leaky_relu at exactly z = 0: the derivative is PyTorch's (relu'(0) = 0, leaky_relu'(0) = the slope),
and the page says so where, and only where, a unit sits on the kink."""

from __future__ import annotations

import pytest

from conftest import spec_from
from derive.pipeline import derive
from derive.render.page import render

NET = """
[network]
inputs = 2
loss = "sse"
[[network.layers]]
size = 2
activation = "{act}"
{slope}
weights = [[1, 0.5], [1, -0.25]]
[[network.layers]]
size = 1
activation = "identity"
weights = [[2], [-3]]
[[data]]
x = [{x1}, -1]
t = [1]
"""

CASES = {"relu": ("", 0.0, r"We take $\operatorname{ReLU}'(0) = 0$"),
         "leaky_relu": ("slope = 0.1", 0.1, r"We take $\operatorname{LeakyReLU}'_\alpha(0) = \alpha$")}


def spec(act: str, x1: float):
    slope, _, _ = CASES[act]
    return spec_from(NET.format(act=act, slope=slope, x1=x1))


def torch_grads(s):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    X = torch.tensor([i.x for i in s.data], dtype=torch.float64)
    T = torch.tensor([i.t for i in s.data], dtype=torch.float64)
    W1 = torch.tensor(s.layers[0].weights, dtype=torch.float64, requires_grad=True)
    W2 = torch.tensor(s.layers[1].weights, dtype=torch.float64, requires_grad=True)
    z = X @ W1
    h = torch.relu(z) if s.layers[0].activation == "relu" else F.leaky_relu(z, negative_slope=s.layers[0].slope)
    ((h @ W2 - T) ** 2).sum().backward()
    return z, W1.grad, W2.grad


@pytest.mark.parametrize("act", sorted(CASES))
def test_the_derivative_at_the_kink_is_pytorchs(act):
    d = derive(spec(act, 1.0))
    num = d.instances[0]
    assert num.value["h1_in"] == 0.0 and num.value["h2_in"] != 0.0
    assert num.local[("h1_out", "h1_in")] == CASES[act][1]
    z, gW1, gW2 = torch_grads(d.spec)
    assert z[0, 0].item() == 0.0  # PyTorch sees the same kink
    for l, torch_grad in enumerate((gW1, gW2)):
        ours = [d.grad[k] for row in d.graph.layer_weights[l] for k in row]
        assert ours == pytest.approx(torch_grad.flatten().tolist(), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("act", sorted(CASES))
def test_the_page_states_the_convention_at_the_unit_on_the_kink(act):
    page = render(derive(spec(act, 1.0)))
    sentence = CASES[act][2]
    defined = page.index("## Forward pass")
    assert page[:defined].count(sentence) == 1  # with the activation's definition
    md = page[page.index("## Backpropagation"):]
    assert md.count(sentence) == 1  # and at the one unit on the kink
    at = md.index(sentence)
    here = md.rindex("Here $", 0, at)
    assert md[here:at].startswith(r"Here $h_{1}^{\mathrm{in}} = 0$, exactly at the kink of the activation")
    # it follows the backward step of h1_in, not of another node
    step = md.rindex(r"\frac{\partial L}{\partial h_{1}^{\mathrm{in}}} &=", 0, here)
    assert r"\begin{aligned}" not in md[step:here].split(r"\end{aligned}")[-1]


@pytest.mark.parametrize("act", sorted(CASES))
def test_no_convention_is_stated_off_the_kink(act):
    page = render(derive(spec(act, 1.5)))
    assert CASES[act][2] not in page[page.index("## Backpropagation"):] and "exactly at the kink" not in page
