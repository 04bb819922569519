"""`derive check` names the classic mistakes on convolutional and batch-normalized nets, and the layer they were made in.

Each test writes the answers file a student who made the mistake would hand in: every value of the forward pass and
every gradient of each instance, computed by the NumPy models below (written apart from derive, from the presets'
numbers: a convolution as its sliding windows, max pooling routing to the first maximum, batch normalization's
three-term backward pass), with the mistake made consistently. The check must name the mistake and the layer at the
first wrong step, and every other wrong answer must be that mistake again or follow from an earlier wrong answer.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import derive as api
from derive.grade.answers import catalogue
from derive.pipeline import derive
from derive.spec.parse import load_spec

FOLLOWS = "follows correctly from your wrong answer"


def sig(z):
    return 1 / (1 + np.exp(-z))


# --------------------------------------------------------------------------- a convolution, by hand


def conv_forward(x, W, b):
    """x (C, H, W), W (O, C, k, k), stride 1, no padding: z (O, H−k+1, W−k+1)."""
    O, C, k, _ = W.shape
    H, Wd = x.shape[1] - k + 1, x.shape[2] - k + 1
    z = np.zeros((O, H, Wd))
    for o, i, j in itertools.product(range(O), range(H), range(Wd)):
        z[o, i, j] = np.sum(W[o] * x[:, i:i + k, j:j + k]) + b[o]
    return z


def conv_backward(x, W, dz, *, shared_once=False, one_window=False, unflipped=False, Wb=None):
    """(dW, db, dx) of a stride-1 convolution from dL/dz, with a student's slips:

    - ``shared_once``: a weight's (and the bias's) gradient from the first position only;
    - ``one_window``: an input entry's gradient from one window per output channel (where it sits under the
      kernel's first weight, else the first window holding it);
    - ``unflipped``: the input's gradient as dz slid over with the kernel not rotated (W[k−1−p] where W[p] belongs);
    - ``Wb``: the weights used in the backward pass (the updated ones, for that slip).
    """
    O, C, k, _ = W.shape
    Wb = W if Wb is None else Wb
    H, Wd = dz.shape[1:]
    dW, db, dx = np.zeros_like(W), np.zeros(O), np.zeros_like(x)
    for o, i, j in itertools.product(range(O), range(H), range(Wd)):
        if shared_once and (i, j) != (0, 0):
            continue
        dW[o] += dz[o, i, j] * x[:, i:i + k, j:j + k]
        db[o] += dz[o, i, j]
    for o, c, r, s in itertools.product(range(O), range(C), range(x.shape[1]), range(x.shape[2])):
        windows = [(i, j) for i in range(H) for j in range(Wd) if 0 <= r - i < k and 0 <= s - j < k]
        if one_window:
            windows = [(r, s)] if (r, s) in windows else windows[:1]
        for i, j in windows:
            p, q = r - i, s - j
            w = Wb[o, c, k - 1 - p, k - 1 - q] if unflipped else Wb[o, c, p, q]
            dx[c, r, s] += dz[o, i, j] * w
    return dW, db, dx


def named(prefix, array, suffix=""):
    """{c1_2_3_in: …}: 1-based indices joined by underscores, as derive names feature maps."""
    return {f"{prefix}{'_'.join(str(i + 1) for i in idx)}{suffix}": float(v) for idx, v in np.ndenumerate(array)}


def dense_names(letter, V):
    return {f"{letter}{i + 1}{j + 1}": float(v) for (i, j), v in np.ndenumerate(V)}


# --------------------------------------------------------------------------- the conv-worksheet preset


def conv_worksheet(spec, mistake=None):
    """The student's instance table for the conv-worksheet preset (conv 2×2 + relu, flatten, a linear output, half the
    squared error), under ``mistake``."""
    c, _f, y = spec.layers
    x = np.array(spec.data[0].x, dtype=float).reshape(spec.input_shape)
    t = spec.data[0].t[0]
    W, b, V = np.array(c.weights, dtype=float), np.array(c.bias, dtype=float), np.array(y.weights, dtype=float)
    rate = spec.training.learning_rate

    def forward(W):
        z = conv_forward(x, W, b)
        a = np.maximum(z, 0)
        return z, a, float(a.ravel() @ V[:, 0])

    z, a, out = forward(W[:, :, ::-1, ::-1] if mistake == "flipped-forward" else W)
    e = out - t
    V_b, W_b = V, W
    if mistake == "updated":  # one step of gradient descent first, then its weights in the backward pass
        dz_true = (V[:, 0] * e).reshape(a.shape) * (z > 0)
        V_b = V - rate * (a.ravel() * e)[:, None]
        W_b = W - rate * conv_backward(x, W, dz_true)[0]
    da = (V_b[:, 0] * e).reshape(a.shape)
    dz = da if mistake == "no-derivative" else da * (z > 0)
    dW, db, dx = conv_backward(x, W, dz, shared_once=mistake == "shared-once", one_window=mistake == "one-window",
                               unflipped=mistake == "unflipped", Wb=W_b)
    table = {**named("c", z, "_in"), **named("c", a, "_out"), "y1_in": out, "y1_out": out, "e1": e,
             "L": 0.5 * e ** 2, "dL/de1": e, "dL/dy1_out": e, "dL/dy1_in": e}
    table.update({f"dL/d{k}": v for k, v in {**named("c", da, "_out"), **named("c", dz, "_in"),
                                              **dense_names("v", (a.ravel() * e)[:, None]), **named("w", dW),
                                              **named("b_c", db), **named("x", dx)}.items()})
    return table


# --------------------------------------------------------------------------- the cnn preset


def cnn(spec, mistake=None):
    """The student's instance table for the cnn preset (conv 2×2 ×2 channels + relu, 2×2 max pooling, flatten, a
    softmax output under cross-entropy, class 1), under ``mistake``."""
    c, p, _f, y = spec.layers
    x = np.array(spec.data[0].x, dtype=float).reshape(spec.input_shape)
    t = np.array(spec.data[0].t, dtype=float)
    W, b = np.array(c.weights, dtype=float), np.array(c.bias, dtype=float)
    V, by = np.array(y.weights, dtype=float), np.array(y.bias, dtype=float)
    rate = spec.training.learning_rate

    z = conv_forward(x, W, b)
    a = np.maximum(z, 0)
    pooled = np.zeros((2, 2, 2))
    winner = {}
    for ch, i, j in itertools.product(range(2), range(2), range(2)):
        window = [(2 * i + r, 2 * j + s) for r in range(2) for s in range(2)]
        values = [a[ch, r, s] for r, s in window]
        winner[ch, i, j] = window[int(np.argmax(values))]  # the first maximum
        pooled[ch, i, j] = max(values)
    flat = pooled.ravel()
    zy = flat @ V + by
    out = np.exp(zy - zy.max()) / np.exp(zy - zy.max()).sum()
    dzy = out - t
    V_b, W_b = V, W
    if mistake == "updated":
        V_b = V - rate * np.outer(flat, dzy)
    dpool = (V_b @ dzy).reshape(pooled.shape)
    da = np.zeros_like(a)
    for (ch, i, j), (r, s) in winner.items():
        da[ch, r, s] += dpool[ch, i, j]
    if mistake == "updated":
        dz_true = np.zeros_like(a)
        for (ch, i, j), (r, s) in winner.items():
            dz_true[ch, r, s] += (V @ dzy).reshape(pooled.shape)[ch, i, j]
        W_b = W - rate * conv_backward(x, W, dz_true * (z > 0))[0]
    dz = da if mistake == "no-derivative" else da * (z > 0)
    dW, db, dx = conv_backward(x, W, dz, shared_once=mistake == "shared-once", unflipped=mistake == "unflipped",
                               Wb=W_b)
    L = -float(np.log(out) @ t)
    table = {**named("c", z, "_in"), **named("c", a, "_out"), **named("p", pooled), "L": L,
             **{f"y{k + 1}_in": float(v) for k, v in enumerate(zy)}, **{f"y{k + 1}_out": float(v) for k, v in enumerate(out)}}
    dy_out = -t / out
    grads = {**{f"y{k + 1}_out": float(v) for k, v in enumerate(dy_out)}, **{f"y{k + 1}_in": float(v) for k, v in enumerate(dzy)},
             **named("p", dpool), **named("c", da, "_out"), **named("c", dz, "_in"), **dense_names("v", np.outer(flat, dzy)),
             "b_y1": float(dzy[0]), "b_y2": float(dzy[1]), **named("w", dW), **named("b_c", db), **named("x", dx)}
    table.update({f"dL/d{k}": v for k, v in grads.items()})
    return table


# --------------------------------------------------------------------------- the batch-norm preset


def batch_norm(spec, mistake=None):
    """Every instance's table for the batch-norm preset (a linear layer, batch normalization over the 3 instances and a
    sigmoid, a sigmoid output under binary cross-entropy), gradients of the batch's summed loss as derive's instance
    tables give them, under ``mistake``."""
    h, bn, y = spec.layers
    X = np.array([i.x for i in spec.data], dtype=float)
    T = np.array([i.t[0] for i in spec.data], dtype=float)
    Wh = np.array(h.weights, dtype=float)
    gamma, beta, eps = np.array(bn.weights[0], dtype=float), np.array(bn.bias, dtype=float), bn.eps
    U, by = np.array(y.weights, dtype=float)[:, 0], float(y.bias[0])
    N = len(X)
    rate = spec.training.learning_rate

    def forward(Wh):
        zh = X @ Wh
        mu, var = zh.mean(axis=0), zh.var(axis=0)
        hat = (zh - mu) / np.sqrt(var + eps)
        zb = gamma * hat + beta
        ab = sig(zb)
        zy = ab @ U + by
        return zh, mu, var, hat, zb, ab, zy, sig(zy)

    zh, mu, var, hat, zb, ab, zy, out = forward(Wh.T if mistake == "transposed-forward" else Wh)
    L = -(T * np.log(out) + (1 - T) * np.log(1 - out))

    def backward(Wh_b, gamma_b, U_b, slip=None):
        dzy = out - T  # of the summed loss
        dab = np.outer(dzy, U_b)
        dzb = dab if slip == "no-derivative-bn" else dab * ab * (1 - ab)
        dhat = dzb * gamma_b
        if slip == "constants":  # μ and σ² taken for constants: the path through x̂ alone
            dzh = dhat / np.sqrt(var + eps)
        else:
            dzh = (N * dhat - dhat.sum(axis=0) - hat * (dhat * hat).sum(axis=0)) / (N * np.sqrt(var + eps))
        dx = dzh @ (Wh_b if slip == "transposed" else Wh_b.T)
        return dzy, dab, dzb, dhat, dzh, dx

    def statistics(dhat):
        """The [batch] table: μ, σ² and their gradients (of the summed loss) through every instance's x̂."""
        dvar = (dhat * (zh - mu)).sum(axis=0) * -0.5 * (var + eps) ** -1.5
        dmean = -(dhat / np.sqrt(var + eps)).sum(axis=0) + dvar * -2 * (zh - mu).sum(axis=0) / N
        out = {}
        for j in range(2):
            out.update({f"bn{j + 1}_mean": mu[j], f"bn{j + 1}_var": var[j], f"dL/dbn{j + 1}_mean": dmean[j],
                        f"dL/dbn{j + 1}_var": dvar[j]})
        return {k: float(v) for k, v in out.items()}

    if mistake == "no-derivative-y":  # the output's σ'(z) left out: dL/dz = dL/dy
        dzy_slip = -(T / out - (1 - T) / (1 - out))
    if mistake == "updated":
        dzy, dab, dzb, dhat, dzh, dx = backward(Wh, gamma, U)
        new_U = U - rate * (ab * dzy[:, None]).mean(axis=0)
        new_gamma = gamma - rate * (dzb * hat).mean(axis=0)
        new_Wh = Wh - rate * np.einsum("ni,nj->ij", X, dzh) / N
        dzy, dab, dzb, dhat, dzh, dx = backward(new_Wh, new_gamma, new_U)
    else:
        slip = {"constants": "constants", "no-derivative-bn": "no-derivative-bn", "transposed": "transposed"}.get(mistake)
        dzy, dab, dzb, dhat, dzh, dx = backward(Wh, gamma, U, slip)
    if mistake == "no-derivative-y":
        dzy = dzy_slip
        dab = np.outer(dzy, U)
        dzb = dab * ab * (1 - ab)
        dhat = dzb * gamma
        dzh = (N * dhat - dhat.sum(axis=0) - hat * (dhat * hat).sum(axis=0)) / (N * np.sqrt(var + eps))
        dx = dzh @ Wh.T
    tables = []
    for n in range(N):
        table = {"L": float(L[n]), "y1_in": float(zy[n]), "y1_out": float(out[n]),
                 "dL/dy1_out": float(-(T[n] / out[n] - (1 - T[n]) / (1 - out[n]))), "dL/dy1_in": float(dzy[n]),
                 "dL/du11": float(dzy[n] * ab[n, 0]), "dL/du21": float(dzy[n] * ab[n, 1]), "dL/db_y1": float(dzy[n])}
        for j in range(2):
            u = j + 1
            table.update({f"h{u}_in": zh[n, j], f"h{u}_out": zh[n, j], f"bn{u}_hat": hat[n, j], f"bn{u}_in": zb[n, j],
                          f"bn{u}_out": ab[n, j], f"dL/dbn{u}_out": dab[n, j], f"dL/dbn{u}_in": dzb[n, j],
                          f"dL/dbn{u}_hat": dhat[n, j], f"dL/dh{u}_out": dzh[n, j], f"dL/dh{u}_in": dzh[n, j],
                          f"dL/dgamma_bn{u}": dzb[n, j] * hat[n, j], f"dL/dbeta_bn{u}": dzb[n, j], f"dL/dx{u}": dx[n, j]})
            table.update({f"dL/dw{i + 1}{u}": X[n, i] * dzh[n, j] for i in range(2)})
        tables.append({k: float(v) for k, v in table.items()})
    if mistake != "constants":  # a student who takes μ and σ² for constants has no gradients of them to give
        tables.append({"batch": statistics(dhat)})
    return tables


# --------------------------------------------------------------------------- the residual-block preset


def residual_block(spec, mistake=None):
    """The student's instance table for the residual-block preset: h = relu(x W), the branch f = relu(h V),
    g = f U, the addition r = relu(h + g) (the skip connection from h), y = r Y, half the squared error."""
    h, f, g, r, y = spec.layers
    x = np.array(spec.data[0].x, dtype=float)
    t = spec.data[0].t[0]
    W, V, U, Y = (np.array(layer.weights, dtype=float) for layer in (h, f, g, y))
    zh = x @ W
    ah = np.maximum(zh, 0)
    zf = ah @ V
    af = np.maximum(zf, 0)
    ag = af @ U
    zr = ah + ag
    ar = np.maximum(zr, 0)
    out = float(ar @ Y[:, 0])
    e = out - t
    dar = Y[:, 0] * e
    dzr = dar * (zr > 0)
    dag = dzr
    daf = dag @ U.T
    dzf = daf * (zf > 0)
    dah = dzf @ V.T + (0 if mistake == "skip" else dzr)  # the skip connection's gradient added, or forgotten
    dzh = dah * (zh > 0)
    table = {"L": 0.5 * e ** 2, "e1": e, "y1_in": out, "y1_out": out, "dL/de1": e, "dL/dy1_out": e, "dL/dy1_in": e}
    for j in range(2):
        table.update({f"h{j + 1}_in": zh[j], f"h{j + 1}_out": ah[j], f"f{j + 1}_in": zf[j], f"f{j + 1}_out": af[j],
                      f"g{j + 1}_in": ag[j], f"g{j + 1}_out": ag[j], f"r{j + 1}_in": zr[j], f"r{j + 1}_out": ar[j],
                      f"dL/dr{j + 1}_out": dar[j], f"dL/dr{j + 1}_in": dzr[j], f"dL/dg{j + 1}_out": dag[j],
                      f"dL/dg{j + 1}_in": dag[j], f"dL/df{j + 1}_out": daf[j], f"dL/df{j + 1}_in": dzf[j],
                      f"dL/dh{j + 1}_out": dah[j], f"dL/dh{j + 1}_in": dzh[j], f"dL/dx{j + 1}": (dzh @ W.T)[j]})
    for letter, a_prev, dz in (("w", x, dzh), ("v", ah, dzf), ("u", af, dag)):
        table.update({f"dL/d{k}": v for k, v in dense_names(letter, np.outer(a_prev, dz)).items()})
    table["dL/ds11"], table["dL/ds21"] = float(ar[0] * e), float(ar[1] * e)
    return {k: float(v) for k, v in table.items()}


# --------------------------------------------------------------------------- the checks


#: The cnn preset with its second channel's bias at −2: whole pooling windows of that channel are negative, so a
#: window's winner is a unit ReLU switched off (on the preset every winner is positive: f'(z) = 1 where it matters,
#: and a left-out derivative changes no number).
DARK = ("bias       = [0.1, -0.2]", "bias       = [0.1, -2]")


@pytest.fixture(scope="module")
def derived():
    from conftest import ROOT, spec_from

    out = {name: derive(load_spec(name)) for name in ("conv-worksheet", "cnn", "batch-norm", "residual-block")}
    text = (ROOT / "derive/spec/presets/cnn.toml").read_text(encoding="utf-8")
    assert DARK[0] in text
    out["cnn-dark"] = derive(spec_from(text.replace(*DARK), "cnn-dark"))
    return out


def model_of(name):
    return {"conv-worksheet": conv_worksheet, "cnn": cnn, "cnn-dark": cnn, "batch-norm": batch_norm,
            "residual-block": residual_block}[name]


def answers_toml(tables: list[dict], known: dict) -> str:
    """The answers file: one [instanceN] table per instance, every quantity the check knows."""
    lines = []
    for n, table in enumerate(tables, start=1):
        name = "batch" if "batch" in table else f"instance{n}"
        table = table.get("batch", table)
        lines.append(f"[{name}]")
        lines += [f'"{k}" = {v!r}' for k, v in table.items() if f"{name}.{k}" in known]
        lines.append("")
    return "\n".join(lines)


def check(d, tables, tmp_path):
    known = catalogue(d)
    path = tmp_path / "answers.toml"
    path.write_text(answers_toml(tables, known), encoding="utf-8")
    return api.check(d, str(path))


def student(name, d, mistake=None):
    tables = model_of(name)(d.spec, mistake)
    return tables if isinstance(tables, list) else [tables]


@pytest.mark.parametrize("name", ["conv-worksheet", "cnn", "cnn-dark", "batch-norm", "residual-block"])
def test_the_models_key_is_all_correct(derived, name, tmp_path):
    """The NumPy model without a mistake gives derive's numbers: every answer right, no diagnosis."""
    d = derived[name]
    tables = student(name, d)
    known = catalogue(d)
    assert sum(f"instance{n + 1}.{k}" in known for n, t in enumerate(tables) for k in t) > 30
    if name == "batch-norm":
        assert len(tables[-1]["batch"]) == 8
    report = check(d, tables, tmp_path)
    assert report.ok, [(v.name, v.given, v.expected) for v in report.verdicts if v.status != "correct"][:5]
    assert not any(v.diagnosis for v in report.verdicts)


CASES = [
    # preset, mistake of the model, the first wrong step, words the diagnosis must hold
    ("conv-worksheet", "no-derivative", None, ["derivative left out in layer c", "relu"]),
    ("conv-worksheet", "shared-once", "instance1.dL/dw1_1_1_1", ["layer c", "at one position only"]),
    ("conv-worksheet", "one-window", "instance1.dL/dx1_2_3", ["missing path in layer c", "only one window"]),
    ("conv-worksheet", "unflipped", "instance1.dL/dx1_2_2", ["kernel of layer c", "unflipped in the backward pass"]),
    ("conv-worksheet", "flipped-forward", "instance1.c1_1_1_in", ["kernel of layer c flipped", "forward pass"]),
    ("conv-worksheet", "updated", "instance1.dL/dc1_1_1_out", ["updated weights used in the backward pass"]),
    ("cnn-dark", "no-derivative", None, ["derivative left out in layer c", "relu"]),
    ("cnn", "shared-once", "instance1.dL/dw1_1_1_1", ["layer c", "at one position only"]),
    ("cnn", "unflipped", "instance1.dL/dx1_2_2", ["kernel of layer c", "unflipped in the backward pass"]),
    ("cnn", "updated", "instance1.dL/dp1_1_1", ["updated weights used in the backward pass"]),
    ("batch-norm", "constants", "instance1.dL/dh1_out", ["mean and variance of layer bn treated as constants"]),
    ("batch-norm", "no-derivative-bn", "instance1.dL/dbn1_in", ["derivative left out in layer bn", "sigmoid"]),
    ("batch-norm", "no-derivative-y", "instance2.dL/dy1_in", ["derivative left out in layer y", "sigmoid"]),
    ("batch-norm", "transposed", "instance1.dL/dx1", ["weight matrix of layer h read transposed in the backward"]),
    ("batch-norm", "transposed-forward", "instance1.h1_in", ["weights of layer h read transposed"]),
    ("batch-norm", "updated", "instance1.dL/dbn1_out", ["updated weights used in the backward pass"]),
    ("residual-block", "skip", None, ["skip connection into layer r left out", "layer h"]),
]


@pytest.mark.parametrize("name, mistake, step, words", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_the_mistake_and_its_layer_are_named(derived, tmp_path, name, mistake, step, words):
    d = derived[name]
    report = check(d, student(name, d, mistake), tmp_path)
    wrong = [v for v in report.verdicts if v.status == "wrong"]
    assert wrong, "the mistake changes no answer"
    if step is None:  # the first wrong gradient in the order of the file
        step = wrong[0].name
    first = next(v for v in report.verdicts if v.name == step)
    assert first.status == "wrong", (step, first.given, first.expected)
    for w in words:
        assert w in first.diagnosis, (step, first.diagnosis)
    # every other wrong answer is the same mistake again, or follows from a wrong answer before it
    mistake_words = words[0]
    for v in wrong:
        assert mistake_words in v.diagnosis or FOLLOWS in v.diagnosis, (v.name, v.diagnosis)


def test_a_left_out_relu_derivative_the_preset_cannot_show(derived, tmp_path):
    """On the cnn preset every pooling winner is a positive unit: the slip changes no number, and nothing is wrong."""
    d = derived["cnn"]
    assert check(d, student("cnn", d, "no-derivative"), tmp_path).ok


def test_through_the_command_line_and_in_german(derived, tmp_path, capsys):
    """`derive check batch-norm answers.toml --format json` (exit 1) names the mistake; `--lang de` in German."""
    import json

    from derive.cli import main

    d = derived["batch-norm"]
    path = tmp_path / "answers.toml"
    path.write_text(answers_toml(student("batch-norm", d, "constants"), catalogue(d)), encoding="utf-8")
    for lang, words in (("en", "mean and variance of layer bn treated as constants"),
                        ("de", "Mittelwert und Varianz von Schicht bn als Konstanten behandelt")):
        with pytest.raises(SystemExit) as exc:
            main(["check", "batch-norm", str(path), "--format", "json", "--lang", lang])
        assert exc.value.code == 1
        verdicts = {v["name"]: v for v in json.loads(capsys.readouterr().out)["verdicts"]}
        assert words in verdicts["instance1.dL/dh1_out"]["diagnosis"]
        assert verdicts["instance1.dL/dh1_in"]["first_wrong_step"] == ["instance1.dL/dh1_out"]
