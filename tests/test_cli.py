"""The command line as a user runs it, and the JSON contract of `derive values` (CONTRACT.md §3)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from derive.cli import main


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_values_json_has_the_contract_keys(capsys):
    status, out, err = run(["values", "two-two-two"], capsys)
    assert status == 0 and err == ""
    v = json.loads(out)
    assert v["name"] == "two-two-two"
    assert set(v) >= {"name", "loss", "instances", "grad", "after_step", "training", "checks"}
    inst = v["instances"][0]
    assert set(inst) >= {"x", "t", "loss", "layers", "grad"}
    assert set(inst["layers"]["h"]) == {"in", "out"}
    assert set(inst["grad"]["h"]) == {"weights", "bias", "in", "out"}
    assert inst["grad"]["h"]["bias"] is None
    assert len(inst["grad"]["inputs"]) == 2
    assert set(v["after_step"]) >= {"layers", "loss", "instance_losses"}
    assert v["training"]["epochs"] == 200 and len(v["training"]["loss"]) == 201
    assert np.array(v["training"]["outputs"]).shape == (2, 2)
    assert all(c["passed"] in (True, None) for c in v["checks"].values())
    # the total gradient is the sum of the instances' gradients (reduction = "sum")
    total = np.array(v["grad"]["y"]["weights"])
    per = sum(np.array(i["grad"]["y"]["weights"]) for i in v["instances"])
    np.testing.assert_allclose(total, per, rtol=1e-15)


def test_values_without_training_has_no_training_keys(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text('[network]\ninputs = 1\nloss = "sse"\n[[network.layers]]\nsize = 1\nactivation = "identity"\n'
                    'weights = [[3]]\n[[data]]\nx = [4]\nt = [8]\n')
    status, out, _ = run(["values", str(spec)], capsys)
    v = json.loads(out)
    assert status == 0 and "after_step" not in v and "training" not in v
    assert v["loss"] == 16.0 and v["grad"]["y"]["weights"] == [[32.0]]


def test_render_writes_a_file(tmp_path, capsys):
    status, out, err = run(["render", "two-two-two", "-o", str(tmp_path / "new")], capsys)
    assert status == 0 and out == ""
    new = tmp_path / "new"
    written = ["two-two-two.md", "two-two-two-network-1.svg", "two-two-two-network-2.svg", "two-two-two-loss.svg"]
    assert err == "".join(f"wrote {new / name}\n" for name in written)
    markdown = (new / "two-two-two.md").read_text()
    assert markdown.startswith("# A worked example of backpropagation")
    # Every picture the page links to is there, and is an SVG.
    linked = re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", markdown, flags=re.M)
    assert sorted(linked) == sorted(written[1:])
    assert all((new / name).read_bytes().startswith(b"<?xml") for name in linked)


def test_render_without_pictures(tmp_path, capsys):
    status, _, err = run(["render", "two-two-two", "-o", str(tmp_path), "--no-pictures"], capsys)
    assert status == 0 and err == f"wrote {tmp_path / 'two-two-two.md'}\n"
    assert "![" not in (tmp_path / "two-two-two.md").read_text()


def test_pictures_on_stdout_is_a_usage_error(capsys):
    status, out, err = run(["render", "two-two-two", "--pictures"], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1 and "-o DIR" in err


def test_render_to_stdout(capsys):
    status, out, _ = run(["render", "slp-identity", "--notation", "layer", "--digits", "3"], capsys)
    assert status == 0 and out.startswith("# Notes on backpropagation")
    assert "z^{[1]}_{1}" in out


def test_presets_lists_name_first(capsys):
    status, out, _ = run(["presets"], capsys)
    assert status == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == ["add-times", "batch-norm", "cnn", "conv-worksheet",
                                                                  "residual-block", "rnn", "sigmoid-neuron",
                                                                  "slp-identity", "svm-hinge", "two-two-two"]


def test_bad_option_is_exit_2(capsys):
    status, _, err = run(["render", "two-two-two", "--notation", "greek"], capsys)
    assert status == 2 and err.count("\n") == 1 and "greek" in err


def test_console_script_and_module_entry_point():
    run_ = subprocess.run([sys.executable, "-m", "derive", "values", "two-two-two"], capture_output=True,
                          text=True, timeout=120)
    assert run_.returncode == 0 and json.loads(run_.stdout)["loss"] == pytest.approx(0.4172441091113719)


def test_cli_constants_match_the_printer():
    from derive import cli
    from derive.render import printer

    assert cli.NOTATIONS == printer.NOTATIONS and cli.DEFAULT_DIGITS == printer.DEFAULT_DIGITS


def test_render_pdf_writes_a_file(tmp_path, capsys, monkeypatch):
    import shutil as sh

    from conftest import need

    need(sh.which("pdflatex") is not None, "pdflatex is not installed")
    monkeypatch.chdir(tmp_path)
    status, out, err = run(["render", "two-two-two", "-f", "pdf"], capsys)
    assert status == 0 and out == "" and err == "wrote two-two-two.pdf\n"
    assert (tmp_path / "two-two-two.pdf").read_bytes().startswith(b"%PDF")
    status, _, err = run(["render", "two-two-two", "-f", "pdf", "--fragment"], capsys)
    assert status == 2 and "--fragment: a pdf is a whole document" in err and err.count("\n") == 1


def test_the_command_ends_quickly_with_all_its_output_and_status(tmp_path):
    """`python -m derive` (and the `derive` script) ends with os._exit after main(): nothing it printed or wrote
    is lost (a page of 50 KB through a pipe, files through -o), exit handlers still run, and the status stands."""
    from pathlib import Path

    from derive.render.page import render
    from derive.pipeline import derive
    from derive.spec.parse import load_spec

    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "derive"]
    page = subprocess.run([*command, "render", "two-two-two", "--views", "scalar,matrix,tape", "--no-pictures"],
                          capture_output=True, text=True, cwd=root)
    assert page.returncode == 0, page.stderr
    expected = render(derive(load_spec("two-two-two")), views=("scalar", "matrix", "tape"))
    assert len(expected) > 40_000 and page.stdout.rstrip("\n") == expected.rstrip("\n")
    files = subprocess.run([*command, "worksheet", "two-two-two", "--variants", "3", "-o", str(tmp_path)],
                           capture_output=True, text=True, cwd=root)
    assert files.returncode == 0 and len(list(tmp_path.iterdir())) >= 6, files.stderr
    bad = subprocess.run([*command, "values", "no-such-preset"], capture_output=True, text=True, cwd=root)
    assert bad.returncode == 2 and bad.stderr.startswith("derive: error: ") and bad.stdout == ""
    code = ("import atexit, sys; from pathlib import Path; from derive.cli import run; "
            f"atexit.register(lambda: Path({str(tmp_path / 'atexit')!r}).write_text('ran')); "
            "sys.argv = ['derive', 'presets']; run()")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=root)
    assert (tmp_path / "atexit").read_text() == "ran"
