"""Convolution, pooling and flatten layers against torch.nn.functional, and their one-line spec errors.

Random shapes, strides, paddings and activations, several instances: every feature map, every
gradient of every feature map, kernel weight, bias and input entry, to 1e-10 (float64). The
pipeline's own checks (NumPy reference, finite differences) run on every derivation as well.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.errors import SpecError
from derive.pipeline import derive
from tests.conftest import spec_from

torch = pytest.importorskip("torch")
F = torch.nn.functional

ACTS = {"identity": lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def _nested(a) -> str:
    return json.dumps(np.asarray(a).tolist())


def random_net(seed: int, dims: int):
    """(spec text, a torch function of (x, params) → per-instance outputs, the parameters as arrays)."""
    rng = np.random.default_rng(seed)
    C = int(rng.integers(1, 3))
    spatial = tuple(int(rng.integers(4, 7)) for _ in range(dims))
    k = tuple(int(rng.integers(1, 4)) for _ in range(dims))
    stride = tuple(int(rng.integers(1, 3)) for _ in range(dims))
    padding = tuple(int(rng.integers(0, 2)) for _ in range(dims))
    out_c = int(rng.integers(1, 4))
    act = str(rng.choice(list(ACTS)))
    conv_out = tuple((n + 2 * p - kk) // s + 1 for n, p, kk, s in zip(spatial, padding, k, stride))
    pool_kind = str(rng.choice(["max", "avg", "none"]))
    pk = tuple(min(2, n) for n in conv_out)
    pooled = tuple((n - kk) // kk + 1 for n, kk in zip(conv_out, pk)) if pool_kind != "none" else conv_out
    flat = out_c * int(np.prod(pooled))
    K = 2
    W = rng.normal(size=(out_c, C) + k).round(3)
    b = rng.normal(size=out_c).round(3)
    V = rng.normal(size=(flat, K)).round(3) * 0.5
    c = rng.normal(size=K).round(3)
    N = 3
    X = rng.normal(size=(N, C) + spatial).round(3)
    Tt = rng.normal(size=(N, K)).round(3)
    d = f"{dims}d"
    text = f"""
[network]
input_shape = {list((C,) + spatial)}
loss = "sse"

[[network.layers]]
name = "c"
type = "conv{d}"
channels = {out_c}
kernel = {list(k)}
stride = {list(stride)}
padding = {list(padding)}
activation = "{act}"
weights = {_nested(W)}
bias = {_nested(b)}
"""
    if pool_kind != "none":
        text += f"""
[[network.layers]]
name = "p"
type = "{pool_kind}pool{d}"
kernel = {list(pk)}
"""
    text += f"""
[[network.layers]]
name = "f"
type = "flatten"

[[network.layers]]
name = "y"
size = {K}
activation = "identity"
weights = {_nested(V)}
bias = {_nested(c)}
"""
    for n in range(N):
        text += f"\n[[data]]\nx = {_nested(X[n])}\nt = {_nested(Tt[n])}\n"

    conv = F.conv1d if dims == 1 else F.conv2d
    pool = {"max": F.max_pool1d if dims == 1 else F.max_pool2d,
            "avg": F.avg_pool1d if dims == 1 else F.avg_pool2d}.get(pool_kind)

    def run():
        t = {name: torch.tensor(a, dtype=torch.float64, requires_grad=True)
             for name, a in (("W", W), ("b", b), ("V", V), ("c", c), ("X", X))}
        z = conv(t["X"], t["W"], t["b"], stride=stride, padding=padding)
        z.retain_grad()
        a = ACTS[act](z)
        a.retain_grad()
        maps = {"c": (z, a)}
        if pool is not None:
            pooled_t = pool(a, pk)
            pooled_t.retain_grad()
            maps["p"] = (pooled_t, pooled_t)
            a = pooled_t
        y = torch.flatten(a, 1) @ t["V"] + t["c"]
        loss = ((y - torch.tensor(Tt)) ** 2).sum()
        loss.backward()
        return t, maps, loss

    return text, run


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("seed", range(6))
def test_conv_pool_flatten_match_torch(dims, seed):
    text, run = random_net(seed, dims)
    d = derive(spec_from(text))
    values = d.to_values()
    t, maps, loss = run()
    close = lambda ours, theirs: np.testing.assert_allclose(np.array(ours, dtype=float),  # noqa: E731
                                                            theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    close(values["loss"], loss)
    close(values["grad"]["c"]["weights"], t["W"].grad)
    close(values["grad"]["c"]["bias"], t["b"].grad)
    close(values["grad"]["y"]["weights"], t["V"].grad)
    for n, inst in enumerate(values["instances"]):
        close(inst["grad"]["inputs"], t["X"].grad[n])
        for name, (pre, post) in maps.items():
            close(inst["layers"][name]["in"], pre[n])
            close(inst["layers"][name]["out"], post[n])
            close(inst["grad"][name]["out"], post.grad[n])
            close(inst["grad"][name]["in"], pre.grad[n])
    assert all(c.passed is not False for c in d.checks.values())
    assert d.checks["finite_differences"].passed


def test_flatten_is_row_major_and_the_shapes_of_the_json():
    text, run = random_net(3, 2)
    d = derive(spec_from(text))
    v = d.to_values()
    layer = d.spec.layers[0]
    assert np.array(v["instances"][0]["layers"]["c"]["out"]).shape == layer.shape
    assert np.array(v["grad"]["c"]["weights"]).shape == (layer.shape[0], layer.in_shape[0]) + layer.kernel
    assert np.array(v["instances"][0]["x"]).shape == d.spec.input_shape
    f = v["instances"][0]["layers"]["f"]["out"]
    before = np.array(v["instances"][0]["layers"][d.spec.layers[-3].name]["out"])
    assert f == before.reshape(-1).tolist()


BASE = """
[network]
input_shape = [1, 4, 4]
loss = "sse"

[[network.layers]]
name = "c"
type = "conv2d"
channels = 1
kernel = 2
activation = "relu"
weights = [[[[1, 0], [0, 1]]]]
{extra}

[[network.layers]]
name = "f"
type = "flatten"

[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = {dense}

[[data]]
x = [[[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4], [5, 6, 7, 8]]]
t = [1]
"""


def _spec(extra="", dense=None, replace=()):
    text = BASE.format(extra=extra, dense=dense or json.dumps([[0.1]] * 9))
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    return spec_from(text)


@pytest.mark.parametrize("change, field, words", [
    ({"replace": [("kernel = 2", "kernel = 5")]}, "network.layers[0].kernel", "larger than the padded input"),
    ({"replace": [("kernel = 2", "kernel = 5"), ("channels = 1", "channels = 1\npadding = 1")],
      "dense": json.dumps([[0.1]] * 4)}, "network.layers[0].weights", "expected"),
    ({"replace": [("[[[[1, 0], [0, 1]]]]", "[[[1, 0], [0, 1]]]")]}, "network.layers[0].weights[0]",
     "nested lists of shape 1×1×2×2"),
    ({"replace": [("[[[[1, 0], [0, 1]]]]", "[[[[1, 0, 2], [0, 1, 2]]]]")]}, "network.layers[0].weights[0][0][0]",
     "expected 2 entries"),
    ({"extra": "dilation = 2"}, "network.layers[0].dilation", "unknown key"),
    ({"dense": json.dumps([[0.1]] * 8)}, "network.layers[2].weights", "9 rows"),
    ({"replace": [("input_shape = [1, 4, 4]", "input_shape = [1, 4]")]}, "network.layers[0].type",
     "takes feature maps of shape [C, H, W]"),
    ({"replace": [("[[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4], [5, 6, 7, 8]]", "[[1, 2, 3, 4], [5, 6, 7, 8]]")]},
     "data[0].x[0]", "expected 4 entries"),
    ({"replace": [('type = "flatten"', 'type = "maxpool2d"\nkernel = 2')]}, "network.layers[2].type",
     "put a flatten layer before it"),
    ({"replace": [("channels = 1", "channels = 0")]}, "network.layers[0].channels", "from 1 to 64"),
    ({"replace": [("kernel = 2", "kernel = [2, 2, 2]")]}, "network.layers[0].kernel", "a list of 2"),
    ({"replace": [('activation = "relu"', 'activation = "softmax"')]}, "network.layers[0].activation",
     "entry by entry"),
    ({"replace": [("input_shape = [1, 4, 4]", "input_shape = [1, 4, 4]\ninputs = 16")]}, "network.inputs",
     "not both"),
])
def test_bad_tensor_specs_are_one_line_errors_naming_the_field(change, field, words):
    with pytest.raises(SpecError) as err:
        _spec(**change)
    message = str(err.value)
    assert field in message and words in message, message
    assert "\n" not in message


def test_a_tensor_layer_cannot_be_the_output_layer():
    text = BASE.format(extra="", dense="[[0.1]]").split("[[network.layers]]\nname = \"y\"")[0]
    text += '\n[[data]]\nx = [[[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4], [5, 6, 7, 8]]]\nt = [1, 2, 3, 4, 5, 6, 7, 8, 9]\n'
    with pytest.raises(SpecError, match=r"network.layers\[1\].type.*output layer must be one of dense"):
        spec_from(text)


def test_max_pooling_routes_a_tie_to_the_first_maximum_as_torch_does():
    text = """
[network]
input_shape = [1, 2, 2]
loss = "output"

[[network.layers]]
name = "p"
type = "maxpool2d"
kernel = 2

[[network.layers]]
name = "f"
type = "flatten"

[[network.layers]]
name = "y"
size = 1
activation = "identity"
weights = [[2]]

[[data]]
x = [[[3, 1], [3, 2]]]
"""
    d = derive(spec_from(text))
    X = torch.tensor([[[[3.0, 1.0], [3.0, 2.0]]]], dtype=torch.float64, requires_grad=True)
    (F.max_pool2d(X, 2).sum() * 2).backward()
    assert d.to_values()["instances"][0]["grad"]["inputs"] == X.grad[0].tolist()
    assert "tie" in d.checks["finite_differences"].note


@pytest.mark.parametrize("dims, convention", [(1, "$x_{c,i}$: channel $c$, position $i$"),
                                              (2, "$x_{c,i,j}$: channel $c$, row $i$, column $j$")])
def test_the_page_names_the_input_indices_the_input_has(dims, convention):
    """A 1-d input has positions, not rows and columns."""
    from derive.render.page import render

    text, _ = random_net(3, dims)
    page = render(derive(spec_from(text)))
    assert convention in page
    assert page.count("$x_{c,i") == 1


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("dims", [1, 2])
def test_random_tensor_networks_render_in_every_language(seed, dims):
    """Shapes the presets don't have (a flatten of one or two units, 1-d maps) render, and every chain is true."""
    from derive.render.page import render

    text, _ = random_net(seed, dims)
    d = derive(spec_from(text))
    for lang in ("en", "de"):
        assert render(d, lang=lang)
