"""The graph (stage 2): nodes, roles, names, local expressions over the parents only, topological order."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from conftest import random_spec, spec_from
from derive.core.graph import build_graph, weight_key
from derive.errors import SpecError

SMALL = """
[network]
inputs = 2
loss = "sse"
[[network.layers]]
size = 3
activation = "sigmoid"
weights = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
bias = [0.1, 0.2, 0.3]
train_bias = false
[[network.layers]]
size = 2
activation = "identity"
weights = [[1, 2], [3, 4], [5, 6]]
bias = [0, 1]
[[data]]
x = [1, 2]
t = [0, 1]
"""


@pytest.fixture(scope="module")
def small():
    return build_graph(spec_from(SMALL))


def test_the_nodes_of_each_role_counted_by_hand(small):
    roles = [n.role for n in small.nodes.values()]
    expected = {"input": 2, "target": 2, "weight": 2 * 3 + 3 * 2, "bias": 3 + 2, "in": 3 + 2, "out": 3 + 2,
                "error": 2, "loss": 1}
    assert {r: roles.count(r) for r in expected} == expected
    assert len(roles) == sum(expected.values())


def test_names_follow_the_spec(small):
    assert list(small.input_keys) == ["x1", "x2"] and list(small.target_keys) == ["t1", "t2"]
    assert small.layer_units[0] == (("h1_in", "h1_out"), ("h2_in", "h2_out"), ("h3_in", "h3_out"))
    assert small.layer_weights[1] == (("v11", "v12"), ("v21", "v22"), ("v31", "v32"))
    assert small.layer_bias[0] == ("b_h1", "b_h2", "b_h3")
    assert weight_key("w", 0, 1) == "w12" and weight_key("w", 9, 0) == "w10_1"


def test_fixed_biases_are_not_parameters(small):
    params = [p.key for p in small.parameters]
    assert "b_h1" not in params and "b_y1" in params
    assert len(params) == 6 + 6 + 2


def test_local_expressions_mention_only_their_parents(small):
    for node in small.computed:
        parents = {small[p].symbol for p in node.parents}
        assert node.expr.free_symbols <= parents, node.key


def test_order_is_topological_and_children_invert_parents(small):
    seen = set()
    for key, node in small.nodes.items():
        assert set(node.parents) <= seen, key
        seen.add(key)
    assert list(small.nodes)[-1] == small.loss_key
    for key, kids in small.children.items():
        for kid in kids:
            assert key in small[kid].parents
    assert small.edges == sum(len(kids) for kids in small.children.values())


def test_the_composed_loss_is_the_hand_computed_loss(small):
    """Composing every local expression gives L; evaluated, it is the forward pass done by hand."""
    full = {}
    for node in small.computed:
        full[node.symbol] = node.expr.xreplace(full)
    loss = full[small["L"].symbol]
    values = {"x1": 1, "x2": 2, "t1": 0, "t2": 1, "w11": 0.1, "w12": 0.2, "w13": 0.3, "w21": 0.4, "w22": 0.5,
              "w23": 0.6, "b_h1": 0.1, "b_h2": 0.2, "b_h3": 0.3, "v11": 1, "v12": 2, "v21": 3, "v22": 4,
              "v31": 5, "v32": 6, "b_y1": 0, "b_y2": 1}
    x, W, b, V, c, t = [1, 2], [[.1, .2, .3], [.4, .5, .6]], [.1, .2, .3], [[1, 2], [3, 4], [5, 6]], [0, 1], [0, 1]
    h = [1 / (1 + math.exp(-(sum(x[i] * W[i][j] for i in range(2)) + b[j]))) for j in range(3)]
    y = [sum(h[i] * V[i][k] for i in range(3)) + c[k] for k in range(2)]
    by_hand = sum((y[k] - t[k]) ** 2 for k in range(2))
    env = {small[k].symbol: sp.Float(v) for k, v in values.items()}
    assert float(loss.xreplace(env).rewrite(sp.exp)) == pytest.approx(by_hand, rel=1e-14)


def test_softmax_units_depend_on_every_sum_of_their_layer():
    g = build_graph(random_spec("cross_entropy", "softmax", "tanh", sizes=(2, 3, 4), seed=1))
    for z, a in g.layer_units[-1]:
        assert set(g[a].parents) == {zz for zz, _ in g.layer_units[-1]}
    for z, a in g.layer_units[0]:
        assert g[a].parents == (z,)


def test_a_circuit_has_no_targets_and_no_errors():
    g = build_graph(random_spec("output", "identity", "relu"))
    assert not g.target_keys and not [n for n in g.nodes.values() if n.role in ("target", "error")]


def test_two_quantities_with_one_name_are_refused():
    spec = spec_from(SMALL.replace('[[network.layers]]\nsize = 2', '[[network.layers]]\nweight_symbol = "w"\nsize = 2')
                     .replace('size = 3\n', 'size = 3\nweight_symbol = "v"\n', 1))
    g = build_graph(spec)  # swapping letters is fine
    assert "w11" in g.nodes and "v11" in g.nodes
    clash = spec_from("""
        [network]
        inputs = ["e1", "x2"]
        loss = "sse"
        [[network.layers]]
        size = 1
        name = "h"
        activation = "identity"
        weights = [[1], [1]]
        [[data]]
        x = [1, 2]
        t = [1]
    """)
    with pytest.raises(SpecError, match="e1"):
        build_graph(clash)
