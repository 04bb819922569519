"""Published training runs reproduced to their printed digits (docs/seeds.md says where each comes from).

Géron's MyLinearSVC (*Hands-On Machine Learning*, notebook 05, "Linear SVM classifier implementation
using Batch Gradient Descent": https://github.com/ageron/handson-ml2/blob/master/05_support_vector_machines.ipynb,
cells In [37]-[40]; the 3rd edition's https://github.com/ageron/handson-ml3, same notebook, In [26]-[30],
prints the same): a hinge loss, ½‖w‖², a learning rate 10/(epoch + 1000), 60,000 epochs of batch
gradient descent on the iris petals. The notebook prints

    [-15.56761653] [[[2.28120287]
      [2.71621742]]]

(``intercept_``, ``coef_``) and predicts [[1.], [0.]] for the flowers (5, 2) and (4, 1). Its bias is not penalized.

Karpathy's micrograd demo (https://github.com/karpathy/micrograd, demo.ipynb, In [3]-[7]): a 2-16-16-1 ReLU
network on scikit-learn's two moons, the binary hinge averaged plus 1e-4 Σ p² over all parameters, biases
included, 100 full-batch steps at the rate 1.0 - 0.9 k/100; it prints the loss and accuracy before every step
(tests/fixtures/micrograd_demo_printed.txt, verbatim).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import derive
from derive.cli import main
from tests.conftest import FIXTURES

GERON = FIXTURES / "geron_svm.toml"
PRINTED = "[-15.56761653] [[[2.28120287]\n  [2.71621742]]]"
"""The notebook's output of ``print(svm_clf.intercept_, svm_clf.coef_)``, as printed."""


def printed(layer: dict) -> str:
    """``print(intercept_, coef_)`` of the notebook, with NumPy's default print options (other tests change them)."""
    with np.printoptions(precision=8, floatmode="maxprec", suppress=False, linewidth=75, threshold=1000,
                         edgeitems=3, sign="-", legacy=False):
        return str(np.array([layer["bias"][0]])) + " " + str(np.array([layer["weights"]]))


def geron(X: np.ndarray, y: np.ndarray, n_epochs: int):
    """The notebook's ``MyLinearSVC(C=2, eta0=10, eta_d=1000, random_state=2).fit(X, y)``, written out with its
    own formulas (not derive's): the parameters after ``n_epochs`` epochs and the objective J before each."""
    C, eta0, eta_d = 2, 10, 1000
    np.random.seed(2)
    w = np.random.randn(X.shape[1], 1)
    b = 0
    t = y * 2 - 1
    X_t = X * t
    Js = []
    for epoch in range(n_epochs):
        support_vectors_idx = (X_t.dot(w) + t * b < 1).ravel()
        X_t_sv = X_t[support_vectors_idx]
        t_sv = t[support_vectors_idx]
        Js.append(1 / 2 * np.sum(w * w) + C * (np.sum(1 - X_t_sv.dot(w)) - b * np.sum(t_sv)))
        w_gradient_vector = w - C * np.sum(X_t_sv, axis=0).reshape(-1, 1)
        b_derivative = -C * np.sum(t_sv)
        w = w - eta0 / (epoch + eta_d) * w_gradient_vector
        b = b - eta0 / (epoch + eta_d) * b_derivative
    return w, b, Js


@pytest.fixture(scope="module")
def spec():
    return derive.load(GERON)


@pytest.fixture(scope="module")
def notebook_data(spec):
    """X (petal length, width) and y (1 for Iris virginica, else 0) as the notebook has them."""
    X = np.array([i.x for i in spec.data])
    y = (np.array([i.t for i in spec.data]) > 0).astype(np.float64)
    return X, y


def test_the_data_have_the_iris_petals_published_statistics(notebook_data):
    """Without scikit-learn at hand: 150 flowers, 50 of them virginica, and the petals' summary statistics as the
    iris data set's description prints them (length 1.0-6.9, mean 3.76, SD 1.76; width 0.1-2.5, mean 1.20, SD 0.76)."""
    X, y = notebook_data
    assert X.shape == (150, 2) and y.sum() == 50 and (y[100:] == 1).all()
    assert X.min(0).tolist() == [1.0, 0.1] and X.max(0).tolist() == [6.9, 2.5]
    assert np.round(X.mean(0), 2).tolist() == [3.76, 1.20]
    assert np.round(X.std(0), 2).tolist() == [1.76, 0.76]  # the SD over the 150 (ddof 0)


def test_the_data_are_the_iris_petals(notebook_data):
    """The fixture's 150 instances are scikit-learn's iris, which the notebook loads (columns 2 and 3)."""
    datasets = pytest.importorskip("sklearn.datasets")
    iris = datasets.load_iris()
    X, y = notebook_data
    np.testing.assert_array_equal(X, iris["data"][:, (2, 3)])
    np.testing.assert_array_equal(y, (iris["target"] == 2).astype(np.float64).reshape(-1, 1))


def test_the_spec_is_the_notebooks_setup(spec):
    """The drawn weights are the notebook's np.random.randn(2, 1) after np.random.seed(2); b starts at 0;
    λ = 1/C, the bias unpenalized; η_k = C·η0/η_d / (1 + k/η_d) is C times the notebook's η0/(k + η_d)."""
    np.random.seed(2)
    assert spec.layers[0].weights == tuple(map(tuple, np.random.randn(2, 1).tolist()))
    assert spec.layers[0].bias == (0.0,)
    reg, tr = spec.regularization, spec.training
    assert (reg.kind, reg.lam, reg.half, reg.biases) == ("l2", 0.5, True, False)
    assert (spec.loss, spec.reduction, tr.optimizer.name, tr.mode, tr.batch_size) == (
        "binary_hinge", "sum", "sgd", "batch", None)
    for k in (0, 1, 999, 59999):
        assert tr.schedule.rate(tr.learning_rate, k) == pytest.approx(2 * 10 / (k + 1000), rel=1e-15)


def test_derive_values_follows_the_notebook_epoch_by_epoch(notebook_data, capsys):
    """`derive values` on the spec (600 epochs, within derive's limit of training): every epoch's total loss is
    the notebook's J divided by C = 2, and the parameters after 600 epochs are the notebook's."""
    with pytest.raises(SystemExit) as exit_:
        main(["values", str(GERON)])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0 and err == ""
    values = json.loads(out)
    X, y = notebook_data
    w, b, Js = geron(X, y.reshape(-1, 1), 601)  # the J before epoch 601 is the loss after the 600th
    np.testing.assert_allclose(np.array(values["training"]["loss"]) * 2, Js, rtol=1e-12)
    w, b, _ = geron(X, y.reshape(-1, 1), 600)
    layer = values["training"]["layers"]["y"]
    np.testing.assert_allclose(layer["weights"], w, rtol=1e-12)
    assert layer["bias"][0] == pytest.approx(b, rel=1e-12)
    # the worked example's own first update (the derivation, not the training loop) is the notebook's too
    w1, b1, _ = geron(X, y.reshape(-1, 1), 1)
    np.testing.assert_allclose(values["after_step"]["layers"]["y"]["weights"], w1, rtol=1e-13)
    assert values["after_step"]["layers"]["y"]["bias"][0] == pytest.approx(b1, rel=1e-13)


def test_the_printed_parameters_after_60000_epochs(spec):
    """All 60,000 epochs (9,000,000 passes, beyond the limit `derive values` keeps for a readable example) through
    the Python API: derive's parameters, printed as NumPy prints them, are the notebook's printed output."""
    full = dataclasses.replace(spec, training=dataclasses.replace(spec.training, epochs=60000))
    values = derive.values(derive.derive(full))
    layer = values["training"]["layers"]["y"]
    assert printed(layer) == PRINTED
    # and its predictions for the flowers (5, 2) and (4, 1): array([[1.], [0.]])
    decision = np.array([[5, 2], [4, 1]]) @ np.array(layer["weights"]) + layer["bias"][0]
    assert (decision >= 0).astype(np.float64).tolist() == [[1.0], [0.0]]


def test_the_printed_digits_are_not_met_by_a_neighbouring_run(spec):
    """The comparison can fail: the same run with the bias penalized as well misses the printed digits."""
    reg = dataclasses.replace(spec.regularization, biases=True)
    training = dataclasses.replace(spec.training, epochs=60000)
    values = derive.values(derive.derive(dataclasses.replace(spec, training=training, regularization=reg),
                                         verify=False))
    layer = values["training"]["layers"]["y"]
    assert printed(layer) != PRINTED


def test_pegasos_is_sgd_with_the_inverse_time_schedule():
    """docs/spec.md: Pegasos (Shalev-Shwartz et al., the loop of Shalev-Shwartz's own MATLAB code: w ← (1 − 1/t) w
    + 1/(λt) y x when y w·x < 1, else w ← (1 − 1/t) w, t = 1, 2, … over the data in order) is `online` sgd on
    max(0, 1 − t y) + λ/2 ‖w‖² without a bias, at `learning_rate` 1/λ with the inverse_time schedule r = s = 1."""
    rng = np.random.default_rng(5)
    X = np.round(rng.normal(0, 1, (6, 3)), 3)
    Y = np.where(X @ np.array([1.0, -2.0, 0.5]) + rng.normal(0, 0.5, 6) > 0, 1.0, -1.0)
    lam, epochs = 0.25, 3
    spec = derive.load({
        "network": {"inputs": 3, "loss": "binary_hinge",
                    "regularization": {"kind": "l2", "lambda": lam, "half": True},
                    "layers": [{"size": 1, "activation": "identity", "weights": [[0.0]] * 3}]},
        "data": [{"x": x, "t": [y]} for x, y in zip(X, Y)],
        "training": {"learning_rate": 1 / lam, "mode": "online", "epochs": epochs,
                     "schedule": {"kind": "inverse_time", "decay_rate": 1, "decay_steps": 1}}})
    w, t = np.zeros(3), 1
    for _ in range(epochs):
        for x, y in zip(X, Y):
            hit = y * (x @ w) < 1
            w = (1 - 1 / t) * w + (1 / (lam * t) * y * x if hit else 0)
            t += 1
    got = np.array(derive.values(derive.derive(spec))["training"]["layers"]["y"]["weights"]).ravel()
    np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-12)
    assert np.abs(w).sum() > 0.1  # a run that moved


# ---------------------------------------------------------------------------------------------------------------
# Andrej Karpathy's micrograd demo (https://github.com/karpathy/micrograd, demo.ipynb, In [3]-[7]): a 2-16-16-1
# ReLU network trained on scikit-learn's two moons with the binary hinge loss ("svm max-margin loss"), averaged,
# plus 1e-4 Σ p² over *all* 337 parameters (biases included), by full-batch gradient descent with the rate
# 1.0 − 0.9 k/100 for k = 0, …, 99. The notebook prints the total loss and the accuracy before every update;
# tests/fixtures/micrograd_demo_printed.txt holds those lines, copied verbatim from the notebook's stored output.
# ---------------------------------------------------------------------------------------------------------------

MICROGRAD_PRINTED = FIXTURES / "micrograd_demo_printed.txt"
MICROGRAD_SIZES = (2, 16, 16, 1)
MICROGRAD_RTOL = 1e-12
"""The printed losses are float64 values printed in full (17 significant digits), so their last two or three
digits depend on the order in which the gradients' terms are added. micrograd itself fixes no order: its
``backward`` walks a ``set`` of Python objects (hashed by memory address), so two reruns of micrograd today print
the same loss on only 19 of the 100 lines and agree with the notebook to 9e-15 relative; derive (NumPy's matrix
products) and PyTorch differ from the print by at most 9e-15 too. 1e-12 (12 significant digits) leaves a hundredfold
margin for other BLAS builds and is nine orders of magnitude below the 1e-3 by which each neighbouring run misses
the print (test_micrograd_neighbours_miss_the_print)."""


def micrograd_printed() -> dict:
    """The fixture parsed: the parameter count, the loss and accuracy before training, and the 100 step lines."""
    import re

    lines = [line for line in MICROGRAD_PRINTED.read_text(encoding="utf-8").splitlines() if not line.startswith("# ")]
    count = re.fullmatch(r"number of parameters (\d+)", lines[0])
    first = re.fullmatch(r"Value\(data=(\S+), grad=0\) (\S+)", lines[1])
    steps = [re.fullmatch(r"step (\d+) loss (\S+), accuracy (\S+)%", line) for line in lines[2:]]
    assert count and first and all(steps), "the fixture is not the notebook's output"
    assert [int(m[1]) for m in steps] == list(range(100))
    return {"parameters": int(count[1]), "loss0": float(first[1]), "acc0": first[2],
            "losses": np.array([float(m[2]) for m in steps]), "accuracies": [m[3] for m in steps]}


def micrograd_weights() -> list[np.ndarray]:
    """``MLP(2, [16, 16, 1])`` after ``random.seed(1337)``: each Neuron draws its ``nin`` weights
    ``random.uniform(-1, 1)`` in turn, layer by layer, neuron by neuron (its bias is ``Value(0)``). derive's
    ``weights[i][j]`` is from input i to unit j, so neuron j's draws are column j."""
    import random

    draw = random.Random(1337)  # the functions of the random module are the methods of one such instance
    return [np.array([[draw.uniform(-1, 1) for _ in range(n_in)] for _ in range(n_out)]).T
            for n_in, n_out in zip(MICROGRAD_SIZES, MICROGRAD_SIZES[1:])]


def micrograd_doc(X: np.ndarray, t: np.ndarray, weights: list[np.ndarray]) -> dict:
    layers = [{"size": W.shape[1], "activation": "relu" if l < len(weights) - 1 else "identity",
               "weights": W, "bias": 0} for l, W in enumerate(weights)]
    return {"name": "micrograd-moons",
            "network": {"inputs": 2, "loss": "binary_hinge", "reduction": "mean",
                        "regularization": {"kind": "l2", "lambda": 1e-4, "half": False, "biases": True},
                        "layers": layers},
            "data": [{"x": x, "t": [int(ti)]} for x, ti in zip(X, t)],
            "training": {"optimizer": "sgd", "learning_rate": 1.0, "epochs": 100, "mode": "batch",
                         "schedule": {"kind": "linear", "start_factor": 1.0, "end_factor": 0.1, "total": 100}}}


@pytest.fixture(scope="module")
def moons():
    """``make_moons(n_samples=100, noise=0.1)`` after ``np.random.seed(1337)``, y mapped to ±1 (``y*2 - 1``)."""
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn (optional in CI) draws the two moons")
    X, y = datasets.make_moons(n_samples=100, noise=0.1, random_state=1337)
    return X, y * 2 - 1


@pytest.fixture(scope="module")
def micrograd_spec(moons):
    """The run as a derive spec. 100 instances × 337 parameters is beyond the limit of a readable worked example
    (4096), so the parser reads the instances ten at a time (every one checked as usual) and the spec takes all 100
    with ``dataclasses.replace``, as the Géron test lifts the limit of training."""
    X, t = moons
    doc = micrograd_doc(X, t, micrograd_weights())
    parts = [derive.load({**doc, "data": doc["data"][i:i + 10]}) for i in range(0, len(X), 10)]
    return dataclasses.replace(parts[0], data=tuple(inst for part in parts for inst in part.data))


@pytest.fixture(scope="module")
def micrograd_values(micrograd_spec):
    """derive's own pipeline through the Python API, checks included (about 5 s: the worked example of the first
    update derives all 337 gradients for each of the 100 instances; the 100 updates themselves take 0.04 s)."""
    return derive.values(derive.derive(micrograd_spec))


def test_micrograd_data_and_weights_are_the_notebooks_draws(moons, micrograd_spec):
    """The notebook seeds the global generators (``np.random.seed(1337); random.seed(1337)``) and draws the moons,
    then the weights; make_moons with ``random_state=None`` uses NumPy's global generator, so it is the same
    draw as ``random_state=1337``, and the module-level ``random.uniform`` draws what ``random.Random(1337).uniform``
    draws."""
    import random

    from sklearn import datasets

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        np.random.seed(1337)
        random.seed(1337)
        X, y = datasets.make_moons(n_samples=100, noise=0.1)
        weights = [[random.uniform(-1, 1) for _ in range(n_in)] for n_in, n_out in
                   zip(MICROGRAD_SIZES, MICROGRAD_SIZES[1:]) for _ in range(n_out)]
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    np.testing.assert_array_equal(X, moons[0])
    np.testing.assert_array_equal(y * 2 - 1, moons[1])
    assert sorted(set(moons[1].tolist())) == [-1, 1] and (moons[1] == 1).sum() == 50
    assert np.concatenate([w for w in weights]).tolist() == [
        v for layer in micrograd_spec.layers for v in np.array(layer.weights).T.ravel().tolist()]
    assert all(layer.bias == (0.0,) * layer.size for layer in micrograd_spec.layers)


def test_micrograd_spec_is_the_notebooks_setup(micrograd_spec):
    """337 parameters as In [5] prints; relu, relu, identity; the hinge averaged over the 100 instances; α Σ p² with
    α = 1e-4 over weights and biases (``half = false``, ``biases = true``); sgd with derive's ``linear`` schedule,
    whose rate is bit for bit the notebook's ``1.0 - 0.9*k/100`` at every one of its 100 steps."""
    spec = micrograd_spec
    count = sum(np.size(layer.weights) + len(layer.bias) for layer in spec.layers)
    assert count == micrograd_printed()["parameters"] == 337
    assert [(layer.size, layer.activation) for layer in spec.layers] == [(16, "relu"), (16, "relu"), (1, "identity")]
    reg, tr = spec.regularization, spec.training
    assert (spec.loss, spec.reduction, reg.kind, reg.lam, reg.half, reg.biases) == (
        "binary_hinge", "mean", "l2", 1e-4, False, True)
    assert (tr.optimizer.name, tr.mode, tr.batch_size, tr.epochs, tr.learning_rate) == ("sgd", "batch", None, 100, 1.0)
    assert [tr.schedule.rate(tr.learning_rate, k) for k in range(100)] == [1.0 - 0.9 * k / 100 for k in range(100)]


def test_micrograd_printed_losses_and_accuracies(micrograd_spec, micrograd_values):
    """Every printed line: the total loss before each of the 100 updates is `derive values`' training loss to 12
    significant digits (MICROGRAD_RTOL says why not 17), and the accuracy, computed from derive's outputs as the
    notebook computes it and printed as it prints it, is the printed text exactly. The worked example's own numbers
    (the derivation, not the training loop) give In [6]'s loss and the loss after its first update, step 1's."""
    from derive.verify import reference

    printed = micrograd_printed()
    values = micrograd_values
    losses = np.array(values["training"]["loss"])
    assert losses.shape == (101,)  # before each of the 100 updates, then after the last
    np.testing.assert_allclose(losses[:100], printed["losses"], rtol=MICROGRAD_RTOL, atol=0)
    assert values["loss"] == pytest.approx(printed["loss0"], rel=MICROGRAD_RTOL)
    assert values["after_step"]["loss"] == pytest.approx(printed["losses"][1], rel=MICROGRAD_RTOL)
    assert values["after_step"]["learning_rates"] == [1.0]
    assert all(c["passed"] is not False for c in values["checks"].values())

    # the accuracies need the outputs before every update: derive's training loop (the Trainer behind
    # values["training"]) stepped one epoch at a time; it ends where `derive values` ends, bit for bit
    X, T = reference.data_arrays(micrograd_spec)
    params, trainer = reference.Params.from_spec(micrograd_spec), reference.Trainer(micrograd_spec)
    accuracies, fractions = [], []
    for _ in range(100):
        score = reference.forward(micrograd_spec, params, X)[1][-1][:, 0]
        acc = np.sum((T[:, 0] > 0) == (score > 0)) / len(score)  # the notebook's sum(accuracy) / len(accuracy)
        fractions.append(f"{acc}")
        accuracies.append(f"{acc * 100}")
        params = trainer.epoch(params, X, T)
    assert accuracies == printed["accuracies"]
    assert fractions[0] == printed["acc0"]  # In [6] prints the fraction
    for l, layer in enumerate(micrograd_spec.layers):
        assert values["training"]["layers"][layer.name]["weights"] == params.W[l].tolist()
        assert values["training"]["layers"][layer.name]["bias"] == params.b[l].tolist()


def test_micrograd_run_rerun_in_pytorch(moons, micrograd_spec, micrograd_values):
    """The same run in PyTorch (float64, autograd, ``torch.optim.SGD`` stepped by ``LinearLR(start_factor=1.0,
    end_factor=0.1, total_iters=100)``): derive's parameters after the 100 updates agree to 1e-10 and its losses to
    MICROGRAD_RTOL. No margin y·s ever comes nearer to the hinge's kink at 1 than 1e-4, and no hidden unit's input
    nearer to the ReLU's kink at 0 than 1e-6, so the conventions for the derivative at a kink (micrograd's
    ``relu`` takes 0 there, derive's ``binary_hinge`` takes −t) never come into play."""
    torch = pytest.importorskip("torch")
    X, t = (torch.tensor(a, dtype=torch.float64) for a in moons)
    W = [torch.tensor(layer.weights, dtype=torch.float64, requires_grad=True) for layer in micrograd_spec.layers]
    b = [torch.zeros(layer.size, dtype=torch.float64, requires_grad=True) for layer in micrograd_spec.layers]
    params = W + b
    opt = torch.optim.SGD(params, lr=1.0)
    schedule = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=100)
    losses, hidden, margins = [], [], []
    for _ in range(100):
        a = X
        for l in range(3):
            z = a @ W[l] + b[l]
            a = torch.relu(z) if l < 2 else z
            if l < 2:
                hidden.append(z.detach().abs().min().item())
        margin = t * z[:, 0]
        margins.append((margin.detach() - 1).abs().min().item())
        loss = torch.relu(1 - margin).mean() + 1e-4 * sum((p * p).sum() for p in params)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    values = micrograd_values["training"]
    np.testing.assert_allclose(values["loss"][:100], losses, rtol=MICROGRAD_RTOL, atol=0)
    for l, layer in enumerate(micrograd_spec.layers):
        np.testing.assert_allclose(values["layers"][layer.name]["weights"], W[l].detach().numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(values["layers"][layer.name]["bias"], b[l].detach().numpy(), rtol=0, atol=1e-10)
    assert min(hidden) > 1e-6 and min(margins) > 1e-4


def test_micrograd_neighbours_miss_the_print(micrograd_spec, micrograd_values):
    """The comparison can fail, and it pins down each word of the setup: the same run without the biases in the
    penalty, with ½ α Σ p², or with a constant rate each misses the printed losses by far more than MICROGRAD_RTOL
    (derive's training loop, ``reference.train``, the function behind `derive values`' training numbers)."""
    from derive.core.schedules import Constant
    from derive.verify import reference

    printed = micrograd_printed()["losses"]
    assert reference.train(micrograd_spec).losses == micrograd_values["training"]["loss"]
    reg, tr = micrograd_spec.regularization, micrograd_spec.training
    for change in ({"regularization": dataclasses.replace(reg, biases=False)},
                   {"regularization": dataclasses.replace(reg, half=True)},
                   {"training": dataclasses.replace(tr, schedule=Constant())}):
        losses = np.array(reference.train(dataclasses.replace(micrograd_spec, **change)).losses[:100])
        assert np.max(np.abs(losses - printed) / printed) > 1e-3, change
