"""layernorm (F.layer_norm with an elementwise affine, per instance over the features) against torch, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.errors import SpecError
from derive.pipeline import derive
from tests.conftest import spec_from

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _spec(seed: int):
    rng = np.random.default_rng(seed)
    n_in, size, K, N = 3, int(rng.integers(2, 5)), 2, 3
    W = rng.normal(size=(n_in, size)).round(3)
    b = rng.normal(size=size).round(3)
    g = rng.uniform(0.5, 1.5, size=size).round(3)
    be = rng.normal(size=size).round(3)
    V = rng.normal(size=(size, K)).round(3)
    X = rng.normal(size=(N, n_in)).round(3)
    T = rng.normal(size=(N, K)).round(3)
    eps = float(rng.choice([1e-5, 0.1]))
    act = str(rng.choice(["identity", "tanh", "sigmoid"]))
    text = f"""
[network]
inputs = {n_in}
loss = "sse"
[[network.layers]]
name = "h"
size = {size}
activation = "tanh"
weights = {json.dumps(W.tolist())}
bias = {json.dumps(b.tolist())}
[[network.layers]]
name = "n"
type = "layernorm"
gamma = {json.dumps(g.tolist())}
beta = {json.dumps(be.tolist())}
eps = {eps}
activation = "{act}"
[[network.layers]]
name = "y"
size = {K}
activation = "identity"
weights = {json.dumps(V.tolist())}
"""
    for n in range(N):
        text += f"\n[[data]]\nx = {json.dumps(X[n].tolist())}\nt = {json.dumps(T[n].tolist())}\n"
    return text, (W, b, g, be, V, X, T, eps, act)


@pytest.mark.parametrize("seed", range(5))
def test_layernorm_matches_torch(seed):
    text, (W, b, g, be, V, X, T, eps, act) = _spec(seed)
    d = derive(spec_from(text))
    v = d.to_values()
    t = {k: torch.tensor(a, dtype=torch.float64, requires_grad=True) for k, a in
         (("W", W), ("b", b), ("g", g), ("be", be), ("V", V), ("X", X))}
    h = torch.tanh(t["X"] @ t["W"] + t["b"])
    h.retain_grad()
    z = F.layer_norm(h, (h.shape[1],), t["g"], t["be"], eps)
    a = {"identity": lambda u: u, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[act](z)
    loss = (((a @ t["V"]) - torch.tensor(T)) ** 2).sum()
    loss.backward()
    close = lambda ours, theirs: np.testing.assert_allclose(np.array(ours, dtype=float),  # noqa: E731
                                                            theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    close(v["loss"], loss)
    close(v["grad"]["n"]["weights"][0], t["g"].grad)
    close(v["grad"]["n"]["bias"], t["be"].grad)
    close(v["grad"]["h"]["weights"], t["W"].grad)
    close(v["grad"]["h"]["bias"], t["b"].grad)
    for n, inst in enumerate(v["instances"]):
        close(inst["layers"]["n"]["in"], z[n])
        close(inst["grad"]["h"]["out"], h.grad[n])
        close(inst["grad"]["inputs"], t["X"].grad[n])
    assert d.checks["finite_differences"].passed and d.checks["numpy"].passed


def test_the_notebook_recomputes_layernorm():
    from tests.render.test_notebook import code_of, run_code
    from derive.render.page import render

    text, _ = _spec(1)
    printed = run_code(code_of(render(derive(spec_from(text + "\n[training]\nlearning_rate = 0.1\nepochs = 2\n")),
                                      fmt="ipynb")))
    assert "dL/dW of layer n" in printed and "agree with the derivation" in printed


def test_layernorm_errors_name_the_field():
    text, _ = _spec(0)
    with pytest.raises(SpecError, match=r"network\.layers\[1\]\.gamma: expected \d numbers"):
        spec_from(text.replace("gamma = [", "gamma = [1, "))
    with pytest.raises(SpecError, match=r"network\.layers\[1\]\.eps: expected a positive number"):
        spec_from(text.replace("eps = ", "eps = -"))
    with pytest.raises(SpecError, match=r"network\.layers\[1\]\.kernel: unknown key"):
        spec_from(text.replace('type = "layernorm"', 'type = "layernorm"\nkernel = 2'))
