"""Notebooks (-f ipynb): valid, executable top to bottom, and their checks really check."""

from __future__ import annotations

import base64
import contextlib
import io
import json

import nbformat
import numpy as np
import pytest

from conftest import network_presets, spec_from
from derive.pipeline import derive
from derive.render.page import render, render_files
from derive.spec.parse import load_spec, preset_names
from conftest import OUTPUTS, random_spec


def code_of(notebook: str) -> str:
    return "\n\n".join(c.source for c in nbformat.reads(notebook, as_version=4).cells if c.cell_type == "code")


def run_code(code: str) -> str:
    """Run a notebook's code cells in a fresh namespace (it is derive's own generated code); its output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), np.printoptions():  # the notebook sets its own print options
        exec(compile(code, "<notebook>", "exec"), {"__name__": "__notebook__"})
    return out.getvalue()


def execute(notebook: str) -> nbformat.NotebookNode:
    """Run a notebook in a Jupyter kernel, as `jupyter nbconvert --execute` would."""
    from nbclient import NotebookClient

    nb = nbformat.reads(notebook, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    return nb


@pytest.mark.parametrize("preset", network_presets())
def test_every_preset_notebook_executes_in_a_kernel(preset):
    nb = execute(render(derive(load_spec(preset)), fmt="ipynb", pictures=True, views=("scalar", "matrix", "tape")))
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert printed.count("agrees with the derivation") >= 10
    assert "the loss of every epoch and the trained weights agree with the derivation" in printed


CASES = [(loss, out, mode) for loss, outs in OUTPUTS.items() for out in outs for mode in ("batch",)]
CASES += [("sse", "sigmoid", "online"), ("cross_entropy", "softmax", "online")]


@pytest.mark.parametrize("loss, out, mode", CASES, ids=lambda v: v)
def test_notebook_code_recomputes_every_activation_and_loss(loss, out, mode):
    hidden = {"sigmoid": "relu", "relu": "leaky_relu", "leaky_relu": "tanh"}.get(out, "sigmoid")
    d = derive(random_spec(loss, out, hidden, seed=len(loss + out), mode=mode))
    printed = run_code(code_of(render(d, fmt="ipynb")))
    layers = len(d.spec.layers)
    # z, a, dL/da, dL/dz, dL/dW per layer, and the updated weights: each a check that printed.
    assert printed.count("agrees with the derivation") >= 6 * layers + 3


def test_fixed_bias_and_no_training():
    spec = spec_from('[network]\ninputs = 2\nloss = "half_sse"\n[[network.layers]]\nsize = 2\nactivation = "tanh"\n'
                     'weights = [[0.5, -1], [1, 2]]\nbias = [0.1, 0.2]\ntrain_bias = false\n[[network.layers]]\n'
                     'size = 1\nactivation = "identity"\nweights = [[1], [-1]]\n[[data]]\nx = [1, 2]\nt = [0.5]\n')
    code = code_of(render(derive(spec), fmt="ipynb"))
    assert "P1" not in code and '"b_' in code
    assert "dL/db of layer" not in run_code(code)


def test_a_wrong_derived_number_stops_the_notebook():
    """The checks are live: change one number the derivation printed and the code cell fails."""
    code = code_of(render(derive(load_spec("two-two-two")), fmt="ipynb"))
    assert "[[16.0, -4.0], [-14.0, 23.0]]" in code
    with pytest.raises(AssertionError, match="z of layer h"):
        run_code(code.replace("[[16.0, -4.0], [-14.0, 23.0]]", "[[16.0, -4.0], [-14.0, 23.001]]"))


def test_cells_follow_their_sections_and_pictures_are_attached():
    files = render_files(derive(load_spec("two-two-two")), fmt="ipynb")
    assert list(files) == ["two-two-two.ipynb"]
    nb = nbformat.reads(files["two-two-two.ipynb"], as_version=4)
    nbformat.validate(nb)
    kinds = [(c.cell_type, c.source.splitlines()[0]) for c in nb.cells]
    assert kinds[1][1] == "## The network" and kinds[2][0] == "code"
    assert kinds[3][1] == "## Forward pass" and kinds[4] == ("code", "def forward(P, X):")
    attached = {name: body for c in nb.cells if c.cell_type == "markdown" for name, body in c.get("attachments", {}).items()}
    assert sorted(attached) == ["two-two-two-loss.svg", "two-two-two-network-1.svg", "two-two-two-network-2.svg"]
    assert all(base64.b64decode(b["image/svg+xml"]).startswith(b"<?xml") for b in attached.values())
    assert json.loads(files["two-two-two.ipynb"])["metadata"]["kernelspec"]["name"] == "python3"
