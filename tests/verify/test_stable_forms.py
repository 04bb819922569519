"""Saturated output units: sigmoid + BCE and softmax + cross-entropy in their stable forms, against PyTorch.

PyTorch's ``binary_cross_entropy_with_logits`` and ``cross_entropy`` (log_softmax) work from the
logits, so a saturated unit gives a large finite loss and dL/dz = y − t. The NumPy reference and
the derivation (which carries more bits where an output saturates) must give the same numbers;
where ∂L/∂y itself exceeds a float, the spec is refused naming that quantity.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import spec_from
from derive.cli import main
from derive.errors import SpecError
from derive.pipeline import derive
from derive.verify import reference

torch = pytest.importorskip("torch")
F = torch.nn.functional


def sigmoid_bce(z: float, t: float) -> str:
    return f"""
        name = "sat"
        [network]
        inputs = 1
        loss = "bce"
        [[network.layers]]
        name = "y"
        size = 1
        activation = "sigmoid"
        weights = [[{z}]]
        [[data]]
        x = [1]
        t = [{t}]
        [training]
        learning_rate = 0.1
        epochs = 3
    """


def softmax_ce(zs: list[float], t) -> str:
    return f"""
        name = "sat"
        [network]
        inputs = 1
        loss = "cross_entropy"
        [[network.layers]]
        name = "y"
        size = {len(zs)}
        activation = "softmax"
        weights = [{zs}]
        [[data]]
        x = [1]
        t = {t}
        [training]
        learning_rate = 0.1
        epochs = 3
    """


def torch_bce(z: float, t: float) -> tuple[float, float]:
    zt = torch.tensor([z], dtype=torch.float64, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(zt, torch.tensor([t], dtype=torch.float64), reduction="sum")
    loss.backward()
    return loss.item(), zt.grad.item()


def torch_ce(zs: list[float], t: list[float]) -> tuple[float, list[float]]:
    zt = torch.tensor([zs], dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(zt, torch.tensor([t], dtype=torch.float64), reduction="sum")
    loss.backward()
    return loss.item(), zt.grad[0].tolist()


@pytest.mark.parametrize("z", [-700, -100, -40, -20, -5, 0, 0.5, 5, 20, 37, 40, 100, 700])
@pytest.mark.parametrize("t", [0.0, 0.3, 1.0])
def test_sigmoid_bce_matches_binary_cross_entropy_with_logits(z, t):
    d = derive(spec_from(sigmoid_bce(z, t)))  # every check passed, or derive would have raised
    loss, dz = torch_bce(z, t)
    num = d.instances[0]
    assert num.loss == pytest.approx(loss, rel=1e-12, abs=1e-15)
    assert num.grad["y1_in"] == pytest.approx(dz, rel=1e-12, abs=1e-15)
    p = reference.backward(d.spec, reference.Params.from_spec(d.spec), *reference.data_arrays(d.spec))
    assert p.loss[0] == pytest.approx(loss, rel=1e-12, abs=1e-15)
    assert p.dZ[0][0, 0] == pytest.approx(dz, rel=1e-12, abs=1e-15)
    assert all(c.passed is not False for c in d.checks.values())


@pytest.mark.parametrize("zs,t", [([40, 0], 2), ([0, 40], 2), ([300, 0, -300], 3), ([100, 100, -100], [0.5, 0.25, 0.25]),
                                  ([1, 2, 3], 1), ([-40, 40], 1)])
def test_softmax_ce_matches_cross_entropy(zs, t):
    d = derive(spec_from(softmax_ce(zs, t)))
    onehot = [1.0 if k == t - 1 else 0.0 for k in range(len(zs))] if isinstance(t, int) else t
    loss, dz = torch_ce([float(z) for z in zs], onehot)
    num = d.instances[0]
    assert num.loss == pytest.approx(loss, rel=1e-12)
    assert [num.grad[f"y{k + 1}_in"] for k in range(len(zs))] == pytest.approx(dz, rel=1e-12, abs=1e-15)
    p = reference.backward(d.spec, reference.Params.from_spec(d.spec), *reference.data_arrays(d.spec))
    assert p.loss[0] == pytest.approx(loss, rel=1e-12)
    assert p.dZ[0][0].tolist() == pytest.approx(dz, rel=1e-12, abs=1e-15)


def test_training_a_saturated_unit_stays_finite():
    d = derive(spec_from(sigmoid_bce(40, 0)))
    z = torch.tensor([40.0], dtype=torch.float64, requires_grad=True)
    for _ in range(3):
        loss = F.binary_cross_entropy_with_logits(z, torch.tensor([0.0], dtype=torch.float64), reduction="sum")
        (g,) = torch.autograd.grad(loss, z)
        z = (z - 0.1 * g).detach().requires_grad_(True)
    assert d.training.params.W[0][0, 0] == pytest.approx(z.item(), rel=1e-12)
    assert np.isfinite(d.training.losses).all()


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_beyond_a_float_is_refused_naming_the_quantity(tmp_path, capsys):
    path = tmp_path / "sat.toml"
    path.write_text(sigmoid_bce(800, 0))
    status, out, err = run(["values", str(path)], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "instance1.dL/dy1_out: is beyond the range of a float" in err and "saturated" in err


@pytest.mark.parametrize("weight,field", [(1e200, "instance1.e1"), (1e308, "instance1.h1_in")])
def test_overflow_is_refused_naming_the_quantity(weight, field):
    text = f"""
        name = "big"
        [network]
        inputs = 2
        loss = "sse"
        [[network.layers]]
        name = "h"
        size = 1
        activation = "identity"
        weights = [[{weight}], [{weight}]]
        [[data]]
        x = [1, 2]
        t = [0.5]
    """
    with pytest.raises(SpecError) as exc:
        derive(spec_from(text))
    assert exc.value.field.startswith("instance1.") and "float" in exc.value.message


def test_a_diverging_learning_rate_is_refused():
    text = sigmoid_bce(1, 0).replace("learning_rate = 0.1", "learning_rate = 1e300")
    text = text.replace('activation = "sigmoid"', 'activation = "identity"').replace('loss = "bce"', 'loss = "sse"')
    with pytest.raises(SpecError) as exc:
        derive(spec_from(text.replace("epochs = 3", "epochs = 50")))
    assert "learning" in exc.value.field or "update" in exc.value.field


@pytest.mark.parametrize("loss,activation", [("bce", "identity"), ("bce", "relu"), ("bce", "tanh"),
                                             ("bce", "leaky_relu"), ("cross_entropy", "identity"),
                                             ("cross_entropy", "relu")])
def test_losses_of_logarithms_refuse_outputs_that_leave_0_1(loss, activation):
    text = sigmoid_bce(1, 1).replace('loss = "bce"', f'loss = "{loss}"').replace(
        'activation = "sigmoid"', f'activation = "{activation}"')
    with pytest.raises(SpecError) as exc:
        spec_from(text)
    assert exc.value.field == "network.loss" and activation in exc.value.message
