"""Published training runs reproduced to their printed digits (docs/seeds.md says where each comes from).

Géron's MyLinearSVC (*Hands-On Machine Learning*, notebook 05, "Linear SVM classifier implementation
using Batch Gradient Descent": https://github.com/ageron/handson-ml2/blob/master/05_support_vector_machines.ipynb,
cells In [37]-[40]; the 3rd edition's https://github.com/ageron/handson-ml3, same notebook, In [26]-[30],
prints the same): a hinge loss, ½‖w‖², a learning rate 10/(epoch + 1000), 60,000 epochs of batch
gradient descent on the iris petals. The notebook prints

    [-15.56761653] [[[2.28120287]
      [2.71621742]]]

(``intercept_``, ``coef_``) and predicts [[1.], [0.]] for the flowers (5, 2) and (4, 1).
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
