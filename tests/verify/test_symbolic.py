"""sympy.diff of the composed loss, remembered between runs: the cache gives what SymPy gives, or nothing."""

from __future__ import annotations

import json

import pytest
import sympy as sp

from conftest import random_spec
from derive.core.activations import ACTIVATIONS
from derive.pipeline import derive
from derive.spec.parse import load_spec
from derive.verify import symbolic
from derive.verify.checks import check_sympy_diff

#: (loss, output activation, hidden activation): every function the composed losses use
#: (exponentials, logarithms, Abs for the kinks, softmax's quotients)
COMBOS = [("sse", "sigmoid", "tanh"), ("cross_entropy", "softmax", "relu"), ("bce", "sigmoid", "leaky_relu"),
          ("mse", "identity", "sigmoid"), ("half_sse", "tanh", "relu")]


def reference_values(graph, num) -> dict[str, float]:
    """sympy.diff of the loss composed the way the check used to compose it, evaluated by SymPy itself."""
    full = {}
    for node in graph.nodes.values():
        if node.expr is not None:
            full[node.symbol] = node.expr.xreplace(full)
    loss = full[graph[graph.loss_key].symbol].rewrite(sp.exp).rewrite(sp.Abs)
    env = {graph[k].symbol: sp.Float(v) for k, v in num.value.items() if graph[k].expr is None}
    return {p.key: float(sp.diff(loss, p.symbol).xreplace(env).evalf(30)) for p in graph.parameters}


@pytest.mark.parametrize("loss,out,hidden", COMBOS)
def test_derivatives_match_sympy_and_read_back_the_same(tmp_path, loss, out, hidden):
    d = derive(random_spec(loss, out, hidden, sizes=(2, 3, 2), n_data=2), verify=False)
    fresh = symbolic.loss_derivatives(d.graph, tmp_path)
    assert not fresh.cached and fresh.rows is not None
    assert len(list(tmp_path.iterdir())) == 1
    again = symbolic.loss_derivatives(d.graph, tmp_path)
    assert again.cached
    for num in d.instances:
        leaves = {k: v for k, v in num.value.items() if d.graph[k].expr is None}
        ours, stored = fresh.values(leaves, 53), again.values(leaves, 53)
        assert ours == stored
        expected = reference_values(d.graph, num)
        assert ours == pytest.approx(expected, rel=1e-12, abs=1e-15)
        # and derive's chain rule agrees with it (what the check asserts)
        assert ours == pytest.approx({k: num.grad[k] for k in ours}, rel=1e-9, abs=1e-12)


def test_another_network_is_not_read_from_the_cache(tmp_path):
    a = derive(random_spec("sse", "sigmoid", "tanh", sizes=(2, 2, 2), seed=1), verify=False)
    b = derive(random_spec("sse", "sigmoid", "sigmoid", sizes=(2, 2, 2), seed=1), verify=False)
    symbolic.loss_derivatives(a.graph, tmp_path)
    assert not symbolic.loss_derivatives(b.graph, tmp_path).cached  # tanh → sigmoid: another composed loss
    assert len(list(tmp_path.iterdir())) == 2
    # the weights' values are not part of the loss's structure: the same network with other weights is read back
    c = derive(random_spec("sse", "sigmoid", "tanh", sizes=(2, 2, 2), seed=2), verify=False)
    assert symbolic.loss_derivatives(c.graph, tmp_path).cached


@pytest.mark.parametrize("damage", ["forward reference", "unknown operation", "not json", "other key",
                                    "unknown symbol"])
def test_a_damaged_cache_file_is_ignored_and_rewritten(tmp_path, damage):
    d = derive(load_spec("two-two-two"), verify=False)
    symbolic.loss_derivatives(d.graph, tmp_path)
    (path,) = tmp_path.iterdir()
    data = json.loads(path.read_text())
    if damage == "forward reference":
        data["rows"][-1] = ["Add", len(data["rows"]) + 5, 0]
    elif damage == "unknown operation":
        data["rows"][-1] = ["__import__", 0]
    elif damage == "other key":
        data["key"] += " "
    elif damage == "unknown symbol":
        first = next(i for i, row in enumerate(data["rows"]) if row[0] == "sym")
        data["rows"][first][1] = "no_such_leaf"
    path.write_text("{" if damage == "not json" else json.dumps(data))
    again = symbolic.loss_derivatives(d.graph, tmp_path)
    assert not again.cached
    assert symbolic.loss_derivatives(d.graph, tmp_path).cached  # rewritten whole
    assert check_sympy_diff(d).passed is True


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    d = derive(load_spec("two-two-two"), verify=False)
    out = symbolic.loss_derivatives(d.graph, blocker / "sub")  # a directory inside a file: cannot exist
    assert not out.cached and out.rows is not None


def test_a_function_outside_the_table_is_differentiated_every_time(tmp_path, monkeypatch):
    d = derive(load_spec("two-two-two"), verify=False)
    monkeypatch.delitem(symbolic.OPERATIONS, "exp")
    out = symbolic.loss_derivatives(d.graph, tmp_path)
    assert out.rows is None and out.exprs is not None and not list(tmp_path.iterdir())
    num = d.instances[0]
    leaves = {k: v for k, v in num.value.items() if d.graph[k].expr is None}
    assert out.values(leaves, 53) == pytest.approx(reference_values(d.graph, num), rel=1e-12)


def test_saturated_units_are_evaluated_in_more_bits(tmp_path):
    """σ(40) is 1 in 53 bits; the instance's working precision keeps dL/dθ of the BCE loss finite and right."""
    text = ('[network]\ninputs = 1\nloss = "bce"\n[[network.layers]]\nsize = 1\nactivation = "sigmoid"\n'
            "weights = [[40]]\n[[data]]\nx = [1]\nt = [0]\n")
    from conftest import spec_from

    d = derive(spec_from(text))
    assert d.instances[0].precision > 53
    assert d.checks["sympy_diff"].passed is True
    leaves = {k: v for k, v in d.instances[0].value.items() if d.graph[k].expr is None}
    out = symbolic.loss_derivatives(d.graph, tmp_path).values(leaves, d.instances[0].precision)
    assert out["w11"] == pytest.approx(1.0, rel=1e-12)  # dL/dw = (σ(40) − 0)·x, computed in 53 bits it is NaN


def test_every_registered_activation_composes(tmp_path):
    for name in sorted(ACTIVATIONS):
        loss = "cross_entropy" if name == "softmax" else "sse"
        d = derive(random_spec(loss, name, "sigmoid", sizes=(2, 2, 2), n_data=1), verify=False)
        out = symbolic.loss_derivatives(d.graph, tmp_path)
        leaves = {k: v for k, v in d.instances[0].value.items() if d.graph[k].expr is None}
        assert out.values(leaves, 53) == pytest.approx(reference_values(d.graph, d.instances[0]), rel=1e-10), name


def test_the_cache_directory_is_this_users_alone(tmp_path, monkeypatch):
    from derive.cache import user_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    made = user_cache_dir("sympy-diff")
    assert made == tmp_path / "derive" / "sympy-diff" and made.is_dir() and made.stat().st_mode & 0o777 == 0o700
    (tmp_path / "derive").chmod(0o777)  # writable by others: another user could plant files in it
    assert user_cache_dir("sympy-diff") is None
    (tmp_path / "derive").chmod(0o755)
    assert user_cache_dir("sympy-diff") == made
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    (tmp_path / "file").write_text("")
    assert user_cache_dir("lark") is None  # cannot be made: nothing is cached, nothing fails
