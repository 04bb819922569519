"""Property tests on random small networks: the chain-rule gradients equal independent ones.

The independent computations here are the test's own: a scalar, loop-by-loop forward pass in
plain Python (math, no NumPy, no SymPy) differentiated by central differences, and the
vectorized NumPy backward pass of derive.reference.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.verify import reference
from derive.pipeline import derive
from derive.spec.parse import Instance, Layer, Spec, Training

ACT = {"identity": lambda z: z, "sigmoid": lambda z: 1 / (1 + math.exp(-z)), "tanh": math.tanh}
LOSS = {"sse": lambda y, t: sum((a - b) ** 2 for a, b in zip(y, t)),
        "half_sse": lambda y, t: sum(0.5 * (a - b) ** 2 for a, b in zip(y, t)),
        "mse": lambda y, t: sum((a - b) ** 2 for a, b in zip(y, t)) / len(y)}


def scalar_loss(spec: Spec, weights, biases) -> float:
    total = 0.0
    for inst in spec.data:
        a = list(inst.x)
        for layer, W, b in zip(spec.layers, weights, biases):
            z = [sum(a[i] * W[i][j] for i in range(len(a))) + (b[j] if b is not None else 0.0)
                 for j in range(layer.size)]
            a = [ACT[layer.activation](v) for v in z]
        total += LOSS[spec.loss](a, inst.t)
    return total if spec.reduction == "sum" else total / len(spec.data)


numbers = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def networks(draw):
    sizes = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    n_data = draw(st.integers(1, 3))
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        weights = tuple(tuple(draw(numbers) for _ in range(n_out)) for _ in range(n_in))
        bias = draw(st.none() | st.tuples(*[numbers] * n_out))
        layers.append(Layer(name=f"h{k + 1}" if k < len(sizes) - 2 else "y", size=n_out,
                            activation=draw(st.sampled_from(sorted(ACT))), weights=weights, bias=bias,
                            train_bias=draw(st.booleans()), weight_symbol="wvusrq"[k]))
    data = tuple(Instance(x=tuple(draw(numbers) for _ in range(sizes[0])),
                          t=tuple(draw(st.floats(0, 1).map(lambda v: round(v, 2))) for _ in range(sizes[-1])))
                 for _ in range(n_data))
    return Spec(name="random", title="random", description="", inputs=tuple(f"x{i + 1}" for i in range(sizes[0])),
                loss=draw(st.sampled_from(sorted(LOSS))), reduction=draw(st.sampled_from(["sum", "mean"])),
                layers=tuple(layers), data=data, training=Training(learning_rate=0.1, epochs=3, mode="batch"),
                source="hypothesis")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_chain_rule_gradients_equal_finite_differences_of_a_scalar_forward_pass(spec):
    d = derive(spec, verify=False)
    weights = [[list(row) for row in layer.weights] for layer in spec.layers]
    biases = [None if layer.bias is None else list(layer.bias) for layer in spec.layers]
    assert math.isclose(d.loss, scalar_loss(spec, weights, biases), rel_tol=1e-12, abs_tol=1e-14)
    for l, layer in enumerate(spec.layers):
        cells = [(weights[l], (i, j), d.graph.layer_weights[l][i][j])
                 for i in range(len(weights[l])) for j in range(layer.size)]
        if biases[l] is not None and layer.train_bias:
            cells += [(biases[l], (j,), d.graph.layer_bias[l][j]) for j in range(layer.size)]
        for container, idx, key in cells:
            row = container[idx[0]] if len(idx) == 2 else container
            pos = idx[-1]
            saved, h = row[pos], 1e-6
            row[pos] = saved + h
            up = scalar_loss(spec, weights, biases)
            row[pos] = saved - h
            down = scalar_loss(spec, weights, biases)
            row[pos] = saved
            assert math.isclose(d.grad[key], (up - down) / (2 * h), rel_tol=1e-5, abs_tol=1e-7), key


@settings(max_examples=60, deadline=None)
@given(networks())
def test_every_node_gradient_equals_the_numpy_backward_pass(spec):
    d = derive(spec)  # raises CheckFailed if any check disagrees
    X, T = reference.data_arrays(spec)
    p = reference.backward(spec, reference.Params.from_spec(spec), X, T)
    for n, num in enumerate(d.instances):
        for l, units in enumerate(d.graph.layer_units):
            np.testing.assert_allclose([num.grad[z] for z, _ in units], p.dZ[l][n], rtol=1e-9, atol=1e-13)
            np.testing.assert_allclose([num.grad[a] for _, a in units], p.dA[l][n], rtol=1e-9, atol=1e-13)
        np.testing.assert_allclose([num.grad[k] for k in d.graph.input_keys], p.dX[n], rtol=1e-9, atol=1e-13)
