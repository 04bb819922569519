"""How optimizers are shown: a sheet states the optimizer's whole rule and its options' values, and its key for
the update blanks is what torch.optim's step gives; a page writes an optimizer's state in a letter of its own
when the usual letter names weights of the network (Adam's v beside the weights v), and shows no value twice."""

from __future__ import annotations

import re
import tomllib

import numpy as np
import pytest

from conftest import spec_from
from derive.i18n import language
from derive.pipeline import derive
from derive.api import document
from derive.worksheets.write import worksheet_files

torch = pytest.importorskip("torch")

NET = """
name = "opt"
[network]
inputs = 2
loss = "sse"
reduction = "sum"
[[network.layers]]
name = "h"
size = 2
activation = "sigmoid"
weights = [[0.6, -0.3], [-0.2, 0.5]]
weight_symbol = "w"
bias = [0.1, -0.1]
[[network.layers]]
name = "y"
size = 2
activation = "sigmoid"
weights = [[1, -2], [0.25, 2]]
weight_symbol = "v"
[[data]]
x = [3, 1]
t = [1, 0]
[[data]]
x = [-1, 4]
t = [0, 1]
[training]
learning_rate = 0.5
mode = "batch"
optimizer = "{optimizer}"
{options}
"""

#: optimizer → (its options in the spec, torch.optim's constructor, what the sheet must state of them)
CASES = {
    "sgd": ("weight_decay = 0.03", lambda p: torch.optim.SGD(p, lr=0.5, weight_decay=0.03),
            [r"\lambda_{\mathrm{wd}} = 0.03"]),
    "momentum": ("momentum = 0.8\nweight_decay = 0.02",
                 lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.8, weight_decay=0.02),
                 [r"\mu = 0.8", r"\lambda_{\mathrm{wd}} = 0.02"]),
    "nesterov": ("momentum = 0.7", lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.7, nesterov=True),
                 [r"\mu = 0.7"]),
    "rmsprop": ("alpha = 0.9\neps = 0.001", lambda p: torch.optim.RMSprop(p, lr=0.5, alpha=0.9, eps=1e-3),
                [r"\alpha = 0.9", r"\epsilon = 0.001"]),
    "adagrad": ("eps = 0.01", lambda p: torch.optim.Adagrad(p, lr=0.5, eps=0.01), [r"\epsilon = 0.01"]),
    "adam": ("betas = [0.8, 0.95]\neps = 0.001\nweight_decay = 0.01",
             lambda p: torch.optim.Adam(p, lr=0.5, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.01),
             [r"\beta_1 = 0.8", r"\beta_2 = 0.95", r"\epsilon = 0.001", r"\lambda_{\mathrm{wd}} = 0.01"]),
    "adamw": ("betas = [0.85, 0.99]\neps = 0.01\nweight_decay = 0.1",
              lambda p: torch.optim.AdamW(p, lr=0.5, betas=(0.85, 0.99), eps=0.01, weight_decay=0.1),
              [r"\beta_1 = 0.85", r"\beta_2 = 0.99", r"\epsilon = 0.01", r"\lambda_{\mathrm{wd}} = 0.1"]),
}
#: What the sheet's rule must show of each optimizer beyond its last line (in the sheet's letters, v → r)
RULE = {"sgd": [r"\theta &\leftarrow \theta - \eta \, g_{\theta}"],
        "momentum": [r"r_{\theta} &\leftarrow g_{\theta}", r"\theta &\leftarrow \theta - \eta \, r_{\theta}"],
        "nesterov": [r"d_{\theta} &= g_{\theta} + \mu \, r_{\theta}"],
        "rmsprop": [r"s_{\theta} &\leftarrow \alpha \, s_{\theta} + (1 - \alpha) \, g_{\theta}^2", "$s_{\\theta} = 0$"],
        "adagrad": [r"G_{\theta} &\leftarrow G_{\theta} + g_{\theta}^2", "$G_{\\theta} = 0$"],
        "adam": [r"m_{\theta} &\leftarrow \beta_1 m_{\theta}", r"r_{\theta} &\leftarrow \beta_2 r_{\theta}",
                 r"\hat m_{\theta} &= \frac{m_{\theta}}{1 - \beta_1^t}", "$m_{\\theta} = r_{\\theta} = 0$"],
        "adamw": [r"\theta &\leftarrow \theta - \eta \lambda_{\mathrm{wd}} \, \theta", r"\hat r_{\theta}"]}


def torch_step(variant: dict, make) -> dict[str, float]:
    """One step of torch.optim on the variant's network and data: the parameters by answers-file name."""
    layers = variant["network"]["layers"]
    X = torch.tensor([d["x"] for d in variant["data"]], dtype=torch.float64)
    T = torch.tensor([d["t"] for d in variant["data"]], dtype=torch.float64)
    W1 = torch.tensor(layers[0]["weights"], dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor(layers[0]["bias"], dtype=torch.float64, requires_grad=True)
    V = torch.tensor(layers[1]["weights"], dtype=torch.float64, requires_grad=True)
    opt = make([W1, b1, V])
    y = torch.sigmoid(torch.sigmoid(X @ W1 + b1) @ V)
    ((y - T) ** 2).sum().backward()
    opt.step()
    out = {}
    for sym, M in (("w", W1), ("v", V)):
        for i in range(2):
            for j in range(2):
                out[f"{sym}{i + 1}{j + 1}"] = M[i, j].item()
    for j in range(2):
        out[f"b_h{j + 1}"] = b1[j].item()
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_a_sheet_states_the_whole_rule_and_its_key_is_torch_optims_step(name):
    options, make, stated = CASES[name]
    files = worksheet_files(spec_from(NET.format(optimizer=name, options=options), "opt"), variants=1, seed=4,
                            scope=("update",))
    sheet, key = files["variant-01.sheet.md"], tomllib.loads(files["variant-01.key.toml"])
    want = torch_step(tomllib.loads(files["variant-01.toml"]), make)
    update = key["update"]
    assert len(update) >= 8
    for blank, value in update.items():
        expected = next(v for k, v in want.items() if k.replace("_", "") == blank.replace("_", ""))
        assert value == pytest.approx(round(expected, 4), abs=1.01e-4), (name, blank)
    for text in stated + RULE[name]:
        assert text in sheet, (name, text)
    rule = sheet[sheet.index("The update is"):sheet.index("## Rounding")]
    assert "gradient descent" not in rule or name in ("sgd", "momentum", "nesterov")
    assert not re.search(r"[a-z]_\{v_", sheet), "a state letter equal to the weights' v"
    assert "The letter $v$ already names another quantity on this page, so the optimizer's is written $r$." in rule \
        or name in ("sgd", "rmsprop", "adagrad")


def test_the_german_sheet_states_the_rule_in_german():
    options, _make, stated = CASES["adam"]
    with language("de"):
        files = worksheet_files(spec_from(NET.format(optimizer="adam", options=options), "opt"), variants=1,
                                seed=4, scope=("update",))
    sheet = files["variant-01.sheet.md"]
    assert "Das Update ist ein Batch-Schritt mit Adam und der Lernrate $\\eta = 0.5$." in sheet
    assert "Vor dem ersten Update gilt $m_{\\theta} = r_{\\theta} = 0$." in sheet
    assert "Der Buchstabe $v$ bezeichnet auf dieser Seite schon eine andere Größe" in sheet
    assert all(text in sheet for text in stated)
    assert "The update is" not in sheet and "already names" not in sheet


@pytest.mark.parametrize("name", ["adam", "momentum", "nesterov", "adagrad"])
@pytest.mark.parametrize("fmt", ["md", "tex", "html", "ipynb"])
def test_a_page_writes_the_state_in_a_letter_no_weight_has(name, fmt):
    """v names the second layer's weights: Adam's second moment and the velocity are written r on every format
    the page self-check passes (rendering refuses a false chain); the page says so once."""
    options, _make, _stated = CASES[name]
    text = document(derive(spec_from(NET.format(optimizer=name, options=options), "opt")), fmt)
    text = text.decode() if isinstance(text, bytes) else text
    assert not re.search(r"(?<![A-Za-z\\])v_\{+v_", text.replace("\\\\", "\\")), "v_{v_{11}}"
    if name != "adagrad":
        assert text.count("so the optimizer's is written $r$") == 1 or fmt in ("tex", "html")
        assert re.search(r"r_\{+v_\{+11\}+ *&\\leftarrow", text.replace("\\\\", "\\")) or fmt != "md"
    else:
        assert "the optimizer's is written" not in text  # G names no weights: nothing renamed


def test_a_letter_is_renamed_only_when_taken_and_never_to_a_taken_one():
    from derive.core.optimizers import OPTIMIZERS

    assert OPTIMIZERS["adam"].lettering({"w", "h", "y", "x", "t"}).renamed == {}
    assert OPTIMIZERS["adam"].lettering({"v", "r", "u", "g"}).renamed == {"g": "q", "v": "p"}
    assert OPTIMIZERS["adagrad"].lettering({"G", "R"}).renamed == {"G": "U"}
    lettering = OPTIMIZERS["adam"].lettering({"v"})
    assert lettering.tex(r"\frac{\hat m_{@}}{\sqrt{\hat v_{@}} + \epsilon} \nu v") == \
        r"\frac{\hat m_{@}}{\sqrt{\hat r_{@}} + \epsilon} \nu r"


def test_a_single_instances_gradient_is_not_shown_twice():
    """Online: the first update's gradient is one instance's; ``= −0.05171 ≈ −0.05171`` printed it twice."""
    text = document(derive(spec_from(NET.format(optimizer="adam", options="").replace('"batch"', '"online"'), "o")))
    rows = [r for r in text.splitlines() if r.startswith("g_{")]
    assert rows and all(r.count("=") == 1 and r.count(r"\approx") + r.count("&=") >= 1 for r in rows), rows[:3]
    for m in re.finditer(r"= (-?[\d.]+(?: \\times 10\^\{-?\d+\})?) \\approx (-?[\d.]+(?: \\times 10\^\{-?\d+\})?)",
                         text):
        assert m.group(1) != m.group(2), m.group(0)


CIRCUIT = """
name = "circ"
title = "circuit"
[circuit]
inputs = { v = 1.5, m = -2, x = 0.5 }
nodes = ["q = v * x", "f = q + m"]
output = "f"
parameters = ["v", "m"]
[training]
learning_rate = 0.1
epochs = 3
optimizer = "adam"
"""


def test_a_circuit_with_leaves_m_and_v_writes_adams_state_in_other_letters(tmp_path):
    (tmp_path / "circ.toml").write_text(CIRCUIT)
    text = document(str(tmp_path / "circ.toml"))
    assert not re.search(r"(?<![A-Za-z\\])(?:m_\{m\}|v_\{v\}|m_\{v\}|v_\{m\})", text), "m_{m}, v_{v}"
    assert "The letters $m$ and $v$ already name other quantities on this page, so the optimizer's are written " \
           "$r$ and $u$, in that order." in text
    assert r"r_{v} &\leftarrow \beta_1 r_{v}" in text and r"\hat u_{m} &= \frac{u_{m}}{1 - \beta_2^t}" in text


def _gradients(variant: dict) -> tuple[dict[str, float], dict[str, float]]:
    """The parameters and the gradient of the total loss (torch autograd), by answers-file name."""
    layers = variant["network"]["layers"]
    X = torch.tensor([d["x"] for d in variant["data"]], dtype=torch.float64)
    T = torch.tensor([d["t"] for d in variant["data"]], dtype=torch.float64)
    W1 = torch.tensor(layers[0]["weights"], dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor(layers[0]["bias"], dtype=torch.float64, requires_grad=True)
    V = torch.tensor(layers[1]["weights"], dtype=torch.float64, requires_grad=True)
    ((torch.sigmoid(torch.sigmoid(X @ W1 + b1) @ V) - T) ** 2).sum().backward()
    values, grads = {}, {}
    for sym, M in (("w", W1), ("v", V)):
        for i in range(2):
            for j in range(2):
                values[f"{sym}{i + 1}{j + 1}"], grads[f"{sym}{i + 1}{j + 1}"] = M[i, j].item(), M.grad[i, j].item()
    for j in range(2):
        values[f"bh{j + 1}"], grads[f"bh{j + 1}"] = b1[j].item(), b1.grad[j].item()
    return values, grads


@pytest.mark.parametrize("name", list(CASES))
def test_the_sheets_own_rule_followed_line_by_line_gives_the_key(name):
    """What a student does: read the options, η and the starting state off the sheet, then follow its rule's
    lines for each parameter from its gradient (read with derive's own math reader): the key's number."""
    from derive.verify.mathreader import canonical_name, evaluate, parse_math

    def read(tex):  # the reader has no \hat: m̂ read as M; t = 1 on the first update, as the sheet says
        return parse_math(re.sub(r"\\hat (\w)", lambda m: m.group(1).upper(), tex).replace("^t", "^{1}"))

    options, _make, _stated = CASES[name]
    files = worksheet_files(spec_from(NET.format(optimizer=name, options=options), "opt"), variants=1, seed=4,
                            scope=("update",))
    sheet, key = files["variant-01.sheet.md"], tomllib.loads(files["variant-01.key.toml"])
    rule = sheet[sheet.index("The update is"):sheet.index("## Rounding")]
    known = {r"\eta": evaluate(parse_math(re.search(r"learning rate \$\\eta = ([^$]+)\$", rule).group(1)))}
    said = re.search(r"Its options: (.*?)\.(?: |$)", rule)
    for lhs, rhs in re.findall(r"\$([^$=]+?) = ([^$]+)\$", said.group(1) if said else ""):
        known[canonical_name(lhs)] = evaluate(parse_math(rhs))
    zeros = re.search(r"Before the first update \$([^$]+)\$", rule)
    if zeros:
        known |= {canonical_name(n): 0.0 for n in zeros.group(1).split(" = ")[:-1]}
    block = rule[rule.index(r"\begin{aligned}") + len(r"\begin{aligned}"):rule.index(r"\end{aligned}")]
    rows = [re.split(r"&\\leftarrow|&=", row.strip()) for row in block.split(r"\\") if row.strip()]
    values, grads = _gradients(tomllib.loads(files["variant-01.toml"]))
    for blank, expected in key["update"].items():
        p = blank.replace("_", "")
        env = dict(known, **{r"\theta": values[p], r"g_{\theta}": grads[p]})
        for lhs, rhs in rows:
            env[canonical_name(re.sub(r"\\hat (\w)", lambda m: m.group(1).upper(), lhs.strip()))] = \
                evaluate(read(rhs.strip()), env)
        assert env[r"\theta"] == pytest.approx(expected, abs=1.01e-4), (name, blank)
