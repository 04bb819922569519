"""Worksheets: deterministic variants, keys that match an independent NumPy pass, no degenerate
draws, answers files derive check reads, Moodle XML with one question per blank, and PDFs."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from conftest import ROOT, need, small_net, spec_from
from derive.verify import reference
from derive.grade.answers import read_answers
from derive.grade.judge import check_answers
from derive.pipeline import derive
from derive.grade.policy import Rounding, policy_values
from derive.worksheets.write import worksheet_files
from derive.spec.parse import load_spec
from derive.worksheets.draw import Settings, blanks, degenerate, make_variant

RELU_NET = """
name = "relu-net"
[network]
inputs = 2
loss = "half_sse"
[[network.layers]]
name = "h"
size = 3
activation = "relu"
weights = [[1, 1, 1], [1, 1, 1]]
bias = [0, 0, 0]
[[network.layers]]
name = "o"
size = 1
activation = "identity"
weights = [[1], [1], [1]]
[[data]]
x = [1, 1]
t = [1]
[training]
learning_rate = 0.1
"""


def run_cli(argv, capsys):
    from derive.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_same_seed_same_bytes_and_variant_k_whatever_n():
    base = load_spec("two-two-two")
    three = worksheet_files(base, variants=3, seed=11, formats=("md", "moodle"))
    again = worksheet_files(base, variants=3, seed=11, formats=("md", "moodle"))
    assert three == again
    five = worksheet_files(base, variants=5, seed=11, formats=("md",))
    for name, content in three.items():
        if name.startswith("variant-"):
            assert five[name] == content, name
    other = worksheet_files(base, variants=1, seed=12, formats=("md",))
    assert other["variant-01.toml"] != three["variant-01.toml"]


def _reference_values(spec) -> dict[str, float]:
    """Quantity name → value, from the NumPy reference alone (no graph, no SymPy)."""
    X, T = reference.data_arrays(spec)
    params = reference.Params.from_spec(spec)
    p = reference.backward(spec, params, X, T)
    out: dict[str, float] = {}
    for n in range(len(spec.data)):
        tab = f"instance{n + 1}"
        for l, layer in enumerate(spec.layers):
            sym = layer.weight_symbol
            for j in range(layer.size):
                u = f"{layer.name}{j + 1}"
                out |= {f"{tab}.{u}_in": p.Z[l][n, j], f"{tab}.{u}_out": p.A[l][n, j],
                        f"{tab}.dL/d{u}_in": p.dZ[l][n, j], f"{tab}.dL/d{u}_out": p.dA[l][n, j]}
                for i in range(p.dW[l].shape[1]):
                    out[f"{tab}.dL/d{sym}{i + 1}{j + 1}"] = p.dW[l][n, i, j]
        for k in range(spec.layers[-1].size):
            out[f"{tab}.e{k + 1}"] = p.A[-1][n, k] - T[n, k]
            out[f"{tab}.dL/de{k + 1}"] = p.dA[-1][n, k]  # sse: y = e + t
        out[f"{tab}.L"] = p.loss[n]
    gW, gb = reference.total_gradient(spec, p, params)
    new, _ = reference.epoch(spec, params, X, T)
    out["total.L"] = reference.total_loss(spec, params, X, T)
    for l, layer in enumerate(spec.layers):
        for i, row in enumerate(layer.weights):
            for j, _ in enumerate(row):
                w = f"{layer.weight_symbol}{i + 1}{j + 1}"
                out[f"total.dL/d{w}"] = gW[l][i, j]
                out[f"update.{w}"] = new.W[l][i, j]
    return out


def test_every_key_value_is_the_variants_own_numpy_value_rounded(tmp_path):
    files = worksheet_files(load_spec("two-two-two"), variants=4, seed=7, formats=("md",))
    for k in range(1, 5):
        stem = f"variant-{k:02d}"
        (tmp_path / f"{stem}.toml").write_text(files[f"{stem}.toml"])
        spec = load_spec(tmp_path / f"{stem}.toml")  # the variant's own spec, read back from its file
        expected = _reference_values(spec)
        key = tomllib.loads(files[f"{stem}.key.toml"])
        assert key["rounding"] == {"decimals": 4, "carry": False}
        given = {f"{table}.{name}": value for table, rows in key.items()
                 if table not in ("tolerance", "rounding", "worksheet")
                 for name, value in rows.items()}
        assert len(given) == 2 * 29 + 9 + 8  # per instance 16 values, 13 gradients; totals; updates
        for name, value in given.items():
            assert value == Rounding(4)(expected[name]), name
        # And `derive values` on the variant's file says the same.
        values = derive(spec).to_values()
        assert given["instance2.y1_out"] == Rounding(4)(values["instances"][1]["layers"]["y"]["out"][0])
        assert given["total.dL/dw21"] == Rounding(4)(values["grad"]["h"]["weights"][1][0])
        assert given["update.v12"] == Rounding(4)(values["after_step"]["layers"]["y"]["weights"][0][1])


def test_every_key_passes_derive_check_and_every_blank_file_is_blank(tmp_path, capsys):
    files = worksheet_files(load_spec("two-two-two"), variants=3, seed=5, formats=("md",), carry=True)
    for name, content in files.items():
        (tmp_path / name).write_text(content) if isinstance(content, str) else (tmp_path / name).write_bytes(content)
    for k in range(1, 4):
        stem = str(tmp_path / f"variant-{k:02d}")
        status, out, _ = run_cli(["check", f"{stem}.toml", f"{stem}.key.toml"], capsys)
        assert status == 0, out
        assert "0 wrong, 0 cannot judge" in out
        blank = tomllib.loads((tmp_path / f"variant-{k:02d}.answers.toml").read_text())
        values = [v for t, rows in blank.items() if t not in ("tolerance", "rounding", "worksheet") for v in rows.values()]
        sheet_rows = re.findall(r"^\| \d+ \| .* \| `[a-z0-9.]+(?:dL/d)?\w*` \| _+ \|$", files[f"variant-{k:02d}.sheet.md"],
                                flags=re.M)
        assert values and set(values) == {""} and len(values) == len(sheet_rows)


def test_carried_rounding_is_what_a_person_gets_by_hand():
    """A 1-1 sigmoid net, computed step by step with 2-decimal rounding carried."""
    spec = spec_from('[network]\ninputs = 1\nloss = "sse"\n[[network.layers]]\nname = "y"\nsize = 1\n'
                     'activation = "sigmoid"\nweights = [[0.7]]\n[[data]]\nx = [2]\nt = [1]\n[training]\nlearning_rate = 0.5\n')
    d = derive(spec)
    r = lambda x: float(f"{x:.2f}")  # noqa: E731 (no halves to round in this example)
    z = r(0.7 * 2)
    y = r(1 / (1 + math.exp(-z)))
    e = r(y - 1)
    dy = r(2 * e)
    local = r(y * (1 - y))
    dz = r(dy * local)
    dw = r(dz * 2)
    new = r(0.7 - r(0.5 * dw))
    got = policy_values(d, Rounding(2, carry=True))
    assert (got["instance1.y1_in"], got["instance1.y1_out"], got["instance1.e1"]) == (z, y, e)
    assert (got["instance1.dL/dy1_in"], got["instance1.dL/dw11"], got["update.w11"]) == (dz, dw, new)
    # Not the full-precision value rounded at the end: carrying the rounding changes the last digit here.
    assert dw == -0.12 and Rounding(2)(d.instances[0].grad["w11"]) == -0.13


def test_check_accepts_the_policy_value_and_the_true_value(tmp_path):
    files = worksheet_files(load_spec("two-two-two"), variants=1, seed=3, formats=("md",), carry=True)
    (tmp_path / "v.toml").write_text(files["variant-01.toml"])
    d = derive(load_spec(tmp_path / "v.toml"))
    key = tomllib.loads(files["variant-01.key.toml"])
    true = d.instances[0].grad["w11"]
    rounded = key["instance1"]["dL/dw11"]
    for given, ok in ((rounded, True), (true, True), (rounded + 5e-4, False)):
        (tmp_path / "a.toml").write_text(f'[rounding]\ndecimals = 4\ncarry = true\n[tolerance]\natol = 0.0001\n'
                                         f'[instance1]\n"dL/dw11" = {given!r}\n')
        report = check_answers(d, read_answers(tmp_path / "a.toml", d))
        assert report.ok is ok, (given, rounded, true)


@pytest.mark.parametrize("seed", range(12))
def test_no_degenerate_variant_is_emitted(seed):
    base = spec_from(RELU_NET, "relu-net")
    settings = Settings.of(base)
    for k in (1, 2, 3):
        v = make_variant(base, settings, seed, k)
        d = v.derivation
        assert degenerate(d.spec, settings.scope, settings.rounding) is None
        for num in d.instances:
            assert all(num.value[z] != 0 for z, _ in d.graph.layer_units[0])  # no ReLU on its kink
        asked = [q for q in v.blanks if q.kind in ("grad", "total_grad")]
        assert asked and all(abs(v.key[q.name]) >= 10 * settings.rounding.unit for q in asked)  # two digits or more


def test_the_degeneracy_test_can_fail():
    dead = RELU_NET.replace("x = [1, 1]", "x = [-1, -1]").replace("[[1, 1, 1], [1, 1, 1]]", "[[1, 2, 3], [1, 1, 1]]")
    assert degenerate(spec_from(dead, "relu-net"), ("forward",), Rounding(4)) is None  # no gradient asked
    # sums -2, -3, -4: every ReLU dead, so dL/dz of layer h is 0
    assert "dL/dz of layer h: a gradient is 0" in degenerate(spec_from(dead, "relu-net"), ("hidden-layers",), Rounding(4))
    tie = spec_from(RELU_NET, "relu-net")  # three equal sums: a tie
    assert "same sum" in degenerate(tie, ("forward",), Rounding(4))
    flat = spec_from(RELU_NET.replace("x = [1, 1]", "x = [0.0002, 0.0003]").replace(
        "[[1, 1, 1], [1, 1, 1]]", "[[1, 2, 3], [1, 1, 1]]"), "relu-net")
    assert "single significant digit" in degenerate(flat, ("hidden-layers",), Rounding(4))


def test_scope_chooses_the_blanks():
    base = load_spec("two-two-two")
    v = make_variant(base, Settings.of(base, scope=("forward", "output-layer")), 1, 1)
    kinds = {q.kind for q in v.blanks}
    assert kinds == {"value", "grad"}
    assert not any(q.key.startswith(("dL/dh", "dL/dw")) for q in v.blanks)
    assert any(q.key == "dL/dv11" for q in v.blanks) and any(q.key == "y2_out" for q in v.blanks)
    assert v.derivation.spec.training is None
    forward = make_variant(base, Settings.of(base, scope=("forward",)), 1, 1)
    assert len(forward.blanks) == 16 and {q.kind for q in forward.blanks} == {"value"}


def test_given_sigmoid_values_are_those_of_the_variants_sums():
    preset = (ROOT / "derive" / "spec" / "presets" / "two-two-two.toml").read_text()
    spec = spec_from(preset + '\n[worksheet]\ngiven = ["sigmoid"]\nscope = ["forward"]\n', "two-two-two")
    files = worksheet_files(spec, variants=1, seed=2, formats=("md",))
    given = re.findall(r"\\sigma\((-?[\d.]+)\) \\approx ([\d.]+)", files["variant-01.sheet.md"])
    assert given
    d = make_variant(spec, Settings.of(spec), 2, 1).derivation
    sums = {Rounding(4)(num.value[z]): num.value[z] for num in d.instances for units in d.graph.layer_units
            for z, _ in units}
    assert len(given) == len(sums)
    for z, s in given:
        assert float(s) == pytest.approx(1 / (1 + math.exp(-sums[float(z)])), abs=6e-7)


def test_moodle_xml_has_one_question_per_blank_with_key_and_tolerance():
    files = worksheet_files(load_spec("two-two-two"), variants=2, seed=4, formats=("md", "moodle"))
    root = ET.fromstring(files["moodle.xml"])
    assert root.tag == "quiz"
    kinds = [q.get("type") for q in root.findall("question")]
    assert kinds.count("category") == 2 and kinds.count("description") == 2
    numerical = root.findall("question[@type='numerical']")
    keys = [tomllib.loads(files[f"variant-{k:02d}.key.toml"]) for k in (1, 2)]
    expected = [(f"{t}.{n}", v) for key in keys for t, rows in key.items() if t not in ("tolerance", "rounding", "worksheet")
                for n, v in rows.items()]
    assert len(numerical) == len(expected) == 150
    by_name = {}
    for q in numerical:
        name = q.find("name/text").text
        answer = q.find("answer")
        by_name[name] = float(answer.find("text").text)
        # what the sheet promises: within 1e-4 of the key, or within 0.1 % of it
        assert answer.get("fraction") == "100"
        assert float(answer.find("tolerance").text) == max(1e-4, 1e-3 * abs(by_name[name]))
        assert r"\(" in q.find("questiontext/text").text
    first = {n.split(": ", 1)[1]: v for n, v in by_name.items() if n.startswith("Variant 01")}
    assert first == dict(expected[:75])
    picture = root.find("question[@type='description']/questiontext/file")
    assert picture.get("encoding") == "base64" and "@@PLUGINFILE@@/" + picture.get("name") in (
        root.find("question[@type='description']/questiontext/text").text)


def test_pdf_sheets_and_keys_compile():
    need(shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None, "pdflatex, pdftotext")
    files = worksheet_files(load_spec("two-two-two"), variants=2, seed=4, formats=("pdf",),
                            scope=("forward", "loss"))
    sheets = subprocess.run(["pdftotext", "-", "-"], input=files["sheets.pdf"], capture_output=True).stdout.decode()
    keys = subprocess.run(["pdftotext", "-", "-"], input=files["keys.pdf"], capture_output=True).stdout.decode()
    assert "Variant 01" in sheets and "Variant 02" in sheets and "Name:" in sheets
    assert "answer key" in keys and "Forward pass" in keys and "Backpropagation" not in keys
    key = tomllib.loads(files["variant-02.key.toml"])
    assert f"{key['instance1']['h1_out']:.4f}" in keys


def test_cli_writes_the_contracts_files(tmp_path, capsys):
    status, out, err = run_cli(["worksheet", "two-two-two", "--variants", "2", "--seed", "9", "-o", str(tmp_path)],
                               capsys)
    assert status == 0 and out == "" and err == f"wrote 2 variants (13 files) to {tmp_path}\n"
    for k in ("01", "02"):
        for suffix in (".toml", ".answers.toml", ".key.toml", ".sheet.md", ".key.md", "-network.svg"):
            assert (tmp_path / f"variant-{k}{suffix}").is_file()
    assert (tmp_path / "keys.md").read_text().count("## Variant") == 2


@pytest.mark.parametrize("argv, message", [
    (["-f", "docx"], "-f: unknown format 'docx'"),
    (["--scope", "forwards"], "did you mean 'forward'"),
    (["--variants", "0"], "--variants"),
])
def test_cli_bad_options_are_one_line(argv, message, capsys, tmp_path):
    status, out, err = run_cli(["worksheet", "two-two-two", "-o", str(tmp_path), *argv], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_impossible_ranges_fail_clearly(capsys, tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text(RELU_NET + "\n[worksheet]\ninputs = { low = 0, high = 0 }\n")  # x = 0: every dL/dw is 0
    status, out, err = run_cli(["worksheet", str(spec), "-o", str(tmp_path / "out")], capsys)
    assert status == 2 and err.count("\n") == 1 and "draws were all degenerate" in err and "worksheet" in err
    assert re.search(r"200 draws were all degenerate, 200 of them like this one: input 1 is 0 in every instance", err), err


def test_grid_draws_stay_in_their_ranges():
    base = spec_from(RELU_NET + '\n[worksheet]\nweights = { low = -2, high = 2, decimals = 1, nonzero = true }\n'
                     'inputs = { low = 1, high = 4 }\n', "relu-net")
    v = make_variant(base, Settings.of(base), 0, 1)
    w = np.array(v.derivation.spec.layers[0].weights)
    assert np.all(np.abs(w) <= 2) and np.all(w != 0) and np.allclose(w * 10, np.round(w * 10))
    x = np.array([inst.x for inst in v.derivation.spec.data])
    assert np.all((x >= 1) & (x <= 4)) and np.allclose(x, np.round(x))


def test_bce_targets_outside_0_1_are_refused(capsys, tmp_path):
    spec = tmp_path / "bce.toml"
    spec.write_text('[network]\ninputs = 1\nloss = "bce"\n[[network.layers]]\nsize = 1\nactivation = "sigmoid"\n'
                    'weights = [[1]]\n[[data]]\nx = [1]\nt = [1]\n[worksheet]\ntargets = { low = -1, high = 1 }\n')
    status, out, err = run_cli(["worksheet", str(spec), "-o", str(tmp_path / "out")], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert f"{spec}: worksheet.targets: bce targets must lie in [0, 1]" in err


def test_worker_processes_write_the_same_bytes(monkeypatch):
    import derive.worksheets.write as sheets

    base = load_spec("two-two-two")
    monkeypatch.setattr(sheets, "PARALLEL_FROM", 10**6)
    serial = worksheet_files(base, variants=4, seed=8, formats=("md", "moodle"))
    monkeypatch.setattr(sheets, "PARALLEL_FROM", 2)
    monkeypatch.setattr(sheets.os, "cpu_count", lambda: 2)
    assert worksheet_files(base, variants=4, seed=8, formats=("md", "moodle")) == serial


@pytest.mark.parametrize("training", ['mode = "online"', "batch_size = 2"])
def test_a_sheet_of_several_updates_an_epoch_asks_for_the_first(training, tmp_path):
    """The sheet says "one online step" (or one batch step): its update blanks are the parameters after
    that first step, as NumPy takes it from the first batch's gradient, not after the whole epoch."""
    files = worksheet_files(spec_from(small_net(training), "online"), variants=1, seed=3)
    key = tomllib.loads(files["variant-01.key.toml"])
    sheet = files["variant-01.sheet.md"]
    assert "update" not in key and "step1" in key
    assert "after the first update" in sheet and "`step1.w11`" in sheet
    variant = tomllib.loads(files["variant-01.toml"])
    spec = spec_from(files["variant-01.toml"], "variant")
    X, T = reference.data_arrays(spec)
    rows = slice(0, 1 if "online" in training else 2)
    params = reference.Params.from_spec(spec)
    p = reference.backward(spec, params, X[rows], T[rows])
    scale = 1.0 if spec.reduction == "sum" else 1.0 / len(X[rows])
    W1 = np.array(variant["network"]["layers"][0]["weights"]) - 0.1 * scale * np.sum(p.dW[0], axis=0)
    decimals = 4
    assert key["step1"]["w11"] == pytest.approx(round(W1[0, 0], decimals), abs=10 ** -decimals)
    assert key["step1"]["w22"] == pytest.approx(round(W1[1, 1], decimals), abs=10 ** -decimals)
    d = derive(spec)
    (tmp_path / "key.toml").write_text(files["variant-01.key.toml"])
    assert check_answers(d, read_answers(tmp_path / "key.toml", d)).ok
    (tmp_path / "epoch.toml").write_text(f"[step1]\nw11 = {d.after_step.params['w11']!r}\n")  # after the epoch
    assert not check_answers(d, read_answers(tmp_path / "epoch.toml", d)).ok


SOFTMAX = """
name = "sm"
[network]
inputs = 2
loss = "cross_entropy"
[[network.layers]]
size = 2
activation = "sigmoid"
weights = [[0.1, 0.2], [0.3, -0.4]]
[[network.layers]]
size = 2
activation = "softmax"
weights = [[0.5, -0.6], [0.2, 0.7]]
[[data]]
x = [1.0, 2.0]
t = 1
[[data]]
x = [-1.0, 0.5]
t = 2
[training]
learning_rate = 0.1
"""


def test_a_softmax_cross_entropy_sheet_can_be_drawn():
    """−t/y is 0 for every class whose target is 0, whatever the draw: that is what the sheet teaches,
    not a degenerate draw (all 200 draws were refused for it)."""
    files = worksheet_files(spec_from(SOFTMAX, "sm"), variants=3, seed=0)
    for k in (1, 2, 3):
        key = tomllib.loads(files[f"variant-0{k}.key.toml"])
        zeros = [name for name, v in key["instance1"].items() if name.startswith("dL/dy") and name.endswith("_out")
                 and v == 0]
        assert len(zeros) == 1  # the class that is not instance 1's
