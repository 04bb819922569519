"""`derive check`: verdicts, every diagnosis on purpose-built wrong answers, hostile files, the seed."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT
from derive.grade.answers import catalogue, parse_answers
from derive.grade.judge import check_answers
from derive.cli import main
from derive.core.numbers import evaluate_rounded, leaf_values, round_to


def judge(d, answers: dict, **tolerance):
    doc = {"tolerance": tolerance, **answers} if tolerance else answers
    return check_answers(d, parse_answers(doc, d))


def verdict(report, name):
    return next(v for v in report.verdicts if v.name == name)


def test_the_key_is_all_correct(two_two_two):
    q = catalogue(two_two_two)
    answers = {}
    for name, quantity in q.items():
        table, key = name.rsplit(".", 1) if name.count(".") > 1 and not name.startswith("instance") else name.split(".", 1)
        node = answers
        for part in table.split("."):
            node = node.setdefault(part, {})
        node[key] = repr(quantity.value)
    report = judge(two_two_two, answers)
    assert report.ok and len(report.verdicts) == len(q)


def test_rounded_answers_are_correct(two_two_two):
    report = judge(two_two_two, {"instance1": {"y1_out": "0.7319", "dL/dw11": "-5.344e-8", "h2_out": 0.018}})
    assert report.ok


# ---------------------------------------------------------------- diagnoses


@pytest.fixture(scope="module")
def truth(two_two_two):
    n1 = two_two_two.instances[0]
    return two_two_two, n1.value, n1.grad


def diagnosis_of(d, name, given, **tolerance):
    table, key = name.split(".", 1)
    report = judge(d, {table: {key: given}}, **tolerance)
    v = verdict(report, name)
    assert v.status == "wrong", v
    return v.diagnosis


def test_missing_path(truth):
    d, value, grad = truth
    only_y1 = grad["y1_in"] * d.params["v11"]
    assert "a missing path" in diagnosis_of(d, "instance1.dL/dh1_out", only_y1)


def test_missing_activation_derivative(truth):
    d, value, grad = truth
    assert "derivative left out in layer y" in diagnosis_of(d, "instance1.dL/dy1_in", grad["y1_out"])


def test_sign_error(truth):
    d, value, grad = truth
    assert "t − y instead of y − t" in diagnosis_of(d, "instance1.dL/de1", -grad["e1"])


def test_factor_two(truth):
    d, value, grad = truth
    assert "factor 2 of the squared error lost" in diagnosis_of(d, "instance1.dL/de1", value["e1"])


def test_transposed_weight_in_the_backward_pass(truth):
    d, value, grad = truth
    given = grad["y1_in"] * d.params["v11"] + grad["y2_in"] * d.params["v21"]  # v21 where v12 belongs
    assert "transposed in the backward pass" in diagnosis_of(d, "instance1.dL/dh1_out", given)


def test_updated_weights_used_too_early(truth):
    d, value, grad = truth
    new = d.after_step.params
    given = grad["y1_in"] * new["v11"] + grad["y2_in"] * new["v12"]
    assert "updated weights used in the backward pass" in diagnosis_of(d, "instance1.dL/dh1_out", given)


def test_sum_versus_mean(two_two_two):
    d = two_two_two
    assert "averaged where the loss sums" in diagnosis_of(d, "total.dL/dv11", d.grad["v11"] / 2)


def test_gradient_ascent(two_two_two):
    d = two_two_two
    given = d.params["v11"] + 0.5 * d.grad["v11"]
    assert "went uphill" in diagnosis_of(d, "update.v11", given)


def test_another_learning_rate(two_two_two):
    d = two_two_two
    assert "learning rate 0.3 instead of 0.5" in diagnosis_of(d, "update.v21", d.params["v21"] - 0.3 * d.grad["v21"])


def test_rounded_intermediates(two_two_two):
    d = two_two_two
    rounded = evaluate_rounded(d.steps, leaf_values(d.graph, d.params, d.spec.data[0]), round_to(2))
    given = rounded.grad["w12"]
    assert "rounded to 2 significant digits" in diagnosis_of(d, "instance1.dL/dw12", given)


def test_digits_cut_off(two_two_two):
    assert "cut off instead of rounded" in diagnosis_of(two_two_two, "instance1.h2_out", "0.0179", min_digits=3)


def test_first_wrong_step(truth):
    d, value, grad = truth
    wrong_h1 = grad["y1_in"] * d.params["v11"]  # a missing path at h1_out
    h1 = value["h1_out"]
    follows = wrong_h1 * h1 * (1 - h1)          # dL/dh1_in computed correctly from it
    then = follows * 3                          # dL/dw11 = dL/dh1_in · x1
    report = judge(d, {"instance1": {"dL/dh1_out": wrong_h1, "dL/dh1_in": follows, "dL/dw11": then}})
    first, second, third = (verdict(report, f"instance1.{k}") for k in ("dL/dh1_out", "dL/dh1_in", "dL/dw11"))
    assert "a missing path" in first.diagnosis and not first.first_wrong
    assert second.diagnosis == "follows correctly from your wrong answer for dL/dh1_out"
    assert second.first_wrong == ["instance1.dL/dh1_out"] and third.first_wrong == ["instance1.dL/dh1_out"]


# ---------------------------------------------------------------- formulas


@pytest.mark.parametrize("name, formula", [
    ("instance1.dL/dy1_out", "2*(y1_out - t1)"),
    ("instance1.dL/dy1_out", "2*e1"),
    ("instance1.dL/dy1_in", "2*(y1_out - t1) * y1_out*(1 - y1_out)"),
    ("instance1.h1_out", "sigma(h1_in)"),
    ("instance1.h1_out", "1/(1 + exp(-h1_in))"),
    ("instance1.L", "e1^2 + e2**2"),
    ("instance1.h1_out", r"\frac{1}{1 + e^{-16}}"),
    ("instance1.dL/dw11", r"-5.344 \times 10^{-8}"),
    ("instance1.h1_in", r"w_{11} \cdot x_{1} + w_{21} x_{2}"),
])
def test_right_formulas(two_two_two, name, formula):
    table, key = name.split(".", 1)
    report = judge(two_two_two, {table: {key: formula}})
    assert report.verdicts[0].status == "correct", report.verdicts[0]


def test_formula_right_only_at_this_point_is_wrong(two_two_two):
    # dL/dv11 = dL/dy1_in · h1_out; "dL/dy1_in" is not a name, so a student writes the number in:
    report = judge(two_two_two, {"instance1": {"dL/dv11": "-0.10518770232556676 * h1_out"}})
    v = report.verdicts[0]
    assert v.status == "wrong" and "not the quantity in general" in v.note


def test_wrong_formula(two_two_two):
    report = judge(two_two_two, {"instance1": {"dL/dy1_out": "(y1_out - t1)"}})
    assert report.verdicts[0].status == "wrong"
    assert "factor 2" in report.verdicts[0].diagnosis


# ---------------------------------------------------------------- hostile input


HOSTILE = [
    "__import__('os').system('touch /tmp/derive-pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "open('/etc/passwd').read()",
    "lambda: 1",
    "9**9**9**9",
    "(" * 500 + "1" + ")" * 500,
    "1" * 5000,
    "x1 if 1 else 2",
    "[x for x in ()]",
    "h1_in.real",
    "exp(1, 2)",
    "sigma(x1)[0]",
    "nan",
    "inf",
    "1e999",
    "log(-1)",
    "1/0",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_formulas_get_a_clean_verdict(two_two_two, text):
    report = judge(two_two_two, {"instance1": {"h1_out": text}})
    assert report.verdicts[0].status in ("cannot judge", "wrong")
    assert not Path("/tmp/derive-pwned").exists()


def test_megabyte_formula_is_refused(two_two_two, tmp_path, capsys):
    path = tmp_path / "big.toml"
    path.write_text('[instance1]\nh1_out = "' + "1+" * 500_000 + '1"\n')
    with pytest.raises(SystemExit) as exc:
        main(["check", "two-two-two", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "larger than 1000000 bytes" in err


@pytest.mark.parametrize("content, message", [
    ('[instance1]\nh1_ot = "1"\n', "instance1.h1_ot: unknown quantity 'h1_ot' in [instance1]; did you mean h1_out"),
    ('[instanse1]\nh1_out = "1"\n', "instanse1: unknown table; did you mean [instance1]?"),
    ('[instance1]\nh1_out = true\n', "instance1.h1_out: expected a number or a string"),
    ('[instance1]\nh1_out = {a = 1}\n', "instance1.h1_out: unknown table"),
    ('[tolerance]\nrtol = -1\n', "tolerance.rtol: expected a non-negative number"),
    ("h1_out = = 1", "not valid TOML"),
    ('h1_out = "1"\n', "h1_out: give it inside a table ([instance1], …): the data has 2 instances"),
])
def test_bad_answers_files_are_one_line_errors(tmp_path, capsys, content, message):
    path = tmp_path / "answers.toml"
    path.write_text(content)
    with pytest.raises(SystemExit) as exc:
        main(["check", "two-two-two", str(path)])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and out == "" and err.count("\n") == 1 and message in err, err


# ---------------------------------------------------------------- the CLI and the seed


def test_exit_status_and_formats(tmp_path, capsys):
    path = tmp_path / "a.toml"
    path.write_text('[instance1]\ny1_out = "0.7319"\nh1_out = "0.5"\n')
    for fmt in ("text", "md", "json"):
        with pytest.raises(SystemExit) as exc:
            main(["check", "two-two-two", str(path), "--format", fmt])
        assert exc.value.code == 1
        out = capsys.readouterr().out
        if fmt == "json":
            data = json.loads(out)
            assert data["counts"] == {"correct": 1, "wrong": 1, "cannot judge": 0}
        else:
            assert "instance1.h1_out" in out


def test_blank_and_key_round_trip(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["check", "two-two-two", "--blank"])
    blank = capsys.readouterr().out
    assert all(v == "" for table in tomllib.loads(blank).values() for v in _leaves(table))
    with pytest.raises(SystemExit):
        main(["check", "two-two-two", "--key"])
    (tmp_path / "key.toml").write_text(capsys.readouterr().out)
    with pytest.raises(SystemExit) as exc:
        main(["check", "two-two-two", str(tmp_path / "key.toml")])
    assert exc.value.code == 0


def _leaves(table):
    for v in table.values():
        if isinstance(v, dict):
            yield from _leaves(v)
        else:
            yield v


def test_seed_transcription_flags_exactly_the_inconsistent_values(two_two_two):
    from derive.grade.answers import read_answers

    report = check_answers(two_two_two, read_answers(ROOT / "output" / "seed-001" / "answers.toml", two_two_two))
    wrong = {v.name: v.diagnosis for v in report.verdicts if v.status != "correct"}
    assert set(wrong) == {"instance1.h1_out[2]", "instance1.dL/dv22[4]", "instance1.dL/dw11[4]",
                          "instance1.dL/dw21[4]", "update.v11", "update.v12", "update.v21", "update.v22"}
    assert "cut off" in wrong["instance1.h1_out[2]"] and "cut off" in wrong["instance1.dL/dv22[4]"]
    assert "float32" in wrong["instance1.dL/dw11[4]"] and "float32" in wrong["instance1.dL/dw21[4]"]
    assert all("learning rate 0.65 instead of 0.5" in wrong[f"update.{k}"] for k in ("v11", "v12", "v21", "v22"))


def test_the_loss_after_a_wrong_update_follows_from_the_students_own_parameters():
    """A sign slip in the total dL/dv11, the update done from it, then the loss and outputs after the update
    computed right from those parameters: those last numbers follow from the student's own update (here
    recomputed by NumPy's forward pass), they are not "close, but beyond rounding"."""
    import numpy as np

    from derive.spec.parse import load_spec
    from derive.pipeline import derive
    from derive.verify import reference

    d = derive(load_spec("two-two-two"))
    rate = d.spec.training.learning_rate
    g = -d.grad["v11"]  # the slip
    v11 = d.params["v11"] - rate * g
    params = reference.Params.from_spec(d.spec)
    new = dict(d.after_step.params)
    new["v11"] = v11
    W = [np.array(w, dtype=float).copy() for w in params.W]
    for l, keys in enumerate(d.graph.layer_weights):
        for idx in np.ndindex(np.array(keys, dtype=object).shape):
            W[l][idx] = new[np.array(keys, dtype=object)[idx]]
    X, T = reference.data_arrays(d.spec)
    moved = reference.Params(W=W, b=params.b)
    _Z, A = reference.forward(d.spec, moved, X)
    Y = np.asarray(A[-1])
    from derive.core.losses import LOSSES

    per = LOSSES[d.spec.loss].forward(Y, T)
    total = float(per.sum() if d.spec.reduction == "sum" else per.mean())
    doc = {"total": {"dL/dv11": g}, "update": {"v11": v11, "L": total,
                                               "instance1": {"y1_out": float(Y[0, 0]), "L": float(per[0])}}}
    report = judge(d, doc)
    by = {v.quantity.name: v for v in report.verdicts}
    assert by["total.dL/dv11"].status == "wrong"
    for name in ("update.v11", "update.L", "update.instance1.y1_out", "update.instance1.L"):
        assert by[name].status == "wrong" and "follows" in by[name].diagnosis, (name, by[name].diagnosis)


def test_gradient_ascent_in_the_first_online_step_is_named():
    """With several updates an epoch, [step1] is θ⁽¹⁾ from the first instance's gradient (NumPy's here);
    stepping up that gradient instead of down is the ascent mistake, named as such."""
    import numpy as np

    from conftest import small_net, spec_from
    from derive.pipeline import derive
    from derive.verify import reference

    d = derive(spec_from(small_net('mode = "online"'), "online"))
    X, T = reference.data_arrays(d.spec)
    p = reference.backward(d.spec, reference.Params.from_spec(d.spec), X[:1], T[:1])
    g = float(np.sum(p.dW[0], axis=0)[0, 0])
    report = judge(d, {"step1": {"w11": 0.1 + 0.1 * g}})
    (v,) = report.verdicts
    assert v.status == "wrong" and "uphill" in v.diagnosis, v.diagnosis
    assert judge(d, {"step1": {"w11": 0.1 - 0.1 * g}}).ok
