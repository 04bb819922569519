"""Batch normalization and the batch-wide graph against PyTorch (float64), to 1e-10.

Random networks dense → batchnorm → dense on batches of 2–5 instances: the values, the gradients of γ, β,
the weights before the normalization and the inputs against autograd through ``F.batch_norm(training=True)``;
every optimizer for two epochs of mini-batches against ``torch.optim``; the one-line errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.core.graph import build_batch_graph
from derive.errors import SpecError
from derive.pipeline import derive
from tests.conftest import spec_from

torch = pytest.importorskip("torch")
F = torch.nn.functional

from tests.core.test_optimizers import ACT, LOSS, OPTIONS_TOML, torch_optimizer  # noqa: E402

OPTIMIZERS = tuple(OPTIONS_TOML)


def bn_spec(seed: int, n_data: int, *, optimizer: str | None = None, batch: int | None = None, epochs: int = 2,
            reg: bool = False) -> "Spec":
    rng = np.random.default_rng(seed)
    loss = ["sse", "mse", "cross_entropy", "half_sse", "bce"][seed % 5]
    n_in, hidden, n_out = 2 + seed % 2, 2 + seed % 3, 2 if seed % 4 else 1
    if loss == "cross_entropy":
        n_out = max(n_out, 2)
    out = {"cross_entropy": "softmax", "bce": "sigmoid"}.get(loss, ["identity", "sigmoid", "tanh"][seed % 3])
    lines = ['name = "bn-random"', "[network]", f"inputs = {n_in}", f'loss = "{loss}"',
             f'reduction = "{["sum", "mean"][seed % 2]}"']
    if reg:
        lines.append('regularization = { kind = "l2", lambda = 0.05, half = true, biases = true }')
    lines += ["[[network.layers]]", 'name = "h"', f"size = {hidden}", f'activation = "{["identity", "tanh"][seed % 2]}"',
              f"weights = {json.dumps(np.round(rng.normal(0, 1, (n_in, hidden)), 3).tolist())}"]
    if seed % 3:  # a trained bias before a normalization only with an activation between (else it is refused)
        lines.append(f"bias = {json.dumps(np.round(rng.normal(0, 0.5, hidden), 3).tolist())}")
        if seed % 2 == 0:
            lines.append("train_bias = false")
    lines += ["[[network.layers]]", 'name = "bn"', 'type = "batchnorm"',
              f"gamma = {json.dumps(np.round(rng.uniform(0.5, 1.5, hidden), 3).tolist())}",
              f"beta = {json.dumps(np.round(rng.normal(0, 0.3, hidden), 3).tolist())}",
              f'activation = "{["identity", "relu", "sigmoid", "tanh"][seed % 4]}"']
    if seed % 5 == 4:
        lines.append("eps = 0.01")
    lines += ["[[network.layers]]", 'name = "y"', f"size = {n_out}", f'activation = "{out}"',
              f"weights = {json.dumps(np.round(rng.normal(0, 1, (hidden, n_out)), 3).tolist())}",
              f"bias = {json.dumps(np.round(rng.normal(0, 0.5, n_out), 3).tolist())}"]
    for _ in range(n_data):
        lines += ["[[data]]", f"x = {json.dumps(np.round(rng.normal(0, 1, n_in), 2).tolist())}"]
        if loss == "cross_entropy":
            lines.append(f"t = {int(rng.integers(1, n_out + 1))}")
        elif loss == "bce":
            lines.append(f"t = {json.dumps(np.round(rng.uniform(0, 1, n_out), 2).tolist())}")
        else:
            lines.append(f"t = {json.dumps(np.round(rng.normal(0, 1, n_out), 2).tolist())}")
    if optimizer is not None:
        lines += ["[training]", f'optimizer = "{optimizer}"', "learning_rate = 0.05", f"epochs = {epochs}"]
        lines += OPTIONS_TOML[optimizer]
        if batch is not None:
            lines.append(f"batch_size = {batch}")
    return spec_from("\n".join(lines))


class TorchBN:
    """The spec's network in PyTorch, the normalization by F.batch_norm(training=True)."""

    def __init__(self, spec):
        self.spec = spec
        dt = torch.float64
        self.W = [torch.tensor(layer.weights, dtype=dt, requires_grad=True) for layer in spec.layers]
        self.b = [None if layer.bias is None else torch.tensor(layer.bias, dtype=dt, requires_grad=layer.train_bias)
                  for layer in spec.layers]
        self.X = torch.tensor([i.x for i in spec.data], dtype=dt, requires_grad=True)
        self.T = torch.tensor([i.t for i in spec.data], dtype=dt)
        self.params = list(self.W) + [b for b in self.b if b is not None and b.requires_grad]

    def forward(self, rows):
        a = self.X[rows]
        Z, A = [], []
        for layer, W, b in zip(self.spec.layers, self.W, self.b):
            if layer.type == "batchnorm":
                z = F.batch_norm(a, None, None, weight=W[0], bias=b, training=True, eps=layer.eps)
            else:
                z = a @ W + (b if b is not None else 0.0)
            a = ACT[layer.activation](z, layer.slope)
            if z.requires_grad:
                z.retain_grad()
                a.retain_grad()
            Z.append(z)
            A.append(a)
        return Z, A

    def loss(self, rows):
        Z, A = self.forward(rows)
        per = LOSS[self.spec.loss](A[-1], self.T[rows])
        total = per.sum() if self.spec.reduction == "sum" else per.mean()
        reg = self.spec.regularization
        if reg is not None:
            c = reg.lam / 2 if reg.half else reg.lam
            total = total + c * sum((p ** 2).sum() for p in self.params)
        return total, Z, A, per


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=tol, atol=tol)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n_data", [2, 3, 4, 5])
def test_values_and_gradients_against_torch(seed, n_data):
    spec = bn_spec(seed, n_data)
    d = derive(spec, symbolic=False)
    assert d.coupled and d.checks["finite_differences"].passed
    values = d.to_values()
    run = TorchBN(spec)
    rows = list(range(n_data))
    total, Z, A, per = run.loss(rows)
    total.backward()
    scale = 1.0 if spec.reduction == "sum" else 1.0 / n_data
    assert values["loss"] == pytest.approx(total.item(), rel=1e-10, abs=1e-10)
    for n, inst in enumerate(values["instances"]):
        assert inst["loss"] == pytest.approx(per[n].item(), rel=1e-10, abs=1e-10)
        close(inst["grad"]["inputs"], run.X.grad[n].numpy() / scale)  # instances hold the summed loss's gradient
        for l, layer in enumerate(spec.layers):
            close(inst["layers"][layer.name]["in"], Z[l][n].detach().numpy())
            close(inst["layers"][layer.name]["out"], A[l][n].detach().numpy())
            close(inst["grad"][layer.name]["in"], Z[l].grad[n].numpy() / scale)
    for l, layer in enumerate(spec.layers):
        got = values["grad"][layer.name]
        if layer.type == "batchnorm":
            close(got["gamma"], run.W[l].grad[0].numpy())
            close(got["beta"], run.b[l].grad.numpy())
        else:
            close(got["weights"], run.W[l].grad.numpy())
            if run.b[l] is not None:
                if layer.train_bias:
                    close(got["bias"], run.b[l].grad.numpy())
                else:
                    assert got["bias"] is None
    # the batch statistics: the pre-normalization values' mean and biased variance
    with torch.no_grad():
        Zs, _ = run.forward(rows)
        before = Zs[0] if spec.layers[0].activation == "identity" else torch.tanh(Zs[0])
    close(values["batch"]["bn"]["mean"], before.mean(0).numpy())
    close(values["batch"]["bn"]["var"], before.var(0, unbiased=False).numpy())
    # each instance's shares add up to the gradient
    for layer in spec.layers:
        key = "gamma" if layer.type == "batchnorm" else "weights"
        shares = sum(np.array(inst["grad"][layer.name][key]) for inst in values["instances"])
        close(shares * scale, values["grad"][layer.name][key])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_with_mini_batches_against_torch(optimizer):
    """Two epochs of mini-batches, each normalized with its own statistics, against torch.optim."""
    for seed, n_data, batch in ((0, 4, 2), (1, 5, 3), (2, 5, None)):
        spec = bn_spec(seed, n_data, optimizer=optimizer, batch=batch, reg=seed == 1)
        d = derive(spec, symbolic=False)
        values = d.to_values()
        run = TorchBN(spec)
        opt = torch_optimizer(spec, run.params)
        everything = list(range(n_data))
        losses = []
        for epoch in range(2):
            with torch.no_grad():
                losses.append(run.loss(everything)[0].item())
            for rows in spec.training.batches(n_data):
                opt.zero_grad()
                run.loss(list(rows))[0].backward()
                opt.step()
            if epoch == 0:
                for l, layer in enumerate(spec.layers):
                    got = values["after_step"]["layers"][layer.name]
                    if layer.type == "batchnorm":
                        close(got["gamma"], run.W[l][0].detach().numpy())
                        close(got["beta"], run.b[l].detach().numpy())
                    else:
                        close(got["weights"], run.W[l].detach().numpy())
                with torch.no_grad():
                    assert values["after_step"]["loss"] == pytest.approx(run.loss(everything)[0].item(), rel=1e-10,
                                                                         abs=1e-10)
        with torch.no_grad():
            losses.append(run.loss(everything)[0].item())
        close(values["training"]["loss"], losses)
        for l, layer in enumerate(spec.layers):
            final = values["training"]["layers"][layer.name]
            close(final["gamma"] if layer.type == "batchnorm" else final["weights"],
                  run.W[l][0].detach().numpy() if layer.type == "batchnorm" else run.W[l].detach().numpy())


def test_first_mini_batch_uses_its_own_statistics():
    spec = bn_spec(3, 4, optimizer="sgd", batch=2)
    d = derive(spec, symbolic=False)
    run = TorchBN(spec)
    run.loss([0, 1])[0].backward()
    l = 1
    close([d.after_step.first_grad[f"gamma_bn{j + 1}"] for j in range(spec.layers[l].size)], run.W[l].grad[0].numpy())
    # the whole data's statistics give another gradient
    assert any(abs(d.after_step.first_grad[k] - d.grad[k]) > 1e-6 for k in d.grad)


@pytest.mark.parametrize("seed", [0, 4])
def test_sympy_diff_of_the_batch(seed, monkeypatch):
    import derive.verify.checks as checks

    monkeypatch.setattr(checks, "SYMPY_DIFF_MAX_BATCH_EDGES", 200)  # seed 4: 180 edges, 3 s
    d = derive(bn_spec(seed, 3))
    check = d.checks["sympy_diff"]
    assert check.passed, check.note


def test_batch_graph_keys_and_three_terms():
    spec = bn_spec(0, 3)
    graph = build_batch_graph(spec, 3)
    assert "h1_in[2]" in graph.nodes and graph["h1_in[2]"].instance == 2
    assert graph["bn1_mean"].instance is None and graph["gamma_bn1"].trainable
    assert graph.children["h1_out[2]"] == ("bn1_mean", "bn1_var", "bn1_hat[2]")
    d = derive(spec, symbolic=False)
    # dL/dh^(n) = dL/dx̂^(n)·∂x̂/∂h + dL/dμ·1/N + dL/dσ²·2(h − μ)/N, the numbers of the page
    num = d.instances[1]
    terms = [t.child for t in d.steps.steps["h1_out"].terms]
    assert sorted(terms) == ["bn1_hat", "bn1_mean", "bn1_var"]
    total = sum(num.grad[c] * num.local[(c, "h1_out")] for c in terms)
    assert total == pytest.approx(num.grad["h1_out"], rel=1e-12)


BASE = """
name = "bad"
[network]
inputs = 2
loss = "sse"
[[network.layers]]
name = "h"
size = 2
activation = "identity"
weights = [[1, 2], [3, 4]]
[[network.layers]]
name = "bn"
type = "batchnorm"
{bn}
[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = [[1], [1]]
{data}
{training}
"""
TWO = "[[data]]\nx = [1, 2]\nt = [1]\n[[data]]\nx = [0, 1]\nt = [0]\n[[data]]\nx = [2, 2]\nt = [1]"


@pytest.mark.parametrize("bn, data, training, field, words", [
    ("gamma = [1, 2, 3]", TWO, "", "network.layers[1].gamma", "2 numbers"),
    ("beta = [1]", TWO, "", "network.layers[1].beta", "one per unit of layer h"),
    ("eps = 0", TWO, "", "network.layers[1].eps", "positive"),
    ("size = 3", TWO, "", "network.layers[1].size", "expected 2"),
    ("weights = [[1, 2]]", TWO, "", "network.layers[1].weights", "unknown key"),
    ("", "[[data]]\nx = [1, 2]\nt = [1]", "", "data", "variance 0"),
    ("", TWO, "[training]\nlearning_rate = 0.1\nepochs = 1\nmode = \"online\"", "training.mode", "variance 0"),
    ("", TWO, "[training]\nlearning_rate = 0.1\nepochs = 1\nbatch_size = 2", "training.batch_size", "batch of 1"),
    ("", TWO, "", "", ""),
    ("", TWO.replace("[[data]]", "[[data]]", 1), "", "", ""),
])
def test_one_line_errors(bn, data, training, field, words):
    text = BASE.format(bn=bn, data=data, training=training)
    if not field:
        derive(spec_from(text))  # the baseline is valid
        return
    with pytest.raises(SpecError) as err:
        spec_from(text)
    message = str(err.value)
    assert field in message and words in message and "\n" not in message


def test_exact_arithmetic_is_refused():
    text = 'arithmetic = "exact"\n' + BASE.format(bn="", data=TWO, training="")
    with pytest.raises(SpecError, match="arithmetic.*batchnorm|arithmetic.*layer 'bn'"):
        spec_from(text)
