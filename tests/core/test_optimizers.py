"""Optimizers, schedules, regularization and mini-batches against torch.optim (float64), to 1e-10.

Each case builds the spec's network in PyTorch from the same numbers, trains it with
``torch.optim`` and ``torch.optim.lr_scheduler`` (stepped after every ``optimizer.step()``), adds the
L2 term to the loss after the reduction, and compares every epoch's loss, the final parameters
(the NumPy reference's training run) and the first epoch's parameters and optimizer state (the
derivation's own update, as `derive values` reports it).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re

import numpy as np
import pytest

from derive.pipeline import derive
from derive.render.page import render
from tests.conftest import spec_from

torch = pytest.importorskip("torch")

OPTIMIZERS = ["sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw"]
SCHEDULES = [None, "linear", "step", "exponential", "inverse_time"]
REGULARIZERS = [None, (False, False), (True, False), (False, True), (True, True)]  # (half, biases)
BATCHES = [None, 1, 2]  # None: the whole data

SCHEDULE_TOML = {
    "linear": '{ kind = "linear", start_factor = 0.5, end_factor = 0.1, total = 4 }',
    "step": '{ kind = "step", step_size = 2, gamma = 0.5 }',
    "exponential": '{ kind = "exponential", gamma = 0.8 }',
    "inverse_time": '{ kind = "inverse_time", decay_rate = 0.7, decay_steps = 2 }',
}
OPTIONS_TOML = {
    "sgd": ["weight_decay = 0.03"],
    "momentum": ["momentum = 0.8", "weight_decay = 0.02"],
    "nesterov": ["momentum = 0.7"],
    "rmsprop": ["alpha = 0.9", "eps = 1e-6"],
    "adagrad": ["weight_decay = 0.01"],
    "adam": ["betas = [0.8, 0.95]", "weight_decay = 0.01"],
    "adamw": [],  # PyTorch's defaults: weight_decay 0.01
}

ACT = {"identity": lambda z, s: z, "sigmoid": lambda z, s: torch.sigmoid(z), "tanh": lambda z, s: torch.tanh(z),
       "relu": lambda z, s: torch.relu(z), "leaky_relu": lambda z, s: torch.nn.functional.leaky_relu(z, s),
       "softmax": lambda z, s: torch.softmax(z, dim=1)}
LOSS = {"sse": lambda y, t: ((y - t) ** 2).sum(1), "half_sse": lambda y, t: 0.5 * ((y - t) ** 2).sum(1),
        "mse": lambda y, t: ((y - t) ** 2).mean(1), "cross_entropy": lambda y, t: -(t * torch.log(y)).sum(1),
        "bce": lambda y, t: -(t * torch.log(y) + (1 - t) * torch.log(1 - y)).sum(1),
        "hinge": lambda y, t: torch.nn.functional.multi_margin_loss(y, t.argmax(1), reduction="none") * y.shape[1],
        "binary_hinge": lambda y, t: torch.clamp(1 - t * y, min=0).sum(1)}


def make_spec(seed: int, optimizer: str, schedule, reg, batch, *, loss=None, epochs=4, mode="batch", n_data=5):
    rng = np.random.default_rng(seed)
    loss = loss or ["sse", "mse", "cross_entropy", "half_sse", "bce"][seed % 5]
    sizes = [3, 4, 2] if seed % 2 else [2, 3, 3, 3]
    if loss == "binary_hinge":
        sizes[-1] = 1
    out = {"cross_entropy": "softmax", "bce": "sigmoid"}.get(loss, ["identity", "sigmoid", "tanh"][seed % 3])
    hidden = ["tanh", "sigmoid", "leaky_relu"][seed % 3]
    lines = ['name = "opt"', "[network]", f"inputs = {sizes[0]}", f'loss = "{loss}"',
             f'reduction = "{["sum", "mean"][seed % 2]}"']
    if reg is not None:
        lines.append(f"regularization = {{ kind = \"l2\", lambda = 0.05, half = {str(reg[0]).lower()}, "
                     f"biases = {str(reg[1]).lower()} }}")
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        act = out if k == len(sizes) - 2 else hidden
        lines += ["[[network.layers]]", f"size = {n_out}", f'activation = "{act}"',
                  f"weights = {json.dumps(np.round(rng.normal(0, 1, (n_in, n_out)), 3).tolist())}"]
        if k != 1:
            lines.append(f"bias = {json.dumps(np.round(rng.normal(0, 0.5, n_out), 3).tolist())}")
            if seed % 4 == 3 and k == 0:
                lines.append("train_bias = false")
    for _ in range(n_data):
        lines += ["[[data]]", f"x = {json.dumps(np.round(rng.normal(0, 1, sizes[0]), 2).tolist())}"]
        if loss in ("cross_entropy", "hinge"):
            lines.append(f"t = {int(rng.integers(1, sizes[-1] + 1))}")
        elif loss == "bce":
            lines.append(f"t = {json.dumps(np.round(rng.uniform(0, 1, sizes[-1]), 2).tolist())}")
        elif loss == "binary_hinge":
            lines.append(f"t = [{int(rng.choice([-1, 1]))}]")
        else:
            lines.append(f"t = {json.dumps(np.round(rng.normal(0, 1, sizes[-1]), 2).tolist())}")
    lines += ["[training]", f'optimizer = "{optimizer}"', "learning_rate = 0.05", f"epochs = {epochs}",
              f'mode = "{mode}"'] + OPTIONS_TOML[optimizer]
    if batch is not None:
        lines.append(f"batch_size = {batch}")
    if schedule is not None:
        lines.append(f"schedule = {SCHEDULE_TOML[schedule]}")
    return spec_from("\n".join(lines))


def torch_optimizer(spec, params):
    o = spec.training.optimizer
    lr = spec.training.learning_rate
    name = o.name
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=o.weight_decay)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=o.momentum, weight_decay=o.weight_decay,
                               nesterov=name == "nesterov")
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=o.alpha, eps=o.eps, weight_decay=o.weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=o.eps, weight_decay=o.weight_decay)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay)


def torch_schedule(spec, opt):
    s = spec.training.schedule
    if s.kind == "constant":
        return None
    if s.kind == "linear":
        return torch.optim.lr_scheduler.LinearLR(opt, start_factor=s.start_factor, end_factor=s.end_factor,
                                                 total_iters=s.total)
    if s.kind == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=s.step_size, gamma=s.gamma)
    if s.kind == "inverse_time":  # PyTorch has none: LambdaLR with Keras's InverseTimeDecay, written here
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 / (1 + s.decay_rate * k / s.decay_steps))
    return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=s.gamma)


class TorchRun:
    """The spec's network and training, written in PyTorch."""

    def __init__(self, spec):
        self.spec = spec
        dt = torch.float64
        self.W = [torch.tensor(layer.weights, dtype=dt, requires_grad=True) for layer in spec.layers]
        self.b = [None if layer.bias is None else torch.tensor(layer.bias, dtype=dt, requires_grad=layer.train_bias)
                  for layer in spec.layers]
        self.X = torch.tensor([i.x for i in spec.data], dtype=dt)
        self.T = torch.tensor([i.t for i in spec.data], dtype=dt)
        self.trained = [w for w in self.W] + [b for b, layer in zip(self.b, spec.layers)
                                              if b is not None and layer.train_bias]
        self.opt = torch_optimizer(spec, self.trained)
        self.sched = torch_schedule(spec, self.opt)

    def loss(self, rows):
        a = self.X[rows]
        for layer, W, b in zip(self.spec.layers, self.W, self.b):
            z = a @ W + (b if b is not None else 0.0)
            a = ACT[layer.activation](z, layer.slope)
        per = LOSS[self.spec.loss](a, self.T[rows])
        total = per.sum() if self.spec.reduction == "sum" else per.mean()
        reg = self.spec.regularization
        if reg is not None:
            penalized = list(self.W) + ([b for b, layer in zip(self.b, self.spec.layers)
                                         if b is not None and layer.train_bias] if reg.biases else [])
            c = reg.lam / 2 if reg.half else reg.lam
            total = total + c * sum((p ** 2).sum() for p in penalized)
        return total

    def epoch(self):
        for rows in self.spec.training.batches(len(self.spec.data)):
            self.opt.zero_grad()
            self.loss(list(rows)).backward()
            self.opt.step()
            if self.sched is not None:
                self.sched.step()

    def state(self, tensor) -> dict:
        return {k: (v.item() if k == "step" else v.detach().numpy().copy())
                for k, v in self.opt.state[tensor].items()}


def compare(spec, tol=1e-10):
    d = derive(spec, symbolic=False)
    values = d.to_values()
    run = TorchRun(spec)
    everything = list(range(len(spec.data)))
    losses = []
    for e in range(spec.training.epochs):
        with torch.no_grad():
            losses.append(run.loss(everything).item())
        run.epoch()
        if e == 0:  # the derivation's first epoch: parameters and the optimizer's state
            for l, layer in enumerate(spec.layers):
                got = values["after_step"]["layers"][layer.name]
                np.testing.assert_allclose(got["weights"], run.W[l].detach().numpy(), rtol=tol, atol=tol)
                state = values["after_step"]["state"][layer.name]
                ours = run.state(run.W[l])
                assert set(state["weights"]) == set(ours)
                for name, buf in ours.items():
                    np.testing.assert_allclose(np.array(state["weights"][name], dtype=float),
                                               np.broadcast_to(buf, run.W[l].shape), rtol=tol, atol=tol)
                if run.b[l] is not None:
                    np.testing.assert_allclose(got["bias"], run.b[l].detach().numpy(), rtol=tol, atol=tol)
                    if layer.train_bias:
                        for name, buf in run.state(run.b[l]).items():
                            np.testing.assert_allclose(np.array(state["bias"][name], dtype=float),
                                                       np.broadcast_to(buf, run.b[l].shape), rtol=tol, atol=tol)
                    else:
                        assert state["bias"] is None
            with torch.no_grad():
                assert values["after_step"]["loss"] == pytest.approx(run.loss(everything).item(), rel=tol, abs=tol)
            rates = values["after_step"]["learning_rates"]
            assert len(rates) == len(spec.training.batches(len(spec.data)))
            assert spec.training.schedule.rate(spec.training.learning_rate, len(rates)) == pytest.approx(
                run.opt.param_groups[0]["lr"], rel=1e-12)
    with torch.no_grad():
        losses.append(run.loss(everything).item())
    np.testing.assert_allclose(values["training"]["loss"], losses, rtol=tol, atol=tol)
    assert values["loss"] == pytest.approx(losses[0], rel=tol, abs=tol)
    for l, layer in enumerate(spec.layers):
        np.testing.assert_allclose(values["training"]["layers"][layer.name]["weights"], run.W[l].detach().numpy(),
                                   rtol=tol, atol=tol)
        if run.b[l] is not None:
            np.testing.assert_allclose(values["training"]["layers"][layer.name]["bias"], run.b[l].detach().numpy(),
                                       rtol=tol, atol=tol)
    # the derivation's total gradient (regularization included) against autograd
    run0 = TorchRun(spec)
    run0.loss(everything).backward()
    for l, layer in enumerate(spec.layers):
        np.testing.assert_allclose(values["grad"][layer.name]["weights"], run0.W[l].grad.numpy(), rtol=tol, atol=tol)
    return values


# --------------------------------------------------------------------------- the fast tests


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_against_torch(optimizer):
    """Each optimizer with its options, over 4 epochs, whole-data batches and mini-batches of 2."""
    for seed, batch in ((0, None), (1, 2)):
        compare(make_spec(seed, optimizer, None, None, batch))


@pytest.mark.parametrize("schedule", SCHEDULES[1:])
def test_schedule_against_torch(schedule):
    """Schedules are stepped once per update: with batch_size 2 over 5 instances, three times an epoch."""
    compare(make_spec(2, "sgd", schedule, None, 2, epochs=3))
    compare(make_spec(3, "adam", schedule, None, None, epochs=6))


@pytest.mark.parametrize("reg", REGULARIZERS[1:])
def test_regularization_against_torch(reg):
    compare(make_spec(4, "sgd", None, reg, None))
    compare(make_spec(5, "momentum", "exponential", reg, 1))


def test_online_is_batch_size_one():
    a = make_spec(6, "rmsprop", "step", (True, True), None, mode="online")
    b = make_spec(6, "rmsprop", "step", (True, True), 1)
    assert derive(a).to_values()["training"]["loss"] == derive(b).to_values()["training"]["loss"]
    compare(a)


def test_default_options_are_torch_defaults():
    spec = spec_from('[network]\ninputs = 1\nloss = "sse"\n[[network.layers]]\nsize = 1\nactivation = "identity"\n'
                     'weights = [[0.5]]\n[[data]]\nx = [1]\nt = [2]\n[training]\noptimizer = "adamw"\n')
    o = spec.training.optimizer
    w = torch.zeros(1, requires_grad=True)
    defaults = torch.optim.AdamW([w]).defaults
    assert (spec.training.learning_rate, o.betas, o.eps, o.weight_decay) == (
        defaults["lr"], defaults["betas"], defaults["eps"], defaults["weight_decay"])
    spec = spec_from('[network]\ninputs = 1\nloss = "sse"\n[[network.layers]]\nsize = 1\nactivation = "identity"\n'
                     'weights = [[0.5]]\n[[data]]\nx = [1]\nt = [2]\n[training]\noptimizer = "adagrad"\n')
    defaults = torch.optim.Adagrad([w]).defaults
    assert (spec.training.learning_rate, spec.training.optimizer.eps) == (defaults["lr"], defaults["eps"])
    for name, cls in (("rmsprop", torch.optim.RMSprop), ("adam", torch.optim.Adam)):
        spec = spec_from('[network]\ninputs = 1\nloss = "sse"\n[[network.layers]]\nsize = 1\nactivation = "identity"\n'
                         f'weights = [[0.5]]\n[[data]]\nx = [1]\nt = [2]\n[training]\noptimizer = "{name}"\n')
        defaults = cls([w]).defaults
        assert spec.training.learning_rate == defaults["lr"]
        assert spec.training.optimizer.eps == defaults["eps"]
        assert spec.training.optimizer.weight_decay == defaults["weight_decay"]
    compare(spec)


@pytest.mark.parametrize("loss", ["hinge", "binary_hinge"])
def test_hinge_losses_against_torch(loss):
    """The hinge losses (multi_margin_loss times the number of classes; clamp(1 − t·y, min=0)) trained with
    L2 on all parameters and a decaying rate, and with Adam in mini-batches."""
    for seed in range(4):
        compare(make_spec(seed, "sgd", "exponential", (True, True), None, loss=loss))
        compare(make_spec(seed + 10, "adam", "step", (False, True), 2, loss=loss))


def test_hinge_losses_per_instance_against_torch_functional():
    """Values and gradients of one instance, on random outputs and at the kinks themselves."""
    from derive.core.losses import LOSSES

    rng = np.random.default_rng(5)
    for _ in range(50):
        Y = np.round(rng.normal(0, 1, (4, 3)), 1)  # one decimal: margins of exactly 0 happen
        c = rng.integers(0, 3, 4)
        T = np.eye(3)[c]
        y = torch.tensor(Y, requires_grad=True)
        ours = LOSSES["hinge"]
        # multi_margin_loss averages over the C classes; the hinge of the contract sums
        theirs = torch.nn.functional.multi_margin_loss(y, torch.tensor(c), reduction="none") * 3
        theirs.sum().backward()
        np.testing.assert_allclose(ours.forward(Y, T), theirs.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(ours.backward(Y, T), y.grad.numpy(), atol=1e-12)
        t = rng.choice([-1.0, 1.0], (4, 1))
        Y1 = np.round(rng.normal(0, 1, (4, 1)), 0) * t  # t·y = 1 (the kink) now and then
        y = torch.tensor(Y1, requires_grad=True)
        theirs = torch.clamp(1 - torch.tensor(t) * y, min=0)
        theirs.sum().backward()
        np.testing.assert_allclose(LOSSES["binary_hinge"].forward(Y1, t), theirs.detach().numpy()[:, 0], atol=1e-12)
        np.testing.assert_allclose(LOSSES["binary_hinge"].backward(Y1, t), y.grad.numpy(), atol=1e-12)


def test_hinge_at_its_kinks_follows_torch():
    """A network whose outputs sit exactly on the hinges' kinks: the derivation (chain rule, checks passed)
    gives PyTorch's subgradients."""
    text = """
        [network]
        inputs = 1
        loss = "binary_hinge"
        [[network.layers]]
        size = 1
        activation = "identity"
        weights = [[0.5]]
        [[data]]
        x = [2]
        t = [1]
        [[data]]
        x = [-2]
        t = [-1]
        [training]
        learning_rate = 0.1
    """
    spec = spec_from(text)
    d = derive(spec)
    assert d.checks["finite_differences"].passed and d.checks["sympy_diff"].passed is None
    w = torch.tensor([[0.5]], dtype=torch.float64, requires_grad=True)
    X = torch.tensor([[2.0], [-2.0]], dtype=torch.float64)
    t = torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
    torch.clamp(1 - t * (X @ w), min=0).sum().backward()
    assert d.grad["w11"] == w.grad.item() == -4.0
    spec = spec_from(text.replace('"binary_hinge"', '"hinge"').replace("size = 1", "size = 2")
                     .replace("[[0.5]]", "[[0.5, 1]]").replace("t = [1]", "t = 1").replace("t = [-1]", "t = 2"))
    d = derive(spec)
    w = torch.tensor([[0.5, 1.0]], dtype=torch.float64, requires_grad=True)
    loss = torch.nn.functional.multi_margin_loss(X @ w, torch.tensor([0, 1]), reduction="sum") * 2
    loss.backward()
    assert d.loss == loss.item()
    assert [d.grad["w11"], d.grad["w12"]] == w.grad[0].tolist()
    assert "as PyTorch's" in render(d)


# --------------------------------------------------------------------------- the sweep


def sweep_cases():
    cases = list(itertools.product(OPTIMIZERS, SCHEDULES, REGULARIZERS, BATCHES))
    if os.environ.get("DERIVE_SWEEP") == "all":
        return cases
    return random.Random(11).sample(cases, 24)


@pytest.mark.slow
@pytest.mark.parametrize("case", sweep_cases(), ids=lambda c: "-".join(str(x) for x in c))
def test_sweep_against_torch(case):
    """Every optimizer × schedule × regularizer (half or not, biases in or out) × batch size (DERIVE_SWEEP=all);
    by default a fixed sample of 24."""
    optimizer, schedule, reg, batch = case
    seed = sum(map(ord, str(case))) % 97
    compare(make_spec(seed, optimizer, schedule, reg, batch, epochs=3))


# --------------------------------------------------------------------------- what the page shows

BUFFERS = {"sgd": {}, "momentum": {"v": "momentum_buffer"}, "nesterov": {"v": "momentum_buffer"},
           "rmsprop": {"s": "square_avg"}, "adagrad": {"G": "sum"}, "adam": {"m": "exp_avg", "v": "exp_avg_sq"},
           "adamw": {"m": "exp_avg", "v": "exp_avg_sq"}}


def shown_number(tex: str) -> float:
    """A number as the page writes it: -0.02015, 1.015 \\times 10^{-4}, \\left(-3\\right)."""
    tex = tex.strip().removeprefix(r"\left(").removesuffix(r"\right)")
    tex = re.sub(r"\s*\\times 10\^\{(-?\d+)\}", r"e\1", tex)
    return float(tex)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_the_first_update_shown_is_the_json(optimizer):
    """Each line of the page's first update ends in the number `derive values` reports: the gradient (with the
    L2 term), every buffer of the optimizer's state, and the new parameter (to the 4 digits shown)."""
    text = f"""
        [network]
        inputs = 1
        loss = "half_sse"
        regularization = {{ kind = "l2", lambda = 0.1, biases = true }}
        [[network.layers]]
        size = 1
        activation = "sigmoid"
        weights = [[0.8]]
        bias = -0.3
        [[data]]
        x = [1.5]
        t = [0.9]
        [training]
        optimizer = "{optimizer}"
        learning_rate = 0.2
        {"weight_decay = 0.05" if optimizer != "adamw" else ""}
    """
    d = derive(spec_from(text))
    values = d.to_values()
    page = render(d)
    block = page[page.index("## Gradient descent update"):page.index("With the new parameters")]
    rows = [(line.split("&")[0].strip(), re.split(r" = | \\approx ", line.removesuffix(" \\\\"))[-1])
            for line in block.splitlines() if " &" in line]
    state = values["after_step"]["state"]["y"]
    expected = {"g_{w_{11}}": values["grad"]["y"]["weights"][0][0], "g_{b_{y_{1}}}": values["grad"]["y"]["bias"][0],
                "w_{11}": values["after_step"]["layers"]["y"]["weights"][0][0],
                "b_{y_{1}}": values["after_step"]["layers"]["y"]["bias"][0]}
    for symbol, name in BUFFERS[optimizer].items():
        expected[f"{symbol}_{{w_{{11}}}}"] = state["weights"][name][0][0]
        expected[f"{symbol}_{{b_{{y_{{1}}}}}}"] = state["bias"][name][0]
    last = {}
    for target, number in rows:
        last.setdefault(target, []).append(number)
    for target, value in expected.items():
        # the gradient's first row is the loss's; weight decay then adds λθ in a second g row
        number = last[target][0] if target.startswith("g_") else last[target][-1]
        assert shown_number(number) == pytest.approx(value, rel=5e-4, abs=1e-12), (target, number)


def test_the_svm_preset_against_torch():
    """The svm-hinge preset (hinge, L2 on every parameter, momentum, an exponential decay)."""
    from derive.spec.parse import load_spec

    values = compare(load_spec("svm-hinge"), tol=1e-12)
    assert values["training"]["updates_per_epoch"] == 1 and len(values["training"]["loss"]) == 21


@pytest.mark.parametrize("optimizer,schedule", [(o, "step") for o in OPTIMIZERS] + [("sgd", "inverse_time")])
def test_the_notebook_recomputes_every_optimizer(optimizer, schedule):
    """The notebook's own NumPy code (the optimizer's, the schedule's and the L2 term's) reproduces the first
    epoch's parameters and state and the training run, with mini-batches of 2 over 5 instances."""
    import contextlib
    import io

    import nbformat

    spec = make_spec(7, optimizer, schedule, (True, True), 2, epochs=3)
    code = "\n\n".join(c.source for c in nbformat.reads(render(derive(spec), fmt="ipynb"), as_version=4).cells
                       if c.cell_type == "code")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), np.printoptions():  # the notebook sets its own print options
        exec(compile(code, "<notebook>", "exec"), {"__name__": "__notebook__"})
    printed = out.getvalue()
    assert "agree with the derivation" in printed
    for name in derive(spec).spec.training.optimizer.state_names:
        assert f"{name} of W_" in printed
