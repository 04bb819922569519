"""The chain rule as data (stage 3): each local derivative against sympy.diff of the child's own expression,
the terms against the graph's children, and the path counts against a brute-force enumeration."""

from __future__ import annotations

import pytest
import sympy as sp

from conftest import ALL, random_spec
from derive.core.chain import MAX_LISTED_PATHS, derive_steps
from derive.core.graph import build_graph
from derive.core.numbers import evaluate, initial_parameters, leaf_values

CASES = [("sse", "sigmoid", "tanh"), ("half_sse", "leaky_relu", "relu"), ("bce", "sigmoid", "leaky_relu"),
         ("cross_entropy", "softmax", "sigmoid"), ("mse", "softmax", "identity"), ("output", "tanh", "softmax")]


@pytest.mark.parametrize("loss, out, hidden", CASES)
def test_local_derivatives_are_sympy_diff_of_the_local_expression(loss, out, hidden):
    """The activation and loss classes supply their textbook forms (σ(1 − σ), 2e); they must equal sympy.diff."""
    spec = random_spec(loss, out, hidden, sizes=(2, 3, 2), seed=3)
    graph = build_graph(spec)
    steps = derive_steps(graph)
    num = evaluate(steps, leaf_values(graph, initial_parameters(graph), spec.data[0]))
    env = {graph[k].symbol: sp.Float(v) for k, v in num.value.items()}
    for (child, node), declared in steps.local.items():
        # derive's own functions spelled out in SymPy's (σ with exp, ReLU as a Piecewise), so that nothing
        # of the class being checked is used
        spelled = graph[child].expr.rewrite(sp.Piecewise).rewrite(sp.exp)
        true = sp.diff(spelled, graph[node].symbol).xreplace(env)
        assert num.local[(child, node)] == pytest.approx(float(true.doit()), rel=1e-12, abs=1e-15), (child, node)


def test_every_node_sums_over_exactly_its_children():
    graph = build_graph(random_spec("sse", "sigmoid", "relu", sizes=(2, 3, 3, 2), seed=5))
    steps = derive_steps(graph)
    for key, step in steps.steps.items():
        assert tuple(t.child for t in step.terms) == graph.children[key], key
    assert steps.steps[graph.loss_key].terms == ()
    assert list(steps.steps)[0] == graph.loss_key  # backward order: the loss first
    assert not any(graph[k].role == "target" for k in steps.steps)


def _brute_paths(graph, key):
    if key == graph.loss_key:
        return [(key,)]
    return [(key, *rest) for kid in graph.children[key] for rest in _brute_paths(graph, kid)]


@pytest.mark.parametrize("sizes", [(2, 2, 2), (2, 3, 2, 2), (3, 2, 2, 1)])
def test_path_counts_by_enumeration(sizes):
    graph = build_graph(random_spec("sse", "identity", "sigmoid", sizes=sizes, seed=len(sizes)))
    steps = derive_steps(graph)
    for key in steps.steps:
        paths = _brute_paths(graph, key)
        assert steps.path_counts[key] == len(paths), key
        listed = steps.paths(key)
        if len(paths) > MAX_LISTED_PATHS:
            assert listed is None
        else:
            assert sorted(listed) == sorted(paths)


def test_a_weight_has_one_path_per_output_in_a_two_layer_sse_network():
    graph = build_graph(random_spec("sse", "sigmoid", "sigmoid", sizes=(2, 3, 4), seed=0))
    steps = derive_steps(graph)
    # w11 → h1_in → h1_out → each of 4 output sums → its output → its error → L
    assert steps.path_counts["w11"] == 4
    assert steps.path_counts["v11"] == 1


def test_fixed_biases_get_no_step():
    spec = random_spec("sse", "sigmoid", "sigmoid", sizes=(2, 3, 2), seed=0)
    import dataclasses

    spec = dataclasses.replace(spec, layers=(dataclasses.replace(spec.layers[0], train_bias=False),
                                             *spec.layers[1:]))
    steps = derive_steps(build_graph(spec))
    assert "b_h1" not in steps.steps and "w11" in steps.steps
