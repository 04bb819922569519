"""The activation and loss registries: one entry each, checked against SymPy and the NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive import reference
from derive.ops import ACTIVATIONS, LOSSES

z = sp.Symbol("z", real=True)
POINTS = [-3.0, -0.5, 0.25, 2.0]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_declared_derivative_is_the_derivative(name):
    op = ACTIVATIONS[name]
    f = op.definition(z).rewrite(sp.Piecewise)
    declared = op.derivative(z, op.expr(z))
    for p in POINTS:
        assert float(declared.subs(z, p)) == pytest.approx(float(sp.diff(f, z).subs(z, p)), rel=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_reference_activation_agrees_with_the_symbolic_one(name):
    op = ACTIVATIONS[name]
    f, df = reference.ACTIVATIONS[name]
    zs = np.array(POINTS)
    assert f(zs) == pytest.approx([float(op.expr(sp.Float(p))) for p in POINTS], rel=1e-14)
    a = f(zs)
    assert df(zs, a) == pytest.approx([float(op.derivative(sp.Float(p), op.expr(sp.Float(p)))) for p in POINTS],
                                      rel=1e-12)


def test_registries_match_the_reference():
    assert set(ACTIVATIONS) == set(reference.ACTIVATIONS)
    assert set(LOSSES) == set(reference.LOSSES)


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
    loss, dloss = reference.LOSSES[name]
    assert loss(y[None], t[None])[0] == pytest.approx(float(L.subs(env)), rel=1e-12)
    assert dloss(y[None], t[None])[0] == pytest.approx([float(sp.diff(L, yi).subs(env)) for yi in ys], rel=1e-12)


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = reference.ACTIVATIONS["sigmoid"][0](np.array([-1000.0, 0.0, 1000.0]))
    assert out.tolist() == [0.0, 0.5, 1.0]
