"""The activation and loss registries: one entry each, checked against SymPy and the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive.core.activations import ACTIVATIONS
from derive.core.losses import LOSSES
from derive.spec.parse import Layer

z = sp.Symbol("z", real=True)
POINTS = [-3.0, -0.5, 0.25, 2.0]


ELEMENTWISE = sorted(name for name, op in ACTIVATIONS.items() if op.elementwise)
LAYER = Layer(name="y", size=4, activation="leaky_relu", weights=((0.0,) * 4,), bias=None, train_bias=True,
              weight_symbol="w", slope=0.2)


def configured(name):
    return ACTIVATIONS[name].configured(LAYER)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_declared_derivative_is_the_derivative(name):
    op = configured(name)
    f = op.definition(z).rewrite(sp.Piecewise)
    declared = op.derivative(z, op.expr(z))
    for p in POINTS:
        assert float(declared.subs(z, p)) == pytest.approx(float(sp.diff(f, z).subs(z, p)), rel=1e-12)


@pytest.mark.parametrize("name, at_zero", [("relu", 0.0), ("leaky_relu", 0.2)])
def test_kink_conventions(name, at_zero):
    op = configured(name)
    assert float(op.derivative(sp.S.Zero, op.expr(sp.S.Zero))) == at_zero
    forward, backward = ACTIVATIONS[name].forward, ACTIVATIONS[name].backward
    zero = np.zeros((1, 1))
    assert backward(zero, forward(zero, LAYER), np.ones((1, 1)), LAYER)[0, 0] == at_zero


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_reference_activation_agrees_with_the_symbolic_one(name):
    op = configured(name)
    forward, backward = ACTIVATIONS[name].forward, ACTIVATIONS[name].backward
    zs = np.array([POINTS])
    a = forward(zs, LAYER)
    assert a[0] == pytest.approx([float(op.expr(sp.Float(p))) for p in POINTS], rel=1e-14)
    g = np.array([[1.0, -2.0, 0.5, 3.0]])
    expected = [gi * float(op.derivative(sp.Float(p), op.expr(sp.Float(p)))) for gi, p in zip(g[0], POINTS)]
    assert backward(zs, a, g, LAYER)[0] == pytest.approx(expected, rel=1e-12)


def test_softmax_jacobian_is_the_derivative():
    op = ACTIVATIONS["softmax"]
    zs = sp.symbols("z1:4", real=True)
    outs = sp.symbols("a1:4", real=True)
    point = dict(zip(zs, [0.5, -1.0, 2.0]))
    values = {o: float(op.unit_expr(j, zs).subs(point)) for j, o in enumerate(outs)}
    for j in range(3):
        for i in range(3):
            declared = float(op.partial(j, i, zs, outs).subs(values))
            true = float(sp.diff(op.unit_expr(j, zs), zs[i]).subs(point))
            assert declared == pytest.approx(true, rel=1e-12), (j, i)


def test_reference_softmax_backward_is_the_jacobian_product():
    forward, backward = ACTIVATIONS["softmax"].forward, ACTIVATIONS["softmax"].backward
    z = np.array([[0.5, -1.0, 2.0]])
    a = forward(z, LAYER)
    J = np.diag(a[0]) - np.outer(a[0], a[0])
    g = np.array([[0.3, -1.2, 2.0]])
    np.testing.assert_allclose(backward(z, a, g, LAYER)[0], J.T @ g[0], rtol=1e-14)


def test_declared_loss_partials_are_the_derivatives():
    for name, op in LOSSES.items():
        K = 1 if name == "output" else 3
        ys = sp.symbols(f"y1:{K + 1}", real=True)
        ts = sp.symbols(f"t1:{K + 1}", real=True)
        L = op.expr(ys, ts)
        env = {**dict(zip(ys, [0.2, 0.7, 0.4][:K])), **dict(zip(ts, [0.1, 0.8, 0.3][:K]))}
        for k in range(K):
            assert float(op.partial(k, ys, ts).subs(env)) == pytest.approx(float(sp.diff(L, ys[k]).subs(env)),
                                                                          rel=1e-12), (name, k)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_notebook_code_of_an_activation_computes_its_numpy_forward_and_backward(name):
    op = ACTIVATIONS[name]
    Z = np.array([[-1.5, 0.0, 0.25, 2.0]])
    A = op.forward(Z, LAYER)
    dA = np.array([[1.0, -2.0, 0.5, 3.0]])
    scope = {"np": np, "Z": Z, "A": A, "dA": dA}
    np.testing.assert_allclose(eval(op.code_forward("Z", LAYER), scope), A, rtol=1e-14)
    np.testing.assert_allclose(eval(op.code_backward("Z", "A", "dA", LAYER), scope), op.backward(Z, A, dA, LAYER),
                               rtol=1e-14)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_notebook_code_of_a_loss_computes_its_numpy_loss_and_gradient(name):
    op = LOSSES[name]
    Y = np.array([[0.2, 0.7, 0.4], [0.9, 0.1, 0.5]])
    T = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    scope = {"np": np, "Y": Y, "T": T}
    np.testing.assert_allclose(eval(op.code_forward(), scope), op.forward(Y, T), rtol=1e-14)
    np.testing.assert_allclose(eval(op.code_backward(), scope), op.backward(Y, T), rtol=1e-14)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_reference_loss_and_gradient_agree_with_the_symbolic_loss(name):
    op = LOSSES[name]
    K = 1 if name == "output" else 3
    ys = sp.symbols(f"y1:{K + 1}", real=True)
    ts = sp.symbols(f"t1:{K + 1}", real=True)
    y = np.array([0.2, 0.7, 0.4][:K])
    t = np.array([0.0, 1.0, 0.0][:K])
    args = [yi - ti for yi, ti in zip(ys, ts)] if op.uses_errors else list(ys)
    L = op.expr(args, ts)
    env = {**dict(zip(ys, y)), **dict(zip(ts, t))}
    loss, dloss = LOSSES[name].forward, LOSSES[name].backward
    assert loss(y[None], t[None])[0] == pytest.approx(float(L.subs(env)), rel=1e-12)
    assert dloss(y[None], t[None])[0] == pytest.approx([float(sp.diff(L, yi).subs(env)) for yi in ys], rel=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_are_stable_for_huge_inputs(name):
    z = np.array([[-1000.0, 0.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = ACTIVATIONS[name].forward(z, LAYER)
        g = ACTIVATIONS[name].backward(z, a, np.ones_like(z), LAYER)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(g))


@pytest.mark.parametrize("name", sorted(set(LOSSES) - {"output"}))
def test_losses_are_stable_at_saturated_outputs(name):
    loss, dloss = LOSSES[name].forward, LOSSES[name].backward
    Y = np.array([[0.0, 1.0]])
    T = np.array([[1.0, 0.0]]) if name != "cross_entropy" else np.array([[1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert np.all(np.isfinite(loss(Y, T))) and np.all(np.isfinite(dloss(Y, T)))


def test_no_consumer_compares_registry_names():
    """One place per extension: outside the registries, no module or template compares an activation's or a
    loss's name (a new class would otherwise be missed there, as the notebook's if-chain once missed softplus).

    derive/grade/audit and derive/verify/mathreader.py are left out on purpose: they read documents written by
    anyone, whose function names (tanh, relu, …) are words of the document, not derive's registry."""
    import re

    from conftest import ROOT
    from derive.core.optimizers import OPTIMIZERS

    names = sorted(set(ACTIVATIONS) | set(LOSSES) | set(OPTIMIZERS), key=len, reverse=True)
    quoted = "|".join(re.escape(n) for n in names)
    pattern = re.compile(rf"""(==|!=|\bin)\s*[(\[]?\s*["']({quoted})["']|["']({quoted})["']\s*(==|!=)""")
    registries = {"derive/core/activations.py", "derive/core/losses.py", "derive/core/optimizers.py",
                  "derive/core/layers.py", "derive/core/schedules.py", "derive/verify/mathreader.py"}
    offenders = []
    files = list((ROOT / "derive").rglob("*.py")) + list((ROOT / "templates").glob("*.j2"))
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel in registries or rel.startswith("derive/grade/audit/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == []
