"""The slp-identity preset against the 000 seed's own program, run as it is written."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURES


@pytest.fixture(scope="module")
def program_output() -> str:
    run = subprocess.run([sys.executable, str(FIXTURES / "slp_program.py")], capture_output=True, text=True,
                         check=True, timeout=120)
    return run.stdout


def printed_array(output: str, label: str, which: int) -> np.ndarray:
    found = re.findall(rf"^{label}: \[\[(.*?)\]\]$", output, flags=re.M)
    return np.array([float(v) for v in found[which].split()])


def test_loss_before_and_after_every_epoch(program_output, slp_identity):
    before = float(re.search(r"^Loss: (\S+)$", program_output, flags=re.M).group(1))
    epochs = [float(v) for v in re.findall(r"^Iteration \d+ - MSE: (\S+)$", program_output, flags=re.M)]
    assert len(epochs) == 1000
    values = slp_identity.to_values()
    losses = values["training"]["loss"]
    assert len(losses) == 1001
    np.testing.assert_allclose(losses, [before] + epochs, rtol=1e-9, atol=0,
                               err_msg="training loss per epoch differs from the 000 program")
    # The derivation's own numbers (SymPy, not the NumPy training loop) agree too.
    assert values["loss"] == pytest.approx(before, rel=1e-14)
    assert values["after_step"]["loss"] == pytest.approx(epochs[0], rel=1e-14)


def test_inputs_and_outputs(program_output, slp_identity):
    values = slp_identity.to_values()
    np.testing.assert_allclose(values["instances"][0]["x"], printed_array(program_output, "Inputs", 0), atol=5e-9)
    np.testing.assert_allclose(values["instances"][0]["layers"]["o"]["out"],
                               printed_array(program_output, "Outputs", 0), atol=5e-9)
    np.testing.assert_allclose(values["training"]["outputs"][0], printed_array(program_output, "Outputs", 1),
                               atol=5e-9)


def test_rendered_post_supplies_the_missing_sections(slp_identity):
    from derive.render.page import render

    text = render(slp_identity)
    for heading in ("## Loss function", "## Backpropagation"):
        assert heading in text
    # The post's loss, written out: the sum of the squared errors of o1..o4.
    assert r"L = e_{1}^{2} + e_{2}^{2} + e_{3}^{2} + e_{4}^{2}" in text
