"""The Python API (`import derive`): the README's example runs as written, each function does what its
command does, and importing derive costs nothing until a function is used."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

import derive
from conftest import ROOT
from derive.cli import main
from derive.verify import reference

#: The smallest spec, as a dict with the TOML file's structure.
TINY_DICT = {"network": {"inputs": 1, "loss": "sse",
                         "layers": [{"size": 1, "activation": "sigmoid", "weights": [[2]], "bias": 0.5}]},
             "data": [{"x": [-1], "t": [1]}]}


def readme_block(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"),
                      flags=re.S | re.M)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    [example] = readme_block("python")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    spec = derive.load("two-two-two")
    X, T = reference.data_arrays(spec)
    assert out[0] == f"L = {reference.total_loss(spec, reference.Params.from_spec(spec), X, T):.5f}" == "L = 0.41724"
    W, _ = reference.total_gradient(spec, reference.backward(spec, reference.Params.from_spec(spec), X, T))
    assert float(out[1]) == pytest.approx(W[0][0, 0], rel=1e-12)
    np.testing.assert_allclose(json.loads(out[2]), W[1], rtol=1e-12)
    assert out[3] == "False"
    assert out[4] == "instance1.y1_out correct " and out[5].startswith("instance1.dL/dw11 wrong")
    assert (tmp_path / "rendered" / "two-two-two.html").read_text().count("data:image/svg+xml") == 3


def test_the_readme_first_command_writes_the_sample_in_output(tmp_path, capsys):
    """`derive render …` of the README's first line writes what output/ shows (the same three views)."""
    first = readme_block("sh")[0].splitlines()[0]
    args = first.split("#")[0].split("&&")[1].split()
    assert args[:2] == ["derive", "render"]
    args[args.index("-o") + 1] = str(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(args[1:])
    assert exc.value.code == 0
    written = (tmp_path / "two-two-two.md").read_text(encoding="utf-8")
    assert written == (ROOT / "output" / "two-two-two.md").read_text(encoding="utf-8")


def test_numbers_agree_with_numpy():
    d = derive.derive("two-two-two")
    spec = d.spec
    X, T = reference.data_arrays(spec)
    p = reference.backward(spec, reference.Params.from_spec(spec), X, T)
    W, _ = reference.total_gradient(spec, p)
    values = derive.values(d)
    np.testing.assert_allclose(values["grad"]["h"]["weights"], W[0], rtol=1e-12)
    assert d.grad["v12"] == pytest.approx(W[1][0, 1], rel=1e-12)
    assert values == derive.values("two-two-two")


def test_load_takes_a_preset_a_path_text_a_dict_and_numpy(tmp_path):
    text = (ROOT / "derive" / "spec" / "presets" / "two-two-two.toml").read_text()
    path = tmp_path / "mine.toml"
    path.write_text(text)
    by_name, by_path, by_text = derive.load("two-two-two"), derive.load(path), derive.load(text)
    assert by_name.layers == by_path.layers == by_text.layers
    as_dict = dict(TINY_DICT, network=dict(TINY_DICT["network"], layers=[
        dict(TINY_DICT["network"]["layers"][0], weights=np.array([[2.0]]))]))
    tiny = derive.derive(as_dict)
    assert tiny.spec.name == "spec" and tiny.spec.layers[0].weights == ((2.0,),)
    assert derive.load(tiny) is tiny.spec and derive.derive(tiny) is tiny


def test_bad_input_raises_the_one_line_error():
    with pytest.raises(derive.SpecError, match=r"network\.layers\[0\]\.weights: expected a 1×1 matrix"):
        derive.load({"network": {"inputs": 1, "loss": "sse",
                                 "layers": [{"size": 1, "activation": "sigmoid", "weights": [[1, 2]]}]},
                     "data": [{"x": [1], "t": [0]}]})
    with pytest.raises(derive.UsageError, match="did you mean the preset 'two-two-two'"):
        derive.load("two-two-tow")
    with pytest.raises(derive.DeriveError):
        derive.check("two-two-two", {"instance1": {"no_such_quantity": 1}})


def test_document_writes_files_and_renders_a_report(tmp_path):
    d = derive.derive(TINY_DICT)
    paths = derive.document(d, "md", out_dir=tmp_path)
    assert [p.name for p in paths] == ["spec.md", "spec-network-1.svg"]
    assert "![" in paths[0].read_text(encoding="utf-8")
    text = derive.document(d, "md", notation="netout")
    assert r"\mathrm{net}_{y_{1}}" in text and "![" not in text       # pictures are files: none in the text
    report = derive.check(d, derive.answers_file(d, filled=True))
    assert report.ok and report.to_json()["counts"]["wrong"] == 0
    assert derive.document(report, "md") != derive.document(report, "text")
    assert derive.check(d, {"dL/dw11": "2*e1*y1_out*(1-y1_out)*x1"}).ok


def test_a_derivation_displays_itself_in_jupyter():
    d = derive.derive("two-two-two")
    shown = d._repr_markdown_()
    assert "## The network" in shown and "## Backpropagation" in shown and not shown.lstrip().startswith("# ")
    assert r"\section*{Backpropagation}" in d._repr_latex_()


def test_everything_exported_is_documented():
    for name in derive.__all__:
        obj = getattr(derive, name)
        assert obj.__doc__ and len(obj.__doc__.strip()) > 20, name
    assert set(derive.__all__) <= set(dir(derive))
    with pytest.raises(AttributeError):
        derive.no_such_thing  # noqa: B018
    assert derive.pipeline.derive is not None       # submodules still reachable as attributes


def test_import_derive_is_light():
    """`import derive` loads none of SymPy, NumPy, Matplotlib or Jinja2: `derive values` pays only for
    what it uses."""
    code = ("import sys, derive; heavy = [m for m in ('sympy', 'numpy', 'matplotlib', 'jinja2', 'click') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    code = ("import sys; from derive.cli import main; sys.argv = ['derive', 'values', 'two-two-two']\n"
            "import io, contextlib\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: main()\n    except SystemExit: pass\n"
            "print([m for m in ('matplotlib', 'jinja2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_values_json_round_trips():
    assert json.loads(json.dumps(derive.values(TINY_DICT), allow_nan=False))["loss"] > 0
