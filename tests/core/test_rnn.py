"""The recurrent layer (``type = "rnn"``) against ``torch.nn.RNN`` and torch autograd, and its spec errors.

Random sequence lengths T, features F and hidden sizes H, several instances, tanh and relu, the last
output or every step's (then a flatten): every state, every gradient (of the states, the pre-activations,
the four parameter arrays, the inputs) to 1e-10 in float64; training with sgd and adam against
``torch.optim``. The pipeline's own checks (the NumPy reference, finite differences and, where the network
is small, sympy.diff) run on every derivation as well.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.errors import SpecError
from derive.pipeline import derive
from tests.conftest import spec_from

torch = pytest.importorskip("torch")


def _nested(a) -> str:
    return json.dumps(np.asarray(a).tolist())


def random_rnn(seed: int, *, activation: str, output: str, training: str = "", N: int = 3, h0: bool = False,
               shape: tuple[int, int, int] | None = None, K: int = 2):
    """(spec text, the arrays of its parameters and data)."""
    rng = np.random.default_rng(seed)
    T, F, H = shape or (int(rng.integers(2, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = {"W_ih": rng.normal(size=(H, F)).round(3), "W_hh": (0.7 * rng.normal(size=(H, H))).round(3),
         "b_ih": rng.normal(size=H).round(3), "b_hh": rng.normal(size=H).round(3),
         "h0": rng.normal(size=H).round(3) if h0 else np.zeros(H)}
    width = H if output == "last" else T * H
    p["V"] = (0.5 * rng.normal(size=(width, K))).round(3)
    p["c"] = rng.normal(size=K).round(3)
    X = rng.normal(size=(N, T, F)).round(3)
    Tt = rng.normal(size=(N, K)).round(3)
    text = f"""
[network]
input_shape = [{T}, {F}]
loss = "sse"

[[network.layers]]
name = "h"
type = "rnn"
size = {H}
activation = "{activation}"
weights_ih = {_nested(p["W_ih"])}
weights_hh = {_nested(p["W_hh"])}
bias_ih = {_nested(p["b_ih"])}
bias_hh = {_nested(p["b_hh"])}
output = "{output}"
"""
    if h0:
        text += f"h0 = {_nested(p['h0'])}\n"
    if output == "all":
        text += '\n[[network.layers]]\nname = "f"\ntype = "flatten"\n'
    text += f"""
[[network.layers]]
name = "y"
size = {K}
activation = "identity"
weights = {_nested(p["V"])}
bias = {_nested(p["c"])}
"""
    for n in range(N):
        text += f"\n[[data]]\nx = {_nested(X[n])}\nt = {_nested(Tt[n])}\n"
    text += training
    return text, p, X, Tt


def torch_net(p, activation: str, output: str):
    """nn.RNN with the spec's parameters, then the dense output: (module, dense weights, forward(X))."""
    H, F = p["W_ih"].shape
    rnn = torch.nn.RNN(F, H, nonlinearity=activation, batch_first=True).double()
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(rnn, name).copy_(torch.tensor(p[{"weight_ih_l0": "W_ih", "weight_hh_l0": "W_hh",
                                                     "bias_ih_l0": "b_ih", "bias_hh_l0": "b_hh"}[name]]))
    V = torch.tensor(p["V"], requires_grad=True)
    c = torch.tensor(p["c"], requires_grad=True)
    h0 = torch.tensor(p["h0"]).reshape(1, 1, -1)

    def run(X):
        states, last = rnn(X, h0.expand(1, X.shape[0], -1).contiguous())
        out = last[0] if output == "last" else states
        return states, out, torch.flatten(out, 1) @ V + c
    return rnn, V, c, run


def close(ours, theirs):
    np.testing.assert_allclose(np.array(ours, dtype=float), theirs.detach().numpy(), rtol=1e-10, atol=1e-10)


CASES = [(seed, act, out) for seed in range(4) for act in ("tanh", "relu") for out in ("last", "all")]


@pytest.mark.parametrize("seed,activation,output", CASES)
def test_rnn_matches_torch(seed, activation, output):
    text, p, X, Tt = random_rnn(seed, activation=activation, output=output, h0=seed % 2 == 1)
    d = derive(spec_from(text))
    values = d.to_values()
    rnn, V, c, run = torch_net(p, activation, output)
    Xt = torch.tensor(X, requires_grad=True)
    states, out, y = run(Xt)
    out.retain_grad()
    loss = ((y - torch.tensor(Tt)) ** 2).sum()
    loss.backward()
    close(values["loss"], loss)
    g = values["grad"]["h"]
    close(g["weights_ih"], rnn.weight_ih_l0.grad)
    close(g["weights_hh"], rnn.weight_hh_l0.grad)
    close(g["bias_ih"], rnn.bias_ih_l0.grad)
    close(g["bias_hh"], rnn.bias_hh_l0.grad)
    close(values["grad"]["y"]["weights"], V.grad)
    for n, inst in enumerate(values["instances"]):
        close(inst["layers"]["h"]["out"], out[n])
        if output == "last":  # for "all", torch's states.grad leaves out the path through h_(t+1): see below
            close(inst["grad"]["h"]["out"], out.grad[n])
        close(inst["grad"]["inputs"], Xt.grad[n])
        for t in range(X.shape[1]):  # every step's state, also those the layer does not output
            close([inst["nodes"][f"h{t + 1}_{j + 1}_out"]["value"] for j in range(p["W_ih"].shape[0])], states[n, t])
    # the parameters of the JSON in PyTorch's shapes
    assert np.shape(values["instances"][0]["layers"]["h"]["out"]) == (out.shape[1:])
    assert np.shape(g["weights_ih"]) == p["W_ih"].shape and np.shape(g["weights_hh"]) == p["W_hh"].shape
    assert all(ch.passed is not False for ch in d.checks.values())
    assert d.checks["numpy"].passed and d.checks["finite_differences"].passed


def test_pre_activation_gradients_match_torch_through_time():
    """dL/dz_t of every step (output all): the gradient from the output and from h_(t+1), added."""
    text, p, X, Tt = random_rnn(7, activation="tanh", output="all", shape=(4, 2, 3))
    d = derive(spec_from(text))
    values = d.to_values()
    H = 3
    W_ih, W_hh = (torch.tensor(p[k], requires_grad=True) for k in ("W_ih", "W_hh"))
    b = torch.tensor(p["b_ih"] + p["b_hh"])
    h = torch.zeros(X.shape[0], H, dtype=torch.float64)
    zs, hs = [], []
    for t in range(X.shape[1]):
        z = torch.tensor(X[:, t]) @ W_ih.T + b + h @ W_hh.T
        z.retain_grad()
        h = torch.tanh(z)
        h.retain_grad()
        zs.append(z)
        hs.append(h)
    y = torch.stack(hs, 1).flatten(1) @ torch.tensor(p["V"]) + torch.tensor(p["c"])
    ((y - torch.tensor(Tt)) ** 2).sum().backward()
    for n, inst in enumerate(values["instances"]):
        for t in range(4):
            close([inst["nodes"][f"h{t + 1}_{j + 1}_in"]["grad"] for j in range(H)], zs[t].grad[n])
            close([inst["nodes"][f"h{t + 1}_{j + 1}_out"]["grad"] for j in range(H)], hs[t].grad[n])
        close(inst["grad"]["h"]["in"], torch.stack([z.grad[n] for z in zs]))
        close(inst["grad"]["h"]["out"], torch.stack([h.grad[n] for h in hs]))


TRAINING = {"sgd": '\n[training]\noptimizer = "sgd"\nlearning_rate = 0.05\nepochs = 4\n',
            "adam": '\n[training]\noptimizer = "adam"\nlearning_rate = 0.02\nepochs = 4\nmode = "online"\n'}


@pytest.mark.parametrize("optimizer", sorted(TRAINING))
@pytest.mark.parametrize("output", ["last", "all"])
def test_training_matches_torch_optim(optimizer, output):
    text, p, X, Tt = random_rnn(11, activation="tanh", output=output, training=TRAINING[optimizer], h0=True)
    d = derive(spec_from(text))
    values = d.to_values()
    rnn, V, c, run = torch_net(p, "tanh", output)
    params = list(rnn.parameters()) + [V, c]
    online = optimizer == "adam"
    opt = (torch.optim.Adam(params, lr=0.02) if optimizer == "adam" else torch.optim.SGD(params, lr=0.05))
    losses = []
    Xt, Tt_ = torch.tensor(X), torch.tensor(Tt)
    for _ in range(4):
        with torch.no_grad():
            losses.append(float(((run(Xt)[2] - Tt_) ** 2).sum()))
        for rows in ([[n] for n in range(len(X))] if online else [list(range(len(X)))]):
            opt.zero_grad()
            ((run(Xt[rows])[2] - Tt_[rows]) ** 2).sum().backward()
            opt.step()
    with torch.no_grad():
        losses.append(float(((run(Xt)[2] - Tt_) ** 2).sum()))
    np.testing.assert_allclose(values["training"]["loss"], losses, rtol=1e-10, atol=1e-10)
    final = values["training"]["layers"]["h"]
    close(final["weights_ih"], rnn.weight_ih_l0)
    close(final["weights_hh"], rnn.weight_hh_l0)
    close(final["bias_ih"], rnn.bias_ih_l0)
    close(final["bias_hh"], rnn.bias_hh_l0)
    close(values["training"]["layers"]["y"]["weights"], V)
    assert d.checks["update"].passed


def test_sympy_diff_runs_on_a_small_rnn():
    """sympy.diff of the composed loss (the states nested T deep) checks a small recurrent network."""
    text, *_ = random_rnn(3, activation="tanh", output="last", shape=(3, 1, 2), N=2, K=1)
    d = derive(spec_from(text))
    assert d.checks["sympy_diff"].passed, d.checks["sympy_diff"].to_json()


def test_stacked_rnns_match_torch():
    """An rnn over the states of another (output all): nn.RNN with two layers."""
    rng = np.random.default_rng(5)
    T, F, H1, H2 = 3, 2, 2, 3
    W1, U1, W2, U2 = (rng.normal(size=s).round(3) for s in ((H1, F), (H1, H1), (H2, H1), (H2, H2)))
    b1, c1, b2, c2 = (rng.normal(size=s).round(3) for s in (H1, H1, H2, H2))
    X = rng.normal(size=(2, T, F)).round(3)
    text = f"""
[network]
input_shape = [{T}, {F}]
loss = "sse"
[[network.layers]]
name = "g"
type = "rnn"
size = {H1}
weights_ih = {_nested(W1)}
weights_hh = {_nested(U1)}
bias_ih = {_nested(b1)}
bias_hh = {_nested(c1)}
output = "all"
[[network.layers]]
name = "h"
type = "rnn"
size = {H2}
weights_ih = {_nested(W2)}
weights_hh = {_nested(U2)}
bias_ih = {_nested(b2)}
bias_hh = {_nested(c2)}
[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = {_nested(np.ones((H2, 1)))}
"""
    for n in range(2):
        text += f"[[data]]\nx = {_nested(X[n])}\nt = [0.5]\n"
    d = derive(spec_from(text))
    values = d.to_values()
    rnn = torch.nn.RNN(F, H1, num_layers=1, batch_first=True).double()
    rnn2 = torch.nn.RNN(H1, H2, num_layers=1, batch_first=True).double()
    with torch.no_grad():
        for m, (a, b, c, e) in ((rnn, (W1, U1, b1, c1)), (rnn2, (W2, U2, b2, c2))):
            m.weight_ih_l0.copy_(torch.tensor(a))
            m.weight_hh_l0.copy_(torch.tensor(b))
            m.bias_ih_l0.copy_(torch.tensor(c))
            m.bias_hh_l0.copy_(torch.tensor(e))
    states, _ = rnn(torch.tensor(X))
    _, last = rnn2(states)
    loss = ((last[0].sum(axis=1) - 0.5) ** 2).sum()
    loss.backward()
    close(values["loss"], loss)
    close(values["grad"]["g"]["weights_hh"], rnn.weight_hh_l0.grad)
    close(values["grad"]["h"]["weights_ih"], rnn2.weight_ih_l0.grad)
    assert d.checks["numpy"].passed and d.checks["finite_differences"].passed


BASE = """
[network]
input_shape = [3, 2]
loss = "sse"
[[network.layers]]
name = "h"
type = "rnn"
size = 2
weights_ih = [[0.1, 0.2], [0.3, 0.4]]
weights_hh = [[0.5, -0.5], [0.2, 0.1]]
{extra}
[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = [[1], [1]]
[[data]]
x = [[1, 2], [3, 4], [5, 6]]
t = [1]
"""


@pytest.mark.parametrize("change,field", [
    (("weights_ih = [[0.1, 0.2], [0.3, 0.4]]", "weights_ih = [[0.1], [0.3]]"), "network.layers[0].weights_ih[0]"),
    (("weights_ih = [[0.1, 0.2], [0.3, 0.4]]", "weights_ih = [[0.1, 0.2]]"), "network.layers[0].weights_ih"),
    (("weights_hh = [[0.5, -0.5], [0.2, 0.1]]", "weights_hh = [[0.5, -0.5, 1], [0.2, 0.1, 1]]"),
     "network.layers[0].weights_hh[0]"),
    (("{extra}", "bias_ih = [1, 2, 3]"), "network.layers[0].bias_ih"),
    (("{extra}", "bias_hh = [1]"), "network.layers[0].bias_hh"),
    (("{extra}", "h0 = [1, 2, 3]"), "network.layers[0].h0"),
    (("{extra}", 'output = "first"'), "network.layers[0].output"),
    (("{extra}", 'activation = "softmax"'), "network.layers[0].activation"),
    (("{extra}", 'activation = "tanhh"'), "network.layers[0].activation"),
    (("{extra}", "bias_ih = [nan, 0]"), "network.layers[0].bias_ih[0]"),
    (("weights_hh = [[0.5, -0.5], [0.2, 0.1]]", "weights_hh = [[0.5, nan], [0.2, 0.1]]"),
     "network.layers[0].weights_hh[0][1]"),
    (("{extra}", "kernel = 2"), "network.layers[0].kernel"),
    (("input_shape = [3, 2]", "input_shape = [1, 3, 2]"), "network.layers[0].type"),
    (("size = 2\nweights_ih", "weights_ih"), "network.layers[0].size"),
    (("weights_hh = [[0.5, -0.5], [0.2, 0.1]]\n", ""), "network.layers[0].weights_hh"),
    (("x = [[1, 2], [3, 4], [5, 6]]", "x = [[1, 2], [3, 4]]"), "data[0].x"),
])
def test_malformed_rnn_names_the_field(change, field):
    old, new = change
    text = BASE.replace(old, new).replace("{extra}", "")
    with pytest.raises(SpecError) as err:
        derive(spec_from(text))
    assert err.value.field == field, str(err.value)
    assert "\n" not in str(err.value)


def test_rnn_on_a_vector_input_says_to_declare_a_sequence():
    text = BASE.replace("input_shape = [3, 2]", "inputs = 2").replace("{extra}", "")
    with pytest.raises(SpecError) as err:
        derive(spec_from(text))
    assert err.value.field == "network.layers[0].type" and "[T, F]" in str(err.value)


def test_rnn_as_the_output_layer_is_refused():
    text = BASE.replace("{extra}", "").split("[[network.layers]]\nname = \"y\"")[0] + "[[data]]\nx = [[1, 2], [3, 4], [5, 6]]\nt = [1, 1]\n"
    with pytest.raises(SpecError) as err:
        derive(spec_from(text))
    assert err.value.field == "network.layers[0].type"


def test_dump_reads_back_to_the_same_layer():
    from derive.spec.parse import dump_spec, parse_spec

    text, *_ = random_rnn(2, activation="relu", output="all", h0=True)
    spec = spec_from(text)
    again = parse_spec(dump_spec(spec), source="<dump>")
    assert again.layers == spec.layers


def test_a_sequence_too_long_to_read_is_refused_naming_the_size():
    text = BASE.replace("input_shape = [3, 2]", "input_shape = [200, 1]").replace("{extra}", "").replace(
        "weights_ih = [[0.1, 0.2], [0.3, 0.4]]", "weights_ih = [[0.1], [0.3]]")
    text = text.replace("x = [[1, 2], [3, 4], [5, 6]]", "x = " + str([[1]] * 200))
    big = text.replace("size = 2", "size = 20").replace("weights_ih = [[0.1], [0.3]]", "weights_ih = " + str([[0.1]] * 20))
    big = big.replace("weights_hh = [[0.5, -0.5], [0.2, 0.1]]", "weights_hh = " + str([[0.0] * 20] * 20))
    big = big.replace("weights = [[1], [1]]", "weights = " + str([[1]] * 20))
    with pytest.raises(SpecError) as err:
        derive(spec_from(big))
    assert err.value.field == "network.layers[0].size" and "readable" in str(err.value)
